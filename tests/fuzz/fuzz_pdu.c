/* libFuzzer target: BHS parsing, AHS walking, text codec and login negotiation on any bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "transports/iscsi/params.h"
#include "transports/iscsi/pdu.h"

/* The properties checked here are ones every input must keep; a violation is a bug. */
#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			__builtin_trap();                                                      \
	} while (0)

static int ignore_pair(void *arg, const char *key, const char *value)
{
	size_t *pairs = arg;
	CHECK(key[0] != '\0' && strlen(key) <= ISCSI_KEY_MAX && strlen(value) <= ISCSI_VALUE_MAX);
	(*pairs)++;
	return 0;
}

static void fuzz_header(const uint8_t bhs[ISCSI_BHS_LEN], const uint8_t *rest, size_t rest_len)
{
	struct iscsi_hdr hdr;
	uint32_t max_dsl = (uint32_t)bhs[47] << 12; /* varies the bound with the input */
	enum iscsi_parse_error err = iscsi_hdr_parse(bhs, max_dsl, &hdr);
	CHECK(err == ISCSI_PARSE_OK || err == ISCSI_PARSE_BAD_OPCODE || err == ISCSI_PARSE_BAD_FIELD ||
	      err == ISCSI_PARSE_DSL_TOO_LARGE);
	CHECK(hdr.ahs_len % 4 == 0 && hdr.ahs_len <= 255 * 4);
	CHECK(hdr.data_len <= ISCSI_MAX_DSL_CEILING);
	if (err == ISCSI_PARSE_OK)
		CHECK(hdr.data_len <= max_dsl);

	/* LUN coding: whatever decodes must re-encode to the same number. */
	uint64_t lun = iscsi_lun_decode(hdr.lun_raw);
	uint8_t again[8];
	iscsi_lun_encode(lun, again);
	CHECK(iscsi_lun_decode(again) == lun);

	uint32_t ahs_len = hdr.ahs_len;
	if (ahs_len > rest_len)
		ahs_len = (uint32_t)(rest_len & ~(size_t)3);
	uint8_t cdb[300];
	size_t caps[] = { sizeof(cdb), 16, 32 };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int len = iscsi_ahs_extended_cdb(rest, ahs_len, hdr.cdb, cdb, caps[i]);
		CHECK(len == -1 || (len >= 16 && (size_t)len <= caps[i]));
		if (len >= 16)
			CHECK(memcmp(cdb, hdr.cdb, 16) == 0);
	}
}

static uint32_t take32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Builders take any field values; what they emit must never read as an initiator PDU. */
static void fuzz_builders(const uint8_t in[ISCSI_BHS_LEN])
{
	struct iscsi_sn_fields sn = { take32(in + 24), take32(in + 28), take32(in + 32) };
	uint32_t a = take32(in + 16), b = take32(in + 20), c = take32(in + 36);
	uint32_t d = take32(in + 40), e = take32(in + 44);
	uint64_t lun = (uint64_t)take32(in + 8) << 32 | take32(in + 12);
	uint8_t f = in[1];
	uint8_t out[ISCSI_BHS_LEN];
	struct iscsi_hdr hdr;

#define EMITTED(opcode)                                                                        \
	do {                                                                                   \
		CHECK(out[0] == (opcode));                                                     \
		CHECK(iscsi_hdr_parse(out, ISCSI_MAX_DSL_CEILING, &hdr) == ISCSI_PARSE_BAD_OPCODE); \
	} while (0)
	iscsi_build_scsi_rsp(out, a, in[2], in[3], f & 1, f & 2, b, c, &sn, d);
	EMITTED(ISCSI_OP_SCSI_RSP);
	iscsi_build_data_in(out, a, lun, b, f & 1, f & 2, in[3], f & 4, f & 8, c, d, e, b, &sn);
	EMITTED(ISCSI_OP_DATA_IN);
	CHECK(!(out[1] & 0x01) || (out[1] & 0x80)); /* S only with F */
	iscsi_build_r2t(out, a, lun, b, c, d, e, &sn);
	EMITTED(ISCSI_OP_R2T);
	iscsi_build_nop_in(out, a, b, lun, c, &sn);
	EMITTED(ISCSI_OP_NOP_IN);
	iscsi_build_login_rsp(out, f & 1, f & 2, in[2], in[3], in[4], in[5], in + 8,
			      (uint16_t)a, b, in[6], in[7], c, (f & 4) ? NULL : &sn);
	EMITTED(ISCSI_OP_LOGIN_RSP);
	CHECK((out[1] & 0xc0) != 0xc0); /* never T and C together */
	iscsi_build_text_rsp(out, f & 1, f & 2, a, b, c, &sn);
	EMITTED(ISCSI_OP_TEXT_RSP);
	CHECK((out[1] & 0xc0) != 0xc0);
	iscsi_build_logout_rsp(out, in[2], a, (uint16_t)b, (uint16_t)c, &sn);
	EMITTED(ISCSI_OP_LOGOUT_RSP);
	iscsi_build_tmf_rsp(out, in[2], a, &sn);
	EMITTED(ISCSI_OP_TMF_RSP);
	iscsi_build_reject(out, in[2], &sn, a);
	EMITTED(ISCSI_OP_REJECT);
	iscsi_build_async(out, in[2], (uint16_t)a, (uint16_t)b, (uint16_t)c, d, &sn);
	EMITTED(ISCSI_OP_ASYNC_MSG);
#undef EMITTED
}

/* Every response must itself be well-formed text that a peer can parse. */
static void check_response(const struct iscsi_text_buf *resp)
{
	size_t pairs = 0;
	CHECK(resp->len <= resp->cap && resp->len <= ISCSI_TEXT_BUF_MAX);
	if (resp->len > 0)
		CHECK(resp->data[resp->len - 1] == '\0');
	CHECK(iscsi_text_foreach(resp->data, resp->len, ignore_pair, &pairs) == 0);
}

static void check_params(const struct iscsi_params *p)
{
	CHECK(p->max_xmit_dsl >= 512 && p->max_xmit_dsl <= 0xffffff);
	CHECK(p->max_recv_dsl >= 512 && p->max_recv_dsl <= 0xffffff);
	CHECK(p->max_burst_length >= 512 && p->max_burst_length <= 0xffffff);
	CHECK(p->first_burst_length >= 512 && p->first_burst_length <= p->max_burst_length);
	CHECK(p->max_connections >= 1 && p->max_connections <= 65535);
	CHECK(p->max_outstanding_r2t >= 1 && p->max_outstanding_r2t <= 65535);
	CHECK(p->default_time2wait <= 3600 && p->default_time2retain <= 3600);
	CHECK(p->error_recovery_level <= 2);
	CHECK(p->data_pdu_in_order && p->data_sequence_in_order);
	CHECK(p->max_outstanding_unexpected_pdus != 1);
}

static void fuzz_text(uint8_t selector, const uint8_t *text, size_t len)
{
	size_t pairs = 0;
	iscsi_text_foreach(text, len, ignore_pair, &pairs);

	struct iscsi_login_keys keys;
	memset(&keys, 0, sizeof(keys));
	if (iscsi_login_keys_parse(text, len, &keys) == 0) {
		CHECK(strlen(keys.initiator_name) <= ISCSI_NAME_MAX);
		CHECK(strlen(keys.target_name) <= ISCSI_NAME_MAX);
		CHECK(keys.have_initiator_name == (keys.initiator_name[0] != '\0'));
	}

	struct iscsi_target_limits limits;
	iscsi_target_limits_default(&limits);
	limits.rdma = selector & 1;
	limits.allow_header_digest = selector & 2;
	limits.allow_data_digest = selector & 4;
	limits.want_initial_r2t = selector & 8;
	limits.allow_immediate_data = selector & 16;
	limits.error_recovery_level = (selector >> 5) & 3;
	struct iscsi_negotiation neg;
	iscsi_negotiation_init(&neg, &limits,
			       (selector & 64) ? ISCSI_SESSION_DISCOVERY : ISCSI_SESSION_NORMAL);
	neg.auth_required = selector & 128;

	struct iscsi_text_buf resp = { 0 };
	bool auth_failure = false;
	char err[96];
	/* Twice, as a login of two PDUs would: the second pass meets every key again. */
	for (int round = 0; round < 2; round++) {
		int rc = iscsi_negotiate(&neg, text, len, round == 0, &resp, &auth_failure, err,
					 sizeof(err));
		CHECK(rc == 0 || rc == -1);
		if (rc == -1)
			CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		CHECK(!auth_failure || rc == -1);
		check_response(&resp);
		check_params(&neg.params);
		CHECK(neg.params.error_recovery_level <= limits.error_recovery_level);
		CHECK(!neg.params.rdma_extensions || limits.rdma);
		CHECK(!neg.params.header_digest || limits.allow_header_digest);
		CHECK(!neg.params.data_digest || limits.allow_data_digest);
	}
	iscsi_negotiation_finish(&neg, &resp);
	check_response(&resp);
	check_params(&neg.params);
	CHECK(neg.declared_max_recv_dsl || resp.overflow);
	iscsi_text_buf_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t bhs[ISCSI_BHS_LEN] = { 0 };
	size_t head = size < ISCSI_BHS_LEN ? size : ISCSI_BHS_LEN;
	memcpy(bhs, data, head);
	const uint8_t *rest = data + head;
	size_t rest_len = size - head;

	fuzz_header(bhs, rest, rest_len);
	fuzz_builders(bhs);
	/* Byte 2 of the BHS (reserved or version in most PDUs) picks the limits. */
	fuzz_text(bhs[2], rest, rest_len);
	return 0;
}
