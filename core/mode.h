/* Mode parameters: the state MODE SELECT changes, shared by every nexus of a device, and what the core asks of it. */
#ifndef TG_MODE_H
#define TG_MODE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/sense.h"

struct tg_device;
struct tg_io;
struct tg_lun_entry;

/*
 * The changeable mode parameters of one device, embedded in struct tg_device. SPC-4 lets a
 * device server keep mode pages per I_T nexus or shared; they are shared, so a change by one
 * nexus is announced to the others with MODE PARAMETERS CHANGED. All zero is the default
 * state (write cache as the backend has it, fixed-format sense, no software write protect),
 * which is also what a restart brings back: nothing is saveable (PS = 0). MODE SELECT changes
 * the fields under dev->lock; everyone else reads them without a lock.
 */
struct tg_mode_state {
	atomic_bool write_cache_disabled;   /* WCE = 0 on a backend that caches writes */
	atomic_bool descriptor_sense;       /* D_SENSE: descriptor-format sense data */
	atomic_bool software_write_protect; /* SWP: the medium refuses writes */
};

/* WCE as it is now: the backend caches writes and MODE SELECT has not turned that off. */
bool tg_mode_write_cache_enabled(const struct tg_device *dev);
/* D_SENSE: CHECK CONDITION status carries descriptor-format sense data. */
bool tg_mode_descriptor_sense(const struct tg_device *dev);

/*
 * Why a command that changes the medium of dev, reached through entry (NULL: not through a
 * LUN mapping), is refused: WRITE PROTECTED for a read-only mapping or backend, LOGICAL UNIT
 * SOFTWARE WRITE PROTECTED while SWP is set; TG_SR_OK when it may write.
 */
enum tg_sense_reason tg_mode_write_protection(const struct tg_lun_entry *entry,
					      const struct tg_device *dev);

/*
 * With WCE = 0 on a backend that buffers writes, every request that changes data is made
 * durable before it completes (FUA): the initiator was promised write-through. Call it on
 * each backend request before it is submitted.
 */
void tg_mode_apply_write_cache(const struct tg_device *dev, struct tg_io *io);

#endif
