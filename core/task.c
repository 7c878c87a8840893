/* Task life cycle in the core: LUN resolution, UA and access checks, data fetch, completion. */
#include "core/task.h"

#include <errno.h>
#include <string.h>

#include "core/cmd.h"
#include "core/iostats.h"
#include "core/lba_lock.h"
#include "core/log.h"
#include "core/medium.h"
#include "core/mode.h"
#include "core/nexus.h"
#include "core/reservation.h"
#include "core/scsi.h"
#include "core/tmf.h"

static const char *const state_names[] = {
#define TG_TS_NAME(n) #n,
	TG_TASK_STATES(TG_TS_NAME)
#undef TG_TS_NAME
};

const char *tg_task_state_name(enum tg_task_state state)
{
	return (unsigned)state < sizeof(state_names) / sizeof(state_names[0]) ? state_names[state]
									     : "?";
}

void tg_task_init(struct tg_task *task, struct tg_nexus *nexus, const struct tg_transport_ops *ops,
		  struct tg_ioengine *engine)
{
	memset(task, 0, sizeof(*task));
	task->state = TG_TASK_NEW;
	task->nexus = nexus;
	task->ops = ops;
	task->engine = engine;
}

/* The task set is walked by task management of other nexuses: changed under the nexus lock. */
static void task_set_add(struct tg_task *task)
{
	struct tg_nexus *nexus = task->nexus;
	pthread_mutex_lock(&nexus->lock);
	task->prev_in_set = NULL;
	task->next_in_set = nexus->tasks;
	if (nexus->tasks)
		nexus->tasks->prev_in_set = task;
	nexus->tasks = task;
	nexus->task_count++;
	pthread_mutex_unlock(&nexus->lock);
}

static void task_set_remove(struct tg_task *task)
{
	struct tg_nexus *nexus = task->nexus;
	if (task->prev_in_set)
		task->prev_in_set->next_in_set = task->next_in_set;
	else if (nexus->tasks == task)
		nexus->tasks = task->next_in_set;
	if (task->next_in_set)
		task->next_in_set->prev_in_set = task->prev_in_set;
	task->next_in_set = task->prev_in_set = NULL;
	nexus->task_count--;
}

static bool abort_was_requested(struct tg_task *task)
{
	if (!task->nexus)
		return task->abort_requested;
	pthread_mutex_lock(&task->nexus->lock);
	bool requested = task->abort_requested;
	pthread_mutex_unlock(&task->nexus->lock);
	return requested;
}

static void compute_residual(struct tg_task *task)
{
	size_t moved = task->dir == TG_DIR_NONE ? 0 : task->data.len;
	task->residual_overflow = task->residual_underflow = false;
	task->residual = 0;
	if (task->scsi_len > task->exp_len) {
		task->residual_overflow = true;
		task->residual = task->scsi_len - task->exp_len;
	} else if (moved < task->exp_len) {
		task->residual_underflow = true;
		task->residual = task->exp_len - (uint32_t)moved;
	}
}

void tg_task_complete(struct tg_task *task, enum tg_sense_reason reason)
{
	tg_task_unlock_range(task);
	task->reason = reason;
	task->status = tg_sense_reason_status(reason);
	task->sense_len = 0;
	if (task->status == SCSI_STATUS_CHECK_CONDITION) {
		/* D_SENSE in the control mode page chooses the format (core/mode.c). */
		bool descriptor = task->dev && tg_mode_descriptor_sense(task->dev);
		task->sense_len = (uint16_t)tg_sense_build(task->sense, sizeof(task->sense), reason,
							   &task->sense_info, descriptor);
		tg_debug("scsi", "tag %#llx %s: %s", (unsigned long long)task->tag,
			 task->cmd ? task->cmd->name : "?", tg_sense_reason_name(reason));
	}
	/* A failed read returns no data; a failed write keeps its residual accounting. */
	if (task->status != SCSI_STATUS_GOOD && task->status != SCSI_STATUS_CONDITION_MET &&
	    task->dir == TG_DIR_READ)
		task->data.len = 0;
	compute_residual(task);
	/* From here on task management no longer sees the task as abortable. */
	pthread_mutex_t *lock = task->nexus ? &task->nexus->lock : NULL;
	if (lock)
		pthread_mutex_lock(lock);
	task->state = task->abort_requested ? TG_TASK_ABORTED : TG_TASK_RESPONSE;
	struct tg_tmf *tmf = task->abort_tmf;
	task->abort_tmf = NULL;
	if (lock)
		pthread_mutex_unlock(lock);
	if (task->state == TG_TASK_RESPONSE)
		tg_io_count_task(task);
	/* The task management function hears first: queue_response may release the task and,
	 * with it, the last hold the transport has on the connection the TMF answers on. */
	if (tmf)
		tg_tmf_task_returned(tmf);
	task->ops->queue_response(task);
}

void tg_task_fail_cdb_field(struct tg_task *task, uint16_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = true;
	task->sense_info.field_byte = byte;
	task->sense_info.field_bit = bit;
	tg_task_complete(task, TG_SR_INVALID_FIELD_IN_CDB);
}

int tg_task_alloc_data(struct tg_task *task, size_t len)
{
	if (task->data.base)
		return 0;
	if (task->ops->alloc_buf)
		return task->ops->alloc_buf(task, &task->data, len);
	return tg_buf_alloc(&task->data, len);
}

void tg_task_reply(struct tg_task *task, const void *resp, size_t len, size_t alloc_len)
{
	size_t n = len < alloc_len ? len : alloc_len;
	/* The device server transfers the response cut at the allocation length: residuals are
	 * measured against that, not against the allocation length. */
	task->scsi_len = (uint32_t)n;
	if (n > task->exp_len)
		n = task->exp_len;
	if (n && tg_task_alloc_data(task, n) != 0) {
		tg_task_complete(task, TG_SR_INTERNAL_TARGET_FAILURE);
		return;
	}
	if (n)
		memcpy(task->data.base, resp, n);
	task->data.len = n;
	tg_task_complete(task, TG_SR_OK);
}

static void backend_io_done(struct tg_io *io)
{
	struct tg_task *task = io->priv;
	void (*then)(struct tg_task *, int) = (void (*)(struct tg_task *, int))task->handler_state;
	task->state = TG_TASK_EXEC;
	then(task, io->result);
}

void tg_task_backend_io(struct tg_task *task, void (*then)(struct tg_task *task, int result))
{
	task->state = TG_TASK_BACKEND_IO;
	task->handler_state = (void *)then;
	task->io.engine = task->engine;
	task->io.done = backend_io_done;
	task->io.priv = task;
	tg_mode_apply_write_cache(task->dev, &task->io);
	tg_device_submit(task->dev, &task->io);
}

static void run_handler(struct tg_task *task) { task->cmd->execute(task); }

static void execute(struct tg_task *task)
{
	task->state = TG_TASK_EXEC;
	/* Every LBA-addressed write and read holds its range while it runs, so that COMPARE AND
	 * WRITE and WRITE ATOMIC are atomic against it (a read sees all of an atomic write or
	 * none); that costs an atomic count unless such a command is active. */
	bool reads_medium = task->dir == TG_DIR_READ;
	if (((task->cmd->flags & TG_CMD_WRITE_CLASS) || reads_medium) && task->dev &&
	    task->nblocks) {
		tg_task_lock_range(task, task->lba, task->nblocks,
				   task->cmd->flags & TG_CMD_LBA_EXCLUSIVE, run_handler);
		return;
	}
	task->cmd->execute(task);
}

void tg_task_data_ready(struct tg_task *task, enum tg_sense_reason reason)
{
	if (abort_was_requested(task)) {
		tg_task_complete(task, TG_SR_TASK_ABORTED);
		return;
	}
	if (reason != TG_SR_OK) {
		tg_task_complete(task, reason);
		return;
	}
	execute(task);
}

void tg_task_submit(struct tg_task *task)
{
	task_set_add(task);
	task->state = TG_TASK_EXEC;
	if (task->refuse != TG_SR_OK) {
		tg_task_complete(task, task->refuse);
		return;
	}
	const struct tg_lun_map *map = task->nexus->map;
	task->lun_entry = map ? tg_lun_map_find(map, task->lun) : NULL;
	task->dev = task->lun_entry ? task->lun_entry->dev : NULL;
	uint8_t type = task->dev ? task->dev->peripheral_type : SCSI_TYPE_DISK;
	task->cmd = tg_cmd_find(task->dev, type, task->cdb);

	if (!task->lun_entry && (!task->cmd || !(task->cmd->flags & TG_CMD_ANY_LUN))) {
		tg_task_complete(task, TG_SR_LUN_NOT_SUPPORTED);
		return;
	}
	if (!task->cmd) {
		task->sense_info.has_field_pointer = true;
		task->sense_info.field_in_cdb = true;
		task->sense_info.field_byte = 0;
		task->sense_info.field_bit = -1;
		tg_task_complete(task, TG_SR_INVALID_OPCODE);
		return;
	}
	if (task->lun_entry && !(task->cmd->flags & TG_CMD_NO_UA)) {
		size_t index = (size_t)(task->lun_entry - map->entries);
		enum tg_sense_reason ua = tg_ua_take(task->nexus, index);
		if (ua != TG_SR_OK) {
			tg_task_complete(task, ua);
			return;
		}
	}
	if (task->dev && tg_pr_check(task) != TG_SR_OK) {
		tg_task_complete(task, TG_SR_RESERVATION_CONFLICT);
		return;
	}
	/* SBC-3 4.x: without a medium, only what needs none is processed. */
	if (task->dev && !(task->cmd->flags & TG_CMD_MEDIUM_FREE) && !tg_medium_present(task->dev)) {
		tg_task_complete(task, TG_SR_MEDIUM_NOT_PRESENT);
		return;
	}
	/* Before the CDB is decoded: a read-only mapping (or SWP) refuses every medium change,
	 * whatever else may be wrong with the command or its Data-Out length (libiscsi's ReadOnly
	 * suite sends WRITE SAME with UNMAP and no data, and expects WRITE PROTECTED). */
	if ((task->cmd->flags & TG_CMD_WRITE_CLASS) && task->dev) {
		enum tg_sense_reason protect = tg_mode_write_protection(task->lun_entry, task->dev);
		if (protect != TG_SR_OK) {
			tg_task_complete(task, protect);
			return;
		}
	}
	enum tg_sense_reason reason = task->cmd->parse ? task->cmd->parse(task) : TG_SR_OK;
	if (reason != TG_SR_OK) {
		tg_task_complete(task, reason);
		return;
	}
	if (task->dir == TG_DIR_WRITE && task->scsi_len) {
		uint32_t len = task->scsi_len;
		if (task->scsi_len > task->exp_len) {
			/* FCP-4 / SAM residual overflow: process the command with only the data the
			 * initiator sends — as long as that is whole blocks of an LBA-addressed
			 * write; anything else would half-write a block, so it is refused. */
			uint32_t bs = task->dev ? task->dev->block_size : 0;
			bool lba_write = bs && task->nblocks &&
					 (uint64_t)task->nblocks * bs == task->scsi_len;
			if (!lba_write || task->exp_len % bs) {
				tg_task_complete(task, TG_SR_INVALID_FIELD_IN_IU);
				return;
			}
			len = task->exp_len;
			task->nblocks = len / bs;
			if (len == 0) {
				tg_task_complete(task, TG_SR_OK);
				return;
			}
		}
		if (tg_task_alloc_data(task, len) != 0) {
			tg_task_complete(task, TG_SR_TASK_SET_FULL);
			return;
		}
		task->data.len = len;
		task->state = TG_TASK_WAIT_DATA;
		task->ops->write_pending(task);
		return;
	}
	execute(task);
}

void tg_task_abort(struct tg_task *task)
{
	if (!task->nexus) {
		task->abort_requested = true;
		return;
	}
	pthread_mutex_lock(&task->nexus->lock);
	task->abort_requested = true;
	pthread_mutex_unlock(&task->nexus->lock);
}

void tg_task_release(struct tg_task *task)
{
	if (task->state == TG_TASK_DONE || !task->nexus)
		return;
	if (task->data.base) {
		if (task->data.owner && task->ops->free_buf)
			task->ops->free_buf(task, &task->data);
		else
			tg_buf_free(&task->data);
	}
	if (task->pi.base)
		tg_buf_free(&task->pi);
	pthread_mutex_lock(&task->nexus->lock);
	if (task->next_in_set || task->prev_in_set || task->nexus->tasks == task)
		task_set_remove(task);
	task->state = TG_TASK_DONE;
	pthread_mutex_unlock(&task->nexus->lock);
	/* Another loop may have asked something of the task (a task management kick) that has
	 * not run yet: the task is gone, and so is the request. */
	if (task->engine)
		tg_ioengine_cancel_call(task->engine, &task->loop_call);
}

bool tg_task_on_own_loop(const struct tg_task *task)
{
	return !task->engine || tg_ioengine_on_loop_thread(task->engine);
}

static void run_loop_then(void *arg)
{
	struct tg_task *task = arg;
	task->loop_then(task);
}

void tg_task_run_on_own_loop(struct tg_task *task, void (*then)(struct tg_task *task))
{
	if (tg_task_on_own_loop(task)) {
		then(task);
		return;
	}
	task->loop_then = then;
	task->loop_call.fn = run_loop_then;
	task->loop_call.arg = task;
	tg_ioengine_call(task->engine, &task->loop_call);
}
