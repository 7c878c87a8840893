/* The I_T nexus: one initiator port talking to one target, its LUN view, task set and UAs. */
#ifndef TG_NEXUS_H
#define TG_NEXUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sense.h"
#include "core/target.h"

struct tg_task;

#define TG_UA_QUEUE_MAX 8

struct tg_ua_queue {
	uint8_t count;
	enum tg_sense_reason pending[TG_UA_QUEUE_MAX];
};

struct tg_nexus {
	uint64_t id;
	enum tg_transport_kind transport;
	char initiator_name[256]; /* iSCSI name, or SRP "0x" + 32 hex initiator port id */
	char initiator_port[300]; /* SCSI initiator port name, e.g. "iqn...,i,0x<ISID>" */
	struct tg_target *target;
	const struct tg_lun_map *map;
	struct tg_ua_queue *ua;   /* one queue per map entry, same index */
	struct tg_task *tasks;    /* active tasks (doubly linked through next_in_set) */
	unsigned task_count;
	struct tg_nexus *next_global;
	/* Guards ua[] and the task set: device-wide UAs and task management reach a nexus from
	 * other nexuses (and, with several event loops, from other threads). Lock order:
	 * dev->lock, then the nexus registry, then this. */
	pthread_mutex_t lock;
};

/*
 * Creates the nexus for initiator on target, resolving its LUN view with the access rules.
 * Returns NULL when the initiator may not see the target at all.
 */
struct tg_nexus *tg_nexus_create(struct tg_target *target, enum tg_transport_kind transport,
				 const char *initiator_name, const char *initiator_port);
void tg_nexus_destroy(struct tg_nexus *nexus);

/* Queues a unit attention for one LUN of one nexus (dropped when the queue is full of others). */
void tg_ua_establish(struct tg_nexus *nexus, size_t lun_index, enum tg_sense_reason reason);
/* Queues a unit attention on every nexus that maps dev, except `except` (may be NULL). */
void tg_ua_establish_device(const struct tg_device *dev, enum tg_sense_reason reason,
			    const struct tg_nexus *except);
/* Pops the oldest pending UA of the LUN, TG_SR_OK when none. */
enum tg_sense_reason tg_ua_take(struct tg_nexus *nexus, size_t lun_index);
bool tg_ua_pending(const struct tg_nexus *nexus, size_t lun_index);
/* Queues a unit attention on every LUN of one nexus. */
void tg_ua_establish_all(struct tg_nexus *nexus, enum tg_sense_reason reason);
/* Drops a pending UA from every LUN of the nexus (SAM-5: REPORTED LUNS DATA HAS CHANGED goes
 * once REPORT LUNS has run or it was reported on any LUN). */
void tg_ua_clear(struct tg_nexus *nexus, enum tg_sense_reason reason);

/*
 * The transport calls this once a new nexus can take commands: it queues the unit attention
 * a new I_T nexus reports first — POWER ON, RESET OR BUS DEVICE RESET OCCURRED for an
 * initiator port this target has not seen since the daemon started, I_T NEXUS LOSS OCCURRED
 * for one whose earlier nexus ended (SAM-5 6.3).
 */
void tg_nexus_login(struct tg_nexus *nexus);

/* Identity of the SCSI target port a nexus came through, "<target name>,t,0x<TPGT>". */
void tg_nexus_target_port(const struct tg_nexus *nexus, char *buf, size_t len);

/*
 * Calls fn for every live nexus that maps dev (once per mapping LUN, with its index in the
 * nexus's map), under the registry lock: fn may queue UAs and lock the nexus, nothing more.
 */
void tg_nexus_for_each_mapping(const struct tg_device *dev,
			       void (*fn)(struct tg_nexus *nexus, size_t lun_index, void *arg),
			       void *arg);
/* The same for every live nexus of the target (all its LUNs are passed one by one). */
void tg_nexus_for_each_of_target(const struct tg_target *target,
				 void (*fn)(struct tg_nexus *nexus, size_t lun_index, void *arg),
				 void *arg);

/*
 * Calls fn for every live nexus, newest first, under the registry lock (the control socket's
 * session list): its map is stable meanwhile; fn may read the nexus and take its lock, and
 * must neither block nor end a nexus.
 */
void tg_nexus_for_each(void (*fn)(struct tg_nexus *nexus, void *arg), void *arg);

/*
 * Gives a live nexus a new LUN view (a config reload changed its access rule or the target's
 * LUNs). Pending UAs of LUNs that keep their number and device carry over; when the set of
 * LUNs or the device behind one changed, every LUN of the new view gets REPORTED LUNS DATA HAS
 * CHANGED, and a LUN whose read_only flag alone flipped gets MODE PARAMETERS CHANGED (its WP
 * bit changed). Call it on the event loop that runs the nexus's commands; the caller keeps the
 * old map alive until the tasks submitted under it have finished (they point into it).
 * Returns 0, or -1 when out of memory, leaving the old view in place.
 */
int tg_nexus_remap(struct tg_nexus *nexus, const struct tg_lun_map *map);

#endif
