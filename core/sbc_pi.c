/* SBC commands on protected devices: READ/WRITE/VERIFY/WRITE AND VERIFY with RDPROTECT/WRPROTECT/VRPROTECT, type 2's 32-byte CDBs, FORMAT UNIT. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cmd.h"
#include "core/lba_lock.h"
#include "core/mode.h"
#include "core/nexus.h"
#include "core/pi.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	CDB_FUA = 0x08,
	CDB_NACA = 0x04,
	CDB32_ADDITIONAL_LENGTH = 0x18,
};

/* VARIABLE LENGTH CDB (7Fh) service actions SBC defines for type 2. */
enum {
	SA_READ_32 = 0x0009,
	SA_VERIFY_32 = 0x000a,
	SA_WRITE_32 = 0x000b,
	SA_WRITE_AND_VERIFY_32 = 0x000c,
};

enum { BYTCHK_NONE = 0, BYTCHK_COMPARE = 1, BYTCHK_RESERVED = 2, BYTCHK_ONE_BLOCK = 3 };

static bool is_cdb32(const struct tg_task *task) { return task->cdb[0] == SCSI_VARIABLE_LENGTH_CDB; }

/* Byte holding RDPROTECT/WRPROTECT/VRPROTECT, DPO, FUA and BYTCHK. */
static uint16_t flags_at(const struct tg_task *task) { return is_cdb32(task) ? 10 : 1; }
/* READ(6)/WRITE(6) have no such byte (and move no PI). */
static uint8_t flags_of(const struct tg_task *task)
{
	return task->cmd && task->cmd->cdb_len == 6 ? 0 : task->cdb[flags_at(task)];
}
static uint8_t protect_of(const struct tg_task *task) { return flags_of(task) >> 5; }
static uint8_t bytchk_of(const struct tg_task *task) { return (flags_of(task) >> 1) & 3; }

static void pi_cmd_of(const struct tg_task *task, enum tg_pi_use use, struct tg_pi_cmd *c)
{
	const struct tg_device *dev = task->dev;
	tg_pi_cmd_init(c, dev->protection_type, protect_of(task), use, task->lba,
		       is_cdb32(task) ? task->cdb : NULL, tg_pi_host_profile(dev));
}

static void set_transfer(struct tg_task *task, enum tg_data_dir dir, uint64_t bytes)
{
	task->dir = bytes ? dir : TG_DIR_NONE;
	task->scsi_len = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

enum tg_sense_reason tg_pi_check_protect(struct tg_task *task, uint8_t protect)
{
	const struct tg_device *dev = task->dev;
	uint16_t at = flags_at(task);
	if (!tg_pi_enabled(dev))
		return protect ? tg_cmd_invalid_field(task, at, 7) : TG_SR_OK;
	if (protect > 5)
		return tg_cmd_invalid_field(task, at, 7);
	/* Type 2 moves PI only with 32-byte CDBs, whose expected tags it needs. */
	if (protect && dev->protection_type == 2 && !is_cdb32(task))
		return tg_cmd_invalid_field(task, at, 7);
	/* Data moving with PI carries 8 more bytes per block on the wire. */
	uint64_t data_bytes = (uint64_t)task->nblocks * dev->block_size;
	if (protect && task->nblocks && task->scsi_len == data_bytes)
		set_transfer(task, task->dir,
			     (uint64_t)task->nblocks * (dev->block_size + TG_PI_TUPLE_BYTES));
	return TG_SR_OK;
}

static enum tg_sense_reason check_transfer_limit(struct tg_task *task, uint16_t length_byte)
{
	if ((uint64_t)task->nblocks * task->dev->block_size > TG_MAX_TRANSFER_BYTES)
		return tg_cmd_invalid_field(task, length_byte, -1);
	return TG_SR_OK;
}

/* Where a block's first byte sits in the Data-Out buffer (miscompare offsets count there). */
static uint64_t wire_offset(const struct tg_task *task, bool on_wire, uint64_t block,
			    uint64_t byte)
{
	uint64_t unit = task->dev->block_size + (on_wire ? TG_PI_TUPLE_BYTES : 0);
	return block * unit + byte;
}

static void issue(struct tg_task *task, struct iovec iov[2], enum tg_io_op op, uint64_t lba,
		  uint8_t *data, uint8_t *pi, uint32_t nblocks, bool fua,
		  void (*then)(struct tg_task *task, int result))
{
	memset(&task->io, 0, sizeof(task->io));
	task->io.op = op;
	task->io.offset = lba * task->dev->block_size;
	task->io.len = (uint64_t)nblocks * task->dev->block_size;
	task->io.fua = fua;
	iov[0] = (struct iovec){ data, task->io.len };
	iov[1] = (struct iovec){ pi, (size_t)nblocks * TG_PI_TUPLE_BYTES };
	task->io.iov = &iov[0];
	task->io.iovcnt = 1;
	task->io.pi_iov = &iov[1];
	task->io.pi_iovcnt = 1;
	tg_task_backend_io(task, then);
}

/* handler_u64 is the simple paths' iovec storage: data and PI, one each. */
static struct iovec *task_iovs(struct tg_task *task)
{
	_Static_assert(2 * sizeof(struct iovec) <= sizeof(((struct tg_task *)0)->handler_u64),
		       "two iovecs must fit in handler_u64");
	return (struct iovec *)(void *)task->handler_u64;
}

static int alloc_pi(struct tg_task *task, uint32_t nblocks)
{
	if (task->pi.base)
		return 0;
	return tg_buf_alloc(&task->pi, (size_t)nblocks * TG_PI_TUPLE_BYTES);
}

/* ---- READ ---- */

static void read_done(struct tg_task *task, int result)
{
	uint32_t bs = task->dev->block_size, n = task->nblocks;
	if (result < 0) {
		tg_sbc_fail_at(task, TG_SR_UNRECOVERED_READ_ERROR, task->lba);
		return;
	}
	struct tg_pi_cmd c;
	pi_cmd_of(task, TG_PI_USE_READ, &c);
	uint32_t bad = 0;
	enum tg_sense_reason reason =
		tg_pi_check(&c, tg_pi_medium_profile(), task->data.base, task->pi.base, bs, n, 0, &bad);
	if (reason != TG_SR_OK) {
		tg_sbc_fail_at(task, reason, task->lba + bad);
		return;
	}
	if (c.on_wire) {
		tg_pi_convert(c.type, tg_pi_medium_profile(), c.host, task->data.base, task->pi.base,
			      bs, n);
		tg_pi_interleave(task->data.base, task->pi.base, bs, n);
		task->data.len = (size_t)n * (bs + TG_PI_TUPLE_BYTES);
	}
	/* Only exp_len bytes go out when the CDB asked for more (residual overflow). */
	if (task->data.len > task->exp_len)
		task->data.len = task->exp_len;
	tg_task_complete(task, TG_SR_OK);
}

void tg_pi_read(struct tg_task *task)
{
	uint32_t bs = task->dev->block_size, n = task->nblocks;
	if (n == 0 || task->exp_len == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	bool on_wire = protect_of(task) != 0;
	size_t wire = (size_t)n * (bs + (on_wire ? TG_PI_TUPLE_BYTES : 0));
	if (tg_task_alloc_data(task, wire) != 0 || alloc_pi(task, n) != 0) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	task->data.len = (size_t)n * bs;
	issue(task, task_iovs(task), TG_IO_READ, task->lba, task->data.base, task->pi.base, n, false,
	      read_done);
}

/* ---- WRITE ---- */

/*
 * Turns the Data-Out buffer into data and PI: with PI on the wire it is split out and checked
 * as the protect field says, then re-expressed with the medium's guard; without, the target
 * generates it. Returns TG_SR_OK or the failed check, *bad naming the block.
 */
static enum tg_sense_reason take_write_pi(struct tg_task *task, uint32_t *bad)
{
	uint32_t bs = task->dev->block_size, n = task->nblocks;
	struct tg_pi_cmd c;
	pi_cmd_of(task, TG_PI_USE_WRITE, &c);
	if (alloc_pi(task, n) != 0)
		return TG_SR_TASK_SET_FULL;
	if (!c.on_wire) {
		tg_pi_generate(&c, task->data.base, task->pi.base, bs, n, 0);
		return TG_SR_OK;
	}
	if (task->data.len < (size_t)n * (bs + TG_PI_TUPLE_BYTES))
		return TG_SR_INVALID_FIELD_IN_IU;
	tg_pi_split(task->data.base, task->pi.base, bs, n);
	task->data.len = (size_t)n * bs;
	enum tg_sense_reason reason =
		tg_pi_check(&c, c.host, task->data.base, task->pi.base, bs, n, 0, bad);
	if (reason == TG_SR_OK)
		tg_pi_convert(c.type, c.host, tg_pi_medium_profile(), task->data.base,
			      task->pi.base, bs, n);
	return reason;
}

/* take_write_pi, ending the task on failure: false when it was ended. A PI mismatch names the
 * first bad LBA; no buffer or a Data-Out short of its PI has no LBA to name. */
static bool take_write_pi_or_fail(struct tg_task *task)
{
	uint32_t bad = 0;
	enum tg_sense_reason reason = take_write_pi(task, &bad);
	if (reason == TG_SR_OK)
		return true;
	if (reason == TG_SR_TASK_SET_FULL || reason == TG_SR_INVALID_FIELD_IN_IU)
		tg_task_complete(task, reason);
	else
		tg_sbc_fail_at(task, reason, task->lba + bad);
	return false;
}

static void write_done(struct tg_task *task, int result)
{
	if (result < 0) {
		tg_sbc_fail_at(task, TG_SR_WRITE_ERROR, task->lba);
		return;
	}
	tg_task_complete(task, TG_SR_OK);
}

void tg_pi_write(struct tg_task *task)
{
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	if (!take_write_pi_or_fail(task))
		return;
	bool fua = flags_of(task) & CDB_FUA;
	issue(task, task_iovs(task), TG_IO_WRITE, task->lba, task->data.base, task->pi.base,
	      task->nblocks, fua, write_done);
}

/* ---- VERIFY and WRITE AND VERIFY: the medium read back in chunks ---- */

struct pi_job {
	struct iovec iov[2];
	struct tg_buf medium;
	struct tg_buf medium_pi;
	uint64_t done;          /* blocks of the command handled so far */
	uint32_t chunk_blocks;
	uint8_t bytchk;
	bool data_out_pi;       /* the Data-Out buffer carried PI (now in task->pi) */
	bool written;           /* WRITE AND VERIFY: compare with what was just written */
};

static struct pi_job *job_of(struct tg_task *task)
{
	return (struct pi_job *)(uintptr_t)task->handler_u64[0];
}

static void job_free(struct tg_task *task)
{
	struct pi_job *job = job_of(task);
	if (!job)
		return;
	tg_buf_free(&job->medium);
	tg_buf_free(&job->medium_pi);
	free(job);
	task->handler_u64[0] = 0;
}

static void job_complete(struct tg_task *task, enum tg_sense_reason reason)
{
	job_free(task);
	tg_task_complete(task, reason);
}

static void job_fail_at(struct tg_task *task, enum tg_sense_reason reason, uint64_t information)
{
	job_free(task);
	tg_sbc_fail_at(task, reason, information);
}

static struct pi_job *job_start(struct tg_task *task)
{
	uint32_t bs = task->dev->block_size;
	uint64_t chunk = TG_SBC_CHUNK_BYTES / bs;
	if (chunk > task->nblocks)
		chunk = task->nblocks;
	if (chunk == 0)
		chunk = 1;
	struct pi_job *job = calloc(1, sizeof(*job));
	if (!job || tg_buf_alloc(&job->medium, chunk * bs) != 0 ||
	    tg_buf_alloc(&job->medium_pi, chunk * TG_PI_TUPLE_BYTES) != 0) {
		if (job) {
			tg_buf_free(&job->medium);
			free(job);
		}
		return NULL;
	}
	job->chunk_blocks = (uint32_t)chunk;
	task->handler_u64[0] = (uint64_t)(uintptr_t)job;
	return job;
}

/*
 * SBC's byte-by-byte comparison of the Data-Out PI with the medium's (VRPROTECT with BYTCHK
 * 01b): the fields the protect value names; with ATO = 1 the application tag always, and the
 * reference tag except for type 3, where it belongs to the application client.
 */
static enum tg_sense_reason compare_pi(int type, uint8_t protect, const uint8_t *sent,
				       const uint8_t *medium, uint32_t n, uint32_t *bad)
{
	bool guard = protect == 1 || protect == 5 || protect == 4;
	bool app = protect == 1 || protect == 5 || protect == 2;
	bool ref = app && type != 3;
	for (uint32_t i = 0; i < n; i++) {
		struct tg_pi_tuple s = tg_pi_tuple_get(sent + (size_t)i * TG_PI_TUPLE_BYTES);
		struct tg_pi_tuple m = tg_pi_tuple_get(medium + (size_t)i * TG_PI_TUPLE_BYTES);
		enum tg_sense_reason reason = TG_SR_OK;
		if (guard && s.guard != m.guard)
			reason = TG_SR_GUARD_MISCOMPARE;
		else if (app && s.app_tag != m.app_tag)
			reason = TG_SR_APP_TAG_MISCOMPARE;
		else if (ref && s.ref_tag != m.ref_tag)
			reason = TG_SR_REF_TAG_MISCOMPARE;
		if (reason != TG_SR_OK) {
			*bad = i;
			return reason;
		}
	}
	return TG_SR_OK;
}

/* WRITE AND VERIFY: what was read back must be what was written, data and PI. */
static enum tg_sense_reason compare_written(struct tg_task *task, struct pi_job *job, uint32_t n,
					    uint64_t *information)
{
	uint32_t bs = task->dev->block_size;
	const uint8_t *data = task->data.base + job->done * bs;
	const uint8_t *pi = task->pi.base + job->done * TG_PI_TUPLE_BYTES;
	for (uint32_t i = 0; i < n; i++) {
		size_t at = tg_sbc_first_difference(job->medium.base + (size_t)i * bs,
						    data + (size_t)i * bs, bs);
		if (at < bs) {
			if (job->bytchk == BYTCHK_COMPARE) {
				*information = wire_offset(task, job->data_out_pi, job->done + i, at);
				return TG_SR_MISCOMPARE_DURING_VERIFY;
			}
			/* No data to compare with: the block lost what its guard protects. */
			*information = task->lba + job->done + i;
			return TG_SR_GUARD_CHECK_FAILED;
		}
		struct tg_pi_tuple w = tg_pi_tuple_get(pi + (size_t)i * TG_PI_TUPLE_BYTES);
		struct tg_pi_tuple m =
			tg_pi_tuple_get(job->medium_pi.base + (size_t)i * TG_PI_TUPLE_BYTES);
		*information = task->lba + job->done + i;
		if (w.guard != m.guard)
			return TG_SR_GUARD_CHECK_FAILED;
		if (w.app_tag != m.app_tag)
			return TG_SR_APP_TAG_CHECK_FAILED;
		if (w.ref_tag != m.ref_tag)
			return TG_SR_REF_TAG_CHECK_FAILED;
	}
	return TG_SR_OK;
}

/* VERIFY: the medium's PI checked, and with BYTCHK the Data-Out buffer compared. */
static enum tg_sense_reason verify_chunk(struct tg_task *task, struct pi_job *job, uint32_t n,
					 uint64_t *information)
{
	uint32_t bs = task->dev->block_size;
	uint32_t bad = 0;
	struct tg_pi_cmd c;
	pi_cmd_of(task, job->bytchk == BYTCHK_NONE ? TG_PI_USE_VERIFY_MEDIUM
						   : TG_PI_USE_VERIFY_COMPARE,
		  &c);
	enum tg_sense_reason reason = tg_pi_check(&c, tg_pi_medium_profile(), job->medium.base,
						  job->medium_pi.base, bs, n, job->done, &bad);
	if (reason != TG_SR_OK) {
		*information = task->lba + job->done + bad;
		return reason;
	}
	if (job->bytchk == BYTCHK_ONE_BLOCK) {
		for (uint32_t i = 0; i < n; i++) {
			size_t at = tg_sbc_first_difference(job->medium.base + (size_t)i * bs,
							    task->data.base, bs);
			if (at < bs) {
				*information = wire_offset(task, false, job->done + i, at);
				return TG_SR_MISCOMPARE_DURING_VERIFY;
			}
		}
	} else if (job->bytchk == BYTCHK_COMPARE) {
		const uint8_t *sent = task->data.base + job->done * bs;
		size_t len = (size_t)n * bs;
		size_t at = tg_sbc_first_difference(job->medium.base, sent, len);
		if (at < len) {
			*information = wire_offset(task, job->data_out_pi, job->done + at / bs, at % bs);
			return TG_SR_MISCOMPARE_DURING_VERIFY;
		}
		if (job->data_out_pi) {
			reason = compare_pi(c.type, c.protect,
					    task->pi.base + job->done * TG_PI_TUPLE_BYTES,
					    job->medium_pi.base, n, &bad);
			if (reason != TG_SR_OK) {
				*information = task->lba + job->done + bad;
				return reason;
			}
		}
	}
	return TG_SR_OK;
}

static void job_next_chunk(struct tg_task *task);

static void job_chunk_read(struct tg_task *task, int result)
{
	struct pi_job *job = job_of(task);
	uint32_t n = (uint32_t)(task->io.len / task->dev->block_size);
	if (result < 0) {
		job_fail_at(task, TG_SR_UNRECOVERED_READ_ERROR, task->lba + job->done);
		return;
	}
	uint64_t information = 0;
	enum tg_sense_reason reason = job->written ? compare_written(task, job, n, &information)
						   : verify_chunk(task, job, n, &information);
	if (reason != TG_SR_OK) {
		job_fail_at(task, reason, information);
		return;
	}
	job->done += n;
	job_next_chunk(task);
}

static void job_next_chunk(struct tg_task *task)
{
	struct pi_job *job = job_of(task);
	if (job->done >= task->nblocks) {
		job_complete(task, TG_SR_OK);
		return;
	}
	if (task->abort_requested) {
		job_complete(task, TG_SR_TASK_ABORTED);
		return;
	}
	uint64_t left = task->nblocks - job->done;
	uint32_t n = left < job->chunk_blocks ? (uint32_t)left : job->chunk_blocks;
	issue(task, job->iov, TG_IO_READ, task->lba + job->done, job->medium.base,
	      job->medium_pi.base, n, false, job_chunk_read);
}

/* Common CDB checks of VERIFY and WRITE AND VERIFY on a protected device, any CDB length. */
static enum tg_sense_reason parse_medium_compare(struct tg_task *task, bool write)
{
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	uint8_t bytchk = bytchk_of(task);
	uint32_t bs = task->dev->block_size;
	uint16_t at = flags_at(task);
	task->lba = f.lba;
	task->nblocks = f.length;
	uint64_t out = write || bytchk == BYTCHK_COMPARE ? (uint64_t)f.length * bs
		       : bytchk == BYTCHK_ONE_BLOCK && f.length ? bs
								: 0;
	set_transfer(task, TG_DIR_WRITE, out);
	enum tg_sense_reason reason = is_cdb32(task) ? TG_SR_OK : tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* WRITE AND VERIFY knows 00b and 01b only: what it writes is what it was sent. */
	if (bytchk == BYTCHK_RESERVED || (write && bytchk == BYTCHK_ONE_BLOCK))
		return tg_cmd_invalid_field(task, at, 2);
	if ((reason = tg_pi_check_protect(task, protect_of(task))) != TG_SR_OK)
		return reason;
	/* One block sent for all, with its PI: there is no one reference tag to compare it
	 * with, so that combination is not offered. */
	if (bytchk == BYTCHK_ONE_BLOCK && protect_of(task))
		return tg_cmd_invalid_field(task, at, 7);
	if ((reason = tg_sbc_check_range(task)) != TG_SR_OK)
		return reason;
	if (write || bytchk == BYTCHK_COMPARE)
		return check_transfer_limit(task, f.length_byte);
	return TG_SR_OK;
}

enum tg_sense_reason tg_pi_parse_verify(struct tg_task *task)
{
	if (!tg_pi_enabled(task->dev))
		return tg_sbc_parse_verify(task);
	return parse_medium_compare(task, false);
}

static void verify_protected(struct tg_task *task)
{
	task->handler_u64[0] = 0;
	uint8_t bytchk = bytchk_of(task);
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	bool data_out_pi = bytchk == BYTCHK_COMPARE && protect_of(task);
	if (data_out_pi) {
		/* The Data-Out PI is checked as WRPROTECT would check it (SBC's VRPROTECT table
		 * for BYTCHK 01b), then compared with the medium's in the medium's guard. */
		if (!take_write_pi_or_fail(task))
			return;
	}
	struct pi_job *job = job_start(task);
	if (!job) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	job->bytchk = bytchk;
	job->data_out_pi = data_out_pi;
	job_next_chunk(task);
}

void tg_pi_verify(struct tg_task *task)
{
	if (!tg_pi_enabled(task->dev)) {
		tg_sbc_verify(task);
		return;
	}
	verify_protected(task);
}

enum tg_sense_reason tg_pi_parse_write_and_verify(struct tg_task *task)
{
	if (!tg_pi_enabled(task->dev))
		return tg_sbc_parse_write_and_verify(task);
	return parse_medium_compare(task, true);
}

static void write_and_verify_written(struct tg_task *task, int result)
{
	struct pi_job *job = job_of(task);
	if (result < 0) {
		job_fail_at(task, TG_SR_WRITE_ERROR, task->lba);
		return;
	}
	job->done = 0;
	job_next_chunk(task);
}

static void write_and_verify_protected(struct tg_task *task)
{
	task->handler_u64[0] = 0;
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	if (!take_write_pi_or_fail(task))
		return;
	struct pi_job *job = job_start(task);
	if (!job) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	job->bytchk = bytchk_of(task);
	job->data_out_pi = protect_of(task) != 0;
	job->written = true;
	/* FUA: the verify reads back what is durable, not what sits in a cache. */
	issue(task, job->iov, TG_IO_WRITE, task->lba, task->data.base, task->pi.base,
	      task->nblocks, true, write_and_verify_written);
}

void tg_pi_write_and_verify(struct tg_task *task)
{
	if (!tg_pi_enabled(task->dev)) {
		tg_sbc_write_and_verify(task);
		return;
	}
	write_and_verify_protected(task);
}

/* ---- VARIABLE LENGTH CDB (7Fh): READ/VERIFY/WRITE/WRITE AND VERIFY(32) ---- */

static bool sa_writes(uint16_t sa) { return sa == SA_WRITE_32 || sa == SA_WRITE_AND_VERIFY_32; }

enum tg_sense_reason tg_pi_parse_variable_length(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	task->dir = TG_DIR_NONE;
	task->scsi_len = 0;
	/* The CONTROL byte of a variable-length CDB is byte 1. */
	if (cdb[1] & CDB_NACA)
		return tg_cmd_invalid_field(task, 1, 2);
	if (task->cdb_len < 32 || cdb[7] != CDB32_ADDITIONAL_LENGTH)
		return tg_cmd_invalid_field(task, 7, -1);
	uint16_t sa = get_be16(cdb + 8);
	if (sa != SA_READ_32 && sa != SA_VERIFY_32 && sa != SA_WRITE_32 &&
	    sa != SA_WRITE_AND_VERIFY_32)
		return tg_cmd_invalid_field(task, 8, -1);
	/* SBC processes these only on a logical unit formatted with type 2 protection. */
	if (!tg_pi_enabled(task->dev) || task->dev->protection_type != 2) {
		tg_cmd_invalid_field(task, 8, -1);
		return TG_SR_INVALID_OPCODE;
	}
	/* One opcode reads and writes, so the table cannot mark it write-class: the read-only
	 * refusal the core gives write-class commands is given here. */
	if (sa_writes(sa)) {
		enum tg_sense_reason protect = tg_mode_write_protection(task->lun_entry, task->dev);
		if (protect != TG_SR_OK)
			return protect;
	}
	if (sa == SA_VERIFY_32)
		return parse_medium_compare(task, false);
	if (sa == SA_WRITE_AND_VERIFY_32)
		return parse_medium_compare(task, true);
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	task->lba = f.lba;
	task->nblocks = f.length;
	set_transfer(task, sa == SA_READ_32 ? TG_DIR_READ : TG_DIR_WRITE,
		     (uint64_t)f.length * task->dev->block_size);
	enum tg_sense_reason reason = tg_pi_check_protect(task, protect_of(task));
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	if (reason == TG_SR_OK)
		reason = check_transfer_limit(task, f.length_byte);
	return reason;
}

void tg_pi_variable_length(struct tg_task *task)
{
	uint16_t sa = get_be16(task->cdb + 8);
	switch (sa) {
	case SA_READ_32:
		tg_pi_read(task);
		return;
	case SA_VERIFY_32:
		verify_protected(task);
		return;
	default:
		break;
	}
	void (*write)(struct tg_task *) = sa == SA_WRITE_32 ? tg_pi_write
							     : write_and_verify_protected;
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	/* The range lock the core takes for write-class opcodes (COMPARE AND WRITE waits on it). */
	tg_task_lock_range(task, task->lba, task->nblocks, false, write);
}

/* ---- FORMAT UNIT ---- */

enum {
	FMT_LONGLIST = 0x20,
	FMT_FMTDATA = 0x10,
	FMT_HEADER_SHORT = 4,
	FMT_HEADER_LONG = 8,
	FMT_IP = 0x08,
};

static uint8_t fmtpinfo_of(const struct tg_task *task) { return task->cdb[1] >> 6; }

enum tg_sense_reason tg_pi_parse_format_unit(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* The whole medium, held exclusively against every writer while it is formatted. */
	task->lba = 0;
	task->nblocks = task->dev->num_blocks > UINT32_MAX ? UINT32_MAX
							   : (uint32_t)task->dev->num_blocks;
	/* The parameter list's length is not in the CDB: only its header is taken, and the
	 * defect list or initialization pattern it may announce is refused. */
	uint32_t header = cdb[1] & FMT_LONGLIST ? FMT_HEADER_LONG : FMT_HEADER_SHORT;
	set_transfer(task, TG_DIR_WRITE, cdb[1] & FMT_FMTDATA ? header : 0);
	uint8_t fmtpinfo = fmtpinfo_of(task);
	/* FMTPINFO 01b is reserved; without PI support only 00b exists. */
	if (fmtpinfo == 1 || (fmtpinfo && !task->dev->pi_capable))
		return tg_cmd_invalid_field(task, 1, 7);
	if (task->scsi_len && task->exp_len < task->scsi_len)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	return TG_SR_OK;
}

static enum tg_sense_reason param_invalid(struct tg_task *task, uint16_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = false;
	task->sense_info.field_byte = byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_PARAM_LIST;
}

/* The protection type FMTPINFO and PROTECTION FIELD USAGE select, or -1 with the reason. */
static int format_type(struct tg_task *task, enum tg_sense_reason *reason)
{
	uint8_t pfu = 0;
	if (task->cdb[1] & FMT_FMTDATA) {
		const uint8_t *h = task->data.base;
		bool longlist = task->cdb[1] & FMT_LONGLIST;
		pfu = h[0] & 0x07;
		if (h[1] & FMT_IP) {
			*reason = param_invalid(task, 1, 3);
			return -1;
		}
		if (longlist && h[3]) { /* P_I_INFORMATION, PROTECTION INTERVAL EXPONENT */
			*reason = param_invalid(task, 3, h[3] & 0xf0 ? 7 : 3);
			return -1;
		}
		if (longlist ? get_be32(h + 4) : get_be16(h + 2)) {
			*reason = param_invalid(task, longlist ? 4 : 2, -1);
			return -1;
		}
	}
	switch (fmtpinfo_of(task)) {
	case 0:
		if (pfu == 0)
			return 0;
		break;
	case 2:
		if (pfu == 0)
			return 1;
		break;
	case 3:
		if (pfu == 0)
			return 2;
		if (pfu == 1)
			return 3;
		break;
	}
	*reason = param_invalid(task, 0, 2);
	return -1;
}

static void format_done(struct tg_io *io)
{
	struct tg_task *task = io->priv;
	struct tg_device *dev = task->dev;
	task->state = TG_TASK_EXEC;
	if (io->result < 0) {
		tg_task_complete(task, TG_SR_FORMAT_COMMAND_FAILED);
		return;
	}
	int type = (int)task->handler_u64[0];
	bool changed = dev->protection_type != type;
	dev->protection_type = type;
	/* READ CAPACITY(16)'s PROT_EN and P_TYPE changed under the other initiators' feet. */
	if (changed)
		tg_ua_establish_device(dev, TG_SR_UA_CAPACITY_CHANGED, task->nexus);
	tg_task_complete(task, TG_SR_OK);
}

void tg_pi_format_unit(struct tg_task *task)
{
	enum tg_sense_reason reason = TG_SR_OK;
	int type = format_type(task, &reason);
	if (type < 0) {
		tg_task_complete(task, reason);
		return;
	}
	struct tg_device *dev = task->dev;
	/* A store without PI has nothing to format: the data stays as it is (how far FORMAT
	 * UNIT alters the medium is vendor specific). */
	if (!dev->pi_capable || !dev->ops->format_pi) {
		tg_task_complete(task, type ? TG_SR_INVALID_FIELD_IN_CDB : TG_SR_OK);
		return;
	}
	task->handler_u64[0] = (uint64_t)type;
	memset(&task->io, 0, sizeof(task->io));
	task->state = TG_TASK_BACKEND_IO;
	task->io.engine = task->engine;
	task->io.done = format_done;
	task->io.priv = task;
	dev->ops->format_pi(dev, &task->io, type);
}
