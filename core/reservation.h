/* Reservations shared by every nexus reaching a device: SPC-2 RESERVE/RELEASE and SPC-4 persistent reservations. */
#ifndef TG_RESERVATION_H
#define TG_RESERVATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sense.h"

struct tg_device;
struct tg_nexus;
struct tg_task;

/* PERSISTENT RESERVE OUT service actions (SPC-4 6.16.2). */
enum {
	TG_PR_REGISTER = 0x00,
	TG_PR_RESERVE = 0x01,
	TG_PR_RELEASE = 0x02,
	TG_PR_CLEAR = 0x03,
	TG_PR_PREEMPT = 0x04,
	TG_PR_PREEMPT_AND_ABORT = 0x05,
	TG_PR_REGISTER_AND_IGNORE = 0x06,
	TG_PR_REGISTER_AND_MOVE = 0x07,
};

/* PERSISTENT RESERVE IN service actions (SPC-4 6.15.1). */
enum {
	TG_PR_READ_KEYS = 0x00,
	TG_PR_READ_RESERVATION = 0x01,
	TG_PR_REPORT_CAPABILITIES = 0x02,
	TG_PR_READ_FULL_STATUS = 0x03,
};

/* Persistent reservation types (SPC-4 table 176). */
enum tg_pr_type {
	TG_PR_TYPE_NONE = 0x0,
	TG_PR_TYPE_WRITE_EXCLUSIVE = 0x1,
	TG_PR_TYPE_EXCLUSIVE_ACCESS = 0x3,
	TG_PR_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY = 0x5,
	TG_PR_TYPE_EXCLUSIVE_ACCESS_REGISTRANTS_ONLY = 0x6,
	TG_PR_TYPE_WRITE_EXCLUSIVE_ALL_REGISTRANTS = 0x7,
	TG_PR_TYPE_EXCLUSIVE_ACCESS_ALL_REGISTRANTS = 0x8,
};

/* TransportID protocol identifiers (SPC-4 table 362) the device server understands. */
enum { TG_PROTOCOL_SRP = 0x4, TG_PROTOCOL_ISCSI = 0x5 };

/*
 * Attaches reservation state to a freshly opened device and reloads what an earlier run
 * persisted with APTPL = 1 from `<data_path>.pr` (data_path NULL: nothing is persisted).
 * Returns 0, or -1 with err filled when the state file exists but cannot be read.
 */
int tg_pr_attach(struct tg_device *dev, const char *data_path, char *err, size_t errlen);
void tg_pr_detach(struct tg_device *dev);

/*
 * The dispatch check (after the UA check): RESERVATION CONFLICT when the device is reserved
 * and the command's class (TG_CMD_CONFLICT_FREE, TG_CMD_PR_READ, TG_CMD_PR_SELF, anything else
 * counts as a write) may not pass from this nexus. Costs one atomic load on an unreserved
 * device.
 */
enum tg_sense_reason tg_pr_check(struct tg_task *task);

/* Reset side effects (core/tmf.c): a logical unit reset releases the SPC-2 reservation;
 * persistent reservations and registrations survive every reset. */
void tg_pr_lun_reset(struct tg_device *dev);
/* The nexus ended (logout, connection loss, I_T NEXUS RESET): SPC-2 reservations it holds on
 * any of its devices are released. */
void tg_pr_nexus_lost(struct tg_nexus *nexus);

/* Command handlers for the command set tables. */
enum tg_sense_reason tg_pr_parse_reserve(struct tg_task *task);   /* RESERVE(6)/(10) */
void tg_pr_reserve(struct tg_task *task);
enum tg_sense_reason tg_pr_parse_release(struct tg_task *task);   /* RELEASE(6)/(10) */
void tg_pr_release(struct tg_task *task);
enum tg_sense_reason tg_pr_parse_in(struct tg_task *task);        /* PERSISTENT RESERVE IN */
void tg_pr_in(struct tg_task *task);
enum tg_sense_reason tg_pr_parse_out(struct tg_task *task);       /* PERSISTENT RESERVE OUT */
void tg_pr_out(struct tg_task *task);

/* ---- persistence (core/pr_store.c) ---- */

#define TG_PR_NAME_MAX 300

/* One registration as stored: an I_T nexus, or (all_tg_pt) an initiator port through every
 * target port; an initiator without ",i,0x" stands for every port of that iSCSI name. */
struct tg_pr_record {
	uint64_t key;
	char initiator[TG_PR_NAME_MAX];
	char target[TG_PR_NAME_MAX];
	uint16_t rtpi;
	uint8_t protocol;
	bool all_tg_pt;
	bool holder;
};

struct tg_pr_image {
	uint32_t generation;
	uint8_t type;  /* TG_PR_TYPE_NONE when nothing is reserved */
	bool aptpl;
	struct tg_pr_record *records;
	size_t count;
};

/* Writes the image to path atomically (temp file, fsync, rename, fsync of the directory);
 * with image->aptpl false the file is removed instead. 0 or -errno. */
int tg_pr_store_save(const char *path, const struct tg_pr_image *image);
/* Reads path into image (records malloc'd; free with tg_pr_image_free). 0, -ENOENT when there
 * is no file, -EINVAL (with err filled) for a malformed one, other -errno on I/O errors. */
int tg_pr_store_load(const char *path, struct tg_pr_image *image, char *err, size_t errlen);
void tg_pr_image_free(struct tg_pr_image *image);

#endif
