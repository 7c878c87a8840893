/* Accounting of completed reads and writes per device on the task completion path (no locks). */
#include "core/iostats.h"

#include "core/cmd.h"
#include "core/scsi.h"
#include "core/task.h"

void tg_io_count_task(const struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	if (!dev || task->nblocks == 0 || task->abort_requested)
		return;
	if (task->status != SCSI_STATUS_GOOD && task->status != SCSI_STATUS_CONDITION_MET)
		return;
	struct tg_io_counters *c = &dev->io_counters;
	if (task->dir == TG_DIR_READ) {
		atomic_fetch_add_explicit(&c->read_commands, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->read_bytes, task->data.len, memory_order_relaxed);
	} else if (task->dir == TG_DIR_WRITE && task->cmd && (task->cmd->flags & TG_CMD_WRITE_CLASS)) {
		atomic_fetch_add_explicit(&c->write_commands, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->write_bytes, task->data.len, memory_order_relaxed);
	}
}

void tg_io_counters_read(const struct tg_io_counters *counters, struct tg_io_counts *out)
{
	struct tg_io_counters *c = (struct tg_io_counters *)counters; /* loads do not modify */
	out->read_commands = atomic_load_explicit(&c->read_commands, memory_order_relaxed);
	out->read_bytes = atomic_load_explicit(&c->read_bytes, memory_order_relaxed);
	out->write_commands = atomic_load_explicit(&c->write_commands, memory_order_relaxed);
	out->write_bytes = atomic_load_explicit(&c->write_bytes, memory_order_relaxed);
}
