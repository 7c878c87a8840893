/* Commands that read the medium back and compare or combine: VERIFY with BYTCHK, WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cmd.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	CDB_FUA = 0x08,
	CDB_BYTCHK_SHIFT = 1,
	CDB_BYTCHK_MASK = 0x03,
};

/* BYTCHK (SBC-4): what the Data-Out buffer holds and what it is compared with. */
enum {
	BYTCHK_NONE = 0,      /* no data; the medium is only checked */
	BYTCHK_COMPARE = 1,   /* one block of data per block verified */
	BYTCHK_RESERVED = 2,
	BYTCHK_ONE_BLOCK = 3, /* one block of data, compared with every block verified */
};

static uint8_t bytchk_of(const struct tg_task *task)
{
	return (task->cdb[1] >> CDB_BYTCHK_SHIFT) & CDB_BYTCHK_MASK;
}

static enum tg_sense_reason check_transfer_limit(struct tg_task *task, uint16_t length_byte)
{
	if ((uint64_t)task->nblocks * task->dev->block_size > TG_MAX_TRANSFER_BYTES)
		return tg_cmd_invalid_field(task, length_byte, -1);
	return TG_SR_OK;
}

/* The checks every command here starts with, in the order SBC lists them. */
static enum tg_sense_reason check_common(struct tg_task *task)
{
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_protect(task);
	return reason;
}

static void set_data_out(struct tg_task *task, uint64_t bytes)
{
	task->dir = bytes ? TG_DIR_WRITE : TG_DIR_NONE;
	task->scsi_len = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

/*
 * A read of the medium in chunks, each compared with (or combined with) the Data-Out buffer.
 * `expected_offset` is where the next chunk's counterpart starts in the Data-Out buffer, as
 * the INFORMATION field of a miscompare counts it.
 */
struct medium_job {
	struct iovec iov;
	struct tg_buf medium;
	uint64_t next_lba;
	uint64_t end_lba;
	uint64_t data_offset;
	uint8_t bytchk;
	void (*after)(struct tg_task *task); /* runs once every chunk compared equal */
};

static struct medium_job *medium_job(struct tg_task *task)
{
	return (struct medium_job *)(uintptr_t)task->handler_u64[0];
}

static void job_free(struct tg_task *task)
{
	struct medium_job *job = medium_job(task);
	if (!job)
		return;
	tg_buf_free(&job->medium);
	free(job);
	task->handler_u64[0] = 0;
}

static void job_complete(struct tg_task *task, enum tg_sense_reason reason)
{
	job_free(task);
	tg_task_complete(task, reason);
}

static void job_fail_at(struct tg_task *task, enum tg_sense_reason reason, uint64_t lba)
{
	job_free(task);
	tg_sbc_fail_at(task, reason, lba);
}

static void miscompare(struct tg_task *task, uint64_t offset)
{
	job_free(task);
	/* INFORMATION: offset of the first differing byte from the start of the Data-Out buffer. */
	tg_sbc_fail_at(task, TG_SR_MISCOMPARE_DURING_VERIFY, offset);
}

/* Allocates the job with a medium buffer of up to `bytes` (at least one block). */
static struct medium_job *job_start(struct tg_task *task, uint64_t lba, uint64_t blocks,
				    uint64_t max_chunk)
{
	uint32_t bs = task->dev->block_size;
	uint64_t chunk = blocks * bs;
	if (chunk > max_chunk)
		chunk = max_chunk / bs * bs;
	if (chunk < bs)
		chunk = bs;
	struct medium_job *job = calloc(1, sizeof(*job));
	if (!job || tg_buf_alloc(&job->medium, chunk) != 0) {
		free(job);
		return NULL;
	}
	job->next_lba = lba;
	job->end_lba = lba + blocks;
	task->handler_u64[0] = (uint64_t)(uintptr_t)job;
	return job;
}

static void compare_next_chunk(struct tg_task *task);

static void compare_chunk_read(struct tg_task *task, int result)
{
	struct medium_job *job = medium_job(task);
	uint32_t bs = task->dev->block_size;
	size_t len = task->io.len;
	if (result < 0) {
		job_fail_at(task, TG_SR_UNRECOVERED_READ_ERROR, job->next_lba);
		return;
	}
	const uint8_t *data = task->data.base;
	if (job->bytchk == BYTCHK_COMPARE) {
		size_t at = tg_sbc_first_difference(job->medium.base, data + job->data_offset, len);
		if (at < len) {
			miscompare(task, job->data_offset + at);
			return;
		}
	} else if (job->bytchk == BYTCHK_ONE_BLOCK) {
		for (size_t b = 0; b < len; b += bs) {
			size_t at = tg_sbc_first_difference(job->medium.base + b, data, bs);
			if (at < bs) {
				/* Counted as if the one block were repeated for each block verified. */
				miscompare(task, job->data_offset + b + at);
				return;
			}
		}
	}
	job->data_offset += len;
	job->next_lba += len / bs;
	compare_next_chunk(task);
}

static void compare_next_chunk(struct tg_task *task)
{
	struct medium_job *job = medium_job(task);
	if (job->next_lba >= job->end_lba) {
		void (*after)(struct tg_task *) = job->after;
		if (after) {
			after(task);
			return;
		}
		job_complete(task, TG_SR_OK);
		return;
	}
	if (task->abort_requested) {
		job_complete(task, TG_SR_TASK_ABORTED);
		return;
	}
	uint32_t bs = task->dev->block_size;
	uint64_t blocks = job->end_lba - job->next_lba;
	uint64_t cap = job->medium.len / bs;
	if (blocks > cap)
		blocks = cap;
	tg_sbc_issue(task, &job->iov, TG_IO_READ, job->next_lba, blocks * bs, job->medium.base,
		     false, compare_chunk_read);
}

/* Reads [lba, lba + blocks) at most chunk_bytes at a time and compares it as bytchk says;
 * then `after`, or GOOD. */
static void read_and_compare(struct tg_task *task, uint64_t lba, uint64_t blocks,
			     uint64_t chunk_bytes, uint8_t bytchk,
			     void (*after)(struct tg_task *task))
{
	struct medium_job *job = job_start(task, lba, blocks, chunk_bytes);
	if (!job) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	job->bytchk = bytchk;
	job->after = after;
	compare_next_chunk(task);
}

/* ---- VERIFY(10/12/16) ---- */

enum tg_sense_reason tg_sbc_parse_verify(struct tg_task *task)
{
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	uint8_t bytchk = bytchk_of(task);
	uint32_t bs = task->dev->block_size;
	task->lba = f.lba;
	task->nblocks = f.length;
	uint64_t out = bytchk == BYTCHK_COMPARE ? (uint64_t)f.length * bs
		       : bytchk == BYTCHK_ONE_BLOCK && f.length ? bs : 0;
	set_data_out(task, out);

	enum tg_sense_reason reason = check_common(task);
	if (reason == TG_SR_OK && bytchk == BYTCHK_RESERVED)
		reason = tg_cmd_invalid_field(task, 1, 2);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	if (reason == TG_SR_OK && bytchk == BYTCHK_COMPARE)
		reason = check_transfer_limit(task, f.length_byte);
	return reason;
}

void tg_sbc_verify(struct tg_task *task)
{
	uint8_t bytchk = bytchk_of(task);
	task->handler_u64[0] = 0;
	/* BYTCHK 00b: the blocks exist (checked) and the backend has no separate medium check. */
	if (bytchk == BYTCHK_NONE || task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	read_and_compare(task, task->lba, task->nblocks, TG_SBC_CHUNK_BYTES, bytchk, NULL);
}

/* ---- WRITE AND VERIFY(10/12/16) ---- */

enum tg_sense_reason tg_sbc_parse_write_and_verify(struct tg_task *task)
{
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	uint8_t bytchk = bytchk_of(task);
	task->lba = f.lba;
	task->nblocks = f.length;
	set_data_out(task, (uint64_t)f.length * task->dev->block_size);

	enum tg_sense_reason reason = check_common(task);
	/* Only 00b and 01b exist for WRITE AND VERIFY: the data written is the data sent. */
	if (reason == TG_SR_OK && bytchk != BYTCHK_NONE && bytchk != BYTCHK_COMPARE)
		reason = tg_cmd_invalid_field(task, 1, 2);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	if (reason == TG_SR_OK)
		reason = check_transfer_limit(task, f.length_byte);
	return reason;
}

static void write_and_verify_written(struct tg_task *task, int result)
{
	if (result < 0) {
		tg_sbc_fail_at(task, TG_SR_WRITE_ERROR, task->lba);
		return;
	}
	/* The verify reads back what is now durable (the write was FUA); BYTCHK 01b also
	 * compares it with what was sent. */
	read_and_compare(task, task->lba, task->nblocks, TG_SBC_CHUNK_BYTES, bytchk_of(task),
			 NULL);
}

void tg_sbc_write_and_verify(struct tg_task *task)
{
	task->handler_u64[0] = 0;
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	struct iovec *iov = (struct iovec *)(void *)&task->handler_u64[2];
	_Static_assert(sizeof(struct iovec) <= 2 * sizeof(uint64_t), "iovec must fit two slots");
	tg_sbc_issue(task, iov, TG_IO_WRITE, task->lba, task->data.len, task->data.base, true,
		     write_and_verify_written);
}

/* ---- COMPARE AND WRITE ---- */

enum tg_sense_reason tg_sbc_parse_compare_and_write(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	uint32_t blocks = cdb[13];
	task->lba = get_be64(cdb + 2);
	task->nblocks = blocks;
	/* The Data-Out buffer holds the compare data, then the write data. */
	set_data_out(task, 2ull * blocks * task->dev->block_size);

	enum tg_sense_reason reason = check_common(task);
	if (reason != TG_SR_OK)
		return reason;
	if (blocks > TG_SBC_MAX_COMPARE_AND_WRITE_BLOCKS)
		return tg_cmd_invalid_field(task, 13, -1);
	if ((reason = tg_sbc_check_range(task)) != TG_SR_OK)
		return reason;
	/* The initiator sends a different amount than NUMBER OF LOGICAL BLOCKS implies (e.g. a
	 * count of 256 that wrapped to 0): which half is which cannot be guessed. */
	if (task->exp_len != task->scsi_len)
		return tg_cmd_invalid_field(task, 13, -1);
	return TG_SR_OK;
}

static void compare_and_write_written(struct tg_task *task, int result)
{
	if (result < 0) {
		job_fail_at(task, TG_SR_WRITE_ERROR, task->lba);
		return;
	}
	job_complete(task, TG_SR_OK);
}

/* Runs once the compare half matched; the range is still held exclusively. */
static void compare_and_write_matched(struct tg_task *task)
{
	if (task->abort_requested) {
		job_complete(task, TG_SR_TASK_ABORTED);
		return;
	}
	struct medium_job *job = medium_job(task);
	uint64_t half = (uint64_t)task->nblocks * task->dev->block_size;
	bool fua = task->cdb[1] & CDB_FUA;
	tg_sbc_issue(task, &job->iov, TG_IO_WRITE, task->lba, half, task->data.base + half, fua,
		     compare_and_write_written);
}

/* The task holds its range exclusively (TG_CMD_LBA_EXCLUSIVE): read, compare and write are
 * one step to every other writer. */
void tg_sbc_compare_and_write(struct tg_task *task)
{
	task->handler_u64[0] = 0;
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	/* At most 255 blocks: one read, whatever the block size. */
	read_and_compare(task, task->lba, task->nblocks, UINT64_MAX, BYTCHK_COMPARE,
			 compare_and_write_matched);
}

/* ---- ORWRITE(16) ---- */

enum tg_sense_reason tg_sbc_parse_orwrite(struct tg_task *task)
{
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	task->lba = f.lba;
	task->nblocks = f.length;
	set_data_out(task, (uint64_t)f.length * task->dev->block_size);

	enum tg_sense_reason reason = check_common(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	if (reason == TG_SR_OK)
		reason = check_transfer_limit(task, f.length_byte);
	return reason;
}

static void orwrite_written(struct tg_task *task, int result)
{
	if (result < 0) {
		job_fail_at(task, TG_SR_WRITE_ERROR, task->lba);
		return;
	}
	job_complete(task, TG_SR_OK);
}

static void orwrite_read(struct tg_task *task, int result)
{
	struct medium_job *job = medium_job(task);
	if (result < 0) {
		job_fail_at(task, TG_SR_UNRECOVERED_READ_ERROR, task->lba);
		return;
	}
	if (task->abort_requested) {
		job_complete(task, TG_SR_TASK_ABORTED);
		return;
	}
	size_t len = task->data.len;
	for (size_t i = 0; i < len; i++)
		job->medium.base[i] |= task->data.base[i];
	tg_sbc_issue(task, &job->iov, TG_IO_WRITE, task->lba, len, job->medium.base,
		     task->cdb[1] & CDB_FUA, orwrite_written);
}

/* Held exclusively like COMPARE AND WRITE, so no write slips in between the read and the
 * write. The combined blocks are written from the medium buffer; the Data-Out buffer is only
 * read. */
void tg_sbc_orwrite(struct tg_task *task)
{
	task->handler_u64[0] = 0;
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	/* data.len, not nblocks * block size: the core trims a write the initiator sends less
	 * of (residual overflow), and nblocks with it. */
	struct medium_job *job = job_start(task, task->lba, task->nblocks, UINT64_MAX);
	if (!job) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	tg_sbc_issue(task, &job->iov, TG_IO_READ, task->lba, task->data.len, job->medium.base,
		     false, orwrite_read);
}
