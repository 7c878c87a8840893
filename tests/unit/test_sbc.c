/* Unit tests for core/sbc.c: block commands driven through tg_task_submit onto an in-memory disk. */
#include "fixture.h"

#define BS 512
#define BLOCKS 20000 /* a little over TG_MAX_TRANSFER_BYTES worth of 512-byte blocks */

enum { LUN_RW = 0, LUN_RO = 1, LUN_4K = 2, LUN_UNMAPPED = 7 };
enum { DISK_512 = 0, DISK_4K = 1 };

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:sbc",
	.disks = { [DISK_512] = { "disk0", BS, BLOCKS }, [DISK_4K] = { "disk4k", 4096, 64 } },
	.luns = { { LUN_RW, DISK_512, false },
		  { LUN_RO, DISK_512, true },
		  { LUN_4K, DISK_4K, false } },
	.lun_count = 3,
	.initiators = { { "iqn.2026-11.test:init", NULL, false } },
};

static int setup(void **state)
{
	*state = fixture_new(&spec);
	return 0;
}

static struct fake_response *read_cmd(struct fixture *f, uint64_t lun, uint8_t opcode,
				      uint64_t lba, uint32_t blocks, uint32_t exp_len)
{
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, opcode, 0, lba, blocks);
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, len, TG_DIR_READ, exp_len);
}

static struct fake_response *write_cmd(struct fixture *f, uint64_t lun, uint8_t opcode,
				       uint8_t byte1, uint64_t lba, uint32_t blocks,
				       const void *payload, uint32_t payload_len)
{
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, opcode, byte1, lba, blocks);
	return fake_submit_write(&f->cmd, f->nexus[0], lun, cdb, len, payload, payload_len);
}

static struct fake_response *no_data_cmd(struct fixture *f, uint64_t lun, uint8_t opcode,
					 uint8_t byte1, uint64_t lba, uint32_t blocks)
{
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, opcode, byte1, lba, blocks);
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, len, TG_DIR_NONE, 0);
}

/* ---- READ CAPACITY ---- */

static void test_read_capacity_10(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[10] = { SCSI_READ_CAPACITY_10 };
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 10, TG_DIR_READ, 8);
	assert_good(r);
	assert_int_equal(r->data_len, 8);
	assert_int_equal(get_be32(r->data), BLOCKS - 1);
	assert_int_equal(get_be32(r->data + 4), BS);

	f->dev[DISK_512].num_blocks = 0x100000001ull; /* last LBA does not fit in 32 bits */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 10, TG_DIR_READ, 8);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 0xffffffffu);
	f->dev[DISK_512].num_blocks = BLOCKS;

	put_be32(cdb + 2, 5); /* LBA without PMI */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 10, TG_DIR_READ, 8);
	assert_invalid_field(r, 2, -1);
	cdb[8] = 0x01; /* PMI */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 10, TG_DIR_READ, 8);
	assert_good(r);
}

static void test_read_capacity_16(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[16] = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16 };
	put_be32(cdb + 10, 32);
	f->dev[DISK_512].num_blocks = 0x100000001ull;
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_READ, 32);
	assert_good(r);
	assert_int_equal(r->data_len, 32);
	assert_true(get_be64(r->data) == 0x100000000ull);
	assert_int_equal(get_be32(r->data + 8), BS);
	assert_int_equal(r->data[12], 0); /* no protection */
	assert_int_equal(r->data[14] & 0xc0, 0); /* LBPME/LBPRZ: this backend cannot unmap */
	f->dev[DISK_512].num_blocks = BLOCKS;

	put_be32(cdb + 10, 12);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_READ, 12);
	assert_good(r);
	assert_int_equal(r->data_len, 12);
	assert_false(r->overflow);

	put_be32(cdb + 10, 32);
	cdb[1] = 0x11; /* an unsupported service action */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_READ, 32);
	assert_invalid_field(r, 1, 4);

	cdb[1] = SCSI_SAI_READ_CAPACITY_16;
	put_be64(cdb + 2, 1);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_READ, 32);
	assert_invalid_field(r, 2, -1);
}

/* ---- READ and WRITE ---- */

static void test_write_then_read_back_all_sizes(void **state)
{
	struct fixture *f = *state;
	static const uint8_t writes[] = { SCSI_WRITE_6, SCSI_WRITE_10, SCSI_WRITE_12, SCSI_WRITE_16 };
	static const uint8_t reads[] = { SCSI_READ_6, SCSI_READ_10, SCSI_READ_12, SCSI_READ_16 };
	for (size_t i = 0; i < 4; i++) {
		uint64_t lba = 100 + 10 * i;
		uint32_t blocks = 3;
		uint8_t *data = pattern(blocks * BS, (uint8_t)i);
		struct fake_response *r =
			write_cmd(f, LUN_RW, writes[i], 0, lba, blocks, data, blocks * BS);
		assert_good(r);
		assert_int_equal(f->cmd.write_pending_calls, 1);
		assert_false(r->underflow);
		assert_memory_equal(f->disk[DISK_512].bytes + lba * BS, data, blocks * BS);
		assert_int_equal(f->disk[DISK_512].last.op, TG_IO_WRITE);
		assert_int_equal(f->disk[DISK_512].last.offset, lba * BS);
		assert_int_equal(f->disk[DISK_512].last.len, blocks * BS);
		assert_false(f->disk[DISK_512].last.fua);

		r = read_cmd(f, LUN_RW, reads[i], lba, blocks, blocks * BS);
		assert_good(r);
		assert_int_equal(r->data_len, blocks * BS);
		assert_memory_equal(r->data, data, blocks * BS);
		assert_false(r->overflow);
		assert_false(r->underflow);
		free(data);
	}
}

static void test_rw6_length_zero_means_256(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern(256 * BS, 9);
	struct fake_response *r = write_cmd(f, LUN_RW, SCSI_WRITE_6, 0, 1000, 0, data, 256 * BS);
	assert_good(r);
	assert_int_equal(f->disk[DISK_512].last.len, 256 * BS);
	assert_memory_equal(f->disk[DISK_512].bytes + 1000 * BS, data, 256 * BS);
	r = read_cmd(f, LUN_RW, SCSI_READ_6, 1000, 0, 256 * BS);
	assert_good(r);
	assert_int_equal(r->data_len, 256 * BS);
	assert_memory_equal(r->data, data, 256 * BS);
	free(data);
}

static void test_rw_length_zero_transfers_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned reads = f->disk[DISK_512].submitted[TG_IO_READ];
	struct fake_response *r = read_cmd(f, LUN_RW, SCSI_READ_10, 5, 0, 0);
	assert_good(r);
	assert_int_equal(r->data_len, 0);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_READ], reads);

	r = write_cmd(f, LUN_RW, SCSI_WRITE_16, 0, BLOCKS - 1, 0, NULL, 0);
	assert_good(r);
	assert_int_equal(f->cmd.write_pending_calls, 0);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 0);

	/* Still range-checked: the LBA itself must exist. */
	r = read_cmd(f, LUN_RW, SCSI_READ_10, BLOCKS, 0, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = write_cmd(f, LUN_RW, SCSI_WRITE_12, 0, BLOCKS + 1, 0, NULL, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void test_lba_range_edges(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = read_cmd(f, LUN_RW, SCSI_READ_16, BLOCKS - 1, 1, BS);
	assert_good(r);
	assert_memory_equal(r->data, f->disk[DISK_512].bytes + (uint64_t)(BLOCKS - 1) * BS, BS);

	r = read_cmd(f, LUN_RW, SCSI_READ_16, BLOCKS - 1, 2, 2 * BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	assert_int_equal(r->data_len, 0);
	r = read_cmd(f, LUN_RW, SCSI_READ_10, BLOCKS, 1, BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = read_cmd(f, LUN_RW, SCSI_READ_6, 0x1fffff, 1, BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* lba + length wraps around 2^64. */
	r = read_cmd(f, LUN_RW, SCSI_READ_16, UINT64_MAX, 2, 2 * BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = read_cmd(f, LUN_RW, SCSI_READ_16, UINT64_MAX - 1, 4, 4 * BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = read_cmd(f, LUN_RW, SCSI_READ_16, 1ull << 63, 1, BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);

	uint8_t data[2 * BS] = { 0 };
	r = write_cmd(f, LUN_RW, SCSI_WRITE_10, 0, BLOCKS - 1, 2, data, sizeof(data));
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	assert_int_equal(f->cmd.write_pending_calls, 0);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 0);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_READ], 1);
}

static void test_read_residual_overflow(void **state)
{
	struct fixture *f = *state;
	/* The CDB asks for 4 blocks, the initiator has room for 1000 bytes. */
	struct fake_response *r = read_cmd(f, LUN_RW, SCSI_READ_10, 40, 4, 1000);
	assert_good(r);
	assert_int_equal(r->data_len, 1000);
	assert_memory_equal(r->data, f->disk[DISK_512].bytes + 40 * BS, 1000);
	assert_true(r->overflow);
	assert_int_equal(r->residual, 4 * BS - 1000);
	/* Only the blocks that reach the initiator were read. */
	assert_int_equal(f->disk[DISK_512].last.offset, 40 * BS);
	assert_int_equal(f->disk[DISK_512].last.len, 2 * BS);

	/* Expected length 0: nothing read, everything is residual. */
	unsigned reads = f->disk[DISK_512].submitted[TG_IO_READ];
	r = read_cmd(f, LUN_RW, SCSI_READ_10, 40, 4, 0);
	assert_good(r);
	assert_int_equal(r->data_len, 0);
	assert_true(r->overflow);
	assert_int_equal(r->residual, 4 * BS);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_READ], reads);
}

static void test_read_residual_underflow(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = read_cmd(f, LUN_RW, SCSI_READ_12, 8, 2, 8192);
	assert_good(r);
	assert_int_equal(r->data_len, 2 * BS);
	assert_memory_equal(r->data, f->disk[DISK_512].bytes + 8 * BS, 2 * BS);
	assert_true(r->underflow);
	assert_int_equal(r->residual, 8192 - 2 * BS);
}

/* EDTL < the CDB's length in whole blocks: only EDTL is written, GOOD with overflow. */
static void test_write_longer_than_expected_writes_expected(void **state)
{
	struct fixture *f = *state;
	uint8_t data[BS];
	memset(data, 0x5a, sizeof(data));
	memset(f->disk[DISK_512].bytes, 0, 2 * BS);
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_10, 0, 0, 2);
	struct fake_response *r =
		fake_submit_write(&f->cmd, f->nexus[0], LUN_RW, cdb, len, data, sizeof(data));
	assert_good(r);
	assert_true(r->overflow);
	assert_int_equal(r->residual, BS);
	assert_memory_equal(f->disk[DISK_512].bytes, data, BS);
	for (size_t i = BS; i < 2 * BS; i++)
		assert_int_equal(f->disk[DISK_512].bytes[i], 0);
}

/* EDTL that is not whole blocks would half-write a block: refused, nothing written. */
static void test_write_partial_block_expected_is_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t data[200] = { 1 };
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_10, 0, 0, 1);
	struct fake_response *r =
		fake_submit_write(&f->cmd, f->nexus[0], LUN_RW, cdb, len, data, sizeof(data));
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x0e, 0x03);
	assert_true(r->overflow);
	assert_int_equal(r->residual, BS - 200);
	assert_int_equal(f->cmd.write_pending_calls, 0);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 0);
}

static void test_write_fua(void **state)
{
	struct fixture *f = *state;
	uint8_t data[BS] = { 7 };
	struct fake_response *r = write_cmd(f, LUN_RW, SCSI_WRITE_10, 0x08, 3, 1, data, BS);
	assert_good(r);
	assert_true(f->disk[DISK_512].last.fua);
	r = write_cmd(f, LUN_RW, SCSI_WRITE_16, 0x08 | 0x10, 3, 1, data, BS); /* FUA + DPO */
	assert_good(r);
	assert_true(f->disk[DISK_512].last.fua);
	r = write_cmd(f, LUN_RW, SCSI_WRITE_12, 0x00, 3, 1, data, BS);
	assert_good(r);
	assert_false(f->disk[DISK_512].last.fua);
	/* READ with FUA is accepted. */
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_READ_10, 0x08, 3, 1);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_good(r);
	assert_memory_equal(r->data, data, BS);
}

static void test_read_only_lun(void **state)
{
	struct fixture *f = *state;
	uint8_t data[BS] = { 1 };
	uint8_t before[BS];
	memcpy(before, f->disk[DISK_512].bytes, BS);
	static const uint8_t writes[] = { SCSI_WRITE_6, SCSI_WRITE_10, SCSI_WRITE_12, SCSI_WRITE_16 };
	for (size_t i = 0; i < 4; i++) {
		struct fake_response *r = write_cmd(f, LUN_RO, writes[i], 0, 0, 1, data, BS);
		assert_check(r, SCSI_SK_DATA_PROTECT, 0x27, 0x00);
		assert_int_equal(f->cmd.write_pending_calls, 0);
	}
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 0);
	assert_memory_equal(f->disk[DISK_512].bytes, before, BS);

	/* Reads, VERIFY and SYNCHRONIZE CACHE are fine on a read-only mapping. */
	struct fake_response *r = read_cmd(f, LUN_RO, SCSI_READ_10, 0, 1, BS);
	assert_good(r);
	assert_memory_equal(r->data, before, BS);
	assert_good(no_data_cmd(f, LUN_RO, SCSI_VERIFY_10, 0, 0, 1));
	assert_good(no_data_cmd(f, LUN_RO, SCSI_SYNCHRONIZE_CACHE_10, 0, 0, 0));

	/* The same for a store that is itself read-only. */
	f->dev[DISK_512].backend_read_only = true;
	r = write_cmd(f, LUN_RW, SCSI_WRITE_10, 0, 0, 1, data, BS);
	assert_check(r, SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	f->dev[DISK_512].backend_read_only = false;
}

static void test_backend_read_error(void **state)
{
	struct fixture *f = *state;
	f->disk[DISK_512].fail_ops = 1u << TG_IO_READ;
	struct fake_response *r = read_cmd(f, LUN_RW, SCSI_READ_10, 1234, 2, 2 * BS);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x11, 0x00);
	assert_int_equal(r->sense[0], 0xf0); /* VALID: INFORMATION holds the LBA */
	assert_int_equal(get_be32(r->sense + 3), 1234);
	assert_int_equal(r->data_len, 0);
}

static void test_backend_write_error(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2 * BS] = { 5 };
	f->disk[DISK_512].fail_ops = 1u << TG_IO_WRITE;
	struct fake_response *r = write_cmd(f, LUN_RW, SCSI_WRITE_16, 0, 77, 2, data, sizeof(data));
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00);
	assert_int_equal(get_be32(r->sense + 3), 77);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 1);
}

static void test_deferred_backend_completion(void **state)
{
	struct fixture *f = *state;
	uint8_t data[BS];
	memset(data, 0x5a, sizeof(data));
	f->disk[DISK_512].deferred = true;
	struct fake_response *r = write_cmd(f, LUN_RW, SCSI_WRITE_10, 0, 9, 1, data, BS);
	assert_false(r->done);
	assert_int_equal(f->cmd.task.state, TG_TASK_BACKEND_IO);
	fake_disk_complete_all(&f->disk[DISK_512]);
	assert_good(r);
	assert_int_equal(f->cmd.task.state, TG_TASK_DONE);

	r = read_cmd(f, LUN_RW, SCSI_READ_10, 9, 1, BS);
	assert_false(r->done);
	fake_disk_complete_all(&f->disk[DISK_512]);
	assert_good(r);
	assert_memory_equal(r->data, data, BS);

	f->disk[DISK_512].fail_ops = 1u << TG_IO_READ;
	r = read_cmd(f, LUN_RW, SCSI_READ_10, 9, 1, BS);
	assert_false(r->done);
	fake_disk_complete_all(&f->disk[DISK_512]);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x11, 0x00);
}

static void test_protect_fields_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_READ_10, 0x20, 0, 1); /* RDPROTECT 001b */
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_invalid_field(r, 1, 7);
	len = lba_cdb(cdb, SCSI_READ_16, 0xe0, 0, 1);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_invalid_field(r, 1, 7);
	uint8_t data[BS] = { 0 };
	r = write_cmd(f, LUN_RW, SCSI_WRITE_12, 0x40, 0, 1, data, BS);
	assert_invalid_field(r, 1, 7);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 0);
	r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_16, 0x20, 0, 1);
	assert_invalid_field(r, 1, 7);
}

static void test_transfer_length_limit(void **state)
{
	struct fixture *f = *state;
	uint32_t max_blocks = TG_MAX_TRANSFER_BYTES / BS;
	struct fake_response *r =
		read_cmd(f, LUN_RW, SCSI_READ_10, 0, max_blocks, TG_MAX_TRANSFER_BYTES);
	assert_good(r);
	assert_int_equal(r->data_len, TG_MAX_TRANSFER_BYTES);
	r = read_cmd(f, LUN_RW, SCSI_READ_10, 0, max_blocks + 1, TG_MAX_TRANSFER_BYTES + BS);
	assert_invalid_field(r, 7, -1);
	r = read_cmd(f, LUN_RW, SCSI_READ_16, 0, max_blocks + 1, TG_MAX_TRANSFER_BYTES + BS);
	assert_invalid_field(r, 10, -1);
	r = read_cmd(f, LUN_RW, SCSI_READ_12, 0, max_blocks + 1, TG_MAX_TRANSFER_BYTES + BS);
	assert_invalid_field(r, 6, -1);
	/* The limit is in bytes: a 4 KiB-block LUN allows fewer blocks. */
	uint8_t cdb[16];
	uint8_t *data = pattern(60 * 4096, 3);
	size_t len = lba_cdb(cdb, SCSI_WRITE_10, 0, 0, 60);
	r = fake_submit_write(&f->cmd, f->nexus[0], LUN_4K, cdb, len, data, 60 * 4096);
	assert_good(r);
	assert_memory_equal(f->disk[DISK_4K].bytes, data, 60 * 4096);
	free(data);
	f->dev[DISK_4K].num_blocks = 4096;
	len = lba_cdb(cdb, SCSI_READ_10, 0, 0, TG_MAX_TRANSFER_BYTES / 4096 + 1);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_4K, cdb, len, TG_DIR_READ, 1 << 24);
	assert_invalid_field(r, 7, -1);
	f->dev[DISK_4K].num_blocks = 64;
}

static void test_control_byte_naca(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_READ_10, 0, 0, 1);
	cdb[9] = 0x04;
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_invalid_field(r, 9, 2);
	len = lba_cdb(cdb, SCSI_READ_16, 0, 0, 1);
	cdb[15] = 0x04;
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_invalid_field(r, 15, 2);
	uint8_t rc[10] = { SCSI_READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0x04 };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, rc, 10, TG_DIR_READ, 8);
	assert_invalid_field(r, 9, 2);
	/* Vendor-specific bits of the control byte are ignored. */
	len = lba_cdb(cdb, SCSI_READ_10, 0, 0, 1);
	cdb[9] = 0xc0;
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_good(r);
}

/* ---- SYNCHRONIZE CACHE, START STOP UNIT ---- */

static void test_synchronize_cache(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = no_data_cmd(f, LUN_RW, SCSI_SYNCHRONIZE_CACHE_10, 0, 0, 0);
	assert_good(r);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_FLUSH], 1);
	assert_int_equal(f->disk[DISK_512].last.op, TG_IO_FLUSH);
	assert_int_equal(f->disk[DISK_512].last.offset, 0);
	assert_int_equal(f->disk[DISK_512].last.len, (uint64_t)BLOCKS * BS);

	r = no_data_cmd(f, LUN_RW, SCSI_SYNCHRONIZE_CACHE_16, 0x02, 100, 10); /* IMMED */
	assert_good(r);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_FLUSH], 2);
	assert_int_equal(f->disk[DISK_512].last.offset, 100 * BS);
	assert_int_equal(f->disk[DISK_512].last.len, 10 * BS);

	r = no_data_cmd(f, LUN_RW, SCSI_SYNCHRONIZE_CACHE_10, 0, BLOCKS - 5, 6);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = no_data_cmd(f, LUN_RW, SCSI_SYNCHRONIZE_CACHE_16, 0, BLOCKS, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_FLUSH], 2);

	f->disk[DISK_512].fail_ops = 1u << TG_IO_FLUSH;
	r = no_data_cmd(f, LUN_RW, SCSI_SYNCHRONIZE_CACHE_10, 0, 0, 0);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00);
}

static void test_start_stop_unit(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[6] = { SCSI_START_STOP_UNIT, 0x01, 0, 0, 0x02, 0 }; /* IMMED, LOEJ, stop */
	struct fake_response *r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 6, TG_DIR_NONE, 0);
	assert_good(r);
	cdb[4] = 0x01; /* START */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RO, cdb, 6, TG_DIR_NONE, 0);
	assert_good(r);
	/* Still readable after a "stop". */
	r = read_cmd(f, LUN_RW, SCSI_READ_10, 0, 1, BS);
	assert_good(r);
}

/* ---- VERIFY ---- */

static struct fake_response *verify_compare(struct fixture *f, uint8_t opcode, uint64_t lba,
					    uint32_t blocks, const void *data, uint32_t len)
{
	return write_cmd(f, LUN_RW, opcode, 0x02 /* BYTCHK 01b */, lba, blocks, data, len);
}

static void test_verify_without_compare(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_10, 0, 10, 5);
	assert_good(r);
	assert_int_equal(f->cmd.write_pending_calls, 0);
	r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_16, 0, BLOCKS - 1, 1);
	assert_good(r);
	r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_12, 0, BLOCKS - 1, 2);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_16, 0, UINT64_MAX, 1);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* Without BYTCHK no data moves, so the transfer limit does not apply. */
	r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_16, 0, 0, BLOCKS);
	assert_good(r);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_READ], 0);
}

static void test_verify_compare(void **state)
{
	struct fixture *f = *state;
	uint8_t *same = malloc(3 * BS);
	memcpy(same, f->disk[DISK_512].bytes + 50 * BS, 3 * BS);
	struct fake_response *r = verify_compare(f, SCSI_VERIFY_10, 50, 3, same, 3 * BS);
	assert_good(r);
	assert_int_equal(f->cmd.write_pending_calls, 1);
	assert_int_equal(f->disk[DISK_512].last.op, TG_IO_READ);
	assert_int_equal(f->disk[DISK_512].last.offset, 50 * BS);
	assert_int_equal(f->disk[DISK_512].last.len, 3 * BS);

	same[700] ^= 0xff;
	r = verify_compare(f, SCSI_VERIFY_16, 50, 3, same, 3 * BS);
	assert_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(r->sense[0], 0xf0);
	assert_int_equal(get_be32(r->sense + 3), 700);
	/* The medium was not touched. */
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_WRITE], 0);

	same[700] ^= 0xff;
	same[0] ^= 0x01;
	r = verify_compare(f, SCSI_VERIFY_12, 50, 3, same, 3 * BS);
	assert_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(get_be32(r->sense + 3), 0);
	free(same);

	r = verify_compare(f, SCSI_VERIFY_10, 50, 0, NULL, 0);
	assert_good(r);

	f->disk[DISK_512].fail_ops = 1u << TG_IO_READ;
	uint8_t block[BS] = { 0 };
	r = verify_compare(f, SCSI_VERIFY_10, 60, 1, block, BS);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x11, 0x00);
	assert_int_equal(get_be32(r->sense + 3), 60);
}

static void test_verify_invalid_bytchk(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_10, 0x04, 0, 1); /* 10b */
	assert_invalid_field(r, 1, 2);
	r = no_data_cmd(f, LUN_RW, SCSI_VERIFY_16, 0x04, 0, 1);
	assert_invalid_field(r, 1, 2);
	/* 11b (one block compared with each) is valid: tests/unit/test_sbc_ext.c covers it. */
}

/* ---- Dispatch around the command set ---- */

static void test_unmapped_lun_and_unknown_opcode(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = read_cmd(f, LUN_UNMAPPED, SCSI_READ_10, 0, 1, BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	uint8_t cdb[16] = { 0xc5 }; /* vendor specific: never ours */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_WRITE, BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	assert_field_pointer(r, 0, -1);
}

static void test_unit_attention_before_read(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_CAPACITY_CHANGED);
	struct fake_response *r = read_cmd(f, LUN_RW, SCSI_READ_10, 0, 1, BS);
	assert_check(r, SCSI_SK_UNIT_ATTENTION, 0x2a, 0x09);
	assert_int_equal(f->disk[DISK_512].submitted[TG_IO_READ], 0);
	r = read_cmd(f, LUN_RW, SCSI_READ_10, 0, 1, BS);
	assert_good(r);
}

static void test_opcode_table_consistency(void **state)
{
	(void)state;
	unsigned named = 0;
	for (unsigned op = 0; op < 256; op++) {
		const struct tg_cmd_desc *d = &tg_sbc_cmds[op];
		if (!d->name)
			continue;
		named++;
		if (op == SCSI_VARIABLE_LENGTH_CDB) {
			/* Its length is in the CDB (32 for SBC's), its CONTROL byte is byte 1: each
			 * service action's usage marks it (tg_cmd_check_table). */
			assert_int_equal(d->cdb_len, 32);
			assert_int_equal(d->usage[0], op);
			assert_non_null(d->service_actions);
			assert_int_equal(d->service_actions[0].usage[1], 0x04);
			continue;
		}
		static const uint8_t group_len[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };
		assert_int_equal(d->cdb_len, group_len[op >> 5]);
	}
	/* Handlers, usage bitmaps and service-action tables: the table's own check. */
	char err[200] = "";
	if (tg_cmd_check_table(tg_sbc_cmds, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* Other command sets keep adding entries; these are the ones SBC-3 makes a disk have. */
	assert_true(named >= 35);
	assert_true(tg_sbc_cmds[SCSI_WRITE_10].flags & TG_CMD_WRITE_CLASS);
	assert_false(tg_sbc_cmds[SCSI_VERIFY_10].flags & TG_CMD_WRITE_CLASS);
	assert_true(tg_sbc_cmds[SCSI_INQUIRY].flags & TG_CMD_ANY_LUN);
	assert_true(tg_sbc_cmds[SCSI_REPORT_LUNS].flags & TG_CMD_NO_UA);
	assert_false(tg_sbc_cmds[SCSI_TEST_UNIT_READY].flags & (TG_CMD_ANY_LUN | TG_CMD_NO_UA));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_read_capacity_10),
		fixture_test(test_read_capacity_16),
		fixture_test(test_write_then_read_back_all_sizes),
		fixture_test(test_rw6_length_zero_means_256),
		fixture_test(test_rw_length_zero_transfers_nothing),
		fixture_test(test_lba_range_edges),
		fixture_test(test_read_residual_overflow),
		fixture_test(test_read_residual_underflow),
		fixture_test(test_write_longer_than_expected_writes_expected),
		fixture_test(test_write_partial_block_expected_is_refused),
		fixture_test(test_write_fua),
		fixture_test(test_read_only_lun),
		fixture_test(test_backend_read_error),
		fixture_test(test_backend_write_error),
		fixture_test(test_deferred_backend_completion),
		fixture_test(test_protect_fields_refused),
		fixture_test(test_transfer_length_limit),
		fixture_test(test_control_byte_naca),
		fixture_test(test_synchronize_cache),
		fixture_test(test_start_stop_unit),
		fixture_test(test_verify_without_compare),
		fixture_test(test_verify_compare),
		fixture_test(test_verify_invalid_bytchk),
		fixture_test(test_unmapped_lun_and_unknown_opcode),
		fixture_test(test_unit_attention_before_read),
		cmocka_unit_test(test_opcode_table_consistency),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
