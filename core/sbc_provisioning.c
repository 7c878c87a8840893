/* Logical block provisioning: WRITE SAME, UNMAP, GET LBA STATUS, and the Block Limits / provisioning VPD data they are held to. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cmd.h"
#include "core/lba_lock.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	WS_ANCHOR = 0x10,
	WS_UNMAP = 0x08,
	WS_NDOB = 0x01,              /* WRITE SAME(16) only */
	WS10_OBSOLETE_BITS = 0x07,   /* PBDATA, LBDATA, RELADR */
	WS16_OBSOLETE_BITS = 0x06,   /* PBDATA, LBDATA */
	UNMAP_ANCHOR = 0x01,
	UNMAP_HEADER_LEN = 8,
	UNMAP_DESCRIPTOR_LEN = 16,
	LBA_STATUS_HEADER_LEN = 8,
	LBA_STATUS_DESCRIPTOR_LEN = 16,
	/* GET LBA STATUS answers at most this many descriptors; the initiator asks again from
	 * where the last one ends. */
	LBA_STATUS_MAX_DESCRIPTORS = 256,
};

enum { PROVISIONING_MAPPED = 0, PROVISIONING_DEALLOCATED = 1 };

/* ---- Data the provisioning commands are held to ---- */

static uint32_t unmap_granularity_blocks(const struct tg_device *dev)
{
	/* Holes are punched in whole pages; smaller unmaps only zero. */
	return dev->block_size < TG_BUF_ALIGN ? TG_BUF_ALIGN / dev->block_size : 1;
}

size_t tg_sbc_vpd_block_limits(const struct tg_task *task, uint8_t *body)
{
	const struct tg_device *dev = task->dev;
	/* Offsets below are page offsets (SBC-3 table 199) minus the 4-byte header. */
	uint8_t *page = body - 4;
	/* WSNZ 0: a WRITE SAME NUMBER OF LOGICAL BLOCKS of zero means "to the last LBA". */
	page[4] = 0;
	page[5] = TG_SBC_MAX_COMPARE_AND_WRITE_BLOCKS;
	put_be16(page + 6, (uint16_t)(dev->block_size < TG_BUF_ALIGN
					      ? TG_BUF_ALIGN / dev->block_size : 1));
	put_be32(page + 8, TG_MAX_TRANSFER_BYTES / dev->block_size);
	if (tg_sbc_thin(dev)) {
		put_be32(page + 20, TG_SBC_MAX_UNMAP_BLOCKS);
		put_be32(page + 24, TG_SBC_MAX_UNMAP_DESCRIPTORS);
		put_be32(page + 28, unmap_granularity_blocks(dev));
		page[32] = 0x80; /* UGAVALID: granules start at LBA 0 */
	}
	put_be64(page + 36, TG_SBC_MAX_WRITE_SAME_BLOCKS);
	/* WRITE ATOMIC(16) (core/sbc.c); no atomic boundary is offered, so the two boundary
	 * fields (56..63) stay zero. */
	put_be32(page + 44, tg_sbc_max_atomic_blocks(dev));
	put_be32(page + 48, tg_sbc_atomic_unit_blocks(dev));
	put_be32(page + 52, tg_sbc_atomic_unit_blocks(dev));
	return 0x3c;
}

size_t tg_sbc_vpd_logical_block_provisioning(const struct tg_task *task, uint8_t *body)
{
	const struct tg_device *dev = task->dev;
	uint8_t *page = body - 4;
	page[4] = 0; /* THRESHOLD EXPONENT: no thresholds */
	if (tg_sbc_thin(dev)) {
		/* LBPU, LBPWS, LBPWS10, and LBPRZ: the backends' unmap reads back zeroes. ANC_SUP
		 * and DP stay 0: no anchored state, no provisioning group descriptor. */
		page[5] = 0x80 | 0x40 | 0x20 | 0x04;
		page[6] = 0x02; /* PROVISIONING TYPE: thin */
	}
	return 4;
}

uint8_t tg_sbc_read_capacity_provisioning_bits(const struct tg_device *dev)
{
	return tg_sbc_thin(dev) ? 0x80 | 0x40 : 0; /* LBPME, LBPRZ */
}

uint8_t tg_sbc_wabereq(const struct tg_device *dev)
{
	/* 01b: after BLOCK ERASE a read of an unwritten block succeeds (it returns zeroes). */
	return tg_sbc_can_block_erase(dev) ? 1 : 0;
}

/* ---- WRITE SAME(10/16) ---- */

/* The state of a WRITE SAME that writes its block chunk by chunk. */
struct write_same_job {
	struct iovec iov;
	struct tg_buf chunk; /* the block repeated, whole blocks, at most TG_SBC_CHUNK_BYTES */
	uint64_t next_lba;
	uint64_t end_lba;
};

static struct write_same_job *write_same_job(struct tg_task *task)
{
	return (struct write_same_job *)(uintptr_t)task->handler_u64[0];
}

static bool write_same_ndob(const struct tg_task *task)
{
	return task->cmd->cdb_len == 16 && (task->cdb[1] & WS_NDOB);
}

enum tg_sense_reason tg_sbc_parse_write_same(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	const struct tg_device *dev = task->dev;
	bool sixteen = task->cmd->cdb_len == 16;
	bool ndob = write_same_ndob(task);
	uint64_t lba = sixteen ? get_be64(cdb + 2) : get_be32(cdb + 2);
	uint64_t blocks = sixteen ? get_be32(cdb + 10) : get_be16(cdb + 7);
	uint16_t length_byte = sixteen ? 10 : 7;

	task->lba = lba;
	task->nblocks = 0;
	task->dir = ndob ? TG_DIR_NONE : TG_DIR_WRITE;
	task->scsi_len = ndob ? 0 : dev->block_size;

	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if ((reason = tg_sbc_check_protect(task)) != TG_SR_OK)
		return reason;
	uint8_t obsolete = cdb[1] & (sixteen ? WS16_OBSOLETE_BITS : WS10_OBSOLETE_BITS);
	if (obsolete)
		return tg_cmd_invalid_field(task, 1, (int8_t)(31 - __builtin_clz(obsolete)));
	/* ANC_SUP is 0, and ANCHOR without UNMAP is invalid in any case. */
	if (cdb[1] & WS_ANCHOR)
		return tg_cmd_invalid_field(task, 1, 4);
	if (lba >= dev->num_blocks)
		return TG_SR_LBA_OUT_OF_RANGE;
	if (blocks == 0)
		blocks = dev->num_blocks - lba; /* WSNZ is 0 */
	if (blocks > dev->num_blocks - lba)
		return TG_SR_LBA_OUT_OF_RANGE;
	if (blocks > TG_SBC_MAX_WRITE_SAME_BLOCKS)
		return tg_cmd_invalid_field(task, length_byte, -1);
	task->nblocks = (uint32_t)blocks;
	/* The Data-Out buffer is exactly one block: anything else is a malformed command rather
	 * than a residual to report (there is no partial WRITE SAME to fall back on). */
	if (!ndob && task->exp_len != task->scsi_len)
		return TG_SR_INVALID_FIELD_IN_IU;
	return TG_SR_OK;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static void write_same_finish(struct tg_task *task, enum tg_sense_reason reason, uint64_t lba)
{
	struct write_same_job *job = write_same_job(task);
	if (job) {
		tg_buf_free(&job->chunk);
		free(job);
		task->handler_u64[0] = 0;
	}
	if (reason == TG_SR_OK)
		tg_task_complete(task, TG_SR_OK);
	else
		tg_sbc_fail_at(task, reason, lba);
}

static void write_same_next_chunk(struct tg_task *task);

static void write_same_chunk_done(struct tg_task *task, int result)
{
	struct write_same_job *job = write_same_job(task);
	uint64_t chunk_blocks = job->chunk.len / task->dev->block_size;
	if (result < 0) {
		write_same_finish(task, TG_SR_WRITE_ERROR, job->next_lba);
		return;
	}
	uint64_t left = job->end_lba - job->next_lba;
	job->next_lba += left < chunk_blocks ? left : chunk_blocks;
	write_same_next_chunk(task);
}

static void write_same_next_chunk(struct tg_task *task)
{
	struct write_same_job *job = write_same_job(task);
	if (task->abort_requested) {
		/* Stop between chunks: what was written stays written, as for any aborted write. */
		write_same_finish(task, TG_SR_TASK_ABORTED, job->next_lba);
		return;
	}
	if (job->next_lba >= job->end_lba) {
		write_same_finish(task, TG_SR_OK, 0);
		return;
	}
	uint32_t bs = task->dev->block_size;
	uint64_t blocks = job->end_lba - job->next_lba;
	uint64_t chunk_blocks = job->chunk.len / bs;
	if (blocks > chunk_blocks)
		blocks = chunk_blocks;
	tg_sbc_issue(task, &job->iov, TG_IO_WRITE, job->next_lba, blocks * bs, job->chunk.base,
		     false, write_same_chunk_done);
}

static void write_same_single_done(struct tg_task *task, int result)
{
	write_same_finish(task, result < 0 ? TG_SR_WRITE_ERROR : TG_SR_OK, task->lba);
}

void tg_sbc_write_same(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	uint32_t bs = dev->block_size;
	uint64_t bytes = (uint64_t)task->nblocks * bs;
	const uint8_t *block = write_same_ndob(task) ? NULL : task->data.base;
	bool zero = !block || all_zero(block, bs);
	task->handler_u64[0] = 0;

	if ((task->cdb[1] & WS_UNMAP) && dev->can_unmap) {
		/* UNMAP set: the blocks are deallocated whatever the data-out block holds, and
		 * read back zeroes afterwards (LBPRZ = 1) — as Linux, LIO and libiscsi's
		 * WriteSame10.UnmapUntilEnd expect of a thin-provisioning device server. */
		tg_sbc_issue(task, NULL, TG_IO_UNMAP, task->lba, bytes, NULL, false,
			     write_same_single_done);
		return;
	}
	if (zero && dev->can_write_zeroes) {
		tg_sbc_issue(task, NULL, TG_IO_WRITE_ZEROES, task->lba, bytes, NULL, false,
			     write_same_single_done);
		return;
	}

	struct write_same_job *job = calloc(1, sizeof(*job));
	uint64_t chunk = bytes < TG_SBC_CHUNK_BYTES ? bytes : TG_SBC_CHUNK_BYTES / bs * bs;
	if (chunk < bs)
		chunk = bs;
	if (!job || tg_buf_alloc(&job->chunk, chunk) != 0) {
		free(job);
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	task->handler_u64[0] = (uint64_t)(uintptr_t)job;
	for (uint64_t at = 0; at < chunk; at += bs) {
		if (block)
			memcpy(job->chunk.base + at, block, bs);
		else
			memset(job->chunk.base + at, 0, bs);
	}
	job->next_lba = task->lba;
	job->end_lba = task->lba + task->nblocks;
	write_same_next_chunk(task);
}

/* ---- UNMAP ---- */

/* handler_u64 slots while the descriptors are worked through. */
enum { SLOT_UNMAP_NEXT = 0, SLOT_UNMAP_COUNT = 1 };

static enum tg_sense_reason invalid_param(struct tg_task *task, uint16_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = false;
	task->sense_info.field_byte = byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_PARAM_LIST;
}

static enum tg_sense_reason invalid_opcode(struct tg_task *task)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = true;
	task->sense_info.field_byte = 0;
	task->sense_info.field_bit = -1;
	return TG_SR_INVALID_OPCODE;
}

enum tg_sense_reason tg_sbc_parse_unmap(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	uint16_t param_len = get_be16(cdb + 7);
	task->lba = 0;
	task->nblocks = 0; /* the ranges arrive in the parameter list; execute locks them */
	task->dir = TG_DIR_WRITE;
	task->scsi_len = param_len;

	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* LBPU is 0 where the backend cannot deallocate: the command does not exist there. */
	if (!tg_sbc_thin(task->dev))
		return invalid_opcode(task);
	if (cdb[1] & UNMAP_ANCHOR)
		return tg_cmd_invalid_field(task, 1, 0);
	/* SBC-3 5.28: a list too short to hold its own header. */
	if (param_len > 0 && param_len < UNMAP_HEADER_LEN)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	return TG_SR_OK;
}

static const uint8_t *unmap_descriptor(const struct tg_task *task, uint64_t index)
{
	return task->data.base + UNMAP_HEADER_LEN + index * UNMAP_DESCRIPTOR_LEN;
}

static void unmap_next(struct tg_task *task);

static void unmap_descriptor_done(struct tg_task *task, int result)
{
	const uint8_t *d = unmap_descriptor(task, task->handler_u64[SLOT_UNMAP_NEXT]);
	if (result < 0) {
		tg_sbc_fail_at(task, TG_SR_WRITE_ERROR, get_be64(d));
		return;
	}
	task->handler_u64[SLOT_UNMAP_NEXT]++;
	unmap_next(task);
}

static void unmap_next(struct tg_task *task)
{
	for (;;) {
		uint64_t i = task->handler_u64[SLOT_UNMAP_NEXT];
		if (i >= task->handler_u64[SLOT_UNMAP_COUNT]) {
			tg_task_complete(task, TG_SR_OK);
			return;
		}
		const uint8_t *d = unmap_descriptor(task, i);
		uint32_t blocks = get_be32(d + 8);
		if (blocks) {
			tg_sbc_issue(task, NULL, TG_IO_UNMAP, get_be64(d),
				     (uint64_t)blocks * task->dev->block_size, NULL, false,
				     unmap_descriptor_done);
			return;
		}
		task->handler_u64[SLOT_UNMAP_NEXT]++;
	}
}

static void unmap_locked(struct tg_task *task)
{
	task->handler_u64[SLOT_UNMAP_NEXT] = 0;
	unmap_next(task);
}

/*
 * Everything in the list is checked before the first block is unmapped: a command that fails
 * leaves the medium as it was.
 */
void tg_sbc_unmap(struct tg_task *task)
{
	const struct tg_device *dev = task->dev;
	size_t len = task->data.len;
	if (len == 0) {
		tg_task_complete(task, TG_SR_OK); /* PARAMETER LIST LENGTH 0: nothing to do */
		return;
	}
	const uint8_t *p = task->data.base;
	uint16_t data_len = get_be16(p);
	uint16_t descriptors_len = get_be16(p + 2);
	/* The lengths in the header may not claim more than was sent. */
	if (data_len > len - 2) {
		tg_task_complete(task, invalid_param(task, 0, -1));
		return;
	}
	if (descriptors_len > len - UNMAP_HEADER_LEN) {
		tg_task_complete(task, invalid_param(task, 2, -1));
		return;
	}
	/* A trailing partial descriptor is ignored (SBC-3 5.28.2). */
	uint64_t count = descriptors_len / UNMAP_DESCRIPTOR_LEN;
	if (count > TG_SBC_MAX_UNMAP_DESCRIPTORS) {
		tg_task_complete(task, invalid_param(task, 2, -1));
		return;
	}
	uint64_t total = 0, low = UINT64_MAX, high = 0;
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *d = unmap_descriptor(task, i);
		uint64_t lba = get_be64(d);
		uint32_t blocks = get_be32(d + 8);
		/* An empty range ending at the last LBA is no error (nothing is unmapped). */
		if (lba > dev->num_blocks || blocks > dev->num_blocks - lba) {
			tg_sbc_fail_at(task, TG_SR_LBA_OUT_OF_RANGE, lba);
			return;
		}
		total += blocks;
		if (total > TG_SBC_MAX_UNMAP_BLOCKS) {
			uint16_t at = (uint16_t)(UNMAP_HEADER_LEN + i * UNMAP_DESCRIPTOR_LEN + 8);
			tg_task_complete(task, invalid_param(task, at, -1));
			return;
		}
		if (blocks) {
			if (lba < low)
				low = lba;
			if (lba + blocks > high)
				high = lba + blocks;
		}
	}
	task->handler_u64[SLOT_UNMAP_COUNT] = count;
	if (total == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	/* One lock over the span of all descriptors: UNMAP is rare enough not to refine this. */
	tg_task_lock_range(task, low, high - low, false, unmap_locked);
}

/* ---- GET LBA STATUS ---- */

enum tg_sense_reason tg_sbc_parse_get_lba_status(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be32(cdb + 10);
	task->lba = get_be64(cdb + 2);
	task->nblocks = 0;
	return tg_sbc_check_range(task);
}

/* The provisioning state of the run starting at lba; a backend that cannot tell has every
 * block mapped. */
static int run_status(struct tg_device *dev, uint64_t lba, uint64_t *run, bool *mapped)
{
	if (!dev->ops->lba_status) {
		*run = dev->num_blocks - lba;
		*mapped = true;
		return 0;
	}
	int rc = dev->ops->lba_status(dev, lba, run, mapped);
	if (rc == 0 && (*run == 0 || *run > dev->num_blocks - lba))
		*run = dev->num_blocks - lba; /* a backend bug must not make us loop or overrun */
	return rc;
}

void tg_sbc_get_lba_status(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	uint32_t alloc_len = get_be32(task->cdb + 10);
	size_t max = alloc_len > LBA_STATUS_HEADER_LEN
			     ? (alloc_len - LBA_STATUS_HEADER_LEN) / LBA_STATUS_DESCRIPTOR_LEN
			     : 0;
	if (max == 0)
		max = 1; /* the header still says how long the whole answer is */
	if (max > LBA_STATUS_MAX_DESCRIPTORS)
		max = LBA_STATUS_MAX_DESCRIPTORS;

	uint8_t buf[LBA_STATUS_HEADER_LEN + LBA_STATUS_MAX_DESCRIPTORS * LBA_STATUS_DESCRIPTOR_LEN];
	memset(buf, 0, sizeof(buf));
	size_t count = 0;
	uint64_t lba = task->lba;
	uint8_t *d = NULL;
	while (lba < dev->num_blocks) {
		uint64_t run;
		bool mapped;
		if (run_status(dev, lba, &run, &mapped) != 0) {
			tg_sbc_fail_at(task, TG_SR_UNRECOVERED_READ_ERROR, lba);
			return;
		}
		uint8_t state = mapped ? PROVISIONING_MAPPED : PROVISIONING_DEALLOCATED;
		/* Adjacent runs in the same state are one descriptor, as long as its 32-bit
		 * length allows. */
		if (d && d[12] == state && get_be64(d) + get_be32(d + 8) == lba &&
		    (uint64_t)get_be32(d + 8) + run <= UINT32_MAX) {
			put_be32(d + 8, (uint32_t)(get_be32(d + 8) + run));
			lba += run;
			continue;
		}
		if (count == max)
			break;
		d = buf + LBA_STATUS_HEADER_LEN + count * LBA_STATUS_DESCRIPTOR_LEN;
		uint64_t take = run > UINT32_MAX ? UINT32_MAX : run;
		put_be64(d, lba);
		put_be32(d + 8, (uint32_t)take);
		d[12] = state;
		count++;
		lba += take;
	}
	size_t len = LBA_STATUS_HEADER_LEN + count * LBA_STATUS_DESCRIPTOR_LEN;
	put_be32(buf, (uint32_t)(len - 4)); /* PARAMETER DATA LENGTH */
	tg_task_reply(task, buf, len, alloc_len);
}
