/* Removable medium on a disk LUN: START STOP UNIT loads and ejects it, PREVENT ALLOW MEDIUM REMOVAL holds it in, per I_T nexus. */
#include "core/medium.h"

#include <pthread.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/nexus.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	SSU_LOEJ = 0x02,
	SSU_START = 0x01,
	PREVENT_MASK = 0x03,
	PREVENT_ALLOW = 0x00,
	PREVENT_PREVENT = 0x01,
};

bool tg_medium_present(const struct tg_device *dev)
{
	return !dev->removable ||
	       !atomic_load_explicit(&dev->medium.ejected, memory_order_relaxed);
}

struct liveness {
	const struct tg_medium_state *medium;
	bool alive[TG_MEDIUM_MAX_PREVENTERS];
};

static void mark_alive(struct tg_nexus *nexus, size_t lun_index, void *arg)
{
	(void)lun_index;
	struct liveness *l = arg;
	for (size_t i = 0; i < l->medium->preventer_count; i++)
		if (l->medium->preventers[i] == nexus->id)
			l->alive[i] = true;
}

/* Drops the preventions of nexuses that are gone: SPC-4 6.13 ends a prevention at I_T nexus
 * loss. Called under dev->lock (which comes before the nexus registry in the lock order). */
static void prune_lost_nexuses(struct tg_device *dev)
{
	struct tg_medium_state *m = &dev->medium;
	if (m->preventer_count == 0)
		return;
	struct liveness l = { .medium = m };
	tg_nexus_for_each_mapping(dev, mark_alive, &l);
	size_t kept = 0;
	for (size_t i = 0; i < m->preventer_count; i++)
		if (l.alive[i])
			m->preventers[kept++] = m->preventers[i];
	m->preventer_count = kept;
}

static size_t preventer_index(const struct tg_medium_state *m, uint64_t nexus_id)
{
	size_t i = 0;
	while (i < m->preventer_count && m->preventers[i] != nexus_id)
		i++;
	return i;
}

void tg_medium_lun_reset(struct tg_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	dev->medium.preventer_count = 0;
	pthread_mutex_unlock(&dev->lock);
}

bool tg_medium_offers_prevent_allow(const struct tg_device *dev) { return dev->removable; }

enum tg_sense_reason tg_sbc_parse_start_stop_unit(struct tg_task *task)
{
	return tg_cmd_parse_no_data(task);
}

/*
 * A virtual disk has no spindle: START and the power conditions change nothing. LOEJ moves a
 * removable medium — out with START = 0, in with START = 1 — unless an I_T nexus prevents
 * its removal; on a fixed medium it is ignored (SBC-3 5.25).
 */
void tg_sbc_start_stop_unit(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	uint8_t power_condition = task->cdb[4] >> 4;
	bool loej = task->cdb[4] & SSU_LOEJ, start = task->cdb[4] & SSU_START;
	if (power_condition != 0 || !loej || !dev->removable) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	prune_lost_nexuses(dev);
	bool prevented = dev->medium.preventer_count > 0;
	bool loaded = false;
	if (!prevented) {
		bool was_ejected = atomic_exchange(&dev->medium.ejected, !start);
		loaded = start && was_ejected;
	}
	pthread_mutex_unlock(&dev->lock);
	if (prevented) {
		tg_task_complete(task, TG_SR_MEDIUM_REMOVAL_PREVENTED);
		return;
	}
	/* The others learn that what they read before may not be what is there now. */
	if (loaded)
		tg_ua_establish_device(dev, TG_SR_UA_MEDIUM_CHANGED, task->nexus);
	tg_task_complete(task, TG_SR_OK);
}

enum tg_sense_reason tg_sbc_parse_prevent_allow(struct tg_task *task)
{
	enum tg_sense_reason reason = tg_cmd_parse_no_data(task);
	if (reason != TG_SR_OK)
		return reason;
	/* 10b and 11b concern medium changers. */
	if ((task->cdb[4] & PREVENT_MASK) > PREVENT_PREVENT)
		return tg_cmd_invalid_field(task, 4, 1);
	return TG_SR_OK;
}

void tg_sbc_prevent_allow(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	struct tg_medium_state *m = &dev->medium;
	bool prevent = (task->cdb[4] & PREVENT_MASK) == PREVENT_PREVENT;
	enum tg_sense_reason reason = TG_SR_OK;
	pthread_mutex_lock(&dev->lock);
	prune_lost_nexuses(dev);
	size_t at = preventer_index(m, task->nexus->id);
	if (prevent && at == m->preventer_count) {
		if (m->preventer_count < TG_MEDIUM_MAX_PREVENTERS)
			m->preventers[m->preventer_count++] = task->nexus->id;
		else
			reason = TG_SR_TASK_SET_FULL;
	} else if (!prevent && at < m->preventer_count) {
		m->preventers[at] = m->preventers[--m->preventer_count];
	}
	pthread_mutex_unlock(&dev->lock);
	tg_task_complete(task, reason);
}
