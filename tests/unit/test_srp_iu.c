/* Unit tests of SRP IU parsing and building, descriptor decoding, login negotiation and request-limit credits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transports/srp/iu.h"

/* Big-endian helpers written independently of iu.c, so that the tests pin the offsets. */
static void w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void w32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static void w64(uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)(v >> 32));
	w32(p + 4, (uint32_t)v);
}
static uint32_t r32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t r16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static const uint8_t TAG_BYTES[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };

static uint64_t tag_value(void)
{
	uint64_t t;
	memcpy(&t, TAG_BYTES, 8);
	return t;
}

/* A descriptor at p: va, key, len. */
static void put_desc(uint8_t *p, uint64_t va, uint32_t key, uint32_t len)
{
	w64(p, va);
	w32(p + 8, key);
	w32(p + 12, len);
}

/* ---- login ---- */

static void fill_login_rdma(uint8_t pd[56])
{
	memset(pd, 0, 56);
	memcpy(pd, TAG_BYTES, 8);
	w16(pd + 8, SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT);
	pd[10] = SRP_REQ_MULTICHAN_MULTI | SRP_REQ_IMMED_REQUESTED;
	pd[11] = SRP_LOGIN_REQ;
	w32(pd + 12, 8260);
	for (int i = 0; i < 16; i++) {
		pd[16 + i] = (uint8_t)(0xa0 + i);
		pd[32 + i] = (uint8_t)(0xb0 + i);
	}
	w16(pd + 48, 68);
}

static void test_login_req_rdma(void **state)
{
	uint8_t pd[56];
	fill_login_rdma(pd);
	struct srp_login_req req;
	assert_int_equal(srp_login_req_parse_rdma(pd, sizeof(pd), &req), 0);
	assert_true(req.tag == tag_value());
	assert_int_equal(req.req_it_iu_len, 8260);
	assert_int_equal(req.req_buf_fmt, SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT);
	assert_int_equal(req.req_flags, SRP_REQ_MULTICHAN_MULTI | SRP_REQ_IMMED_REQUESTED);
	assert_int_equal(req.imm_data_offset, 68);
	assert_int_equal(req.initiator_port_id[0], 0xa0);
	assert_int_equal(req.initiator_port_id[15], 0xaf);
	assert_int_equal(req.target_port_id[0], 0xb0);
	assert_int_equal(req.target_port_id[15], 0xbf);

	assert_int_equal(srp_login_req_parse_rdma(pd, 55, &req), -1);
	pd[11] = SRP_CMD;
	assert_int_equal(srp_login_req_parse_rdma(pd, sizeof(pd), &req), -1);
	assert_int_equal(srp_login_req_parse_rdma(NULL, 0, &req), -1);
}

static void test_login_req_iu(void **state)
{
	uint8_t iu[64] = { 0 };
	iu[0] = SRP_LOGIN_REQ;
	memcpy(iu + 8, TAG_BYTES, 8);
	w32(iu + 16, 4096);
	w16(iu + 24, SRP_BUF_FORMAT_INDIRECT);
	iu[26] = SRP_REQ_MULTICHAN_SINGLE;
	w16(iu + 28, 80);
	iu[32] = 0x01;
	iu[63] = 0x02;
	struct srp_login_req req;
	assert_int_equal(srp_login_req_parse(iu, sizeof(iu), &req), 0);
	assert_true(req.tag == tag_value());
	assert_int_equal(req.req_it_iu_len, 4096);
	assert_int_equal(req.req_buf_fmt, SRP_BUF_FORMAT_INDIRECT);
	assert_int_equal(req.req_flags, 0);
	assert_int_equal(req.imm_data_offset, 80);
	assert_int_equal(req.initiator_port_id[0], 0x01);
	assert_int_equal(req.target_port_id[15], 0x02);
	assert_int_equal(srp_login_req_parse(iu, 63, &req), -1);
	iu[0] = SRP_CMD;
	assert_int_equal(srp_login_req_parse(iu, sizeof(iu), &req), -1);
}

static void test_login_rsp_and_rej(void **state)
{
	uint8_t out[SRP_LOGIN_RSP_LEN];
	memset(out, 0xee, sizeof(out));
	struct srp_login_rsp rsp = { .req_lim_delta = 128, .tag = tag_value(), .max_it_iu_len = 8260,
				     .max_ti_iu_len = 256,
				     .buf_fmt = SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT,
				     .rsp_flags = SRP_RSP_MULTICHAN_MAINTAINED | SRP_RSP_IMMED_SUPPORTED };
	assert_int_equal(srp_login_rsp_build(out, &rsp), 52);
	assert_int_equal(out[0], SRP_LOGIN_RSP);
	assert_int_equal(out[1] | out[2] | out[3], 0);
	assert_int_equal(r32(out + 4), 128);
	assert_memory_equal(out + 8, TAG_BYTES, 8);
	assert_int_equal(r32(out + 16), 8260);
	assert_int_equal(r32(out + 20), 256);
	assert_int_equal(r16(out + 24), 6);
	assert_int_equal(out[26], 0x82);
	for (int i = 27; i < 52; i++)
		assert_int_equal(out[i], 0);

	uint8_t rej[SRP_LOGIN_REJ_LEN];
	memset(rej, 0xee, sizeof(rej));
	assert_int_equal(srp_login_rej_build(rej, SRP_REJ_IT_IU_LENGTH_TOO_LARGE, tag_value(),
					     SRP_BUF_FORMAT_DIRECT),
			 32);
	assert_int_equal(rej[0], SRP_LOGIN_REJ);
	assert_int_equal(r32(rej + 4), 0x00010002);
	assert_memory_equal(rej + 8, TAG_BYTES, 8);
	assert_int_equal(r16(rej + 24), SRP_BUF_FORMAT_DIRECT);
	for (int i = 16; i < 24; i++)
		assert_int_equal(rej[i], 0);
}

static const struct srp_channel_limits LIMITS = {
	.max_it_iu_len = 65536,
	.max_ti_iu_len = 256,
	.req_lim = 128,
	.buf_fmt = SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT,
	.imm_data = true,
};

static struct srp_login_req login_req(uint32_t it_len, uint16_t fmt, uint8_t flags, uint16_t imm)
{
	struct srp_login_req r = { .tag = tag_value(), .req_it_iu_len = it_len, .req_buf_fmt = fmt,
				   .req_flags = flags, .imm_data_offset = imm };
	return r;
}

static void test_negotiate(void **state)
{
	struct srp_login_result res;
	struct srp_login_req req = login_req(8260, 6, SRP_REQ_IMMED_REQUESTED, 68);
	srp_login_negotiate(&req, &LIMITS, &res);
	assert_true(res.accept);
	assert_int_equal(res.it_iu_len, 8260);
	assert_true(res.imm_data);
	assert_int_equal(res.imm_data_offset, 68);
	assert_int_equal(res.rsp.req_lim_delta, 128);
	assert_int_equal(res.rsp.max_it_iu_len, 8260);
	assert_int_equal(res.rsp.max_ti_iu_len, 256);
	assert_true(res.rsp.tag == tag_value());
	assert_int_equal(res.rsp.rsp_flags, SRP_RSP_IMMED_SUPPORTED);

	/* Immediate data only when asked for, allowed, and with room for its descriptor. */
	req = login_req(8260, 6, 0, 68);
	srp_login_negotiate(&req, &LIMITS, &res);
	assert_true(res.accept);
	assert_false(res.imm_data);
	assert_int_equal(res.rsp.rsp_flags, 0);
	req = login_req(8260, 6, SRP_REQ_IMMED_REQUESTED, 51);
	srp_login_negotiate(&req, &LIMITS, &res);
	assert_true(res.accept);
	assert_false(res.imm_data);
	req = login_req(100, 6, SRP_REQ_IMMED_REQUESTED, 100);
	srp_login_negotiate(&req, &LIMITS, &res);
	assert_false(res.imm_data);
	struct srp_channel_limits no_imm = LIMITS;
	no_imm.imm_data = false;
	req = login_req(8260, 6, SRP_REQ_IMMED_REQUESTED, 68);
	srp_login_negotiate(&req, &no_imm, &res);
	assert_true(res.accept);
	assert_false(res.imm_data);

	req = login_req(65537, 6, 0, 0);
	srp_login_negotiate(&req, &LIMITS, &res);
	assert_false(res.accept);
	assert_int_equal(res.reject_reason, SRP_REJ_IT_IU_LENGTH_TOO_LARGE);
	req = login_req(63, 6, 0, 0);
	srp_login_negotiate(&req, &LIMITS, &res);
	assert_false(res.accept);
	assert_int_equal(res.reject_reason, SRP_REJ_UNABLE_ESTABLISH_CHANNEL);
	struct srp_channel_limits direct_only = LIMITS;
	direct_only.buf_fmt = SRP_BUF_FORMAT_DIRECT;
	req = login_req(4096, SRP_BUF_FORMAT_INDIRECT, 0, 0);
	srp_login_negotiate(&req, &direct_only, &res);
	assert_false(res.accept);
	assert_int_equal(res.reject_reason, SRP_REJ_UNSUPPORTED_DESCRIPTOR_FMT);
	/* Reserved format bits are no reason to refuse. */
	req = login_req(4096, SRP_BUF_FORMAT_DIRECT | 0x8001, 0, 0);
	srp_login_negotiate(&req, &direct_only, &res);
	assert_true(res.accept);
	assert_int_equal(res.rsp.buf_fmt, SRP_BUF_FORMAT_DIRECT);
}

/* ---- SRP_CMD ---- */

/* An SRP_CMD header: READ(10) by default, no data, LUN 5 (peripheral). */
static void cmd_header(uint8_t *iu, size_t len, uint8_t buf_fmt, uint8_t out_cnt, uint8_t in_cnt,
		       uint8_t add_cdb)
{
	memset(iu, 0, len);
	iu[0] = SRP_CMD;
	iu[1] = 0x04;
	iu[5] = buf_fmt;
	iu[6] = out_cnt;
	iu[7] = in_cnt;
	memcpy(iu + 8, TAG_BYTES, 8);
	iu[21] = 5;
	iu[29] = SRP_ATTR_ORDERED;
	iu[31] = add_cdb;
	iu[32] = 0x28;
	for (int i = 1; i < 16 + add_cdb; i++)
		iu[32 + i] = (uint8_t)i;
}

static void test_cmd_no_data(void **state)
{
	uint8_t iu[48];
	cmd_header(iu, sizeof(iu), 0, 0, 0, 0);
	iu[32] = 0x00; /* TEST UNIT READY */
	struct srp_cmd c;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_true(c.tag == tag_value());
	assert_int_equal(c.lun, 5);
	assert_int_equal(c.sol_not, 0x04);
	assert_int_equal(c.task_attr, SRP_ATTR_ORDERED);
	assert_int_equal(c.cdb_len, 16);
	assert_ptr_equal(c.cdb, iu + 32);
	assert_int_equal(c.dir, SRP_DIR_NONE);
	assert_int_equal(c.fmt, SRP_FMT_NONE);
	assert_int_equal(c.data_len, 0);

	/* The fixed part is 48 bytes; with 16 the tag can still be answered. */
	assert_int_equal(srp_cmd_parse(iu, 47, 0, &c), SRP_CMD_TOO_SHORT);
	assert_true(c.tag == tag_value());
	assert_int_equal(srp_cmd_parse(iu, 8, 0, &c), SRP_CMD_TOO_SHORT);
	assert_true(c.tag == 0);
}

static void test_cmd_direct(void **state)
{
	uint8_t iu[64];
	cmd_header(iu, sizeof(iu), SRP_FMT_DIRECT << 4, 0, 0, 0);
	put_desc(iu + 48, 0x1122334455667788ull, 0xabcdef01, 65536);
	struct srp_cmd c;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.dir, SRP_DIR_OUT);
	assert_int_equal(c.fmt, SRP_FMT_DIRECT);
	assert_true(c.direct.va == 0x1122334455667788ull);
	assert_int_equal(c.direct.key, 0xabcdef01);
	assert_int_equal(c.direct.len, 65536);
	assert_int_equal(c.data_len, 65536);

	cmd_header(iu, sizeof(iu), SRP_FMT_DIRECT, 0, 0, 0);
	put_desc(iu + 48, 0x1000, 7, 512);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.dir, SRP_DIR_IN);
	assert_int_equal(c.data_len, 512);
	/* The descriptor must be inside the IU. */
	assert_int_equal(srp_cmd_parse(iu, 63, 0, &c), SRP_CMD_BAD_DESCRIPTOR);
}

static void test_cmd_additional_cdb(void **state)
{
	uint8_t iu[48 + 16 + 16];
	cmd_header(iu, sizeof(iu), SRP_FMT_DIRECT, 0, 0, 16);
	iu[32] = 0x7f; /* a 32-byte CDB */
	put_desc(iu + 64, 0x2000, 9, 4096);
	struct srp_cmd c;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.cdb_len, 32);
	assert_int_equal(c.cdb[31], 31);
	assert_true(c.direct.va == 0x2000);
	assert_int_equal(c.direct.len, 4096);
	/* Bits 1..0 of the field are reserved, not part of the length. */
	iu[31] = 16 | 3;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.cdb_len, 32);
	/* An additional CDB running past the end of the IU. */
	iu[31] = 0xfc;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_CDB_LEN);
}

static void test_cmd_indirect_full(void **state)
{
	uint8_t iu[48 + 20 + 3 * 16];
	cmd_header(iu, sizeof(iu), SRP_FMT_INDIRECT, 0, 3, 0);
	put_desc(iu + 48, 0xfeed0000, 0x55, 3 * 16); /* table descriptor */
	w32(iu + 64, 4096 + 8192 + 512);             /* total length */
	put_desc(iu + 68, 0x10000, 1, 4096);
	put_desc(iu + 84, 0x20000, 2, 8192);
	put_desc(iu + 100, 0x30000, 3, 512);
	struct srp_cmd c;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.dir, SRP_DIR_IN);
	assert_int_equal(c.fmt, SRP_FMT_INDIRECT);
	assert_int_equal(c.data_len, 12800);
	assert_int_equal(c.table_count, 3);
	assert_int_equal(c.desc_count, 3);
	assert_false(c.partial_table);
	assert_ptr_equal(c.descs, iu + 68);
	assert_true(srp_descs_total(c.descs, c.desc_count) == 12800);
	struct srp_desc d = srp_desc_get(c.descs + 16);
	assert_true(d.va == 0x20000);
	assert_int_equal(d.key, 2);
	assert_int_equal(d.len, 8192);

	/* Descriptor counts are per direction: data-in descriptors counted as data-out are not. */
	cmd_header(iu, sizeof(iu), SRP_FMT_INDIRECT, 3, 0, 0);
	put_desc(iu + 48, 0xfeed0000, 0x55, 3 * 16);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.desc_count, 0);
	assert_true(c.partial_table);
}

static void test_cmd_indirect_partial(void **state)
{
	/* 40 descriptors in the table, 2 of them in the IU: the rest must be fetched. */
	uint8_t iu[48 + 20 + 2 * 16];
	cmd_header(iu, sizeof(iu), SRP_FMT_INDIRECT << 4, 2, 0, 0);
	put_desc(iu + 48, 0xabc000, 0x77, 40 * 16);
	w32(iu + 64, 40 * 4096);
	put_desc(iu + 68, 0x100000, 1, 4096);
	put_desc(iu + 84, 0x200000, 1, 4096);
	struct srp_cmd c;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
	assert_int_equal(c.dir, SRP_DIR_OUT);
	assert_int_equal(c.table_count, 40);
	assert_int_equal(c.desc_count, 2);
	assert_true(c.partial_table);
	assert_true(c.table.va == 0xabc000);
	assert_int_equal(c.table.key, 0x77);
	assert_int_equal(c.table.len, 640);
	assert_int_equal(c.data_len, 40 * 4096);
}

static void test_cmd_indirect_malformed(void **state)
{
	uint8_t iu[48 + 20 + 2 * 16];
	struct srp_cmd c;
	/* The table length must be whole descriptors. */
	cmd_header(iu, sizeof(iu), SRP_FMT_INDIRECT, 0, 2, 0);
	put_desc(iu + 48, 0, 0, 2 * 16 + 1);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_DESCRIPTOR);
	/* More descriptors in the IU than the table holds. */
	put_desc(iu + 48, 0, 0, 16);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_DESCRIPTOR);
	/* Descriptors counted past the end of the IU. */
	put_desc(iu + 48, 0, 0, 3 * 16);
	iu[7] = 3;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_DESCRIPTOR);
	/* No room for the indirect header. */
	assert_int_equal(srp_cmd_parse(iu, 48 + 19, 0, &c), SRP_CMD_BAD_DESCRIPTOR);
	/* A table beyond the bound the target accepts. */
	iu[7] = 0;
	put_desc(iu + 48, 0, 0, (SRP_MAX_INDIRECT_DESCS + 1) * 16);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_DESCRIPTOR);
	put_desc(iu + 48, 0, 0, SRP_MAX_INDIRECT_DESCS * 16);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_OK);
}

static void test_cmd_formats(void **state)
{
	uint8_t iu[48 + 32];
	struct srp_cmd c;
	cmd_header(iu, sizeof(iu), SRP_FMT_DIRECT << 4 | SRP_FMT_DIRECT, 0, 0, 0);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BIDIRECTIONAL);
	cmd_header(iu, sizeof(iu), 4 << 4, 0, 0, 0);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_FORMAT);
	cmd_header(iu, sizeof(iu), 0x0f, 0, 0, 0);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_FORMAT);
	/* Immediate data exists only for data-out. */
	cmd_header(iu, sizeof(iu), SRP_FMT_IMMEDIATE, 0, 0, 0);
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 68, &c), SRP_CMD_BAD_FORMAT);
	/* Not an SRP_CMD at all. */
	cmd_header(iu, sizeof(iu), 0, 0, 0, 0);
	iu[0] = SRP_TSK_MGMT;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_TOO_SHORT);
	assert_string_equal(srp_cmd_error_name(SRP_CMD_BIDIRECTIONAL), "bidirectional command");
}

static void test_cmd_immediate(void **state)
{
	uint8_t iu[68 + 1024];
	cmd_header(iu, sizeof(iu), SRP_FMT_IMMEDIATE << 4, 0, 0, 0);
	w32(iu + 48, 1024);
	for (int i = 0; i < 1024; i++)
		iu[68 + i] = (uint8_t)(i * 7);
	struct srp_cmd c;
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 68, &c), SRP_CMD_OK);
	assert_int_equal(c.dir, SRP_DIR_OUT);
	assert_int_equal(c.fmt, SRP_FMT_IMMEDIATE);
	assert_int_equal(c.data_len, 1024);
	assert_int_equal(c.imm_offset, 68);
	/* Not negotiated on this channel. */
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 0, &c), SRP_CMD_BAD_FORMAT);
	/* Data running past the IU. */
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu) - 1, 68, &c), SRP_CMD_BAD_DESCRIPTOR);
	/* An offset that overlaps the descriptor itself. */
	assert_int_equal(srp_cmd_parse(iu, sizeof(iu), 51, &c), SRP_CMD_BAD_DESCRIPTOR);
	/* With a 16-byte additional CDB the descriptor moves to 64 and still fits before 68. */
	uint8_t iu2[68 + 16];
	cmd_header(iu2, sizeof(iu2), SRP_FMT_IMMEDIATE << 4, 0, 0, 16);
	w32(iu2 + 64, 16);
	assert_int_equal(srp_cmd_parse(iu2, sizeof(iu2), 68, &c), SRP_CMD_OK);
	assert_int_equal(c.data_len, 16);
	assert_int_equal(c.cdb_len, 32);
}

static void test_lun_decode(void **state)
{
	uint8_t lun[8] = { 0 };
	assert_true(srp_lun_decode(lun) == 0);
	lun[1] = 200;
	assert_true(srp_lun_decode(lun) == 200);
	lun[0] = 0x40 | 0x12; /* flat space */
	lun[1] = 0x34;
	assert_true(srp_lun_decode(lun) == 0x1234);
	lun[0] = 0x01; /* peripheral, bus 1 */
	assert_true(srp_lun_decode(lun) == SRP_LUN_INVALID);
	lun[0] = 0;
	lun[2] = 1; /* a second level */
	assert_true(srp_lun_decode(lun) == SRP_LUN_INVALID);
	memset(lun, 0, 8);
	lun[0] = 0x80; /* logical unit addressing */
	assert_true(srp_lun_decode(lun) == SRP_LUN_INVALID);
}

/* ---- other initiator IUs ---- */

static void test_tsk_mgmt(void **state)
{
	uint8_t iu[48] = { 0 };
	iu[0] = SRP_TSK_MGMT;
	iu[1] = 0x02;
	memcpy(iu + 8, TAG_BYTES, 8);
	iu[21] = 3;
	iu[30] = SRP_TSK_LUN_RESET;
	for (int i = 0; i < 8; i++)
		iu[32 + i] = (uint8_t)(0x90 + i);
	struct srp_tsk_mgmt tm;
	assert_int_equal(srp_tsk_mgmt_parse(iu, sizeof(iu), &tm), 0);
	assert_true(tm.tag == tag_value());
	assert_int_equal(tm.lun, 3);
	assert_int_equal(tm.function, SRP_TSK_LUN_RESET);
	assert_int_equal(tm.sol_not, 0x02);
	uint64_t task_tag;
	memcpy(&task_tag, iu + 32, 8);
	assert_true(tm.task_tag == task_tag);
	assert_int_equal(srp_tsk_mgmt_parse(iu, 47, &tm), -1);
	iu[0] = SRP_CMD;
	assert_int_equal(srp_tsk_mgmt_parse(iu, sizeof(iu), &tm), -1);
}

static void test_simple_ius(void **state)
{
	uint8_t iu[16] = { 0 };
	memcpy(iu + 8, TAG_BYTES, 8);
	uint64_t tag = 0;
	const uint8_t types[] = { SRP_I_LOGOUT, SRP_CRED_RSP, SRP_AER_RSP };
	for (size_t i = 0; i < sizeof(types); i++) {
		iu[0] = types[i];
		tag = 0;
		assert_int_equal(srp_simple_iu_parse(iu, sizeof(iu), types[i], &tag), 0);
		assert_true(tag == tag_value());
		assert_int_equal(srp_simple_iu_parse(iu, 15, types[i], &tag), -1);
		assert_int_equal(srp_simple_iu_parse(iu, sizeof(iu), (uint8_t)(types[i] + 1), &tag),
				 -1);
		assert_int_equal(srp_iu_type(iu, sizeof(iu)), types[i]);
	}
	assert_int_equal(srp_iu_type(iu, 0), -1);
}

/* ---- target IUs ---- */

static void test_rsp_build(void **state)
{
	uint8_t sense[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24 };
	struct srp_rsp rsp = { .tag = tag_value(), .req_lim_delta = 3, .status = 0x02,
			       .sol_not = 1, .sense = sense, .sense_len = sizeof(sense) };
	srp_rsp_set_residual(&rsp, SRP_DIR_IN, false, true, 4096);
	uint8_t out[256];
	memset(out, 0xee, sizeof(out));
	size_t len = srp_rsp_build(out, sizeof(out), &rsp);
	assert_int_equal(len, 36 + 18);
	assert_int_equal(out[0], SRP_RSP);
	assert_int_equal(out[1], 1);
	assert_int_equal(r32(out + 4), 3);
	assert_memory_equal(out + 8, TAG_BYTES, 8);
	assert_int_equal(out[16] | out[17], 0);
	assert_int_equal(out[18], SRP_RSP_FLAG_DIUNDER | SRP_RSP_FLAG_SNSVALID);
	assert_int_equal(out[19], 0x02);
	assert_int_equal(r32(out + 20), 0);
	assert_int_equal(r32(out + 24), 4096);
	assert_int_equal(r32(out + 28), 18);
	assert_int_equal(r32(out + 32), 0);
	assert_memory_equal(out + 36, sense, 18);

	/* Data-out residuals, overflow. */
	srp_rsp_set_residual(&rsp, SRP_DIR_OUT, true, false, 512);
	rsp.sense_len = 0;
	rsp.status = 0;
	len = srp_rsp_build(out, sizeof(out), &rsp);
	assert_int_equal(len, 36);
	assert_int_equal(out[18], SRP_RSP_FLAG_DOOVER);
	assert_int_equal(r32(out + 20), 512);
	assert_int_equal(r32(out + 24), 0);
	srp_rsp_set_residual(&rsp, SRP_DIR_OUT, false, true, 100);
	assert_int_equal(rsp.flags, SRP_RSP_FLAG_DOUNDER);
	srp_rsp_set_residual(&rsp, SRP_DIR_IN, true, false, 100);
	assert_int_equal(rsp.flags, SRP_RSP_FLAG_DIOVER);
	assert_int_equal(rsp.data_out_residual, 0);
	srp_rsp_set_residual(&rsp, SRP_DIR_IN, false, false, 0);
	assert_int_equal(rsp.flags, 0);

	/* Sense is cut to what the initiator's receive buffers hold; no room at all: nothing. */
	rsp.sense = sense;
	rsp.sense_len = sizeof(sense);
	len = srp_rsp_build(out, 40, &rsp);
	assert_int_equal(len, 40);
	assert_int_equal(r32(out + 28), 4);
	assert_int_equal(srp_rsp_build(out, 35, &rsp), 0);
}

static void test_tmf_rsp_build(void **state)
{
	uint8_t out[64];
	size_t len = srp_tmf_rsp_build(out, sizeof(out), tag_value(), 2, SRP_TMF_RSP_NOT_SUPPORTED);
	assert_int_equal(len, 40);
	assert_int_equal(out[0], SRP_RSP);
	assert_int_equal(r32(out + 4), 2);
	assert_memory_equal(out + 8, TAG_BYTES, 8);
	assert_int_equal(out[18], SRP_RSP_FLAG_RSPVALID);
	assert_int_equal(out[19], 0);
	assert_int_equal(r32(out + 28), 0);
	assert_int_equal(r32(out + 32), 4);
	assert_int_equal(out[36] | out[37] | out[38], 0);
	assert_int_equal(out[39], 0x04);
}

static void test_target_requests(void **state)
{
	uint8_t out[64];
	memset(out, 0xee, sizeof(out));
	assert_int_equal(srp_t_logout_build(out, tag_value(), SRP_LOGOUT_INVALID_IU_TYPE), 16);
	assert_int_equal(out[0], SRP_T_LOGOUT);
	assert_int_equal(out[1] | out[2] | out[3], 0);
	assert_int_equal(r32(out + 4), 2);
	assert_memory_equal(out + 8, TAG_BYTES, 8);

	assert_int_equal(srp_cred_req_build(out, tag_value(), 17), 16);
	assert_int_equal(out[0], SRP_CRED_REQ);
	assert_int_equal(r32(out + 4), 17);
	assert_memory_equal(out + 8, TAG_BYTES, 8);

	uint8_t lun[8] = { 0, 4 };
	uint8_t sense[8] = { 0x72, 0x06, 0x29, 0x00 };
	size_t len = srp_aer_req_build(out, sizeof(out), tag_value(), 1, lun, sense, sizeof(sense));
	assert_int_equal(len, 36 + 8);
	assert_int_equal(out[0], SRP_AER_REQ);
	assert_int_equal(r32(out + 4), 1);
	assert_memory_equal(out + 8, TAG_BYTES, 8);
	assert_memory_equal(out + 20, lun, 8);
	assert_int_equal(r32(out + 28), 8);
	assert_memory_equal(out + 36, sense, 8);
	assert_int_equal(srp_aer_req_build(out, 38, tag_value(), 1, lun, sense, sizeof(sense)), 38);
	assert_int_equal(r32(out + 28), 2);
}

/* ---- credits ---- */

static void assert_invariant(const struct srp_credits *c)
{
	assert_int_equal(c->initiator + c->in_use + c->pending, c->limit);
}

static void test_credits(void **state)
{
	struct srp_credits c;
	srp_credits_init(&c, 3);
	assert_int_equal(c.initiator, 3);
	assert_int_equal(srp_credits_take(&c), 0);
	assert_invariant(&c);
	assert_true(srp_credits_consume(&c));
	assert_true(srp_credits_consume(&c));
	assert_true(srp_credits_consume(&c));
	assert_invariant(&c);
	/* The initiator has used every credit: a fourth request is an overrun and is not
	 * counted, so it can never inflate the limit. */
	assert_false(srp_credits_consume(&c));
	assert_int_equal(c.in_use, 3);
	assert_invariant(&c);
	srp_credits_release(&c, 1);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.initiator, 0);
	assert_false(srp_credits_consume(&c)); /* freed but not yet reported */
	srp_credits_release(&c, 1);
	assert_invariant(&c);
	assert_int_equal(srp_credits_take(&c), 2);
	assert_int_equal(srp_credits_take(&c), 0);
	assert_int_equal(c.initiator, 2);
	assert_invariant(&c);
	assert_true(srp_credits_consume(&c));
	/* Releasing more than is in use is clamped. */
	srp_credits_release(&c, 10);
	assert_int_equal(c.in_use, 0);
	assert_invariant(&c);
	assert_int_equal(srp_credits_take(&c), 2);
	assert_int_equal(c.initiator, 3);
}

static void test_credits_never_exceed_limit(void **state)
{
	/* A long pseudo-random run of arrivals, completions and responses. */
	struct srp_credits c;
	srp_credits_init(&c, 16);
	uint32_t x = 12345;
	unsigned overruns = 0;
	for (int i = 0; i < 100000; i++) {
		x = x * 1103515245u + 12345u;
		switch ((x >> 16) % 3) {
		case 0:
			if (!srp_credits_consume(&c))
				overruns++;
			break;
		case 1:
			if (c.in_use)
				srp_credits_release(&c, 1 + (x >> 20) % c.in_use);
			break;
		default:
			srp_credits_take(&c);
			break;
		}
		assert_invariant(&c);
		assert_true(c.initiator <= c.limit);
	}
	assert_true(overruns > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_req_rdma),
		cmocka_unit_test(test_login_req_iu),
		cmocka_unit_test(test_login_rsp_and_rej),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_cmd_no_data),
		cmocka_unit_test(test_cmd_direct),
		cmocka_unit_test(test_cmd_additional_cdb),
		cmocka_unit_test(test_cmd_indirect_full),
		cmocka_unit_test(test_cmd_indirect_partial),
		cmocka_unit_test(test_cmd_indirect_malformed),
		cmocka_unit_test(test_cmd_formats),
		cmocka_unit_test(test_cmd_immediate),
		cmocka_unit_test(test_lun_decode),
		cmocka_unit_test(test_tsk_mgmt),
		cmocka_unit_test(test_simple_ius),
		cmocka_unit_test(test_rsp_build),
		cmocka_unit_test(test_tmf_rsp_build),
		cmocka_unit_test(test_target_requests),
		cmocka_unit_test(test_credits),
		cmocka_unit_test(test_credits_never_exceed_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
