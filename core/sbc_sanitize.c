/* SANITIZE: OVERWRITE with a pattern, BLOCK ERASE by deallocating (or zeroing) the whole medium; CRYPTOGRAPHIC ERASE is not offered. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cmd.h"
#include "core/lba_lock.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	SANITIZE_SA_MASK = 0x1f,
	SANITIZE_RESERVED_BIT = 0x40,
	SA_OVERWRITE = 0x01,
	SA_BLOCK_ERASE = 0x02,
	SA_CRYPTOGRAPHIC_ERASE = 0x03,
	SA_EXIT_FAILURE_MODE = 0x1f,
	OVERWRITE_HEADER_LEN = 4,
	OVERWRITE_INVERT = 0x80,
	OVERWRITE_TEST_MASK = 0x60,
	OVERWRITE_COUNT_MASK = 0x1f,
};

static uint8_t service_action(const struct tg_task *task)
{
	return task->cdb[1] & SANITIZE_SA_MASK;
}

/*
 * IMMED is accepted, but status is returned once the medium is sanitized: no background job
 * outlives the command, so nothing has to answer SANITIZE IN PROGRESS later.
 */
enum tg_sense_reason tg_sbc_parse_sanitize(struct tg_task *task)
{
	const struct tg_device *dev = task->dev;
	uint16_t param_len = get_be16(task->cdb + 7);
	task->lba = 0;
	task->nblocks = 0; /* execute locks the whole medium once the parameters check out */
	task->dir = param_len ? TG_DIR_WRITE : TG_DIR_NONE;
	task->scsi_len = param_len;

	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* Reserved bits and bytes are checked: a later SBC may give them a meaning that erases
	 * differently, and a sanitize is not something to half-understand. */
	if (task->cdb[1] & SANITIZE_RESERVED_BIT)
		return tg_cmd_invalid_field(task, 1, 6);
	for (uint16_t at = 2; at <= 6; at++)
		if (task->cdb[at])
			return tg_cmd_invalid_field(task, at, -1);
	switch (service_action(task)) {
	case SA_OVERWRITE:
		/* The header plus a pattern of one byte up to one block. */
		if (param_len <= OVERWRITE_HEADER_LEN || param_len > dev->block_size + OVERWRITE_HEADER_LEN)
			return tg_cmd_invalid_field(task, 7, -1);
		return TG_SR_OK;
	case SA_BLOCK_ERASE:
		if (!tg_sbc_can_block_erase(dev))
			return tg_cmd_invalid_field(task, 1, 4);
		break;
	case SA_EXIT_FAILURE_MODE:
		break;
	case SA_CRYPTOGRAPHIC_ERASE: /* no encryption, no key to change */
	default:
		return tg_cmd_invalid_field(task, 1, 4);
	}
	/* Only OVERWRITE takes a parameter list. */
	if (param_len)
		return tg_cmd_invalid_field(task, 7, -1);
	return TG_SR_OK;
}

static enum tg_sense_reason invalid_param(struct tg_task *task, uint16_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = false;
	task->sense_info.field_byte = byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_PARAM_LIST;
}

/* An OVERWRITE in progress: passes over the whole medium, chunk by chunk. */
struct overwrite_job {
	struct iovec iov;
	struct tg_buf chunk;   /* the pattern repeated, whole blocks */
	const uint8_t *pattern; /* in the task's Data-Out buffer; at most one block */
	size_t pattern_len;
	uint32_t block_size;
	bool invert;
	unsigned passes_left;
	bool chunk_inverted;   /* the chunk currently holds the inverted pattern */
	uint64_t next_lba;
};

static struct overwrite_job *overwrite_job(struct tg_task *task)
{
	return (struct overwrite_job *)(uintptr_t)task->handler_u64[0];
}

static void overwrite_finish(struct tg_task *task, enum tg_sense_reason reason)
{
	struct overwrite_job *job = overwrite_job(task);
	uint64_t at = job ? job->next_lba : 0;
	if (job) {
		tg_buf_free(&job->chunk);
		free(job);
		task->handler_u64[0] = 0;
	}
	if (reason == TG_SR_WRITE_ERROR)
		tg_sbc_fail_at(task, reason, at);
	else
		tg_task_complete(task, reason);
}

static void fill_chunk(struct overwrite_job *job, bool inverted)
{
	/* A pattern shorter than a block is repeated to fill each block, from its start. */
	for (size_t i = 0; i < job->chunk.len; i++) {
		uint8_t b = job->pattern[(i % job->block_size) % job->pattern_len];
		job->chunk.base[i] = inverted ? (uint8_t)~b : b;
	}
	job->chunk_inverted = inverted;
}

static void overwrite_next(struct tg_task *task);

static void overwrite_chunk_done(struct tg_task *task, int result)
{
	struct overwrite_job *job = overwrite_job(task);
	if (result < 0) {
		overwrite_finish(task, TG_SR_WRITE_ERROR);
		return;
	}
	job->next_lba += task->io.len / task->dev->block_size;
	overwrite_next(task);
}

static void overwrite_next(struct tg_task *task)
{
	struct overwrite_job *job = overwrite_job(task);
	struct tg_device *dev = task->dev;
	if (job->next_lba >= dev->num_blocks) {
		job->next_lba = 0;
		if (--job->passes_left == 0) {
			overwrite_finish(task, TG_SR_OK);
			return;
		}
		/* INVERT: consecutive passes alternate between the pattern and its inverse. */
		if (job->invert)
			fill_chunk(job, !job->chunk_inverted);
	}
	uint32_t bs = dev->block_size;
	uint64_t blocks = dev->num_blocks - job->next_lba;
	uint64_t cap = job->chunk.len / bs;
	if (blocks > cap)
		blocks = cap;
	/* FUA: a sanitized block must not survive in a cache the initiator cannot see. */
	tg_sbc_issue(task, &job->iov, TG_IO_WRITE, job->next_lba, blocks * bs, job->chunk.base,
		     true, overwrite_chunk_done);
}

static void overwrite_locked(struct tg_task *task) { overwrite_next(task); }

static void sanitize_overwrite(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	const uint8_t *p = task->data.base;
	size_t len = task->data.len;
	uint8_t count = p[0] & OVERWRITE_COUNT_MASK;
	uint16_t pattern_len = get_be16(p + 2);
	if (p[0] & OVERWRITE_TEST_MASK) {
		tg_task_complete(task, invalid_param(task, 0, 6));
		return;
	}
	if (count == 0) {
		tg_task_complete(task, invalid_param(task, 0, 4));
		return;
	}
	if (pattern_len == 0 || pattern_len > dev->block_size ||
	    pattern_len > len - OVERWRITE_HEADER_LEN) {
		tg_task_complete(task, invalid_param(task, 2, -1));
		return;
	}
	struct overwrite_job *job = calloc(1, sizeof(*job));
	uint64_t bytes = dev->num_blocks * dev->block_size;
	uint64_t chunk = bytes < TG_SBC_CHUNK_BYTES ? bytes : TG_SBC_CHUNK_BYTES / dev->block_size *
								    dev->block_size;
	if (chunk < dev->block_size)
		chunk = dev->block_size;
	if (!job || tg_buf_alloc(&job->chunk, chunk) != 0) {
		free(job);
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	job->pattern = p + OVERWRITE_HEADER_LEN;
	job->pattern_len = pattern_len;
	job->block_size = dev->block_size;
	job->invert = p[0] & OVERWRITE_INVERT;
	job->passes_left = count;
	fill_chunk(job, false);
	task->handler_u64[0] = (uint64_t)(uintptr_t)job;
	tg_task_lock_range(task, 0, dev->num_blocks, true, overwrite_locked);
}

static void block_erase_done(struct tg_task *task, int result)
{
	if (result < 0) {
		tg_sbc_fail_at(task, TG_SR_WRITE_ERROR, 0);
		return;
	}
	tg_task_complete(task, TG_SR_OK);
}

static void block_erase_locked(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	/* Deallocated blocks read back zeroes (LBPRZ); zeroing is the fallback, and both are
	 * made durable before the command ends. */
	enum tg_io_op op = dev->can_unmap ? TG_IO_UNMAP : TG_IO_WRITE_ZEROES;
	tg_sbc_issue(task, NULL, op, 0, dev->num_blocks * dev->block_size, NULL, true,
		     block_erase_done);
}

void tg_sbc_sanitize(struct tg_task *task)
{
	task->handler_u64[0] = 0;
	switch (service_action(task)) {
	case SA_OVERWRITE:
		sanitize_overwrite(task);
		return;
	case SA_BLOCK_ERASE:
		tg_task_lock_range(task, 0, task->dev->num_blocks, true, block_erase_locked);
		return;
	default:
		/* EXIT FAILURE MODE: a failed sanitize here leaves no failure mode to exit (the
		 * medium stays readable and writable), so there is nothing to do. */
		tg_task_complete(task, TG_SR_OK);
		return;
	}
}
