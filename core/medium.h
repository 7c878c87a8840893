/* Removable medium of a disk LUN: whether it is loaded, and which I_T nexuses prevent its removal. */
#ifndef TG_MEDIUM_H
#define TG_MEDIUM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sense.h"

struct tg_device;
struct tg_task;

/* Nexuses that may hold a prevention at once; more are refused until some allow removal. */
#define TG_MEDIUM_MAX_PREVENTERS 32

/*
 * Embedded in struct tg_device; all zero is a loaded medium nobody holds. Only a device
 * configured `removable` ever leaves that state. `ejected` is read without a lock; it and the
 * preventers change under dev->lock.
 */
struct tg_medium_state {
	atomic_bool ejected;
	size_t preventer_count;
	uint64_t preventers[TG_MEDIUM_MAX_PREVENTERS]; /* nexus ids (struct tg_nexus.id) */
};

/* A medium is present: always, unless a removable one has been ejected. */
bool tg_medium_present(const struct tg_device *dev);

/*
 * A logical unit reset ends every prevention of medium removal (SPC-4 6.13); the task
 * management code calls it for each device it resets. I_T nexus loss needs no call: a
 * prevention only counts while its nexus exists.
 */
void tg_medium_lun_reset(struct tg_device *dev);

/* Handlers for the disk opcode table: START STOP UNIT (every disk) and PREVENT ALLOW MEDIUM
 * REMOVAL, which only removable devices offer. */
enum tg_sense_reason tg_sbc_parse_start_stop_unit(struct tg_task *task);
void tg_sbc_start_stop_unit(struct tg_task *task);
bool tg_medium_offers_prevent_allow(const struct tg_device *dev);
enum tg_sense_reason tg_sbc_parse_prevent_allow(struct tg_task *task);
void tg_sbc_prevent_allow(struct tg_task *task);

#endif
