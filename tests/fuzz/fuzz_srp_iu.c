/* libFuzzer target: SRP IU parsing (login, SRP_CMD descriptors, task management, simple IUs), login negotiation, response building and credits on any bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "transports/srp/iu.h"

/* The properties checked here are ones every input must keep; a violation is a bug. */
#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			__builtin_trap();                                                      \
	} while (0)

static void fuzz_login(const uint8_t *iu, size_t len, uint8_t knobs)
{
	struct srp_login_req req;
	int rc = (knobs & 1) ? srp_login_req_parse(iu, len, &req)
			     : srp_login_req_parse_rdma(iu, len, &req);
	if (rc != 0)
		return;
	struct srp_channel_limits lim = {
		.max_it_iu_len = (knobs & 2) ? 65536 : 8260,
		.max_ti_iu_len = 256,
		.req_lim = 128,
		.buf_fmt = (knobs & 4) ? SRP_BUF_FORMAT_DIRECT
				       : SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT,
		.imm_data = knobs & 8,
	};
	struct srp_login_result res;
	srp_login_negotiate(&req, &lim, &res);
	if (!res.accept) {
		CHECK(res.reject_reason >= SRP_REJ_UNABLE_ESTABLISH_CHANNEL &&
		      res.reject_reason <= SRP_REJ_CHANNEL_LIMIT_REACHED);
		uint8_t rej[SRP_LOGIN_REJ_LEN];
		CHECK(srp_login_rej_build(rej, res.reject_reason, req.tag, lim.buf_fmt) ==
		      SRP_LOGIN_REJ_LEN);
		CHECK(rej[0] == SRP_LOGIN_REJ && memcmp(rej + 8, &req.tag, 8) == 0);
		return;
	}
	CHECK(res.it_iu_len >= 64 && res.it_iu_len <= lim.max_it_iu_len);
	if (res.imm_data) {
		CHECK(lim.imm_data && (req.req_flags & SRP_REQ_IMMED_REQUESTED));
		CHECK(res.imm_data_offset >= 52 && res.imm_data_offset < res.it_iu_len);
	}
	uint8_t rsp[SRP_LOGIN_RSP_LEN];
	CHECK(srp_login_rsp_build(rsp, &res.rsp) == SRP_LOGIN_RSP_LEN);
	CHECK(rsp[0] == SRP_LOGIN_RSP && memcmp(rsp + 8, &req.tag, 8) == 0);
}

static void fuzz_cmd(const uint8_t *iu, size_t len, uint16_t imm_offset)
{
	struct srp_cmd c;
	enum srp_cmd_error err = srp_cmd_parse(iu, len, imm_offset, &c);
	CHECK(err >= SRP_CMD_OK && err <= SRP_CMD_BAD_DESCRIPTOR);
	CHECK(srp_cmd_error_name(err)[0] != '?');
	if (err != SRP_CMD_OK)
		return;
	/* Everything the parser points at lies inside the IU. */
	CHECK(c.cdb >= iu && c.cdb + c.cdb_len <= iu + len);
	CHECK(c.cdb_len >= 16 && (c.cdb_len - 16) % 4 == 0);
	switch (c.fmt) {
	case SRP_FMT_NONE:
		CHECK(c.dir == SRP_DIR_NONE && c.data_len == 0);
		break;
	case SRP_FMT_DIRECT:
		CHECK(c.dir != SRP_DIR_NONE && c.data_len == c.direct.len);
		break;
	case SRP_FMT_INDIRECT: {
		CHECK(c.desc_count <= c.table_count && c.table_count <= SRP_MAX_INDIRECT_DESCS);
		CHECK(c.table.len == c.table_count * SRP_DESC_LEN);
		CHECK(c.partial_table == (c.desc_count < c.table_count));
		CHECK(c.descs >= iu && c.descs + (size_t)c.desc_count * SRP_DESC_LEN <= iu + len);
		uint64_t total = srp_descs_total(c.descs, c.desc_count);
		CHECK(total <= (uint64_t)c.desc_count * UINT32_MAX);
		break;
	}
	case SRP_FMT_IMMEDIATE:
		CHECK(imm_offset && c.dir == SRP_DIR_OUT && c.imm_offset == imm_offset);
		CHECK((uint64_t)c.imm_offset + c.data_len <= len);
		break;
	}
	/* A response to it fits whatever receive size the initiator announced. */
	uint8_t out[SRP_RSP_MIN_LEN + 96];
	struct srp_rsp rsp = { .tag = c.tag, .status = 2, .sense = iu, .sense_len = (uint32_t)len };
	srp_rsp_set_residual(&rsp, c.dir, len & 1, !(len & 1), c.data_len);
	size_t cap = SRP_RSP_MIN_LEN + (len % 97);
	size_t n = srp_rsp_build(out, cap, &rsp);
	CHECK(n >= SRP_RSP_MIN_LEN && n <= cap);
	CHECK(memcmp(out + 8, &c.tag, 8) == 0);
}

static void fuzz_other(const uint8_t *iu, size_t len)
{
	struct srp_tsk_mgmt tm;
	if (srp_tsk_mgmt_parse(iu, len, &tm) == 0) {
		CHECK(len >= SRP_TSK_MGMT_LEN && iu[0] == SRP_TSK_MGMT);
		uint8_t out[64];
		size_t n = srp_tmf_rsp_build(out, sizeof(out), tm.tag, 1, SRP_TMF_RSP_COMPLETE);
		CHECK(n == SRP_RSP_MIN_LEN + 4 && out[39] == SRP_TMF_RSP_COMPLETE);
	}
	uint64_t tag;
	static const uint8_t types[] = { SRP_I_LOGOUT, SRP_CRED_RSP, SRP_AER_RSP };
	for (size_t i = 0; i < sizeof(types); i++)
		if (srp_simple_iu_parse(iu, len, types[i], &tag) == 0)
			CHECK(len >= 16 && iu[0] == types[i]);
	if (len >= 8) {
		uint64_t lun = srp_lun_decode(iu);
		CHECK(lun == SRP_LUN_INVALID || lun < 16384);
	}
}

/* Drives the credit accounting with the input as a script; the invariant always holds. */
static void fuzz_credits(const uint8_t *data, size_t len)
{
	struct srp_credits c;
	srp_credits_init(&c, len ? data[0] : 0);
	for (size_t i = 1; i < len; i++) {
		switch (data[i] & 3) {
		case 0:
		case 1:
			srp_credits_consume(&c);
			break;
		case 2:
			srp_credits_release(&c, data[i] >> 2);
			break;
		default:
			srp_credits_take(&c);
			break;
		}
		CHECK(c.initiator + c.in_use + c.pending == c.limit);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t selector = data[0], knobs = data[1];
	const uint8_t *iu = data + 2;
	size_t len = size - 2;
	switch (selector & 3) {
	case 0:
		fuzz_login(iu, len, knobs);
		break;
	case 1: {
		/* Immediate data off, Linux's offset, or one the input chooses. */
		uint16_t imm = (knobs & 3) == 0 ? 0 : (knobs & 3) == 1 ? 68 : (uint16_t)(knobs * 3);
		fuzz_cmd(iu, len, imm);
		break;
	}
	case 2:
		fuzz_other(iu, len);
		break;
	default:
		fuzz_credits(iu, len);
		break;
	}
	return 0;
}
