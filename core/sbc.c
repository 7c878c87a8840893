/* SBC-3 block commands for disks: the opcode table, the one LBA range check, and the read/write/verify paths. */
#include <string.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/medium.h"
#include "core/pi.h"
#include "core/reservation.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"

enum {
	CDB_FUA = 0x08,
	CDB_PMI = 0x01,
};

/* handler_u64 slots: the backend iovec occupies the first two (see single_iov). */

enum tg_sense_reason tg_sbc_check_range(struct tg_task *task)
{
	uint64_t num_blocks = task->dev->num_blocks;
	/* The LBA itself must exist even when no block is transferred, and the comparison is
	 * arranged so that lba + nblocks cannot wrap around 2^64. */
	if (task->lba >= num_blocks || task->nblocks > num_blocks - task->lba)
		return TG_SR_LBA_OUT_OF_RANGE;
	return TG_SR_OK;
}

/* RDPROTECT/WRPROTECT (byte 1 bits 7..5): core/sbc_pi.c checks them against the device's
 * protection format and widens the transfer by the PI that travels with the data. */
static enum tg_sense_reason check_protect_field(struct tg_task *task)
{
	if (task->cmd->cdb_len == 6)
		return TG_SR_OK;
	return tg_pi_check_protect(task, task->cdb[1] >> 5);
}

static enum tg_sense_reason check_transfer_limit(struct tg_task *task, uint16_t length_byte)
{
	if ((uint64_t)task->nblocks * task->dev->block_size > TG_MAX_TRANSFER_BYTES)
		return tg_cmd_invalid_field(task, length_byte, -1);
	return TG_SR_OK;
}

static void set_transfer(struct tg_task *task, enum tg_data_dir dir)
{
	uint64_t bytes = (uint64_t)task->nblocks * task->dev->block_size;
	task->dir = dir;
	task->scsi_len = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

static enum tg_sense_reason parse_read_write(struct tg_task *task)
{
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	bool write = task->cmd->flags & TG_CMD_WRITE_CLASS;
	task->lba = f.lba;
	/* READ(6)/WRITE(6): a TRANSFER LENGTH of 0 means 256 blocks. */
	task->nblocks = task->cmd->cdb_len == 6 && f.length == 0 ? 256 : f.length;
	set_transfer(task, write ? TG_DIR_WRITE : TG_DIR_READ);

	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = check_protect_field(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	if (reason == TG_SR_OK)
		reason = check_transfer_limit(task, f.length_byte);
	return reason;
}

/*
 * WRITE ATOMIC(16): WRITE(16) with a 2-byte TRANSFER LENGTH at byte 12 and bytes 10-11 the
 * ATOMIC BOUNDARY. Checked in the order READ/WRITE are (an LBA out of range wins over a
 * length), then against the atomic limits Block Limits reports. Atomicity itself comes from
 * the entry's TG_CMD_LBA_EXCLUSIVE range lock and execute_write's single backend request.
 */
static enum tg_sense_reason parse_write_atomic(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	const struct tg_device *dev = task->dev;
	task->lba = get_be64(cdb + 2);
	task->nblocks = get_be16(cdb + 12);
	set_transfer(task, TG_DIR_WRITE);

	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = check_protect_field(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	if (reason != TG_SR_OK)
		return reason;
	/* Block Limits offers no MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY. */
	if (get_be16(cdb + 10))
		return tg_cmd_invalid_field(task, 10, -1);
	uint32_t unit = tg_sbc_atomic_unit_blocks(dev);
	if (task->nblocks > tg_sbc_max_atomic_blocks(dev) || task->nblocks % unit)
		return tg_cmd_invalid_field(task, 12, -1);
	if (task->lba % unit)
		return tg_cmd_invalid_field(task, 2, -1);
	return TG_SR_OK;
}

/*
 * struct tg_task has no iovec of its own for task->io to point at; handler_u64 is the handler's
 * scratch space and outlives the backend request, so the one-element iovec lives there.
 */
static const struct iovec *single_iov(struct tg_task *task, void *base, size_t len)
{
	_Static_assert(sizeof(struct iovec) <= 2 * sizeof(task->handler_u64[0]),
		       "an iovec must fit in handler_u64[0..1]");
	struct iovec *iov = (struct iovec *)(void *)task->handler_u64;
	iov->iov_base = base;
	iov->iov_len = len;
	return iov;
}

struct io_request {
	enum tg_io_op op;
	uint64_t lba;
	uint64_t len;
	void *base; /* NULL for requests without data */
	bool fua;
};

static void start_io(struct tg_task *task, struct io_request req,
		     void (*then)(struct tg_task *task, int result))
{
	memset(&task->io, 0, sizeof(task->io));
	task->io.op = req.op;
	task->io.offset = req.lba * task->dev->block_size;
	task->io.len = req.len;
	task->io.fua = req.fua;
	if (req.base) {
		task->io.iov = single_iov(task, req.base, req.len);
		task->io.iovcnt = 1;
	}
	tg_task_backend_io(task, then);
}

static void fail_at_lba(struct tg_task *task, enum tg_sense_reason reason)
{
	task->sense_info.has_information = true;
	task->sense_info.information = task->lba;
	tg_task_complete(task, reason);
}

static void read_done(struct tg_task *task, int result)
{
	if (result < 0) {
		fail_at_lba(task, TG_SR_UNRECOVERED_READ_ERROR);
		return;
	}
	/* Only exp_len bytes go out when the CDB asked for more (residual overflow). */
	if (task->data.len > task->exp_len)
		task->data.len = task->exp_len;
	tg_task_complete(task, TG_SR_OK);
}

static void execute_read(struct tg_task *task)
{
	if (tg_pi_enabled(task->dev)) {
		tg_pi_read(task); /* data and PI, checked as RDPROTECT says */
		return;
	}
	uint32_t bs = task->dev->block_size;
	uint32_t wanted = task->scsi_len < task->exp_len ? task->scsi_len : task->exp_len;
	if (wanted == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	/* The backend reads whole blocks: round a short initiator buffer up to the block. */
	uint64_t bytes = ((uint64_t)wanted + bs - 1) / bs * bs;
	if (tg_task_alloc_data(task, bytes) != 0) {
		tg_task_complete(task, TG_SR_TASK_SET_FULL);
		return;
	}
	task->data.len = bytes;
	struct io_request req = { TG_IO_READ, task->lba, bytes, task->data.base, false };
	start_io(task, req, read_done);
}

static void write_done(struct tg_task *task, int result)
{
	if (result < 0) {
		fail_at_lba(task, TG_SR_WRITE_ERROR);
		return;
	}
	tg_task_complete(task, TG_SR_OK);
}

static void execute_write(struct tg_task *task)
{
	if (tg_pi_enabled(task->dev)) {
		tg_pi_write(task); /* PI checked as WRPROTECT says, or generated */
		return;
	}
	if (task->nblocks == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	bool fua = task->cmd->cdb_len > 6 && (task->cdb[1] & CDB_FUA);
	/* data.len, not scsi_len: the core trims a write whose initiator sends less (overflow). */
	struct io_request req = { TG_IO_WRITE, task->lba, task->data.len, task->data.base, fua };
	start_io(task, req, write_done);
}

static enum tg_sense_reason parse_synchronize_cache(struct tg_task *task)
{
	struct tg_sbc_lba_fields f = tg_sbc_decode_lba_fields(task);
	task->lba = f.lba;
	task->nblocks = f.length; /* 0: through the last block */
	task->dir = TG_DIR_NONE;
	task->scsi_len = 0;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_check_range(task);
	return reason;
}

static void flush_done(struct tg_task *task, int result)
{
	if (result < 0) {
		fail_at_lba(task, TG_SR_WRITE_ERROR);
		return;
	}
	tg_task_complete(task, TG_SR_OK);
}

/* IMMED = 1 lets us answer before the flush, but answering after it is equally correct. */
static void execute_synchronize_cache(struct tg_task *task)
{
	uint64_t blocks = task->nblocks ? task->nblocks : task->dev->num_blocks - task->lba;
	struct io_request req = { TG_IO_FLUSH, task->lba, blocks * task->dev->block_size, NULL,
				  false };
	start_io(task, req, flush_done);
}

static uint64_t last_lba(const struct tg_device *dev)
{
	return dev->num_blocks ? dev->num_blocks - 1 : 0;
}

/* SBC-3: with PMI = 0 the LOGICAL BLOCK ADDRESS field shall be zero. */
static enum tg_sense_reason check_pmi(struct tg_task *task, uint64_t lba, bool pmi)
{
	if (!pmi && lba)
		return tg_cmd_invalid_field(task, 2, -1);
	return TG_SR_OK;
}

static enum tg_sense_reason parse_read_capacity_10(struct tg_task *task)
{
	task->dir = TG_DIR_READ;
	task->scsi_len = 8;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = check_pmi(task, get_be32(task->cdb + 2), task->cdb[8] & CDB_PMI);
	return reason;
}

static void execute_read_capacity_10(struct tg_task *task)
{
	uint8_t buf[8];
	uint64_t last = last_lba(task->dev);
	/* FFFFFFFFh tells the initiator to use READ CAPACITY(16). */
	put_be32(buf, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	put_be32(buf + 4, task->dev->block_size);
	tg_task_reply(task, buf, sizeof(buf), sizeof(buf));
}

static enum tg_sense_reason parse_read_capacity_16(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be32(cdb + 10);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = check_pmi(task, get_be64(cdb + 2), cdb[14] & CDB_PMI);
	return reason;
}

/*
 * LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: the backends keep data in page-sized units (the
 * page cache, and the granule a hole is punched in), so a block smaller than a page is
 * written by read-modify-write of its page — the granularity Block Limits reports too.
 */
static uint8_t physical_block_exponent(const struct tg_device *dev)
{
	uint8_t exponent = 0;
	for (uint32_t bs = dev->block_size; bs && bs < TG_BUF_ALIGN; bs <<= 1)
		exponent++;
	return exponent;
}

static void execute_read_capacity_16(struct tg_task *task)
{
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	put_be64(buf, last_lba(task->dev));
	put_be32(buf + 8, task->dev->block_size);
	/* P_TYPE/PROT_EN from the protection format; P_I_EXPONENT 0: one tuple per block.
	 * LOWEST ALIGNED LBA 0: LBA 0 starts a page. */
	buf[12] = tg_pi_read_capacity_byte12(task->dev);
	buf[13] = physical_block_exponent(task->dev);
	buf[14] = tg_sbc_read_capacity_provisioning_bits(task->dev);
	tg_task_reply(task, buf, sizeof(buf), get_be32(task->cdb + 10));
}

static enum tg_sense_reason parse_get_lba_status(struct tg_task *task)
{
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason == TG_SR_OK)
		reason = tg_sbc_parse_get_lba_status(task);
	return reason;
}

#define SPC_ANY_LUN (TG_CMD_ANY_LUN | TG_CMD_NO_UA | TG_CMD_CONFLICT_FREE | TG_CMD_MEDIUM_FREE)
/* CONTROL byte usage: NACA is the only bit we examine. */
#define CTL 0x04
#define FF4 0xff, 0xff, 0xff, 0xff
#define FF8 FF4, FF4

/* Service-action tables (struct tg_cmd_desc.service_actions), each ended by an empty entry. */

static const struct tg_cmd_desc service_action_in_16_actions[] = {
	{ .name = "READ CAPACITY(16)", .cdb_len = 16, .service_action = SCSI_SAI_READ_CAPACITY_16,
		.flags = TG_CMD_CONFLICT_FREE, .parse = parse_read_capacity_16,
		.execute = execute_read_capacity_16,
		.usage = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16, FF8, FF4, CDB_PMI,
			   CTL } },
	{ .name = "GET LBA STATUS", .cdb_len = 16, .service_action = SCSI_SAI_GET_LBA_STATUS,
		.flags = TG_CMD_PR_READ, .parse = parse_get_lba_status,
		.execute = tg_sbc_get_lba_status,
		.usage = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_GET_LBA_STATUS, FF8, FF4, 0, CTL } },
	{ 0 },
};

/* PERSISTENT RESERVE IN/OUT: core/reservation.c decodes every service action itself. */
#define PR_IN(sa, nm)                                                                      \
	{ .name = nm, .cdb_len = 10, .service_action = sa,                                 \
	  .flags = TG_CMD_PR_SELF | TG_CMD_MEDIUM_FREE, .parse = tg_pr_parse_in,            \
	  .execute = tg_pr_in,                                                             \
	  .usage = { SCSI_PERSISTENT_RESERVE_IN, sa, 0, 0, 0, 0, 0, 0xff, 0xff, CTL } }
static const struct tg_cmd_desc persistent_reserve_in_actions[] = {
	PR_IN(TG_PR_READ_KEYS, "PERSISTENT RESERVE IN READ KEYS"),
	PR_IN(TG_PR_READ_RESERVATION, "PERSISTENT RESERVE IN READ RESERVATION"),
	PR_IN(TG_PR_REPORT_CAPABILITIES, "PERSISTENT RESERVE IN REPORT CAPABILITIES"),
	PR_IN(TG_PR_READ_FULL_STATUS, "PERSISTENT RESERVE IN READ FULL STATUS"),
	{ 0 },
};
#undef PR_IN

/* Byte 2 holds SCOPE and TYPE for the service actions that take a reservation type. */
#define PR_OUT(sa, scope_type, nm)                                                         \
	{ .name = nm, .cdb_len = 10, .service_action = sa,                                 \
	  .flags = TG_CMD_PR_SELF | TG_CMD_MEDIUM_FREE, .parse = tg_pr_parse_out,           \
	  .execute = tg_pr_out,                                                            \
	  .usage = { SCSI_PERSISTENT_RESERVE_OUT, sa, scope_type, 0, 0, FF4, CTL } }
static const struct tg_cmd_desc persistent_reserve_out_actions[] = {
	PR_OUT(TG_PR_REGISTER, 0, "PERSISTENT RESERVE OUT REGISTER"),
	PR_OUT(TG_PR_RESERVE, 0xff, "PERSISTENT RESERVE OUT RESERVE"),
	PR_OUT(TG_PR_RELEASE, 0xff, "PERSISTENT RESERVE OUT RELEASE"),
	PR_OUT(TG_PR_CLEAR, 0, "PERSISTENT RESERVE OUT CLEAR"),
	PR_OUT(TG_PR_PREEMPT, 0xff, "PERSISTENT RESERVE OUT PREEMPT"),
	PR_OUT(TG_PR_PREEMPT_AND_ABORT, 0xff, "PERSISTENT RESERVE OUT PREEMPT AND ABORT"),
	PR_OUT(TG_PR_REGISTER_AND_IGNORE, 0, "PERSISTENT RESERVE OUT REGISTER AND IGNORE EXISTING KEY"),
	PR_OUT(TG_PR_REGISTER_AND_MOVE, 0, "PERSISTENT RESERVE OUT REGISTER AND MOVE"),
	{ 0 },
};
#undef PR_OUT

/* SANITIZE: IMMED and AUSE in byte 1 beside the service action; core/sbc_sanitize.c. */
enum { SANITIZE_OVERWRITE = 0x01, SANITIZE_BLOCK_ERASE = 0x02, SANITIZE_EXIT_FAILURE_MODE = 0x1f };
static bool offers_block_erase(const struct tg_device *dev) { return tg_sbc_can_block_erase(dev); }
#define SANITIZE_ACTION(sa, nm, ...)                                                       \
	{ .name = nm, .cdb_len = 10, .service_action = sa, .flags = TG_CMD_WRITE_CLASS,      \
	  .parse = tg_sbc_parse_sanitize, .execute = tg_sbc_sanitize,                      \
	  .usage = { SCSI_SANITIZE, 0xa0 | sa, 0, 0, 0, 0, 0, 0xff, 0xff, CTL },            \
	  .timeout = 3600, __VA_ARGS__ }
static const struct tg_cmd_desc sanitize_actions[] = {
	SANITIZE_ACTION(SANITIZE_OVERWRITE, "SANITIZE OVERWRITE"),
	SANITIZE_ACTION(SANITIZE_BLOCK_ERASE, "SANITIZE BLOCK ERASE", .supported = offers_block_erase),
	SANITIZE_ACTION(SANITIZE_EXIT_FAILURE_MODE, "SANITIZE EXIT FAILURE MODE"),
	{ 0 },
};
#undef SANITIZE_ACTION

/* The 32-byte CDBs exist only on a logical unit formatted with type 2 protection
 * (core/sbc_pi.c decodes them). */
static bool offers_cdb32(const struct tg_device *dev)
{
	return tg_pi_enabled(dev) && dev->protection_type == 2;
}
/* CONTROL is byte 1; byte 10 holds xxPROTECT, DPO and FUA or BYTCHK; then LBA, expected
 * initial reference tag, application tag and mask, transfer length. */
#define CDB32(sa, nm, flags10)                                                             \
	{ .name = nm, .cdb_len = 32, .service_action = sa, .supported = offers_cdb32,        \
	  .parse = tg_pi_parse_variable_length, .execute = tg_pi_variable_length,          \
	  .usage = { SCSI_VARIABLE_LENGTH_CDB, CTL, 0, 0, 0, 0, 0, 0xff, 0, sa, flags10, 0,   \
		     FF8, FF4, FF4, FF4 } }
static const struct tg_cmd_desc variable_length_actions[] = {
	CDB32(0x0009, "READ(32)", 0xf8),
	CDB32(0x000a, "VERIFY(32)", 0xf6),
	CDB32(0x000b, "WRITE(32)", 0xf8),
	CDB32(0x000c, "WRITE AND VERIFY(32)", 0xf6),
	{ 0 },
};
#undef CDB32

const struct tg_cmd_desc tg_sbc_cmds[256] = {
	[SCSI_TEST_UNIT_READY] = { .name = "TEST UNIT READY", .cdb_len = 6,
		.flags = TG_CMD_CONFLICT_FREE, .parse = tg_cmd_parse_no_data,
		.execute = tg_spc_test_unit_ready,
		.usage = { SCSI_TEST_UNIT_READY, 0, 0, 0, 0, CTL } },
	[SCSI_REQUEST_SENSE] = { .name = "REQUEST SENSE", .cdb_len = 6, .flags = SPC_ANY_LUN,
		.parse = tg_spc_parse_request_sense, .execute = tg_spc_request_sense,
		.usage = { SCSI_REQUEST_SENSE, 0x01, 0, 0, 0xff, CTL } },
	[SCSI_READ_6] = { .name = "READ(6)", .cdb_len = 6, .flags = TG_CMD_PR_READ,
		.parse = parse_read_write,
		.execute = execute_read, .usage = { SCSI_READ_6, 0x1f, 0xff, 0xff, 0xff, CTL } },
	[SCSI_WRITE_6] = { .name = "WRITE(6)", .cdb_len = 6, .flags = TG_CMD_WRITE_CLASS,
		.parse = parse_read_write, .execute = execute_write,
		.usage = { SCSI_WRITE_6, 0x1f, 0xff, 0xff, 0xff, CTL } },
	[SCSI_INQUIRY] = { .name = "INQUIRY", .cdb_len = 6, .flags = SPC_ANY_LUN,
		.parse = tg_spc_parse_inquiry, .execute = tg_spc_inquiry,
		.usage = { SCSI_INQUIRY, 0x01, 0xff, 0xff, 0xff, CTL } },
	[SCSI_MODE_SENSE_6] = { .name = "MODE SENSE(6)", .cdb_len = 6,
		.flags = TG_CMD_PR_READ | TG_CMD_MEDIUM_FREE,
		.parse = tg_spc_parse_mode_sense, .execute = tg_spc_mode_sense,
		.usage = { SCSI_MODE_SENSE_6, 0x08, 0xff, 0xff, 0xff, CTL } },
	[SCSI_START_STOP_UNIT] = { .name = "START STOP UNIT", .cdb_len = 6,
		.flags = TG_CMD_MEDIUM_FREE, .parse = tg_sbc_parse_start_stop_unit,
		.execute = tg_sbc_start_stop_unit,
		.usage = { SCSI_START_STOP_UNIT, 0x01, 0, 0x0f, 0xf7, CTL } },
	[SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL] = { .name = "PREVENT ALLOW MEDIUM REMOVAL", .cdb_len = 6,
		.flags = TG_CMD_MEDIUM_FREE, .supported = tg_medium_offers_prevent_allow,
		.parse = tg_sbc_parse_prevent_allow, .execute = tg_sbc_prevent_allow,
		.usage = { SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0x03, CTL } },
	[SCSI_READ_CAPACITY_10] = { .name = "READ CAPACITY(10)", .cdb_len = 10,
		.flags = TG_CMD_CONFLICT_FREE, .parse = parse_read_capacity_10,
		.execute = execute_read_capacity_10,
		.usage = { SCSI_READ_CAPACITY_10, 0, FF4, 0, 0, CDB_PMI, CTL } },
	[SCSI_READ_10] = { .name = "READ(10)", .cdb_len = 10, .flags = TG_CMD_PR_READ,
		.parse = parse_read_write,
		.execute = execute_read,
		.usage = { SCSI_READ_10, 0xf8, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_WRITE_10] = { .name = "WRITE(10)", .cdb_len = 10, .flags = TG_CMD_WRITE_CLASS,
		.parse = parse_read_write, .execute = execute_write,
		.usage = { SCSI_WRITE_10, 0xf8, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_VERIFY_10] = { .name = "VERIFY(10)", .cdb_len = 10, .flags = TG_CMD_PR_READ,
		.parse = tg_pi_parse_verify,
		.execute = tg_pi_verify,
		.usage = { SCSI_VERIFY_10, 0xf6, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_SYNCHRONIZE_CACHE_10] = { .name = "SYNCHRONIZE CACHE(10)", .cdb_len = 10,
		.parse = parse_synchronize_cache, .execute = execute_synchronize_cache,
		.usage = { SCSI_SYNCHRONIZE_CACHE_10, 0x02, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_MODE_SENSE_10] = { .name = "MODE SENSE(10)", .cdb_len = 10,
		.flags = TG_CMD_PR_READ | TG_CMD_MEDIUM_FREE, .parse = tg_spc_parse_mode_sense, .execute = tg_spc_mode_sense,
		.usage = { SCSI_MODE_SENSE_10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, CTL } },
	[SCSI_READ_16] = { .name = "READ(16)", .cdb_len = 16, .flags = TG_CMD_PR_READ,
		.parse = parse_read_write,
		.execute = execute_read, .usage = { SCSI_READ_16, 0xf8, FF8, FF4, 0, CTL } },
	[SCSI_WRITE_16] = { .name = "WRITE(16)", .cdb_len = 16, .flags = TG_CMD_WRITE_CLASS,
		.parse = parse_read_write, .execute = execute_write,
		.usage = { SCSI_WRITE_16, 0xf8, FF8, FF4, 0, CTL } },
	[SCSI_WRITE_ATOMIC_16] = { .name = "WRITE ATOMIC(16)", .cdb_len = 16,
		.flags = TG_CMD_WRITE_CLASS | TG_CMD_LBA_EXCLUSIVE,
		.parse = parse_write_atomic, .execute = execute_write,
		.usage = { SCSI_WRITE_ATOMIC_16, 0xf8, FF8, 0xff, 0xff, 0xff, 0xff, 0, CTL } },
	[SCSI_VERIFY_16] = { .name = "VERIFY(16)", .cdb_len = 16, .flags = TG_CMD_PR_READ,
		.parse = tg_pi_parse_verify,
		.execute = tg_pi_verify, .usage = { SCSI_VERIFY_16, 0xf6, FF8, FF4, 0, CTL } },
	[SCSI_SYNCHRONIZE_CACHE_16] = { .name = "SYNCHRONIZE CACHE(16)", .cdb_len = 16,
		.parse = parse_synchronize_cache, .execute = execute_synchronize_cache,
		.usage = { SCSI_SYNCHRONIZE_CACHE_16, 0x02, FF8, FF4, 0, CTL } },
	[SCSI_SERVICE_ACTION_IN_16] = { .name = "SERVICE ACTION IN(16)", .cdb_len = 16,
		.flags = TG_CMD_CONFLICT_FREE, .parse = tg_cmd_parse_unknown_service_action,
		.service_actions = service_action_in_16_actions,
		.usage = { SCSI_SERVICE_ACTION_IN_16 } },
	[SCSI_REPORT_LUNS] = { .name = "REPORT LUNS", .cdb_len = 12, .flags = SPC_ANY_LUN,
		.parse = tg_spc_parse_report_luns, .execute = tg_spc_report_luns,
		.usage = { SCSI_REPORT_LUNS, 0, 0xff, 0, 0, 0, FF4, 0, CTL } },
	[SCSI_READ_12] = { .name = "READ(12)", .cdb_len = 12, .flags = TG_CMD_PR_READ,
		.parse = parse_read_write,
		.execute = execute_read, .usage = { SCSI_READ_12, 0xf8, FF4, FF4, 0, CTL } },
	[SCSI_WRITE_12] = { .name = "WRITE(12)", .cdb_len = 12, .flags = TG_CMD_WRITE_CLASS,
		.parse = parse_read_write, .execute = execute_write,
		.usage = { SCSI_WRITE_12, 0xf8, FF4, FF4, 0, CTL } },
	[SCSI_VERIFY_12] = { .name = "VERIFY(12)", .cdb_len = 12, .flags = TG_CMD_PR_READ,
		.parse = tg_pi_parse_verify,
		.execute = tg_pi_verify, .usage = { SCSI_VERIFY_12, 0xf6, FF4, FF4, 0, CTL } },
	/* Provisioning, compare and media commands (core/sbc_provisioning.c, core/sbc_compare.c,
	 * core/sbc_prefetch.c, core/sbc_defect.c, core/sbc_sanitize.c). */
	[SCSI_WRITE_VERIFY_10] = { .name = "WRITE AND VERIFY(10)", .cdb_len = 10,
		.flags = TG_CMD_WRITE_CLASS, .parse = tg_pi_parse_write_and_verify,
		.execute = tg_pi_write_and_verify,
		.usage = { SCSI_WRITE_VERIFY_10, 0xf6, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_WRITE_VERIFY_12] = { .name = "WRITE AND VERIFY(12)", .cdb_len = 12,
		.flags = TG_CMD_WRITE_CLASS, .parse = tg_pi_parse_write_and_verify,
		.execute = tg_pi_write_and_verify,
		.usage = { SCSI_WRITE_VERIFY_12, 0xf6, FF4, FF4, 0, CTL } },
	[SCSI_WRITE_VERIFY_16] = { .name = "WRITE AND VERIFY(16)", .cdb_len = 16,
		.flags = TG_CMD_WRITE_CLASS, .parse = tg_pi_parse_write_and_verify,
		.execute = tg_pi_write_and_verify,
		.usage = { SCSI_WRITE_VERIFY_16, 0xf6, FF8, FF4, 0, CTL } },
	[SCSI_WRITE_SAME_10] = { .name = "WRITE SAME(10)", .cdb_len = 10,
		.flags = TG_CMD_WRITE_CLASS, .parse = tg_sbc_parse_write_same,
		.execute = tg_sbc_write_same,
		.usage = { SCSI_WRITE_SAME_10, 0xf8, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_WRITE_SAME_16] = { .name = "WRITE SAME(16)", .cdb_len = 16,
		.flags = TG_CMD_WRITE_CLASS, .parse = tg_sbc_parse_write_same,
		.execute = tg_sbc_write_same,
		.usage = { SCSI_WRITE_SAME_16, 0xf9, FF8, FF4, 0, CTL } },
	[SCSI_UNMAP] = { .name = "UNMAP", .cdb_len = 10, .flags = TG_CMD_WRITE_CLASS,
		.parse = tg_sbc_parse_unmap, .execute = tg_sbc_unmap,
		.usage = { SCSI_UNMAP, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, CTL } },
	[SCSI_COMPARE_AND_WRITE] = { .name = "COMPARE AND WRITE", .cdb_len = 16,
		.flags = TG_CMD_WRITE_CLASS | TG_CMD_LBA_EXCLUSIVE,
		.parse = tg_sbc_parse_compare_and_write, .execute = tg_sbc_compare_and_write,
		.usage = { SCSI_COMPARE_AND_WRITE, 0xf8, FF8, 0, 0, 0, 0xff, 0, CTL } },
	[SCSI_ORWRITE_16] = { .name = "ORWRITE(16)", .cdb_len = 16,
		.flags = TG_CMD_WRITE_CLASS | TG_CMD_LBA_EXCLUSIVE, .parse = tg_sbc_parse_orwrite,
		.execute = tg_sbc_orwrite,
		.usage = { SCSI_ORWRITE_16, 0xf8, FF8, FF4, 0, CTL } },
	[SCSI_PRE_FETCH_10] = { .name = "PRE-FETCH(10)", .cdb_len = 10, .flags = TG_CMD_PR_READ,
		.parse = tg_sbc_parse_prefetch, .execute = tg_sbc_prefetch,
		.usage = { SCSI_PRE_FETCH_10, 0x02, FF4, 0, 0xff, 0xff, CTL } },
	[SCSI_PRE_FETCH_16] = { .name = "PRE-FETCH(16)", .cdb_len = 16, .flags = TG_CMD_PR_READ,
		.parse = tg_sbc_parse_prefetch, .execute = tg_sbc_prefetch,
		.usage = { SCSI_PRE_FETCH_16, 0x02, FF8, FF4, 0, CTL } },
	[SCSI_READ_DEFECT_DATA_10] = { .name = "READ DEFECT DATA(10)", .cdb_len = 10,
		.flags = TG_CMD_PR_READ, .parse = tg_sbc_parse_read_defect_data, .execute = tg_sbc_read_defect_data,
		.usage = { SCSI_READ_DEFECT_DATA_10, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, CTL } },
	[SCSI_READ_DEFECT_DATA_12] = { .name = "READ DEFECT DATA(12)", .cdb_len = 12,
		.flags = TG_CMD_PR_READ, .parse = tg_sbc_parse_read_defect_data, .execute = tg_sbc_read_defect_data,
		.usage = { SCSI_READ_DEFECT_DATA_12, 0x1f, 0, 0, 0, 0, FF4, 0, CTL } },
	/* Reservations (core/reservation.c) and MAINTENANCE IN (core/maintenance_in.c). */
	[SCSI_RESERVE_6] = { .name = "RESERVE(6)", .cdb_len = 6,
		.flags = TG_CMD_PR_SELF | TG_CMD_MEDIUM_FREE, .parse = tg_pr_parse_reserve,
		.execute = tg_pr_reserve,
		.usage = { SCSI_RESERVE_6, 0, 0, 0, 0, CTL } },
	[SCSI_RELEASE_6] = { .name = "RELEASE(6)", .cdb_len = 6,
		.flags = TG_CMD_PR_SELF | TG_CMD_MEDIUM_FREE, .parse = tg_pr_parse_release,
		.execute = tg_pr_release,
		.usage = { SCSI_RELEASE_6, 0, 0, 0, 0, CTL } },
	[SCSI_RESERVE_10] = { .name = "RESERVE(10)", .cdb_len = 10,
		.flags = TG_CMD_PR_SELF | TG_CMD_MEDIUM_FREE, .parse = tg_pr_parse_reserve,
		.execute = tg_pr_reserve,
		.usage = { SCSI_RESERVE_10, 0, 0, 0, 0, 0, 0, 0, 0, CTL } },
	[SCSI_RELEASE_10] = { .name = "RELEASE(10)", .cdb_len = 10,
		.flags = TG_CMD_PR_SELF | TG_CMD_MEDIUM_FREE, .parse = tg_pr_parse_release,
		.execute = tg_pr_release,
		.usage = { SCSI_RELEASE_10, 0, 0, 0, 0, 0, 0, 0, 0, CTL } },
	[SCSI_PERSISTENT_RESERVE_IN] = { .name = "PERSISTENT RESERVE IN", .cdb_len = 10,
		.flags = TG_CMD_PR_SELF, .parse = tg_cmd_parse_unknown_service_action,
		.service_actions = persistent_reserve_in_actions,
		.usage = { SCSI_PERSISTENT_RESERVE_IN } },
	[SCSI_PERSISTENT_RESERVE_OUT] = { .name = "PERSISTENT RESERVE OUT", .cdb_len = 10,
		.flags = TG_CMD_PR_SELF, .parse = tg_cmd_parse_unknown_service_action,
		.service_actions = persistent_reserve_out_actions,
		.usage = { SCSI_PERSISTENT_RESERVE_OUT } },
	[SCSI_MAINTENANCE_IN] = { .name = "MAINTENANCE IN", .cdb_len = 12, .flags = TG_CMD_PR_READ,
		.parse = tg_cmd_parse_unknown_service_action,
		.service_actions = tg_spc_maintenance_in_actions,
		.usage = { SCSI_MAINTENANCE_IN } },
	/* MODE SELECT (core/mode.c) and third-party copy (core/xcopy.c). */
	[SCSI_MODE_SELECT_6] = { .name = "MODE SELECT(6)", .cdb_len = 6,
		.flags = TG_CMD_MEDIUM_FREE, .parse = tg_spc_parse_mode_select, .execute = tg_spc_mode_select,
		.usage = { SCSI_MODE_SELECT_6, 0x11, 0, 0, 0xff, CTL } },
	[SCSI_MODE_SELECT_10] = { .name = "MODE SELECT(10)", .cdb_len = 10,
		.flags = TG_CMD_MEDIUM_FREE, .parse = tg_spc_parse_mode_select, .execute = tg_spc_mode_select,
		.usage = { SCSI_MODE_SELECT_10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, CTL } },
	[SCSI_EXTENDED_COPY] = { .name = "THIRD-PARTY COPY OUT", .cdb_len = 16,
		.parse = tg_cmd_parse_unknown_service_action,
		.service_actions = tg_spc_copy_out_actions,
		.usage = { SCSI_EXTENDED_COPY } },
	[SCSI_RECEIVE_COPY_RESULTS] = { .name = "THIRD-PARTY COPY IN", .cdb_len = 16,
		.flags = TG_CMD_PR_READ, .parse = tg_cmd_parse_unknown_service_action,
		.service_actions = tg_spc_copy_in_actions,
		.usage = { SCSI_RECEIVE_COPY_RESULTS } },
	/* Protection information (core/sbc_pi.c). FORMAT UNIT holds the whole medium against
	 * every writer. The 32-byte CDBs read and write under one opcode, so the entry is not
	 * write-class: the handler refuses writes on read-only mappings and takes the range
	 * lock itself. */
	[SCSI_FORMAT_UNIT] = { .name = "FORMAT UNIT", .cdb_len = 6,
		.flags = TG_CMD_WRITE_CLASS | TG_CMD_LBA_EXCLUSIVE,
		.parse = tg_pi_parse_format_unit, .execute = tg_pi_format_unit,
		.usage = { SCSI_FORMAT_UNIT, 0xff, 0, 0, 0, CTL } },
	[SCSI_VARIABLE_LENGTH_CDB] = { .name = "VARIABLE LENGTH CDB", .cdb_len = 32,
		.supported = offers_cdb32, .parse = tg_cmd_parse_unknown_service_action,
		.service_actions = variable_length_actions,
		.usage = { SCSI_VARIABLE_LENGTH_CDB } },
	[SCSI_SANITIZE] = { .name = "SANITIZE", .cdb_len = 10, .flags = TG_CMD_WRITE_CLASS,
		.parse = tg_cmd_parse_unknown_service_action, .service_actions = sanitize_actions,
		.usage = { SCSI_SANITIZE } },
};
