/* Unit tests for the SBC provisioning, compare and media commands and the LBA-range lock, driven through tg_task_submit onto an in-memory disk. */
#include "fixture.h"

#include "core/lba_lock.h"
#include "core/sbc_ext.h"

#define BS 512
#define BLOCKS 8192 /* 4 MiB: several TG_SBC_CHUNK_BYTES chunks */

enum { LUN_RW = 0, LUN_RO = 1 };

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:sbc-ext",
	.disks = { { "thin0", BS, BLOCKS } },
	.luns = { { LUN_RW, 0, false }, { LUN_RO, 0, true } },
	.lun_count = 2,
	.initiators = { { "iqn.2026-11.test:init", NULL, false } },
};

static int setup(void **state)
{
	*state = fixture_new(&spec);
	return 0;
}

static void thin(struct fixture *f)
{
	f->dev[0].can_unmap = true;
	f->dev[0].can_write_zeroes = true;
}

static bool range_is(const struct fixture *f, uint64_t lba, uint64_t blocks, uint8_t byte)
{
	for (uint64_t i = lba * BS; i < (lba + blocks) * BS; i++)
		if (f->disk[0].bytes[i] != byte)
			return false;
	return true;
}

/* Sense-key-specific field pointer into the parameter list (C/D = 0). */
#define assert_param_field(r, byte, bit)                                                   \
	do {                                                                               \
		assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);                      \
		int bit_ = (bit);                                                          \
		assert_int_equal((r)->sense[15], (uint8_t)(0x80 | (bit_ >= 0 ? 0x08 | bit_ : 0))); \
		assert_int_equal(get_be16((r)->sense + 16), (byte));                       \
	} while (0)

#define assert_status(r, st)                                                               \
	do {                                                                               \
		assert_true((r)->done);                                                    \
		assert_int_equal((r)->status, (st));                                       \
	} while (0)

/*
 * The fake_transport.h assertions evaluate their response argument several times; these take
 * a command call and submit it exactly once.
 */
#define once_good(call)                                                                  \
	do {                                                                               \
		struct fake_response *r_ = (call);                                         \
		assert_good(r_);                                                           \
	} while (0)
#define once_check(call, key, asc, ascq)                                                 \
	do {                                                                               \
		struct fake_response *r_ = (call);                                         \
		assert_check(r_, key, asc, ascq);                                          \
	} while (0)
#define once_invalid_field(call, byte, bit)                                              \
	do {                                                                               \
		struct fake_response *r_ = (call);                                         \
		assert_invalid_field(r_, byte, bit);                                       \
	} while (0)
#define once_param_field(call, byte, bit)                                                \
	do {                                                                               \
		struct fake_response *r_ = (call);                                         \
		assert_param_field(r_, byte, bit);                                         \
	} while (0)

static uint32_t sense_information(const struct fake_response *r)
{
	assert_true(r->sense[0] & 0x80); /* VALID */
	return get_be32(r->sense + 3);
}

static struct fake_response *send(struct fixture *f, struct fake_cmd *cmd, uint64_t lun,
				  const uint8_t *cdb, size_t len, const void *payload,
				  uint32_t payload_len)
{
	if (payload_len)
		return fake_submit_write(cmd, f->nexus[0], lun, cdb, len, payload, payload_len);
	return fake_submit(cmd, f->nexus[0], lun, cdb, len, TG_DIR_NONE, 0);
}

static struct fake_response *inquiry_vpd(struct fixture *f, uint8_t page)
{
	uint8_t cdb[6] = { SCSI_INQUIRY, 0x01, page, 0, 255, 0 };
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 6, TG_DIR_READ, 255);
	assert_good(r);
	return r;
}

/* ---- What the device advertises ---- */

static void test_block_limits_match_enforced_limits(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry_vpd(f, 0xb0);
	assert_int_equal(get_be16(r->data + 2), 0x3c);
	assert_int_equal(r->data[4] & 0x01, 0); /* WSNZ: 0 blocks means "to the end" */
	assert_int_equal(r->data[5], TG_SBC_MAX_COMPARE_AND_WRITE_BLOCKS);
	assert_int_equal(get_be32(r->data + 20), 0); /* no UNMAP without a thin backend */
	assert_int_equal(get_be32(r->data + 24), 0);
	assert_true(get_be64(r->data + 36) == TG_SBC_MAX_WRITE_SAME_BLOCKS);
	/* WRITE ATOMIC(16): whole 4 KiB pages, at most TG_SBC_MAX_ATOMIC_BYTES, no boundary. */
	assert_int_equal(get_be32(r->data + 44), TG_SBC_MAX_ATOMIC_BYTES / BS);
	assert_true(get_be32(r->data + 44) <= get_be32(r->data + 8));
	assert_int_equal(get_be32(r->data + 48), 4096 / BS);
	assert_int_equal(get_be32(r->data + 52), 4096 / BS);
	assert_int_equal(get_be32(r->data + 56), 0);
	assert_int_equal(get_be32(r->data + 60), 0);

	/* Blocks of a page or more need no alignment beyond the block. */
	f->dev[0].block_size = 4096;
	f->dev[0].num_blocks = BLOCKS * BS / 4096;
	r = inquiry_vpd(f, 0xb0);
	assert_int_equal(get_be32(r->data + 44), TG_SBC_MAX_ATOMIC_BYTES / 4096);
	assert_int_equal(get_be32(r->data + 48), 1);
	assert_int_equal(get_be32(r->data + 52), 1);
	f->dev[0].block_size = BS;
	f->dev[0].num_blocks = BLOCKS;

	thin(f);
	r = inquiry_vpd(f, 0xb0);
	assert_int_equal(get_be32(r->data + 20), TG_SBC_MAX_UNMAP_BLOCKS);
	assert_int_equal(get_be32(r->data + 24), TG_SBC_MAX_UNMAP_DESCRIPTORS);
	assert_int_equal(get_be32(r->data + 28), 4096 / BS);
	assert_int_equal(r->data[32] & 0x80, 0x80); /* UGAVALID, alignment 0 */
}

static void test_provisioning_vpd_and_read_capacity(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry_vpd(f, 0xb2);
	assert_int_equal(r->data[1], 0xb2);
	assert_int_equal(get_be16(r->data + 2), 4);
	assert_int_equal(r->data[5], 0); /* nothing to offer without unmap */
	assert_int_equal(r->data[6] & 0x07, 0);
	r = inquiry_vpd(f, 0xb1);
	assert_int_equal(r->data[7] >> 6, 0); /* WABEREQ: no BLOCK ERASE */

	thin(f);
	r = inquiry_vpd(f, 0xb2);
	assert_int_equal(r->data[5], 0x80 | 0x40 | 0x20 | 0x04); /* LBPU LBPWS LBPWS10 LBPRZ */
	assert_int_equal(r->data[6] & 0x07, 0x02);              /* thin */
	r = inquiry_vpd(f, 0xb1);
	assert_int_equal(r->data[7] >> 6, 1);

	uint8_t cdb[16] = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16 };
	put_be32(cdb + 10, 32);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_READ, 32);
	assert_good(r);
	assert_int_equal(r->data[14] & 0xc0, 0xc0); /* LBPME, LBPRZ */
}

/* ---- WRITE SAME ---- */

static size_t ws_cdb(uint8_t *cdb, bool sixteen, uint8_t byte1, uint64_t lba, uint32_t blocks)
{
	memset(cdb, 0, 16);
	cdb[1] = byte1;
	if (sixteen) {
		cdb[0] = SCSI_WRITE_SAME_16;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, blocks);
		return 16;
	}
	cdb[0] = SCSI_WRITE_SAME_10;
	put_be32(cdb + 2, (uint32_t)lba);
	put_be16(cdb + 7, (uint16_t)blocks);
	return 10;
}

static struct fake_response *write_same(struct fixture *f, bool sixteen, uint8_t byte1,
					uint64_t lba, uint32_t blocks, const void *block)
{
	uint8_t cdb[16];
	size_t len = ws_cdb(cdb, sixteen, byte1, lba, blocks);
	return send(f, &f->cmd, LUN_RW, cdb, len, block, block ? BS : 0);
}

static void test_write_same_writes_every_block(void **state)
{
	struct fixture *f = *state;
	uint8_t *block = pattern(BS, 7);
	uint8_t *before = malloc(BLOCKS * BS);
	memcpy(before, f->disk[0].bytes, BLOCKS * BS);
	struct fake_response *r = write_same(f, false, 0, 10, 5, block);
	assert_good(r);
	for (int i = 10; i < 15; i++)
		assert_memory_equal(f->disk[0].bytes + i * BS, block, BS);
	/* Nothing outside the range changed. */
	assert_memory_equal(f->disk[0].bytes, before, 10 * BS);
	assert_memory_equal(f->disk[0].bytes + 15 * BS, before + 15 * BS, (BLOCKS - 15) * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1);
	free(before);

	r = write_same(f, true, 0, BLOCKS - 3, 3, block);
	assert_good(r);
	assert_memory_equal(f->disk[0].bytes + (BLOCKS - 1) * BS, block, BS);
	free(block);
}

static void test_write_same_large_range_in_bounded_chunks(void **state)
{
	struct fixture *f = *state;
	uint8_t *block = pattern(BS, 3);
	/* NUMBER OF LOGICAL BLOCKS 0: from the LBA to the end (WSNZ = 0). */
	struct fake_response *r = write_same(f, true, 0, 0, 0, block);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], (BLOCKS * BS) / TG_SBC_CHUNK_BYTES);
	assert_true(f->disk[0].last.len == TG_SBC_CHUNK_BYTES);
	for (uint64_t i = 0; i < BLOCKS; i += 1021)
		assert_memory_equal(f->disk[0].bytes + i * BS, block, BS);
	assert_memory_equal(f->disk[0].bytes + (BLOCKS - 1) * BS, block, BS);

	/* A range that is not a whole number of chunks ends with a short one. */
	memset(&f->disk[0].submitted, 0, sizeof(f->disk[0].submitted));
	r = write_same(f, false, 0, 100, 2048 + 7, block);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 2);
	assert_true(f->disk[0].last.len == 7 * BS);
	assert_true(f->disk[0].last.offset == (100 + 2048) * BS);
	free(block);
}

static void test_write_same_zeroes_unmap_or_write_zeroes(void **state)
{
	struct fixture *f = *state;
	uint8_t zero[BS] = { 0 };
	/* No provisioning support: the zero block is written like any other. */
	struct fake_response *r = write_same(f, false, 0x08 /* UNMAP */, 20, 4, zero);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 0);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1);
	assert_true(range_is(f, 20, 4, 0));

	thin(f);
	r = write_same(f, true, 0x08, 30, 6, zero);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 1);
	assert_true(f->disk[0].last.offset == 30 * BS && f->disk[0].last.len == 6 * BS);
	assert_true(range_is(f, 30, 6, 0));
	assert_true(f->disk[0].deallocated[30] && f->disk[0].deallocated[35] &&
		    !f->disk[0].deallocated[36]);

	/* UNMAP = 0 must not deallocate: zeroes are written (efficiently). */
	r = write_same(f, true, 0, 40, 2, zero);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE_ZEROES], 1);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 1);
	assert_false(f->disk[0].deallocated[40]);

	/* UNMAP = 1 on a thin device deallocates whatever the block holds: reads return
	 * zeroes (LBPRZ), as libiscsi's WriteSame10.UnmapUntilEnd checks. */
	uint8_t *block = pattern(BS, 9);
	r = write_same(f, false, 0x08, 50, 2, block);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 2);
	assert_true(range_is(f, 50, 2, 0));
	free(block);
}

static void test_write_same_ndob(void **state)
{
	struct fixture *f = *state;
	thin(f);
	uint8_t cdb[16];
	ws_cdb(cdb, true, 0x08 | 0x01 /* UNMAP, NDOB */, 60, 3);
	struct fake_response *r = send(f, &f->cmd, LUN_RW, cdb, 16, NULL, 0);
	assert_good(r);
	assert_int_equal(f->cmd.write_pending_calls, 0);
	assert_true(range_is(f, 60, 3, 0));
	assert_true(f->disk[0].deallocated[62]);
}

static void test_write_same_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t *block = pattern(BS, 1);
	thin(f);
	once_invalid_field(write_same(f, false, 0x10 | 0x08, 0, 1, block), 1, 4); /* ANCHOR */
	once_invalid_field(write_same(f, true, 0x10, 0, 1, block), 1, 4);
	once_invalid_field(write_same(f, true, 0x20, 0, 1, block), 1, 7);        /* WRPROTECT */
	once_invalid_field(write_same(f, false, 0x02, 0, 1, block), 1, 1);       /* LBDATA */
	once_invalid_field(write_same(f, false, 0x01, 0, 1, block), 1, 0);       /* RELADR */
	once_check(write_same(f, false, 0, BLOCKS - 1, 2, block), SCSI_SK_ILLEGAL_REQUEST, 0x21, 0);
	once_check(write_same(f, true, 0, BLOCKS, 0, block), SCSI_SK_ILLEGAL_REQUEST, 0x21, 0);
	once_check(write_same(f, true, 0, UINT64_MAX, 1, block), SCSI_SK_ILLEGAL_REQUEST, 0x21,
		     0);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);

	/* More than MAXIMUM WRITE SAME LENGTH on a device big enough to hold it. */
	f->dev[0].num_blocks = 1ull << 32;
	uint32_t too_many = TG_SBC_MAX_WRITE_SAME_BLOCKS + 1;
	once_invalid_field(write_same(f, true, 0, 0, too_many, block), 10, -1);
	/* ... which also bounds "to the end". */
	once_invalid_field(write_same(f, true, 0, 0, 0, block), 10, -1);
	f->dev[0].num_blocks = BLOCKS;

	/* The Data-Out buffer is one block, no more and no less. */
	uint8_t cdb[16];
	ws_cdb(cdb, false, 0, 0, 1);
	struct fake_response *r = send(f, &f->cmd, LUN_RW, cdb, 10, block, BS / 2);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x0e, 0x03);
	uint8_t two[2 * BS] = { 0 };
	r = send(f, &f->cmd, LUN_RW, cdb, 10, two, 2 * BS);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x0e, 0x03);

	r = send(f, &f->cmd, LUN_RO, cdb, 10, block, BS);
	assert_check(r, SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
	free(block);
}

static void test_write_same_backend_error(void **state)
{
	struct fixture *f = *state;
	uint8_t *block = pattern(BS, 5);
	f->disk[0].fail_ops = 1u << TG_IO_WRITE;
	struct fake_response *r = write_same(f, true, 0, 4000, 3000, block);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00);
	assert_int_equal(sense_information(r), 4000);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1); /* stops at the first failure */
	free(block);
}

/* ---- UNMAP ---- */

static size_t unmap_list(uint8_t *buf, const uint64_t (*ranges)[2], size_t count)
{
	size_t len = 8 + 16 * count;
	memset(buf, 0, len);
	put_be16(buf, (uint16_t)(len - 2));
	put_be16(buf + 2, (uint16_t)(16 * count));
	for (size_t i = 0; i < count; i++) {
		put_be64(buf + 8 + 16 * i, ranges[i][0]);
		put_be32(buf + 8 + 16 * i + 8, (uint32_t)ranges[i][1]);
	}
	return len;
}

/* A 10-byte CDB whose PARAMETER LIST LENGTH (bytes 7-8) announces the list sent with it. */
static struct fake_response *send_list10(struct fixture *f, uint64_t lun, uint8_t opcode,
					 uint8_t byte1, const void *list, uint16_t len)
{
	uint8_t cdb[10] = { opcode, byte1 };
	put_be16(cdb + 7, len);
	return send(f, &f->cmd, lun, cdb, 10, list, len);
}

static struct fake_response *unmap(struct fixture *f, uint64_t lun, uint8_t byte1,
				   const uint8_t *list, uint16_t len)
{
	return send_list10(f, lun, SCSI_UNMAP, byte1, list, len);
}

static void test_unmap_deallocates_each_range(void **state)
{
	struct fixture *f = *state;
	thin(f);
	uint8_t list[8 + 16 * 3];
	const uint64_t ranges[3][2] = { { 100, 8 }, { 500, 0 }, { BLOCKS - 16, 16 } };
	size_t len = unmap_list(list, ranges, 3);
	struct fake_response *r = unmap(f, LUN_RW, 0, list, (uint16_t)len);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 2); /* the empty range costs nothing */
	assert_true(range_is(f, 100, 8, 0) && range_is(f, BLOCKS - 16, 16, 0));
	assert_true(f->disk[0].deallocated[107] && !f->disk[0].deallocated[108]);
	assert_false(f->disk[0].bytes[99 * BS + 1] == 0 && f->disk[0].bytes[99 * BS + 2] == 0);

	/* PARAMETER LIST LENGTH 0: nothing sent, nothing done. */
	r = unmap(f, LUN_RW, 0, NULL, 0);
	assert_good(r);
	/* Header only, and a trailing partial descriptor, are no error. */
	put_be16(list, 6);
	put_be16(list + 2, 0);
	r = unmap(f, LUN_RW, 0, list, 8);
	assert_good(r);
	put_be16(list, 8 + 16 + 10 - 2);
	put_be16(list + 2, 16 + 10);
	r = unmap(f, LUN_RW, 0, list, 8 + 16 + 10);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 3);
}

static void test_unmap_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t list[8 + 16 * 2];
	const uint64_t ranges[2][2] = { { 0, 8 }, { BLOCKS - 4, 8 } };
	size_t len = unmap_list(list, ranges, 2);

	/* A backend that cannot deallocate does not have the command (LBPU = 0). */
	struct fake_response *r = unmap(f, LUN_RW, 0, list, (uint16_t)len);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	thin(f);

	/* Nothing is unmapped when one descriptor is out of range. */
	r = unmap(f, LUN_RW, 0, list, (uint16_t)len);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	assert_int_equal(sense_information(r), BLOCKS - 4);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 0);
	assert_false(f->disk[0].deallocated[0]);

	once_invalid_field(unmap(f, LUN_RW, 0x01, list, (uint16_t)len), 1, 0); /* ANCHOR */
	for (uint16_t short_len = 1; short_len < 8; short_len++)
		once_check(unmap(f, LUN_RW, 0, list, short_len), SCSI_SK_ILLEGAL_REQUEST, 0x1a,
			     0x00);

	/* Header lengths claiming more than was sent. */
	const uint64_t one[1][2] = { { 0, 8 } };
	len = unmap_list(list, one, 1);
	put_be16(list, (uint16_t)len);
	once_param_field(unmap(f, LUN_RW, 0, list, (uint16_t)len), 0, -1);
	unmap_list(list, one, 1);
	put_be16(list + 2, 32);
	once_param_field(unmap(f, LUN_RW, 0, list, (uint16_t)len), 2, -1);

	once_check(unmap(f, LUN_RO, 0, list, (uint16_t)len), SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 0);
}

static void test_unmap_limits(void **state)
{
	struct fixture *f = *state;
	thin(f);
	size_t count = TG_SBC_MAX_UNMAP_DESCRIPTORS + 1;
	uint64_t (*ranges)[2] = calloc(count, sizeof(*ranges));
	uint8_t *list = malloc(8 + 16 * count);
	assert_non_null(ranges);
	assert_non_null(list);
	for (size_t i = 0; i < count; i++) {
		ranges[i][0] = i;
		ranges[i][1] = 1;
	}
	size_t len = unmap_list(list, (const uint64_t(*)[2])ranges, count);
	once_param_field(unmap(f, LUN_RW, 0, list, (uint16_t)len), 2, -1);

	/* Exactly the maximum count is fine. */
	len = unmap_list(list, (const uint64_t(*)[2])ranges, count - 1);
	once_good(unmap(f, LUN_RW, 0, list, (uint16_t)len));

	/* Blocks summed over the descriptors may not pass MAXIMUM UNMAP LBA COUNT: the
	 * descriptor that crosses it is pointed at. (A device big enough to hold them; the
	 * command fails before any I/O.) */
	f->dev[0].num_blocks = 1ull << 24;
	size_t per = 1u << 20;
	size_t needed = TG_SBC_MAX_UNMAP_BLOCKS / per + 1;
	assert_true(needed < count);
	for (size_t i = 0; i < needed; i++) {
		ranges[i][0] = 0;
		ranges[i][1] = per;
	}
	memset(&f->disk[0].submitted, 0, sizeof(f->disk[0].submitted));
	len = unmap_list(list, (const uint64_t(*)[2])ranges, needed);
	once_param_field(unmap(f, LUN_RW, 0, list, (uint16_t)len),
			   8 + 16 * (needed - 1) + 8, -1);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 0);
	f->dev[0].num_blocks = BLOCKS;
	free(ranges);
	free(list);
}

/* ---- GET LBA STATUS ---- */

static struct fake_response *get_lba_status(struct fixture *f, uint64_t lba, uint32_t alloc)
{
	uint8_t cdb[16] = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_GET_LBA_STATUS };
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, alloc);
	return fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb, 16, TG_DIR_READ, alloc);
}

static void assert_descriptor(const uint8_t *d, uint64_t lba, uint32_t blocks, uint8_t state)
{
	assert_true(get_be64(d) == lba);
	assert_int_equal(get_be32(d + 8), blocks);
	assert_int_equal(d[12] & 0x0f, state);
}

static void test_get_lba_status_reports_runs(void **state)
{
	struct fixture *f = *state;
	thin(f);
	uint8_t list[8 + 16];
	const uint64_t range[1][2] = { { 100, 100 } };
	size_t len = unmap_list(list, range, 1);
	once_good(unmap(f, LUN_RW, 0, list, (uint16_t)len));

	struct fake_response *r = get_lba_status(f, 0, 1024);
	assert_good(r);
	assert_int_equal(r->data_len, 8 + 3 * 16);
	assert_int_equal(get_be32(r->data), 4 + 3 * 16);
	assert_descriptor(r->data + 8, 0, 100, 0);
	assert_descriptor(r->data + 24, 100, 100, 1);
	assert_descriptor(r->data + 40, 200, BLOCKS - 200, 0);

	/* The first descriptor starts at the LBA asked for. */
	r = get_lba_status(f, 150, 24);
	assert_good(r);
	assert_int_equal(r->data_len, 24);
	assert_descriptor(r->data + 8, 150, 50, 1);

	r = get_lba_status(f, BLOCKS, 24);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	r = get_lba_status(f, BLOCKS - 1, 24);
	assert_good(r);
	assert_descriptor(r->data + 8, BLOCKS - 1, 1, 0);
}

static void test_get_lba_status_without_backend_support(void **state)
{
	struct fixture *f = *state;
	static const struct dev_backend_ops no_status_ops = { .name = "fake-full",
							      .submit = fake_disk_submit };
	f->dev[0].ops = &no_status_ops;
	struct fake_response *r = get_lba_status(f, 10, 64);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 4 + 16);
	assert_descriptor(r->data + 8, 10, BLOCKS - 10, 0);
}

/* ---- VERIFY with BYTCHK ---- */

static struct fake_response *verify(struct fixture *f, uint8_t opcode, uint8_t bytchk,
				    uint64_t lba, uint32_t blocks, const void *data, uint32_t len)
{
	uint8_t cdb[16];
	size_t cdb_len = lba_cdb(cdb, opcode, (uint8_t)(bytchk << 1), lba, blocks);
	return send(f, &f->cmd, LUN_RW, cdb, cdb_len, data, len);
}

static void test_verify_one_block_against_each(void **state)
{
	struct fixture *f = *state;
	uint8_t *block = pattern(BS, 11);
	/* 3000 blocks: more than one chunk of reads. */
	for (int i = 0; i < 3000; i++)
		memcpy(f->disk[0].bytes + (uint64_t)(1000 + i) * BS, block, BS);
	struct fake_response *r = verify(f, SCSI_VERIFY_16, 3, 1000, 3000, block, BS);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 2);

	f->disk[0].bytes[(uint64_t)(1000 + 2500) * BS + 17] ^= 0x40;
	r = verify(f, SCSI_VERIFY_12, 3, 1000, 3000, block, BS);
	assert_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(sense_information(r), 2500 * BS + 17);

	r = verify(f, SCSI_VERIFY_10, 3, 1000, 2500, block, BS); /* stops before the change */
	assert_good(r);
	r = verify(f, SCSI_VERIFY_10, 3, 1000, 0, NULL, 0);
	assert_good(r);
	once_invalid_field(verify(f, SCSI_VERIFY_10, 3 | 0x10, 0, 1, block, BS), 1, 7);
	free(block);
}

/* ---- WRITE AND VERIFY ---- */

static struct fake_response *write_and_verify(struct fixture *f, uint8_t opcode, uint8_t byte1,
					      uint64_t lba, uint32_t blocks, const void *data)
{
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, opcode, byte1, lba, blocks);
	return send(f, &f->cmd, LUN_RW, cdb, len, data, blocks * BS);
}

static void test_write_and_verify(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern(8 * BS, 21);
	static const uint8_t opcodes[] = { SCSI_WRITE_VERIFY_10, SCSI_WRITE_VERIFY_12,
					   SCSI_WRITE_VERIFY_16 };
	for (size_t i = 0; i < 3; i++) {
		memset(&f->disk[0].submitted, 0, sizeof(f->disk[0].submitted));
		uint8_t bytchk = (uint8_t)(i & 1) << 1;
		struct fake_response *r =
			write_and_verify(f, opcodes[i], bytchk | 0x10 /* DPO */, 200 + 10 * i, 8, data);
		assert_good(r);
		assert_memory_equal(f->disk[0].bytes + (200 + 10 * i) * BS, data, 8 * BS);
		assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1);
		assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1); /* the verify */
	}

	once_good(write_and_verify(f, SCSI_WRITE_VERIFY_10, 0, 0, 0, NULL));
	once_invalid_field(write_and_verify(f, SCSI_WRITE_VERIFY_16, 0x04, 0, 1, data), 1, 2);
	once_invalid_field(write_and_verify(f, SCSI_WRITE_VERIFY_16, 0x06, 0, 1, data), 1, 2);
	once_invalid_field(write_and_verify(f, SCSI_WRITE_VERIFY_12, 0x40, 0, 1, data), 1, 7);
	once_check(write_and_verify(f, SCSI_WRITE_VERIFY_16, 0, BLOCKS - 1, 2, data),
		     SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_VERIFY_10, 0, 0, 1);
	once_check(send(f, &f->cmd, LUN_RO, cdb, len, data, BS), SCSI_SK_DATA_PROTECT, 0x27, 0);

	f->disk[0].fail_ops = 1u << TG_IO_READ;
	struct fake_response *r = write_and_verify(f, SCSI_WRITE_VERIFY_16, 0x02, 300, 2, data);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x11, 0x00);
	assert_int_equal(sense_information(r), 300);
	f->disk[0].fail_ops = 1u << TG_IO_WRITE;
	r = write_and_verify(f, SCSI_WRITE_VERIFY_16, 0x02, 300, 2, data);
	assert_check(r, SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00);
	free(data);
}

static void test_write_and_verify_fua_and_miscompare(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern(4 * BS, 33);
	f->disk[0].deferred = true;
	struct fake_response *r = write_and_verify(f, SCSI_WRITE_VERIFY_16, 0x02, 40, 4, data);
	assert_int_equal(f->disk[0].pending_count, 1);
	assert_int_equal(f->disk[0].last.op, TG_IO_WRITE);
	assert_true(f->disk[0].last.fua); /* what is verified is what is durable */
	fake_disk_complete_all(&f->disk[0]);
	assert_int_equal(f->disk[0].last.op, TG_IO_READ);
	/* The medium changes under the verify: BYTCHK 01b notices. */
	f->disk[0].bytes[41 * BS + 3] ^= 1;
	fake_disk_complete_all(&f->disk[0]);
	assert_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(sense_information(r), BS + 3);
	free(data);
}

/* ---- COMPARE AND WRITE ---- */

static struct fake_response *compare_and_write(struct fixture *f, struct fake_cmd *cmd,
					       uint8_t byte1, uint64_t lba, uint8_t blocks,
					       const void *data, uint32_t len)
{
	uint8_t cdb[16] = { SCSI_COMPARE_AND_WRITE, byte1 };
	put_be64(cdb + 2, lba);
	cdb[13] = blocks;
	return send(f, cmd, LUN_RW, cdb, 16, data, len);
}

/* Compare data = what is on the medium at lba, write data = pattern. */
static uint8_t *caw_buffer(struct fixture *f, uint64_t lba, uint32_t blocks, uint8_t seed)
{
	uint8_t *buf = malloc(2 * blocks * BS);
	assert_non_null(buf);
	memcpy(buf, f->disk[0].bytes + lba * BS, blocks * BS);
	uint8_t *p = pattern(blocks * BS, seed);
	memcpy(buf + blocks * BS, p, blocks * BS);
	free(p);
	return buf;
}

static void test_compare_and_write(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = caw_buffer(f, 70, 2, 44);
	struct fake_response *r = compare_and_write(f, &f->cmd, 0x08 /* FUA */, 70, 2, buf, 4 * BS);
	assert_good(r);
	assert_memory_equal(f->disk[0].bytes + 70 * BS, buf + 2 * BS, 2 * BS);
	assert_int_equal(f->disk[0].last.op, TG_IO_WRITE);
	assert_true(f->disk[0].last.fua);

	/* The medium now holds the write data: the same command miscompares, at byte 0. */
	r = compare_and_write(f, &f->cmd, 0, 70, 2, buf, 4 * BS);
	assert_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(sense_information(r), 0);
	free(buf);

	/* A difference further in: INFORMATION is its offset; nothing is written. */
	buf = caw_buffer(f, 80, 3, 45);
	buf[2 * BS + 100] ^= 0x80;
	unsigned writes = f->disk[0].submitted[TG_IO_WRITE];
	r = compare_and_write(f, &f->cmd, 0, 80, 3, buf, 6 * BS);
	assert_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(sense_information(r), 2 * BS + 100);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], writes);
	free(buf);

	/* The most blocks the Block Limits page allows. */
	buf = caw_buffer(f, 1000, 255, 46);
	r = compare_and_write(f, &f->cmd, 0, 1000, 255, buf, 2 * 255 * BS);
	assert_good(r);
	assert_memory_equal(f->disk[0].bytes + 1000 * BS, buf + 255 * BS, 255 * BS);
	free(buf);

	once_good(compare_and_write(f, &f->cmd, 0, 0, 0, NULL, 0));
}

static void test_compare_and_write_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = caw_buffer(f, 0, 2, 1);
	/* The Data-Out buffer must be exactly compare + write data. */
	once_invalid_field(compare_and_write(f, &f->cmd, 0, 0, 1, buf, 4 * BS), 13, -1);
	once_invalid_field(compare_and_write(f, &f->cmd, 0, 0, 3, buf, 4 * BS), 13, -1);
	/* 256 blocks do not fit the field: sent as 0 with 512 blocks of data. */
	once_invalid_field(compare_and_write(f, &f->cmd, 0, 0, 0, buf, 4 * BS), 13, -1);
	once_check(compare_and_write(f, &f->cmd, 0, BLOCKS - 1, 2, buf, 4 * BS),
		     SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	once_invalid_field(compare_and_write(f, &f->cmd, 0x20, 0, 2, buf, 4 * BS), 1, 7);
	uint8_t cdb[16] = { SCSI_COMPARE_AND_WRITE };
	cdb[13] = 2;
	once_check(send(f, &f->cmd, LUN_RO, cdb, 16, buf, 4 * BS), SCSI_SK_DATA_PROTECT, 0x27, 0);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 0);
	free(buf);
}

static void test_compare_and_write_is_atomic_against_writers(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = caw_buffer(f, 100, 4, 50);
	uint8_t *later = pattern(2 * BS, 51);
	uint8_t *elsewhere = pattern(BS, 52);
	f->disk[0].deferred = true;

	struct fake_response *caw = compare_and_write(f, &f->cmd, 0, 100, 4, buf, 8 * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1);

	/* An overlapping WRITE waits for the COMPARE AND WRITE; one elsewhere does not. */
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_16, 0, 102, 2);
	struct fake_response *w = send(f, &f->cmd2, LUN_RW, cdb, len, later, 2 * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
	len = lba_cdb(cdb, SCSI_WRITE_10, 0, 5000, 1);
	struct fake_response *w2 = send(f, &f->cmd3, LUN_RW, cdb, len, elsewhere, BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1);
	assert_true(f->disk[0].last.offset == 5000 * BS);

	fake_disk_complete_all(&f->disk[0]); /* the read compares; the CAW's write goes out */
	assert_good(w2);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 2);
	assert_true(f->disk[0].last.offset == 100 * BS);
	assert_false(w->done);

	fake_disk_complete_all(&f->disk[0]); /* the CAW completes and lets the WRITE in */
	assert_good(caw);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 3);
	assert_true(f->disk[0].last.offset == 102 * BS);
	fake_disk_complete_all(&f->disk[0]);
	assert_good(w);
	/* The later write is what stays. */
	assert_memory_equal(f->disk[0].bytes + 100 * BS, buf + 4 * BS, 2 * BS);
	assert_memory_equal(f->disk[0].bytes + 102 * BS, later, 2 * BS);
	free(buf);
	free(later);
	free(elsewhere);
}

static void test_compare_and_write_waits_for_writes_in_flight(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern(2 * BS, 60);
	f->disk[0].deferred = true;
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_16, 0, 300, 2);
	struct fake_response *w = send(f, &f->cmd2, LUN_RW, cdb, len, data, 2 * BS);
	assert_int_equal(f->disk[0].pending_count, 1);

	/* Its compare data is what the write in flight is putting there. */
	uint8_t *buf = malloc(4 * BS);
	memcpy(buf, data, 2 * BS);
	memset(buf + 2 * BS, 0x5a, 2 * BS);
	struct fake_response *caw = compare_and_write(f, &f->cmd, 0, 300, 2, buf, 4 * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 0); /* not before the write is done */

	fake_disk_complete_all(&f->disk[0]);
	assert_good(w);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1);
	fake_disk_complete_all(&f->disk[0]);
	fake_disk_complete_all(&f->disk[0]);
	assert_good(caw);
	assert_true(range_is(f, 300, 2, 0x5a));
	free(buf);
	free(data);
}

static void test_waiting_writer_aborted_does_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = caw_buffer(f, 10, 1, 70);
	uint8_t *data = pattern(BS, 71);
	f->disk[0].deferred = true;
	struct fake_response *caw = compare_and_write(f, &f->cmd, 0, 10, 1, buf, 2 * BS);
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_10, 0, 10, 1);
	struct fake_response *w = send(f, &f->cmd2, LUN_RW, cdb, len, data, BS);
	tg_task_abort(&f->cmd2.task);
	fake_disk_complete_all(&f->disk[0]);
	fake_disk_complete_all(&f->disk[0]);
	assert_good(caw);
	assert_status(w, SCSI_STATUS_TASK_ABORTED);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1); /* only the CAW's */
	assert_memory_equal(f->disk[0].bytes + 10 * BS, buf + BS, BS);
	free(buf);
	free(data);
}

/* ---- WRITE ATOMIC(16) ---- */

enum { ATOMIC_UNIT = 4096 / BS, ATOMIC_MAX = TG_SBC_MAX_ATOMIC_BYTES / BS };

static struct fake_response *write_atomic(struct fixture *f, struct fake_cmd *cmd, uint64_t lun,
					  uint8_t byte1, uint64_t lba, uint16_t blocks,
					  uint16_t boundary, const void *payload,
					  uint32_t payload_len)
{
	uint8_t cdb[16] = { SCSI_WRITE_ATOMIC_16, byte1 };
	put_be64(cdb + 2, lba);
	put_be16(cdb + 10, boundary);
	put_be16(cdb + 12, blocks);
	return send(f, cmd, lun, cdb, 16, payload, payload_len);
}

static void test_write_atomic(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern(ATOMIC_MAX * BS, 90);
	struct fake_response *r =
		write_atomic(f, &f->cmd, LUN_RW, 0x08 /* FUA */, 16, ATOMIC_UNIT, 0, data,
			     ATOMIC_UNIT * BS);
	assert_good(r);
	assert_memory_equal(f->disk[0].bytes + 16 * BS, data, ATOMIC_UNIT * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1);
	assert_true(f->disk[0].last.offset == 16 * BS);
	assert_true(f->disk[0].last.fua);

	/* The largest atomic write, at the last whole unit it fits: one backend write. */
	uint64_t lba = BLOCKS - ATOMIC_MAX;
	r = write_atomic(f, &f->cmd, LUN_RW, 0, lba, ATOMIC_MAX, 0, data, ATOMIC_MAX * BS);
	assert_good(r);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 2);
	assert_true(f->disk[0].last.offset == lba * BS);
	assert_true(f->disk[0].last.len == ATOMIC_MAX * BS);
	assert_false(f->disk[0].last.fua);
	assert_memory_equal(f->disk[0].bytes + lba * BS, data, ATOMIC_MAX * BS);

	/* No blocks: nothing to write, and not an error. */
	once_good(write_atomic(f, &f->cmd, LUN_RW, 0, 0, 0, 0, NULL, 0));
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 2);
	free(data);
}

static void test_write_atomic_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern((ATOMIC_MAX + ATOMIC_UNIT) * BS, 91);
	/* Longer than MAXIMUM ATOMIC TRANSFER LENGTH, or not whole granules. */
	once_invalid_field(write_atomic(f, &f->cmd, LUN_RW, 0, 0, ATOMIC_MAX + ATOMIC_UNIT, 0,
					data, (ATOMIC_MAX + ATOMIC_UNIT) * BS),
			   12, -1);
	once_invalid_field(write_atomic(f, &f->cmd, LUN_RW, 0, 0, ATOMIC_UNIT - 1, 0, data,
					(ATOMIC_UNIT - 1) * BS),
			   12, -1);
	once_invalid_field(write_atomic(f, &f->cmd, LUN_RW, 0, 0, ATOMIC_UNIT + 1, 0, data,
					(ATOMIC_UNIT + 1) * BS),
			   12, -1);
	/* An LBA off the ATOMIC ALIGNMENT. */
	once_invalid_field(write_atomic(f, &f->cmd, LUN_RW, 0, 1, ATOMIC_UNIT, 0, data,
					ATOMIC_UNIT * BS),
			   2, -1);
	/* No atomic boundary is offered. */
	once_invalid_field(write_atomic(f, &f->cmd, LUN_RW, 0, 0, ATOMIC_UNIT, 1, data,
					ATOMIC_UNIT * BS),
			   10, -1);
	/* WRPROTECT on a LUN without protection information. */
	once_invalid_field(write_atomic(f, &f->cmd, LUN_RW, 0x20, 0, ATOMIC_UNIT, 0, data,
					ATOMIC_UNIT * BS),
			   1, 7);
	/* Out of range wins over the atomic limits, as for READ and WRITE. */
	once_check(write_atomic(f, &f->cmd, LUN_RW, 0, BLOCKS - ATOMIC_UNIT, 2 * ATOMIC_UNIT, 0,
				data, 2 * ATOMIC_UNIT * BS),
		   SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	once_check(write_atomic(f, &f->cmd, LUN_RW, 0, BLOCKS - 1, ATOMIC_MAX + ATOMIC_UNIT, 0,
				data, (ATOMIC_MAX + ATOMIC_UNIT) * BS),
		   SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	once_check(write_atomic(f, &f->cmd, LUN_RW, 0, BLOCKS + ATOMIC_UNIT, 0, 0, NULL, 0),
		   SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	once_check(write_atomic(f, &f->cmd, LUN_RW, 0, UINT64_MAX - ATOMIC_UNIT + 1, ATOMIC_UNIT,
				0, data, ATOMIC_UNIT * BS),
		   SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* A read-only mapping refuses it like any write. */
	once_check(write_atomic(f, &f->cmd, LUN_RO, 0, 0, ATOMIC_UNIT, 0, data, ATOMIC_UNIT * BS),
		   SCSI_SK_DATA_PROTECT, 0x27, 0);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
	free(data);
}

static void test_write_atomic_is_atomic_against_writers(void **state)
{
	struct fixture *f = *state;
	uint8_t *before = pattern(2 * BS, 92);
	uint8_t *atomic = pattern(2 * ATOMIC_UNIT * BS, 93);
	uint8_t *after = pattern(BS, 94);
	f->disk[0].deferred = true;

	/* A plain WRITE is in flight inside the range the atomic write covers. */
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_16, 0, 203, 2);
	struct fake_response *w1 = send(f, &f->cmd2, LUN_RW, cdb, len, before, 2 * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1);

	struct fake_response *a = write_atomic(f, &f->cmd, LUN_RW, 0, 200, 2 * ATOMIC_UNIT, 0,
					       atomic, 2 * ATOMIC_UNIT * BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 1); /* waits for it */

	fake_disk_complete_all(&f->disk[0]);
	assert_good(w1);
	/* Then goes out whole, as one request. */
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 2);
	assert_true(f->disk[0].last.offset == 200 * BS);
	assert_true(f->disk[0].last.len == 2 * ATOMIC_UNIT * BS);

	/* A WRITE overlapping its last block waits until it is done. */
	len = lba_cdb(cdb, SCSI_WRITE_10, 0, 200 + 2 * ATOMIC_UNIT - 1, 1);
	struct fake_response *w2 = send(f, &f->cmd3, LUN_RW, cdb, len, after, BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 2);
	assert_false(w2->done);

	/* So does a READ of its first block: it must not see the write half done. */
	unsigned reads = f->disk[0].submitted[TG_IO_READ];
	len = lba_cdb(cdb, SCSI_READ_16, 0, 200, 1);
	struct fake_response *r =
	    fake_submit(&f->cmd4, f->nexus[0], LUN_RW, cdb, len, TG_DIR_READ, BS);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], reads);
	assert_false(r->done);

	fake_disk_complete_all(&f->disk[0]);
	assert_good(a);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 3);
	fake_disk_complete_all(&f->disk[0]);
	assert_good(w2);
	assert_good(r);
	assert_memory_equal(r->data, atomic, BS);
	assert_memory_equal(f->disk[0].bytes + 200 * BS, atomic, (2 * ATOMIC_UNIT - 1) * BS);
	assert_memory_equal(f->disk[0].bytes + (200 + 2 * ATOMIC_UNIT - 1) * BS, after, BS);
	free(before);
	free(atomic);
	free(after);
}

/* ---- The lock itself ---- */

struct grant_log {
	struct tg_lba_lock lock;
	int granted;
};

static void note_grant(struct tg_lba_lock *lock)
{
	((struct grant_log *)(void *)lock)->granted++;
}

static void test_lba_lock_rules(void **state)
{
	struct fixture *f = *state;
	struct tg_device *dev = &f->dev[0];
	struct grant_log w1 = { 0 }, x1 = { 0 }, w2 = { 0 }, w3 = { 0 }, x2 = { 0 };

	/* Writers alone pass on the counter and are not listed. */
	assert_true(tg_lba_lock_acquire(dev, &w1.lock, 0, 10, false, note_grant));
	assert_true(w1.lock.counted_only);
	assert_null(dev->lba_locks.held);

	/* An exclusive request waits for counted writers, whatever their range. */
	assert_false(tg_lba_lock_acquire(dev, &x1.lock, 100, 10, true, note_grant));
	/* Behind it, an overlapping writer queues; a disjoint one is listed and runs. */
	assert_false(tg_lba_lock_acquire(dev, &w2.lock, 105, 10, false, note_grant));
	assert_true(tg_lba_lock_acquire(dev, &w3.lock, 200, 10, false, note_grant));
	assert_false(w3.lock.counted_only);
	/* A second exclusive request overlapping the first waits its turn. */
	assert_false(tg_lba_lock_acquire(dev, &x2.lock, 109, 1, true, note_grant));

	tg_lba_lock_release(dev, &w1.lock);
	assert_int_equal(x1.granted, 1);
	assert_int_equal(w2.granted + x2.granted, 0);
	tg_lba_lock_release(dev, &x1.lock);
	assert_int_equal(w2.granted, 1); /* first come, first served */
	assert_int_equal(x2.granted, 0);
	tg_lba_lock_release(dev, &w2.lock);
	assert_int_equal(x2.granted, 1);
	tg_lba_lock_release(dev, &x2.lock);
	tg_lba_lock_release(dev, &w3.lock);
	assert_null(dev->lba_locks.held);
	assert_null(dev->lba_locks.waiting);
	assert_int_equal(atomic_load(&dev->lba_locks.exclusive_requests), 0);
	assert_int_equal(atomic_load(&dev->lba_locks.counted_writers), 0);

	/* With nothing exclusive left, writers are back on the fast path. */
	assert_true(tg_lba_lock_acquire(dev, &w1.lock, 0, 1, false, note_grant));
	assert_true(w1.lock.counted_only);
	tg_lba_lock_release(dev, &w1.lock);
	/* Ranges that end at the top of the LBA space do not wrap. */
	assert_true(tg_lba_lock_acquire(dev, &x1.lock, UINT64_MAX - 5, 5, true, note_grant));
	assert_true(tg_lba_lock_acquire(dev, &x2.lock, 0, 5, true, note_grant));
	tg_lba_lock_release(dev, &x1.lock);
	tg_lba_lock_release(dev, &x2.lock);
}

/* ---- ORWRITE ---- */

static void test_orwrite(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = pattern(3 * BS, 80);
	uint8_t *before = malloc(3 * BS);
	memcpy(before, f->disk[0].bytes + 500 * BS, 3 * BS);
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_ORWRITE_16, 0x08, 500, 3);
	struct fake_response *r = send(f, &f->cmd, LUN_RW, cdb, len, data, 3 * BS);
	assert_good(r);
	for (size_t i = 0; i < 3 * BS; i++)
		assert_int_equal(f->disk[0].bytes[500 * BS + i], before[i] | data[i]);
	assert_true(f->disk[0].last.fua);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1);

	len = lba_cdb(cdb, SCSI_ORWRITE_16, 0, 0, 0);
	once_good(send(f, &f->cmd, LUN_RW, cdb, len, NULL, 0));
	len = lba_cdb(cdb, SCSI_ORWRITE_16, 0, BLOCKS - 2, 3);
	once_check(send(f, &f->cmd, LUN_RW, cdb, len, data, 3 * BS), SCSI_SK_ILLEGAL_REQUEST,
		     0x21, 0);
	len = lba_cdb(cdb, SCSI_ORWRITE_16, 0x20, 0, 1);
	once_invalid_field(send(f, &f->cmd, LUN_RW, cdb, len, data, BS), 1, 7);
	len = lba_cdb(cdb, SCSI_ORWRITE_16, 0, 0, 1);
	once_check(send(f, &f->cmd, LUN_RO, cdb, len, data, BS), SCSI_SK_DATA_PROTECT, 0x27, 0);
	assert_true(tg_sbc_cmds[SCSI_ORWRITE_16].flags & TG_CMD_LBA_EXCLUSIVE);
	free(data);
	free(before);
}

/* ---- PRE-FETCH ---- */

static struct fake_response *prefetch(struct fixture *f, bool sixteen, uint8_t byte1,
				      uint64_t lba, uint32_t blocks)
{
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, sixteen ? SCSI_PRE_FETCH_16 : SCSI_PRE_FETCH_10, byte1, lba,
			     blocks);
	return send(f, &f->cmd, LUN_RW, cdb, len, NULL, 0);
}

static void test_prefetch(void **state)
{
	struct fixture *f = *state;
	/* Fits in the cache: read in, CONDITION MET (no sense). */
	struct fake_response *r = prefetch(f, false, 0, 10, 100);
	assert_status(r, SCSI_STATUS_CONDITION_MET);
	assert_int_equal(r->sense_len, 0);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1);
	/* IMMED: the answer comes at once, from the cache size alone. */
	r = prefetch(f, true, 0x02, 10, 100);
	assert_status(r, SCSI_STATUS_CONDITION_MET);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1);
	/* More than the cache holds: GOOD (with IMMED nothing is read). */
	f->dev[0].num_blocks = 1u << 20;
	r = prefetch(f, true, 0x02, 0, 0);
	assert_good(r);
	f->dev[0].num_blocks = BLOCKS;
	r = prefetch(f, true, 0, 0, 0); /* length 0: to the end, 4 MiB fits */
	assert_status(r, SCSI_STATUS_CONDITION_MET);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1 + BLOCKS * BS / TG_SBC_CHUNK_BYTES);
	/* Without a cache (direct I/O) there is nothing to fill. */
	f->dev[0].write_cache = false;
	once_good(prefetch(f, false, 0, 0, 1));
	once_check(prefetch(f, true, 0, BLOCKS, 1), SCSI_SK_ILLEGAL_REQUEST, 0x21, 0);
	once_check(prefetch(f, false, 0, BLOCKS - 1, 2), SCSI_SK_ILLEGAL_REQUEST, 0x21, 0);
}

/* ---- READ DEFECT DATA ---- */

static void test_read_defect_data(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb10[10] = { SCSI_READ_DEFECT_DATA_10, 0, 0x18 | 0x05 };
	put_be16(cdb10 + 7, 64);
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb10, 10, TG_DIR_READ, 64);
	assert_good(r);
	assert_int_equal(r->data_len, 4);
	assert_int_equal(r->data[1], 0x18 | 0x05);
	assert_int_equal(get_be16(r->data + 2), 0);

	uint8_t cdb12[12] = { SCSI_READ_DEFECT_DATA_12, 0x10 | 0x03 };
	put_be32(cdb12 + 6, 4); /* shorter than the header */
	r = fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb12, 12, TG_DIR_READ, 4);
	assert_good(r);
	assert_int_equal(r->data_len, 4);
	assert_int_equal(r->data[1], 0x10 | 0x03);

	cdb10[2] = 0x06;
	once_invalid_field(fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb10, 10, TG_DIR_READ, 64), 2,
			   2);
	cdb12[1] = 0x07;
	once_invalid_field(fake_submit(&f->cmd, f->nexus[0], LUN_RW, cdb12, 12, TG_DIR_READ, 4), 1,
			   2);
}

/* ---- SANITIZE ---- */

static struct fake_response *sanitize(struct fixture *f, uint64_t lun, uint8_t byte1,
				      const void *list, uint16_t len)
{
	return send_list10(f, lun, SCSI_SANITIZE, byte1, list, len);
}

static void test_sanitize_overwrite(void **state)
{
	struct fixture *f = *state;
	uint8_t list[4 + BS];
	memset(list, 0, sizeof(list));
	list[0] = 0x01; /* one pass */
	put_be16(list + 2, 3);
	list[4] = 0xa1;
	list[5] = 0xb2;
	list[6] = 0xc3;
	struct fake_response *r = sanitize(f, LUN_RW, 0x01, list, 4 + 3);
	assert_good(r);
	for (uint64_t i = 0; i < (uint64_t)BLOCKS * BS; i += 4099)
		assert_int_equal(f->disk[0].bytes[i], list[4 + (i % BS) % 3]);
	assert_true(f->disk[0].last.fua);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], BLOCKS * BS / TG_SBC_CHUNK_BYTES);

	/* Two passes with INVERT: the last one writes the inverse. */
	list[0] = 0x80 | 0x02;
	put_be16(list + 2, 1);
	r = sanitize(f, LUN_RW, 0x01, list, 4 + 1);
	assert_good(r);
	assert_true(range_is(f, 0, BLOCKS, (uint8_t)~0xa1));
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 3 * BLOCKS * BS / TG_SBC_CHUNK_BYTES);
}

static void test_sanitize_overwrite_refusals(void **state)
{
	struct fixture *f = *state;
	uint8_t list[8 + BS];
	memset(list, 0, sizeof(list));
	list[0] = 0x01;
	put_be16(list + 2, BS);
	for (uint16_t len = 0; len <= 4; len++)
		once_invalid_field(sanitize(f, LUN_RW, 0x01, list, len), 7, -1);
	once_invalid_field(sanitize(f, LUN_RW, 0x01, list, BS + 5), 7, -1);
	list[0] = 0x00; /* OVERWRITE COUNT 0 */
	once_param_field(sanitize(f, LUN_RW, 0x01, list, BS + 4), 0, 4);
	list[0] = 0x21; /* TEST */
	once_param_field(sanitize(f, LUN_RW, 0x01, list, BS + 4), 0, 6);
	list[0] = 0x01;
	put_be16(list + 2, 0);
	once_param_field(sanitize(f, LUN_RW, 0x01, list, BS + 4), 2, -1);
	put_be16(list + 2, BS + 1);
	once_param_field(sanitize(f, LUN_RW, 0x01, list, BS + 4), 2, -1);
	put_be16(list + 2, 8); /* more pattern than was sent */
	once_param_field(sanitize(f, LUN_RW, 0x01, list, 4 + 4), 2, -1);
	put_be16(list + 2, BS);
	once_check(sanitize(f, LUN_RO, 0x01, list, BS + 4), SCSI_SK_DATA_PROTECT, 0x27, 0);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
}

static void test_sanitize_block_erase_and_others(void **state)
{
	struct fixture *f = *state;
	/* Neither unmap nor write-zeroes: no BLOCK ERASE. */
	once_invalid_field(sanitize(f, LUN_RW, 0x02, NULL, 0), 1, 4);
	f->dev[0].can_write_zeroes = true;
	once_good(sanitize(f, LUN_RW, 0x02, NULL, 0));
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE_ZEROES], 1);
	assert_true(range_is(f, 0, BLOCKS, 0));
	assert_false(f->disk[0].deallocated[0]);

	thin(f);
	memset(f->disk[0].bytes, 0x77, f->disk[0].size);
	once_good(sanitize(f, LUN_RW, 0x20 | 0x02 /* AUSE */, NULL, 0));
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 1);
	assert_true(f->disk[0].last.offset == 0 && f->disk[0].last.len == (uint64_t)BLOCKS * BS);
	assert_true(range_is(f, 0, BLOCKS, 0));
	assert_true(f->disk[0].deallocated[0] && f->disk[0].deallocated[BLOCKS - 1]);
	uint8_t eight[8] = { 0 };
	once_invalid_field(sanitize(f, LUN_RW, 0x02, eight, 8), 7, -1);

	once_invalid_field(sanitize(f, LUN_RW, 0x03, NULL, 0), 1, 4); /* CRYPTOGRAPHIC ERASE */
	once_invalid_field(sanitize(f, LUN_RW, 0x04, NULL, 0), 1, 4);
	once_invalid_field(sanitize(f, LUN_RW, 0x40 | 0x02, NULL, 0), 1, 6); /* reserved bit */
	for (uint8_t at = 2; at <= 6; at++) {
		uint8_t cdb[10] = { SCSI_SANITIZE, 0x02 };
		cdb[at] = 0x01;
		once_invalid_field(send(f, &f->cmd, LUN_RW, cdb, 10, NULL, 0), at, -1);
	}
	once_good(sanitize(f, LUN_RW, 0x1f, NULL, 0)); /* EXIT FAILURE MODE */
	once_invalid_field(sanitize(f, LUN_RW, 0x1f, eight, 8), 7, -1);
	once_check(sanitize(f, LUN_RO, 0x02, NULL, 0), SCSI_SK_DATA_PROTECT, 0x27, 0);
}

static void test_sanitize_waits_for_writes_in_flight(void **state)
{
	struct fixture *f = *state;
	thin(f);
	uint8_t *data = pattern(BS, 90);
	f->disk[0].deferred = true;
	uint8_t cdb[16];
	size_t len = lba_cdb(cdb, SCSI_WRITE_10, 0, 7, 1);
	struct fake_response *w = send(f, &f->cmd2, LUN_RW, cdb, len, data, BS);
	struct fake_response *s = sanitize(f, LUN_RW, 0x02, NULL, 0);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 0);
	fake_disk_complete_all(&f->disk[0]);
	assert_good(w);
	assert_int_equal(f->disk[0].submitted[TG_IO_UNMAP], 1);
	fake_disk_complete_all(&f->disk[0]);
	assert_good(s);
	assert_true(range_is(f, 7, 1, 0)); /* the write came first and was erased */
	free(data);
}

static void test_table_entries(void **state)
{
	(void)state;
	static const uint8_t writers[] = { SCSI_WRITE_SAME_10,   SCSI_WRITE_SAME_16,
					   SCSI_UNMAP,           SCSI_WRITE_VERIFY_10,
					   SCSI_WRITE_VERIFY_12, SCSI_WRITE_VERIFY_16,
					   SCSI_COMPARE_AND_WRITE, SCSI_ORWRITE_16,
					   SCSI_SANITIZE,        SCSI_WRITE_ATOMIC_16 };
	for (size_t i = 0; i < sizeof(writers); i++) {
		assert_non_null(tg_sbc_cmds[writers[i]].name);
		assert_true(tg_sbc_cmds[writers[i]].flags & TG_CMD_WRITE_CLASS);
	}
	static const uint8_t readers[] = { SCSI_PRE_FETCH_10, SCSI_PRE_FETCH_16,
					   SCSI_READ_DEFECT_DATA_10, SCSI_READ_DEFECT_DATA_12,
					   SCSI_VERIFY_16 };
	for (size_t i = 0; i < sizeof(readers); i++) {
		assert_non_null(tg_sbc_cmds[readers[i]].name);
		assert_false(tg_sbc_cmds[readers[i]].flags & TG_CMD_WRITE_CLASS);
	}
	assert_true(tg_sbc_cmds[SCSI_COMPARE_AND_WRITE].flags & TG_CMD_LBA_EXCLUSIVE);
	assert_true(tg_sbc_cmds[SCSI_WRITE_ATOMIC_16].flags & TG_CMD_LBA_EXCLUSIVE);
	/* A write for reservations: neither conflict-free nor a read. */
	assert_false(tg_sbc_cmds[SCSI_WRITE_ATOMIC_16].flags &
		     (TG_CMD_CONFLICT_FREE | TG_CMD_PR_READ | TG_CMD_PR_SELF));
	assert_false(tg_sbc_cmds[SCSI_WRITE_16].flags & TG_CMD_LBA_EXCLUSIVE);
}

#define T(fn) fixture_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_block_limits_match_enforced_limits),
		T(test_provisioning_vpd_and_read_capacity),
		T(test_write_same_writes_every_block),
		T(test_write_same_large_range_in_bounded_chunks),
		T(test_write_same_zeroes_unmap_or_write_zeroes),
		T(test_write_same_ndob),
		T(test_write_same_refusals),
		T(test_write_same_backend_error),
		T(test_unmap_deallocates_each_range),
		T(test_unmap_refusals),
		T(test_unmap_limits),
		T(test_get_lba_status_reports_runs),
		T(test_get_lba_status_without_backend_support),
		T(test_verify_one_block_against_each),
		T(test_write_and_verify),
		T(test_write_and_verify_fua_and_miscompare),
		T(test_compare_and_write),
		T(test_compare_and_write_refusals),
		T(test_compare_and_write_is_atomic_against_writers),
		T(test_compare_and_write_waits_for_writes_in_flight),
		T(test_waiting_writer_aborted_does_nothing),
		T(test_write_atomic),
		T(test_write_atomic_refusals),
		T(test_write_atomic_is_atomic_against_writers),
		T(test_lba_lock_rules),
		T(test_orwrite),
		T(test_prefetch),
		T(test_read_defect_data),
		T(test_sanitize_overwrite),
		T(test_sanitize_overwrite_refusals),
		T(test_sanitize_block_erase_and_others),
		T(test_sanitize_waits_for_writes_in_flight),
		T(test_table_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
