/* The I_T nexus: one initiator port talking to one target, its LUN view, task set and UAs. */
#ifndef TG_NEXUS_H
#define TG_NEXUS_H

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

#endif
