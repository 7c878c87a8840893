/* PRE-FETCH(10/16): asks the page cache to hold a range, and says whether all of it fits. */
#include <stdlib.h>

#include "core/buf.h"
#include "core/cmd.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum { PREFETCH_IMMED = 0x02 };

/* The state of a PRE-FETCH that reads its range into the cache chunk by chunk. */
struct prefetch_job {
	struct iovec iov;
	struct tg_buf scratch; /* the bytes read are dropped: only the cache keeps them */
	uint64_t next_lba;
	uint64_t end_lba;
	bool whole_range;      /* everything asked for fits in the cache */
};

static struct prefetch_job *prefetch_job(struct tg_task *task)
{
	return (struct prefetch_job *)(uintptr_t)task->handler_u64[0];
}

enum tg_sense_reason tg_sbc_parse_prefetch(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	bool sixteen = task->cmd->cdb_len == 16;
	task->lba = sixteen ? get_be64(cdb + 2) : get_be32(cdb + 2);
	task->nblocks = sixteen ? get_be32(cdb + 10) : get_be16(cdb + 7);
	task->dir = TG_DIR_NONE;
	task->scsi_len = 0;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	return reason;
}

/* SBC-3 5.9: CONDITION MET when every block asked for is (or, with IMMED, will fit) in the
 * cache; GOOD when only part of it fits. */
static enum tg_sense_reason prefetch_outcome(bool whole_range)
{
	return whole_range ? TG_SR_CONDITION_MET : TG_SR_OK;
}

static void prefetch_finish(struct tg_task *task, enum tg_sense_reason reason)
{
	struct prefetch_job *job = prefetch_job(task);
	uint64_t at = job->next_lba;
	tg_buf_free(&job->scratch);
	free(job);
	task->handler_u64[0] = 0;
	if (reason == TG_SR_UNRECOVERED_READ_ERROR)
		tg_sbc_fail_at(task, reason, at);
	else
		tg_task_complete(task, reason);
}

static void prefetch_next(struct tg_task *task);

static void prefetch_chunk_done(struct tg_task *task, int result)
{
	struct prefetch_job *job = prefetch_job(task);
	if (result < 0) {
		prefetch_finish(task, TG_SR_UNRECOVERED_READ_ERROR);
		return;
	}
	job->next_lba += task->io.len / task->dev->block_size;
	prefetch_next(task);
}

static void prefetch_next(struct tg_task *task)
{
	struct prefetch_job *job = prefetch_job(task);
	if (job->next_lba >= job->end_lba || task->abort_requested) {
		prefetch_finish(task, task->abort_requested ? TG_SR_TASK_ABORTED
							    : prefetch_outcome(job->whole_range));
		return;
	}
	uint32_t bs = task->dev->block_size;
	uint64_t blocks = job->end_lba - job->next_lba;
	uint64_t cap = job->scratch.len / bs;
	if (blocks > cap)
		blocks = cap;
	tg_sbc_issue(task, &job->iov, TG_IO_READ, job->next_lba, blocks * bs, job->scratch.base,
		     false, prefetch_chunk_done);
}

void tg_sbc_prefetch(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	uint32_t bs = dev->block_size;
	/* PREFETCH LENGTH 0: through the last LBA. */
	uint64_t blocks = task->nblocks ? task->nblocks : dev->num_blocks - task->lba;
	uint64_t cache_blocks = TG_SBC_PREFETCH_CACHE_BYTES / bs;
	task->handler_u64[0] = 0;
	/* Only a buffered backend has a cache (the page cache) to fill. */
	if (!dev->write_cache) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	bool whole_range = blocks <= cache_blocks;
	if (task->cdb[1] & PREFETCH_IMMED) {
		/* The answer comes first and no task survives it to do the reading; the blocks
		 * come into the cache when they are next read. */
		tg_task_complete(task, prefetch_outcome(whole_range));
		return;
	}
	struct prefetch_job *job = calloc(1, sizeof(*job));
	uint64_t wanted = (whole_range ? blocks : cache_blocks) * bs;
	uint64_t chunk = wanted < TG_SBC_CHUNK_BYTES ? wanted : TG_SBC_CHUNK_BYTES / bs * bs;
	if (chunk < bs)
		chunk = bs;
	if (!job || tg_buf_alloc(&job->scratch, chunk) != 0) {
		free(job);
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	job->next_lba = task->lba;
	job->end_lba = task->lba + wanted / bs;
	job->whole_range = whole_range;
	task->handler_u64[0] = (uint64_t)(uintptr_t)job;
	prefetch_next(task);
}
