/* Unit tests of iSCSI BHS decoding, LUN coding, AHS walking and target BHS building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transports/iscsi/pdu.h"

/* Big-endian readers/writers written independently of pdu.c so the tests check offsets. */
static void w32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}
static uint32_t r32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t r16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t r24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }

static void bhs_init(uint8_t bhs[48], uint8_t byte0, uint8_t byte1, uint32_t dsl, uint32_t itt)
{
	memset(bhs, 0, 48);
	bhs[0] = byte0;
	bhs[1] = byte1;
	bhs[5] = dsl >> 16;
	bhs[6] = (dsl >> 8) & 0xff;
	bhs[7] = dsl & 0xff;
	w32(bhs + 16, itt);
}

#define MAX_DSL 262144u

/* ---- parsing each initiator opcode ---- */

/* A BHS field that decodes as sent: `width` bytes at `at`, big-endian, and its iscsi_hdr member. */
struct wire_field {
	uint8_t at, width;
	uint32_t value;
	const char *member;
	size_t offset, size;
};

#define HDR(m) #m, offsetof(struct iscsi_hdr, m), sizeof(((struct iscsi_hdr *)0)->m)
#define FIELDS(array) array, sizeof(array) / sizeof(array[0])

/* A BHS of opcode byte0 and flags byte1 carrying fields, every other byte zero. */
static void bhs_build(uint8_t bhs[48], uint8_t byte0, uint8_t byte1,
		      const struct wire_field *fields, size_t count)
{
	bhs_init(bhs, byte0, byte1, 0, 0);
	for (size_t i = 0; i < count; i++)
		for (unsigned b = 0; b < fields[i].width; b++)
			bhs[fields[i].at + b] =
			    (uint8_t)(fields[i].value >> 8 * (fields[i].width - 1 - b));
}

/* Parses bhs, which must be accepted, and checks every field came out where it belongs. */
static struct iscsi_hdr parse_fields(const uint8_t bhs[48], const struct wire_field *fields,
				     size_t count)
{
	struct iscsi_hdr h;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	for (size_t i = 0; i < count; i++) {
		const uint8_t *member = (const uint8_t *)&h + fields[i].offset;
		uint64_t got;
		switch (fields[i].size) {
		case 1:
			got = *member;
			break;
		case 2:
			got = *(const uint16_t *)member;
			break;
		case 4:
			got = *(const uint32_t *)member;
			break;
		default:
			got = *(const uint64_t *)member;
			break;
		}
		if (got != fields[i].value)
			fail_msg("h.%s is %#llx, want %#x (bytes %u..%u)", fields[i].member,
				 (unsigned long long)got, fields[i].value, fields[i].at,
				 fields[i].at + fields[i].width - 1);
	}
	return h;
}

static void test_parse_scsi_cmd(void **state)
{
	static const struct wire_field fields[] = {
		{ 5, 3, 0, HDR(data_len) },
		{ 9, 1, 7, HDR(lun) }, /* peripheral */
		{ 16, 4, 0x11223344, HDR(itt) },
		{ 20, 4, 4096, HDR(exp_xfer_len) },
		{ 24, 4, 100, HDR(cmdsn) },
		{ 28, 4, 200, HDR(expstatsn) },
	};
	uint8_t bhs[48];
	bhs_build(bhs, 0x01, 0x80 | 0x40 | 0x01, FIELDS(fields));
	bhs[4] = 5; /* TotalAHSLength in words */
	for (int i = 0; i < 16; i++)
		bhs[32 + i] = (uint8_t)(0x28 + i);
	struct iscsi_hdr h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_SCSI_CMD);
	assert_false(h.immediate);
	assert_true(h.final);
	assert_true(h.read);
	assert_false(h.write);
	assert_int_equal(h.attr, 1);
	assert_int_equal(h.ahs_len, 20);
	assert_memory_equal(h.lun_raw, bhs + 8, 8);
	assert_memory_equal(h.cdb, bhs + 32, 16);
}

static void test_parse_scsi_cmd_write_with_immediate_data(void **state)
{
	static const struct wire_field fields[] = {
		{ 5, 3, 8192, HDR(data_len) },
		{ 16, 4, 5, HDR(itt) },
		{ 20, 4, 65536, HDR(exp_xfer_len) },
	};
	uint8_t bhs[48];
	bhs_build(bhs, 0x40 | 0x01, 0x20 | 0x02, FIELDS(fields));
	bhs[8] = 0x41;
	bhs[9] = 0x00; /* flat LUN 256 */
	struct iscsi_hdr h = parse_fields(bhs, FIELDS(fields));
	assert_true(h.immediate);
	assert_false(h.final);
	assert_true(h.write);
	assert_false(h.read);
	assert_int_equal(h.attr, 2);
	assert_int_equal(h.lun, 256);
}

static void test_parse_nop_out(void **state)
{
	static const struct wire_field ping[] = {
		{ 5, 3, 16, HDR(data_len) },
		{ 16, 4, 0x99, HDR(itt) },
		{ 20, 4, 0xffffffff, HDR(ttt) },
		{ 24, 4, 7, HDR(cmdsn) },
		{ 28, 4, 8, HDR(expstatsn) },
	};
	/* answering a target ping: ITT reserved, I bit set, TTT echoed */
	static const struct wire_field answer[] = {
		{ 16, 4, 0xffffffff, HDR(itt) },
		{ 20, 4, 0x1234, HDR(ttt) },
	};
	uint8_t bhs[48];
	bhs_build(bhs, 0x40 | 0x00, 0x80, FIELDS(ping));
	struct iscsi_hdr h = parse_fields(bhs, FIELDS(ping));
	assert_int_equal(h.opcode, ISCSI_OP_NOP_OUT);
	assert_true(h.immediate);

	bhs_build(bhs, 0x40, 0x80, FIELDS(answer));
	parse_fields(bhs, FIELDS(answer));
}

static void test_parse_tmf(void **state)
{
	static const struct wire_field fields[] = {
		{ 9, 1, 3, HDR(lun) },
		{ 16, 4, 0x55, HDR(itt) },
		{ 20, 4, 0x44, HDR(ref_itt) },
		{ 24, 4, 10, HDR(cmdsn) },
		{ 28, 4, 11, HDR(expstatsn) },
		{ 32, 4, 9, HDR(refcmdsn) },
		{ 36, 4, 2, HDR(expdatasn) },
	};
	uint8_t bhs[48];
	struct iscsi_hdr h;
	bhs_build(bhs, 0x40 | 0x02, 0x80 | 0x01, FIELDS(fields));
	h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_TMF_REQ);
	assert_int_equal(h.tmf_function, 1);
	for (uint8_t fn = 1; fn <= 12; fn++) { /* RFC 7143 11.5.1 and RFC 7144 4.1 */
		bhs[1] = 0x80 | fn;
		assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
		assert_int_equal(h.tmf_function, fn);
	}
}

static void test_parse_login(void **state)
{
	static const struct wire_field fields[] = {
		{ 2, 1, 0, HDR(version_max) },
		{ 3, 1, 0, HDR(version_min) },
		{ 5, 3, 300, HDR(data_len) },
		{ 14, 2, 0x0102, HDR(tsih) },
		{ 16, 4, 0x10, HDR(itt) },
		{ 20, 2, 0x0007, HDR(cid) },
		{ 24, 4, 1, HDR(cmdsn) },
		{ 28, 4, 2, HDR(expstatsn) },
	};
	const uint8_t isid[6] = { 0x80, 0x12, 0x34, 0x56, 0x78, 0x9a };
	uint8_t bhs[48];
	struct iscsi_hdr h;
	/* T=1, CSG=1 (operational), NSG=3 (full feature) */
	bhs_build(bhs, 0x40 | 0x03, 0x80 | (1 << 2) | 3, FIELDS(fields));
	memcpy(bhs + 8, isid, 6);
	h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_LOGIN_REQ);
	assert_true(h.immediate);
	assert_true(h.transit);
	assert_false(h.cont);
	assert_int_equal(h.csg, 1);
	assert_int_equal(h.nsg, 3);
	assert_memory_equal(h.isid, isid, 6);

	/* C=1 with T=0 (text continues), NSG ignored while T=0 */
	bhs[1] = 0x40 | (0 << 2) | 2;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	assert_true(h.cont);
	assert_false(h.transit);
	assert_int_equal(h.csg, 0);
}

static void test_parse_text(void **state)
{
	static const struct wire_field fields[] = {
		{ 5, 3, 16, HDR(data_len) },
		{ 16, 4, 0x20, HDR(itt) },
		{ 20, 4, 0xffffffff, HDR(ttt) },
		{ 24, 4, 5, HDR(cmdsn) },
		{ 28, 4, 6, HDR(expstatsn) },
	};
	uint8_t bhs[48];
	struct iscsi_hdr h;
	bhs_build(bhs, 0x04, 0x80, FIELDS(fields));
	h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_TEXT_REQ);
	assert_true(h.final);
	assert_false(h.cont);
	bhs[1] = 0x40;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	assert_true(h.cont);
	assert_false(h.final);
}

static void test_parse_data_out(void **state)
{
	static const struct wire_field fields[] = {
		{ 5, 3, 4096, HDR(data_len) },
		{ 9, 1, 1, HDR(lun) },
		{ 16, 4, 0x30, HDR(itt) },
		{ 20, 4, 0xabc, HDR(ttt) },
		{ 28, 4, 77, HDR(expstatsn) },
		{ 36, 4, 3, HDR(datasn) },
		{ 40, 4, 12288, HDR(buffer_offset) },
	};
	uint8_t bhs[48];
	bhs_build(bhs, 0x05, 0x80, FIELDS(fields));
	struct iscsi_hdr h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_DATA_OUT);
	assert_true(h.final);
}

static void test_parse_logout(void **state)
{
	static const struct wire_field fields[] = {
		{ 16, 4, 0x40, HDR(itt) },
		{ 20, 2, 3, HDR(cid) },
		{ 24, 4, 9, HDR(cmdsn) },
		{ 28, 4, 10, HDR(expstatsn) },
	};
	uint8_t bhs[48];
	bhs_build(bhs, 0x40 | 0x06, 0x80 | 0x01, FIELDS(fields));
	struct iscsi_hdr h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_LOGOUT_REQ);
	assert_int_equal(h.logout_reason, 1);
}

static void test_parse_snack(void **state)
{
	/* a Status SNACK carries the reserved ITT, which is allowed here */
	static const struct wire_field fields[] = {
		{ 16, 4, 0xffffffff, HDR(itt) },
		{ 20, 4, 0x77, HDR(ttt) },
		{ 28, 4, 12, HDR(expstatsn) },
		{ 40, 4, 4, HDR(begrun) },
		{ 44, 4, 2, HDR(runlength) },
	};
	uint8_t bhs[48];
	bhs_build(bhs, 0x10, 0x80 | 0x01, FIELDS(fields));
	struct iscsi_hdr h = parse_fields(bhs, FIELDS(fields));
	assert_int_equal(h.opcode, ISCSI_OP_SNACK_REQ);
	assert_int_equal(h.snack_type, 1);
}

/* ---- parse errors ---- */

static void test_parse_rejects_target_and_reserved_opcodes(void **state)
{
	uint8_t bhs[48];
	struct iscsi_hdr h;
	for (unsigned op = 0; op < 64; op++) {
		bool initiator = op <= 0x06 || op == 0x10;
		bhs_init(bhs, (uint8_t)op, 0x80, 0, 1);
		/* make every field otherwise valid for the initiator opcodes */
		if (op == 0x02 || op == 0x06 || op == 0x10)
			bhs[1] = 0x81;
		enum iscsi_parse_error e = iscsi_hdr_parse(bhs, MAX_DSL, &h);
		if (initiator)
			assert_int_equal(e, ISCSI_PARSE_OK);
		else
			assert_int_equal(e, ISCSI_PARSE_BAD_OPCODE);
		assert_int_equal(h.opcode, op);
		assert_int_equal(h.itt, 1); /* common fields stay decoded for the Reject */
	}
	/* the reserved top bit of byte 0 does not change the opcode */
	bhs_init(bhs, 0x80 | 0x01, 0x80, 0, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	assert_int_equal(h.opcode, ISCSI_OP_SCSI_CMD);
}

static void test_parse_dsl_too_large(void **state)
{
	uint8_t bhs[48];
	struct iscsi_hdr h;
	bhs_init(bhs, 0x05, 0x80, 8193, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, 8192, &h), ISCSI_PARSE_DSL_TOO_LARGE);
	assert_int_equal(h.data_len, 8193);
	bhs_init(bhs, 0x05, 0x80, 8192, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, 8192, &h), ISCSI_PARSE_OK);
	bhs_init(bhs, 0x05, 0x80, 0xffffff, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, UINT32_MAX, &h), ISCSI_PARSE_OK);
	assert_int_equal(iscsi_hdr_parse(bhs, 0xfffffe, &h), ISCSI_PARSE_DSL_TOO_LARGE);
	bhs_init(bhs, 0x05, 0x80, 1, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, 0, &h), ISCSI_PARSE_DSL_TOO_LARGE);
}

static void test_parse_bad_fields(void **state)
{
	uint8_t bhs[48];
	struct iscsi_hdr h;

	/* SCSI command: data expected but neither R nor W */
	bhs_init(bhs, 0x01, 0x80, 0, 1);
	w32(bhs + 20, 512);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	/* ... which is fine with no data expected, and with both bits set */
	w32(bhs + 20, 0);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	bhs[1] = 0x80 | 0x40 | 0x20;
	w32(bhs + 20, 512);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	/* reserved task attributes 5-7 */
	for (uint8_t attr = 0; attr < 8; attr++) {
		bhs[1] = 0x80 | 0x40 | attr;
		assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h),
				 attr <= 4 ? ISCSI_PARSE_OK : ISCSI_PARSE_BAD_FIELD);
	}
	/* reserved ITT on a SCSI command */
	bhs_init(bhs, 0x01, 0x80, 0, 0xffffffff);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);

	/* NOP-Out with the reserved ITT must be immediate */
	bhs_init(bhs, 0x00, 0x80, 0, 0xffffffff);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);

	/* TMF functions 0 and 13..127 are reserved (RFC 7144 defines 9..12) */
	bhs_init(bhs, 0x02, 0x80 | 0, 0, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	bhs[1] = 0x80 | 13;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	bhs[1] = 0x80 | 0x7f;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);

	/* Login: T and C together; reserved stage 2 */
	bhs_init(bhs, 0x43, 0x80 | 0x40 | (1 << 2) | 3, 0, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	bhs[1] = 0x80 | (2 << 2) | 3;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	bhs[1] = 0x80 | (0 << 2) | 2;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	/* reserved NSG does not matter while T=0 */
	bhs[1] = (0 << 2) | 2;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);
	bhs_init(bhs, 0x43, 0x80 | (0 << 2) | 1, 0, 0xffffffff);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);

	/* Text: C requires F clear */
	bhs_init(bhs, 0x04, 0x80 | 0x40, 0, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);

	/* Logout reasons above 2 */
	bhs_init(bhs, 0x06, 0x80 | 3, 0, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	bhs[1] = 0x80 | 2;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);

	/* SNACK types above 3 */
	bhs_init(bhs, 0x10, 0x80 | 4, 0, 1);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
	bhs[1] = 0x80 | 3;
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_OK);

	/* Data-Out with the reserved ITT */
	bhs_init(bhs, 0x05, 0x80, 0, 0xffffffff);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_FIELD);
}

/* ---- LUN coding ---- */

static void test_lun_encode_formats(void **state)
{
	uint8_t lun[8];
	const uint8_t zero_tail[6] = { 0 };
	iscsi_lun_encode(0, lun);
	assert_int_equal(lun[0], 0x00);
	assert_int_equal(lun[1], 0x00);
	iscsi_lun_encode(255, lun);
	assert_int_equal(lun[0], 0x00);
	assert_int_equal(lun[1], 0xff);
	assert_memory_equal(lun + 2, zero_tail, 6);
	iscsi_lun_encode(256, lun);
	assert_int_equal(lun[0], 0x41);
	assert_int_equal(lun[1], 0x00);
	iscsi_lun_encode(16383, lun);
	assert_int_equal(lun[0], 0x7f);
	assert_int_equal(lun[1], 0xff);
	assert_memory_equal(lun + 2, zero_tail, 6);
	iscsi_lun_encode(16384, lun);
	assert_int_equal(iscsi_lun_decode(lun), ISCSI_LUN_INVALID);
}

static void test_lun_round_trip(void **state)
{
	uint8_t lun[8];
	for (uint64_t n = 0; n < 16384; n++) {
		iscsi_lun_encode(n, lun);
		assert_int_equal(iscsi_lun_decode(lun), n);
	}
}

static void test_lun_decode_unsupported(void **state)
{
	/* peripheral with a nonzero bus */
	uint8_t lun[8] = { 0x01, 0x05, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(iscsi_lun_decode(lun), ISCSI_LUN_INVALID);
	/* second level present */
	uint8_t two_level[8] = { 0x00, 0x01, 0x00, 0x02, 0, 0, 0, 0 };
	assert_int_equal(iscsi_lun_decode(two_level), ISCSI_LUN_INVALID);
	/* logical unit addressing (10b) and extended (11b) */
	uint8_t lu[8] = { 0x80, 0x01, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(iscsi_lun_decode(lu), ISCSI_LUN_INVALID);
	uint8_t ext[8] = { 0xd2, 0x00, 0x00, 0x00, 0, 0, 0, 0 };
	assert_int_equal(iscsi_lun_decode(ext), ISCSI_LUN_INVALID);
	/* flat addressing may put anything in byte 0 bits 5-0 */
	uint8_t flat[8] = { 0x45, 0x67, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(iscsi_lun_decode(flat), 0x0567);
}

/* ---- AHS ---- */

static void test_ahs_without_extended_cdb(void **state)
{
	uint8_t cdb16[16], cdb[64];
	for (int i = 0; i < 16; i++)
		cdb16[i] = (uint8_t)(i + 1);
	assert_int_equal(iscsi_ahs_extended_cdb(NULL, 0, cdb16, cdb, sizeof(cdb)), 16);
	assert_memory_equal(cdb, cdb16, 16);
	/* a bidirectional read length AHS alone */
	uint8_t ahs[8] = { 0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00 };
	assert_int_equal(iscsi_ahs_extended_cdb(ahs, 8, cdb16, cdb, sizeof(cdb)), 16);
}

static void test_ahs_extended_cdb_32(void **state)
{
	uint8_t cdb16[16], cdb[64];
	for (int i = 0; i < 16; i++)
		cdb16[i] = (uint8_t)i;
	/* a 32-byte CDB: AHSLength = 32 - 15 = 17, then one reserved byte and 16 bytes */
	uint8_t ahs[28];
	memset(ahs, 0, sizeof(ahs));
	ahs[0] = 0x00;
	ahs[1] = 17;
	ahs[2] = 0x01;
	ahs[3] = 0x00;
	for (int i = 0; i < 16; i++)
		ahs[4 + i] = (uint8_t)(16 + i);
	/* followed by a bidirectional read AHS */
	ahs[20] = 0x00;
	ahs[21] = 0x05;
	ahs[22] = 0x02;
	assert_int_equal(iscsi_ahs_extended_cdb(ahs, 28, cdb16, cdb, sizeof(cdb)), 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(cdb[i], i);
	/* also when it comes second */
	uint8_t swapped[28];
	memcpy(swapped, ahs + 20, 8);
	memcpy(swapped + 8, ahs, 20);
	assert_int_equal(iscsi_ahs_extended_cdb(swapped, 28, cdb16, cdb, sizeof(cdb)), 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(cdb[i], i);
	/* too small an output buffer */
	assert_int_equal(iscsi_ahs_extended_cdb(ahs, 28, cdb16, cdb, 31), -1);
}

static void test_ahs_extended_cdb_padded(void **state)
{
	uint8_t cdb16[16] = { 0x7f }, cdb[64];
	/* an 18-byte CDB: AHSLength 3, 2 CDB bytes, padded to 8 */
	uint8_t ahs[8] = { 0x00, 0x03, 0x01, 0x00, 0xaa, 0xbb, 0x00, 0x00 };
	assert_int_equal(iscsi_ahs_extended_cdb(ahs, 8, cdb16, cdb, sizeof(cdb)), 18);
	assert_int_equal(cdb[0], 0x7f);
	assert_int_equal(cdb[16], 0xaa);
	assert_int_equal(cdb[17], 0xbb);
}

static void test_ahs_malformed(void **state)
{
	uint8_t cdb16[16] = { 0 }, cdb[64];
	/* length running past the area */
	uint8_t past[8] = { 0x00, 0x09, 0x01, 0x00, 1, 2, 3, 4 };
	assert_int_equal(iscsi_ahs_extended_cdb(past, 8, cdb16, cdb, sizeof(cdb)), -1);
	/* area not a multiple of 4 */
	assert_int_equal(iscsi_ahs_extended_cdb(past, 6, cdb16, cdb, sizeof(cdb)), -1);
	/* reserved AHS type 0 and 3 */
	uint8_t reserved[4] = { 0x00, 0x01, 0x00, 0x00 };
	assert_int_equal(iscsi_ahs_extended_cdb(reserved, 4, cdb16, cdb, sizeof(cdb)), -1);
	reserved[2] = 0x03;
	assert_int_equal(iscsi_ahs_extended_cdb(reserved, 4, cdb16, cdb, sizeof(cdb)), -1);
	/* an extension type (60..63) is skipped */
	reserved[2] = 60;
	assert_int_equal(iscsi_ahs_extended_cdb(reserved, 4, cdb16, cdb, sizeof(cdb)), 16);
	/* two extended CDBs */
	uint8_t twice[16] = { 0x00, 0x03, 0x01, 0x00, 1, 2, 0, 0, 0x00, 0x03, 0x01, 0x00, 1, 2, 0, 0 };
	assert_int_equal(iscsi_ahs_extended_cdb(twice, 16, cdb16, cdb, sizeof(cdb)), -1);
	/* AHSLength 0 for an extended CDB */
	uint8_t zero_len[4] = { 0x00, 0x00, 0x01, 0x00 };
	assert_int_equal(iscsi_ahs_extended_cdb(zero_len, 4, cdb16, cdb, sizeof(cdb)), -1);
	/* output buffer below 16 */
	assert_int_equal(iscsi_ahs_extended_cdb(NULL, 0, cdb16, cdb, 15), -1);
}

/* ---- serial number arithmetic ---- */

static void test_serial_arithmetic(void **state)
{
	assert_true(iscsi_sn_lt(1, 2));
	assert_false(iscsi_sn_lt(2, 1));
	assert_false(iscsi_sn_lt(5, 5));
	assert_true(iscsi_sn_le(5, 5));
	assert_true(iscsi_sn_le(4, 5));
	assert_false(iscsi_sn_le(6, 5));
	/* wraparound */
	assert_true(iscsi_sn_lt(0xffffffffu, 0));
	assert_true(iscsi_sn_lt(0xfffffff0u, 0x10));
	assert_false(iscsi_sn_lt(0x10, 0xfffffff0u));
	assert_true(iscsi_sn_le(0xffffffffu, 1));
	/* distances just under half the space still compare */
	assert_true(iscsi_sn_lt(0, 0x7fffffffu));
	assert_false(iscsi_sn_lt(0x7fffffffu, 0));
}

/* ---- builders ---- */

static const struct iscsi_sn_fields sn = { .statsn = 0x01020304, .expcmdsn = 0x05060708,
					   .maxcmdsn = 0x090a0b0c };

static void assert_sn(const uint8_t *bhs, bool with_statsn)
{
	assert_int_equal(r32(bhs + 24), with_statsn ? sn.statsn : 0);
	assert_int_equal(r32(bhs + 28), sn.expcmdsn);
	assert_int_equal(r32(bhs + 32), sn.maxcmdsn);
}

static void assert_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], 0);
}

static void test_build_scsi_rsp(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_scsi_rsp(bhs, 0xdeadbeef, 0x00, 0x02, false, true, 1000, 18, &sn, 4);
	assert_int_equal(bhs[0], 0x21);
	assert_int_equal(bhs[1], 0x80 | 0x02);
	assert_int_equal(bhs[2], 0x00);
	assert_int_equal(bhs[3], 0x02);
	assert_int_equal(bhs[4], 0);
	assert_int_equal(r24(bhs + 5), 18);
	assert_zero(bhs + 8, 8);
	assert_int_equal(r32(bhs + 16), 0xdeadbeef);
	assert_zero(bhs + 20, 4);
	assert_sn(bhs, true);
	assert_int_equal(r32(bhs + 36), 4);
	assert_zero(bhs + 40, 4);
	assert_int_equal(r32(bhs + 44), 1000);
	iscsi_build_scsi_rsp(bhs, 1, 0x01, 0, true, false, 7, 0, &sn, 0);
	assert_int_equal(bhs[1], 0x80 | 0x04);
	assert_int_equal(bhs[2], 0x01);
}

static void test_build_data_in(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	/* plain data, no status, no DataACK */
	iscsi_build_data_in(bhs, 0x10, 5, ISCSI_RESERVED_TAG, false, false, 0x02, true, true, 99,
			    3, 8192, 4096, &sn);
	assert_int_equal(bhs[0], 0x25);
	assert_int_equal(bhs[1], 0x00);
	assert_int_equal(bhs[3], 0);
	assert_int_equal(r24(bhs + 5), 4096);
	assert_zero(bhs + 8, 8);
	assert_int_equal(r32(bhs + 16), 0x10);
	assert_int_equal(r32(bhs + 20), 0xffffffff);
	assert_sn(bhs, false);
	assert_int_equal(r32(bhs + 36), 3);
	assert_int_equal(r32(bhs + 40), 8192);
	assert_int_equal(r32(bhs + 44), 0);
	/* last PDU with status: F and S set, residual carried */
	iscsi_build_data_in(bhs, 0x10, 5, ISCSI_RESERVED_TAG, true, true, 0x00, false, true, 512,
			    4, 12288, 3584, &sn);
	assert_int_equal(bhs[1], 0x80 | 0x02 | 0x01);
	assert_int_equal(bhs[3], 0x00);
	assert_sn(bhs, true);
	assert_int_equal(r32(bhs + 44), 512);
	/* status implies F even when the caller forgot it */
	iscsi_build_data_in(bhs, 0x10, 5, ISCSI_RESERVED_TAG, false, true, 0x00, false, false, 0, 4,
			    0, 0, &sn);
	assert_int_equal(bhs[1], 0x80 | 0x01);
	/* F without status */
	iscsi_build_data_in(bhs, 0x10, 5, ISCSI_RESERVED_TAG, true, false, 0x00, false, false, 0,
			    4, 0, 0, &sn);
	assert_int_equal(bhs[1], 0x80);
	/* DataACK requested: A bit, TTT and LUN */
	iscsi_build_data_in(bhs, 0x10, 300, 0x1234, true, false, 0, false, false, 0, 1, 0, 0, &sn);
	assert_int_equal(bhs[1], 0x80 | 0x40);
	assert_int_equal(bhs[8], 0x41);
	assert_int_equal(bhs[9], 0x2c);
	assert_int_equal(r32(bhs + 20), 0x1234);
}

static void test_build_r2t(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_r2t(bhs, 0x20, 2, 0x3000, 6, 65536, 262144, &sn);
	assert_int_equal(bhs[0], 0x31);
	assert_int_equal(bhs[1], 0x80);
	assert_zero(bhs + 2, 6);
	assert_int_equal(bhs[8], 0);
	assert_int_equal(bhs[9], 2);
	assert_zero(bhs + 10, 6);
	assert_int_equal(r32(bhs + 16), 0x20);
	assert_int_equal(r32(bhs + 20), 0x3000);
	assert_sn(bhs, true);
	assert_int_equal(r32(bhs + 36), 6);
	assert_int_equal(r32(bhs + 40), 65536);
	assert_int_equal(r32(bhs + 44), 262144);
}

static void test_build_nop_in(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	/* answer to a ping: ITT echoed, TTT reserved, LUN reserved */
	iscsi_build_nop_in(bhs, 0x42, ISCSI_RESERVED_TAG, 3, 20, &sn);
	assert_int_equal(bhs[0], 0x20);
	assert_int_equal(bhs[1], 0x80);
	assert_zero(bhs + 2, 2);
	assert_int_equal(r24(bhs + 5), 20);
	assert_zero(bhs + 8, 8);
	assert_int_equal(r32(bhs + 16), 0x42);
	assert_int_equal(r32(bhs + 20), 0xffffffff);
	assert_sn(bhs, true);
	assert_zero(bhs + 36, 12);
	/* target ping: ITT reserved, TTT and LUN valid */
	iscsi_build_nop_in(bhs, ISCSI_RESERVED_TAG, 0x99, 3, 0, &sn);
	assert_int_equal(bhs[9], 3);
	assert_int_equal(r32(bhs + 16), 0xffffffff);
	assert_int_equal(r32(bhs + 20), 0x99);
}

static void test_build_login_rsp(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	const uint8_t isid[6] = { 1, 2, 3, 4, 5, 6 };
	iscsi_build_login_rsp(bhs, true, false, 1, 3, 0x00, 0x00, isid, 0x0102, 0x77, 0, 0, 100,
			      &sn);
	assert_int_equal(bhs[0], 0x23);
	assert_int_equal(bhs[1], 0x80 | (1 << 2) | 3);
	assert_int_equal(bhs[2], 0);
	assert_int_equal(bhs[3], 0);
	assert_int_equal(r24(bhs + 5), 100);
	assert_memory_equal(bhs + 8, isid, 6);
	assert_int_equal(r16(bhs + 14), 0x0102);
	assert_int_equal(r32(bhs + 16), 0x77);
	assert_zero(bhs + 20, 4);
	assert_sn(bhs, true);
	assert_int_equal(bhs[36], 0);
	assert_int_equal(bhs[37], 0);
	assert_zero(bhs + 38, 10);
	/* failure status; NSG is reserved without T */
	iscsi_build_login_rsp(bhs, false, false, 0, 3, 0, 0, isid, 0, 0x77, 0x02, 0x01, 0, &sn);
	assert_int_equal(bhs[1], 0x00);
	assert_int_equal(bhs[36], 0x02);
	assert_int_equal(bhs[37], 0x01);
	/* C wins over T: T=1 with C=1 is never sent */
	iscsi_build_login_rsp(bhs, true, true, 0, 1, 0, 0, isid, 0, 0x77, 0, 0, 8192, &sn);
	assert_int_equal(bhs[1], 0x40);
}

static void test_build_text_rsp(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_text_rsp(bhs, true, false, 0x31, 0x55, 64, &sn);
	assert_int_equal(bhs[0], 0x24);
	assert_int_equal(bhs[1], 0x80);
	assert_int_equal(r24(bhs + 5), 64);
	assert_zero(bhs + 8, 8);
	assert_int_equal(r32(bhs + 16), 0x31);
	/* a final response carries the reserved TTT */
	assert_int_equal(r32(bhs + 20), 0xffffffff);
	assert_sn(bhs, true);
	assert_zero(bhs + 36, 12);
	iscsi_build_text_rsp(bhs, false, true, 0x31, 0x55, 8192, &sn);
	assert_int_equal(bhs[1], 0x40);
	assert_int_equal(r32(bhs + 20), 0x55);
	iscsi_build_text_rsp(bhs, true, true, 0x31, 0x55, 8192, &sn);
	assert_int_equal(bhs[1], 0x40);
}

static void test_build_logout_rsp(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_logout_rsp(bhs, 0x00, 0x61, 2, 20, &sn);
	assert_int_equal(bhs[0], 0x26);
	assert_int_equal(bhs[1], 0x80);
	assert_int_equal(bhs[2], 0x00);
	assert_zero(bhs + 3, 13);
	assert_int_equal(r32(bhs + 16), 0x61);
	assert_zero(bhs + 20, 4);
	assert_sn(bhs, true);
	assert_zero(bhs + 36, 4);
	assert_int_equal(r16(bhs + 40), 2);
	assert_int_equal(r16(bhs + 42), 20);
	assert_zero(bhs + 44, 4);
}

static void test_build_tmf_rsp(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_tmf_rsp(bhs, 0x05, 0x71, &sn);
	assert_int_equal(bhs[0], 0x22);
	assert_int_equal(bhs[1], 0x80);
	assert_int_equal(bhs[2], 0x05);
	assert_zero(bhs + 3, 13);
	assert_int_equal(r32(bhs + 16), 0x71);
	assert_zero(bhs + 20, 4);
	assert_sn(bhs, true);
	assert_zero(bhs + 36, 12);
}

static void test_build_reject(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_reject(bhs, ISCSI_REJECT_PROTOCOL_ERROR, &sn, 0);
	assert_int_equal(bhs[0], 0x3f);
	assert_int_equal(bhs[1], 0x80);
	assert_int_equal(bhs[2], 0x04);
	assert_int_equal(bhs[4], 0);
	assert_int_equal(r24(bhs + 5), 48);
	assert_zero(bhs + 8, 8);
	assert_int_equal(r32(bhs + 16), 0xffffffff);
	assert_sn(bhs, true);
	assert_zero(bhs + 36, 12);
	iscsi_build_reject(bhs, ISCSI_REJECT_DATA_DIGEST_ERROR, &sn, 9);
	assert_int_equal(r32(bhs + 36), 9);
}

static void test_build_async(void **state)
{
	uint8_t bhs[48];
	memset(bhs, 0xee, sizeof(bhs));
	iscsi_build_async(bhs, 1, 0x0a0b, 0x0c0d, 0x0e0f, 0, &sn);
	assert_int_equal(bhs[0], 0x32);
	assert_int_equal(bhs[1], 0x80);
	assert_zero(bhs + 2, 6);
	assert_zero(bhs + 8, 8);
	assert_int_equal(r32(bhs + 16), 0xffffffff);
	assert_sn(bhs, true);
	assert_int_equal(bhs[36], 1);
	assert_int_equal(bhs[37], 0);
	assert_int_equal(r16(bhs + 38), 0x0a0b);
	assert_int_equal(r16(bhs + 40), 0x0c0d);
	assert_int_equal(r16(bhs + 42), 0x0e0f);
	assert_zero(bhs + 44, 4);
}

static void test_built_pdus_are_not_initiator_pdus(void **state)
{
	/* A target PDU echoed back must never parse as a request. */
	uint8_t bhs[48];
	struct iscsi_hdr h;
	iscsi_build_r2t(bhs, 1, 0, 2, 0, 0, 512, &sn);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_OPCODE);
	iscsi_build_scsi_rsp(bhs, 1, 0, 0, false, false, 0, 0, &sn, 0);
	assert_int_equal(iscsi_hdr_parse(bhs, MAX_DSL, &h), ISCSI_PARSE_BAD_OPCODE);
}

static void test_pad(void **state)
{
	assert_int_equal(iscsi_pad(0), 0);
	assert_int_equal(iscsi_pad(1), 3);
	assert_int_equal(iscsi_pad(2), 2);
	assert_int_equal(iscsi_pad(3), 1);
	assert_int_equal(iscsi_pad(4), 0);
	assert_int_equal(iscsi_pad(0xffffffffu), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_scsi_cmd),
		cmocka_unit_test(test_parse_scsi_cmd_write_with_immediate_data),
		cmocka_unit_test(test_parse_nop_out),
		cmocka_unit_test(test_parse_tmf),
		cmocka_unit_test(test_parse_login),
		cmocka_unit_test(test_parse_text),
		cmocka_unit_test(test_parse_data_out),
		cmocka_unit_test(test_parse_logout),
		cmocka_unit_test(test_parse_snack),
		cmocka_unit_test(test_parse_rejects_target_and_reserved_opcodes),
		cmocka_unit_test(test_parse_dsl_too_large),
		cmocka_unit_test(test_parse_bad_fields),
		cmocka_unit_test(test_lun_encode_formats),
		cmocka_unit_test(test_lun_round_trip),
		cmocka_unit_test(test_lun_decode_unsupported),
		cmocka_unit_test(test_ahs_without_extended_cdb),
		cmocka_unit_test(test_ahs_extended_cdb_32),
		cmocka_unit_test(test_ahs_extended_cdb_padded),
		cmocka_unit_test(test_ahs_malformed),
		cmocka_unit_test(test_serial_arithmetic),
		cmocka_unit_test(test_build_scsi_rsp),
		cmocka_unit_test(test_build_data_in),
		cmocka_unit_test(test_build_r2t),
		cmocka_unit_test(test_build_nop_in),
		cmocka_unit_test(test_build_login_rsp),
		cmocka_unit_test(test_build_text_rsp),
		cmocka_unit_test(test_build_logout_rsp),
		cmocka_unit_test(test_build_tmf_rsp),
		cmocka_unit_test(test_build_reject),
		cmocka_unit_test(test_build_async),
		cmocka_unit_test(test_built_pdus_are_not_initiator_pdus),
		cmocka_unit_test(test_pad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
