/* SRP information unit parsing and building, login negotiation and request-limit credits: pure functions, no I/O. */
#include "transports/srp/iu.h"

#include <string.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

uint64_t srp_tag_get(const uint8_t *p)
{
	uint64_t tag;
	memcpy(&tag, p, sizeof(tag));
	return tag;
}

void srp_tag_put(uint8_t *p, uint64_t tag) { memcpy(p, &tag, sizeof(tag)); }

uint64_t srp_lun_decode(const uint8_t lun[8])
{
	/* Bytes 2..7 address lower levels of a hierarchical LUN; ours are single-level. */
	for (int i = 2; i < 8; i++)
		if (lun[i])
			return SRP_LUN_INVALID;
	switch (lun[0] >> 6) {
	case 0: /* peripheral device addressing: bus 0 only */
		return (lun[0] & 0x3f) ? SRP_LUN_INVALID : lun[1];
	case 1: /* flat space addressing */
		return (uint64_t)(lun[0] & 0x3f) << 8 | lun[1];
	default:
		return SRP_LUN_INVALID;
	}
}

int srp_iu_type(const uint8_t *iu, size_t len) { return len ? iu[0] : -1; }

/* ---- login ---- */

int srp_login_req_parse_rdma(const uint8_t *pdata, size_t len, struct srp_login_req *out)
{
	memset(out, 0, sizeof(*out));
	if (!pdata || len < SRP_LOGIN_REQ_RDMA_LEN || pdata[11] != SRP_LOGIN_REQ)
		return -1;
	out->tag = srp_tag_get(pdata);
	out->req_buf_fmt = be16(pdata + 8);
	out->req_flags = pdata[10];
	out->req_it_iu_len = be32(pdata + 12);
	memcpy(out->initiator_port_id, pdata + 16, 16);
	memcpy(out->target_port_id, pdata + 32, 16);
	out->imm_data_offset = be16(pdata + 48);
	return 0;
}

int srp_login_req_parse(const uint8_t *iu, size_t len, struct srp_login_req *out)
{
	memset(out, 0, sizeof(*out));
	if (!iu || len < SRP_LOGIN_REQ_LEN || iu[0] != SRP_LOGIN_REQ)
		return -1;
	out->tag = srp_tag_get(iu + 8);
	out->req_it_iu_len = be32(iu + 16);
	out->req_buf_fmt = be16(iu + 24);
	out->req_flags = iu[26];
	out->imm_data_offset = be16(iu + 28);
	memcpy(out->initiator_port_id, iu + 32, 16);
	memcpy(out->target_port_id, iu + 48, 16);
	return 0;
}

size_t srp_login_rsp_build(uint8_t out[SRP_LOGIN_RSP_LEN], const struct srp_login_rsp *rsp)
{
	memset(out, 0, SRP_LOGIN_RSP_LEN);
	out[0] = SRP_LOGIN_RSP;
	put32(out + 4, rsp->req_lim_delta);
	srp_tag_put(out + 8, rsp->tag);
	put32(out + 16, rsp->max_it_iu_len);
	put32(out + 20, rsp->max_ti_iu_len);
	put16(out + 24, rsp->buf_fmt);
	out[26] = rsp->rsp_flags;
	return SRP_LOGIN_RSP_LEN;
}

size_t srp_login_rej_build(uint8_t out[SRP_LOGIN_REJ_LEN], uint32_t reason, uint64_t tag,
			   uint16_t buf_fmt)
{
	memset(out, 0, SRP_LOGIN_REJ_LEN);
	out[0] = SRP_LOGIN_REJ;
	put32(out + 4, reason);
	srp_tag_put(out + 8, tag);
	put16(out + 24, buf_fmt);
	return SRP_LOGIN_REJ_LEN;
}

void srp_login_negotiate(const struct srp_login_req *req, const struct srp_channel_limits *lim,
			 struct srp_login_result *out)
{
	memset(out, 0, sizeof(*out));
	out->rsp.tag = req->tag;
	out->rsp.buf_fmt = lim->buf_fmt;
	/* r16a: an initiator asks for at least 64 bytes (an SRP_CMD with one direct
	 * descriptor); less could not carry any command with data. */
	if (req->req_it_iu_len < SRP_LOGIN_REQ_LEN) {
		out->reject_reason = SRP_REJ_UNABLE_ESTABLISH_CHANNEL;
		return;
	}
	if (req->req_it_iu_len > lim->max_it_iu_len) {
		out->reject_reason = SRP_REJ_IT_IU_LENGTH_TOO_LARGE;
		return;
	}
	/* REQUIRED formats: refuse when the initiator needs one this port cannot decode. */
	uint16_t wanted = req->req_buf_fmt & (SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT);
	if (wanted & ~lim->buf_fmt) {
		out->reject_reason = SRP_REJ_UNSUPPORTED_DESCRIPTOR_FMT;
		return;
	}
	out->accept = true;
	out->it_iu_len = req->req_it_iu_len;
	out->rsp.req_lim_delta = lim->req_lim;
	out->rsp.max_it_iu_len = req->req_it_iu_len;
	out->rsp.max_ti_iu_len = lim->max_ti_iu_len;
	/* Immediate data needs room for its descriptor before the data and at least one byte
	 * of data inside the IU; otherwise the channel runs without it. */
	if ((req->req_flags & SRP_REQ_IMMED_REQUESTED) && lim->imm_data &&
	    req->imm_data_offset >= SRP_CMD_MIN_LEN + SRP_IMM_HDR_LEN &&
	    req->imm_data_offset < req->req_it_iu_len) {
		out->imm_data = true;
		out->imm_data_offset = req->imm_data_offset;
		out->rsp.rsp_flags |= SRP_RSP_IMMED_SUPPORTED;
	}
}

/* ---- SRP_CMD ---- */

struct srp_desc srp_desc_get(const uint8_t *p)
{
	struct srp_desc d = { .va = be64(p), .key = be32(p + 8), .len = be32(p + 12) };
	return d;
}

void srp_desc_put(uint8_t *p, const struct srp_desc *desc)
{
	put64(p, desc->va);
	put32(p + 8, desc->key);
	put32(p + 12, desc->len);
}

uint64_t srp_descs_total(const uint8_t *descs, uint32_t n)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++)
		total += be32(descs + (size_t)i * SRP_DESC_LEN + 12);
	return total;
}

const char *srp_cmd_error_name(enum srp_cmd_error err)
{
	switch (err) {
	case SRP_CMD_OK:
		return "ok";
	case SRP_CMD_TOO_SHORT:
		return "IU too short";
	case SRP_CMD_BAD_FORMAT:
		return "unsupported data buffer descriptor format";
	case SRP_CMD_BIDIRECTIONAL:
		return "bidirectional command";
	case SRP_CMD_BAD_CDB_LEN:
		return "additional CDB beyond the IU";
	case SRP_CMD_BAD_DESCRIPTOR:
		return "malformed data buffer descriptor";
	}
	return "?";
}

enum srp_cmd_error srp_cmd_parse(const uint8_t *iu, size_t len, uint16_t imm_data_offset,
				 struct srp_cmd *out)
{
	memset(out, 0, sizeof(*out));
	if (len >= 16)
		out->tag = srp_tag_get(iu + 8);
	if (len < SRP_CMD_MIN_LEN || iu[0] != SRP_CMD)
		return SRP_CMD_TOO_SHORT;
	out->sol_not = iu[1];
	memcpy(out->lun_raw, iu + 20, 8);
	out->lun = srp_lun_decode(out->lun_raw);
	out->task_attr = iu[29] & 0x07;
	/* The ADDITIONAL CDB LENGTH occupies bits 7..2: as a byte it is the length in bytes. */
	size_t add_cdb = iu[31] & 0xfc;
	out->cdb = iu + 32;
	out->cdb_len = (uint16_t)(16 + add_cdb);
	size_t desc_off = SRP_CMD_MIN_LEN + add_cdb;
	if (desc_off > len)
		return SRP_CMD_BAD_CDB_LEN;

	uint8_t fmt_out = iu[5] >> 4, fmt_in = iu[5] & 0x0f;
	if (fmt_out > SRP_FMT_IMMEDIATE || fmt_in > SRP_FMT_INDIRECT)
		return SRP_CMD_BAD_FORMAT;
	if (fmt_out && fmt_in)
		return SRP_CMD_BIDIRECTIONAL;
	if (!fmt_out && !fmt_in)
		return SRP_CMD_OK;
	out->dir = fmt_out ? SRP_DIR_OUT : SRP_DIR_IN;
	out->fmt = fmt_out ? fmt_out : fmt_in;
	const uint8_t *p = iu + desc_off;
	size_t room = len - desc_off;

	switch (out->fmt) {
	case SRP_FMT_DIRECT:
		if (room < SRP_DESC_LEN)
			return SRP_CMD_BAD_DESCRIPTOR;
		out->direct = srp_desc_get(p);
		out->data_len = out->direct.len;
		return SRP_CMD_OK;
	case SRP_FMT_INDIRECT: {
		if (room < SRP_INDIRECT_HDR_LEN)
			return SRP_CMD_BAD_DESCRIPTOR;
		out->table = srp_desc_get(p);
		out->data_len = be32(p + 16);
		if (out->table.len % SRP_DESC_LEN)
			return SRP_CMD_BAD_DESCRIPTOR;
		out->table_count = out->table.len / SRP_DESC_LEN;
		uint32_t count = out->dir == SRP_DIR_OUT ? iu[6] : iu[7];
		if (out->table_count > SRP_MAX_INDIRECT_DESCS || count > out->table_count ||
		    (size_t)SRP_INDIRECT_HDR_LEN + (size_t)count * SRP_DESC_LEN > room)
			return SRP_CMD_BAD_DESCRIPTOR;
		out->descs = p + SRP_INDIRECT_HDR_LEN;
		out->desc_count = count;
		out->partial_table = count < out->table_count;
		return SRP_CMD_OK;
	}
	case SRP_FMT_IMMEDIATE: {
		if (!imm_data_offset)
			return SRP_CMD_BAD_FORMAT;
		if (room < SRP_IMM_HDR_LEN || imm_data_offset < desc_off + SRP_IMM_HDR_LEN)
			return SRP_CMD_BAD_DESCRIPTOR;
		out->data_len = be32(p);
		out->imm_offset = imm_data_offset;
		if ((uint64_t)imm_data_offset + out->data_len > len)
			return SRP_CMD_BAD_DESCRIPTOR;
		return SRP_CMD_OK;
	}
	default:
		return SRP_CMD_BAD_FORMAT;
	}
}

/* ---- other initiator IUs ---- */

int srp_tsk_mgmt_parse(const uint8_t *iu, size_t len, struct srp_tsk_mgmt *out)
{
	memset(out, 0, sizeof(*out));
	if (len < SRP_TSK_MGMT_LEN || iu[0] != SRP_TSK_MGMT)
		return -1;
	out->sol_not = iu[1];
	out->tag = srp_tag_get(iu + 8);
	memcpy(out->lun_raw, iu + 20, 8);
	out->lun = srp_lun_decode(out->lun_raw);
	out->function = iu[30];
	out->task_tag = srp_tag_get(iu + 32);
	return 0;
}

int srp_simple_iu_parse(const uint8_t *iu, size_t len, uint8_t type, uint64_t *tag)
{
	if (len < 16 || iu[0] != type)
		return -1;
	*tag = srp_tag_get(iu + 8);
	return 0;
}

/* ---- target IUs ---- */

void srp_rsp_set_residual(struct srp_rsp *rsp, enum srp_data_dir dir, bool overflow,
			  bool underflow, uint32_t residual)
{
	rsp->flags &= (uint8_t) ~(SRP_RSP_FLAG_DOOVER | SRP_RSP_FLAG_DOUNDER | SRP_RSP_FLAG_DIOVER |
				  SRP_RSP_FLAG_DIUNDER);
	rsp->data_out_residual = rsp->data_in_residual = 0;
	if (!overflow && !underflow)
		return;
	/* A command without data that the CDB says moves some reports it against data-in,
	 * as Linux, the only initiator that reads these, looks at DIUNDER first. */
	if (dir == SRP_DIR_OUT) {
		rsp->flags |= overflow ? SRP_RSP_FLAG_DOOVER : SRP_RSP_FLAG_DOUNDER;
		rsp->data_out_residual = residual;
	} else {
		rsp->flags |= overflow ? SRP_RSP_FLAG_DIOVER : SRP_RSP_FLAG_DIUNDER;
		rsp->data_in_residual = residual;
	}
}

size_t srp_rsp_build(uint8_t *out, size_t cap, const struct srp_rsp *rsp)
{
	if (cap < (size_t)SRP_RSP_MIN_LEN + rsp->resp_data_len)
		return 0;
	uint32_t sense_len = rsp->sense_len;
	if ((size_t)SRP_RSP_MIN_LEN + rsp->resp_data_len + sense_len > cap)
		sense_len = (uint32_t)(cap - SRP_RSP_MIN_LEN - rsp->resp_data_len);
	uint8_t flags = rsp->flags & (SRP_RSP_FLAG_DOOVER | SRP_RSP_FLAG_DOUNDER |
				      SRP_RSP_FLAG_DIOVER | SRP_RSP_FLAG_DIUNDER);
	if (rsp->resp_data_len)
		flags |= SRP_RSP_FLAG_RSPVALID;
	if (sense_len)
		flags |= SRP_RSP_FLAG_SNSVALID;
	memset(out, 0, SRP_RSP_MIN_LEN);
	out[0] = SRP_RSP;
	out[1] = rsp->sol_not;
	put32(out + 4, rsp->req_lim_delta);
	srp_tag_put(out + 8, rsp->tag);
	out[18] = flags;
	out[19] = rsp->status;
	put32(out + 20, rsp->data_out_residual);
	put32(out + 24, rsp->data_in_residual);
	put32(out + 28, sense_len);
	put32(out + 32, rsp->resp_data_len);
	size_t len = SRP_RSP_MIN_LEN;
	if (rsp->resp_data_len) {
		memcpy(out + len, rsp->resp_data, rsp->resp_data_len);
		len += rsp->resp_data_len;
	}
	if (sense_len) {
		memcpy(out + len, rsp->sense, sense_len);
		len += sense_len;
	}
	return len;
}

size_t srp_tmf_rsp_build(uint8_t *out, size_t cap, uint64_t tag, uint32_t req_lim_delta,
			 uint8_t rsp_code)
{
	const uint8_t resp_data[4] = { 0, 0, 0, rsp_code };
	struct srp_rsp rsp = { .tag = tag, .req_lim_delta = req_lim_delta,
			       .resp_data = resp_data, .resp_data_len = sizeof(resp_data) };
	return srp_rsp_build(out, cap, &rsp);
}

size_t srp_t_logout_build(uint8_t out[SRP_T_LOGOUT_LEN], uint64_t tag, uint32_t reason)
{
	memset(out, 0, SRP_T_LOGOUT_LEN);
	out[0] = SRP_T_LOGOUT;
	put32(out + 4, reason);
	srp_tag_put(out + 8, tag);
	return SRP_T_LOGOUT_LEN;
}

size_t srp_cred_req_build(uint8_t out[SRP_CRED_REQ_LEN], uint64_t tag, uint32_t req_lim_delta)
{
	memset(out, 0, SRP_CRED_REQ_LEN);
	out[0] = SRP_CRED_REQ;
	put32(out + 4, req_lim_delta);
	srp_tag_put(out + 8, tag);
	return SRP_CRED_REQ_LEN;
}

size_t srp_aer_req_build(uint8_t *out, size_t cap, uint64_t tag, uint32_t req_lim_delta,
			 const uint8_t lun_raw[8], const uint8_t *sense, uint32_t sense_len)
{
	if (cap < SRP_AER_REQ_MIN_LEN)
		return 0;
	if ((size_t)SRP_AER_REQ_MIN_LEN + sense_len > cap)
		sense_len = (uint32_t)(cap - SRP_AER_REQ_MIN_LEN);
	memset(out, 0, SRP_AER_REQ_MIN_LEN);
	out[0] = SRP_AER_REQ;
	put32(out + 4, req_lim_delta);
	srp_tag_put(out + 8, tag);
	memcpy(out + 20, lun_raw, 8);
	put32(out + 28, sense_len);
	if (sense_len)
		memcpy(out + SRP_AER_REQ_MIN_LEN, sense, sense_len);
	return SRP_AER_REQ_MIN_LEN + sense_len;
}

/* ---- request-limit accounting ---- */

void srp_credits_init(struct srp_credits *c, uint32_t limit)
{
	c->limit = limit;
	c->initiator = limit;
	c->in_use = 0;
	c->pending = 0;
}

bool srp_credits_consume(struct srp_credits *c)
{
	if (c->initiator == 0)
		return false;
	c->initiator--;
	c->in_use++;
	return true;
}

void srp_credits_release(struct srp_credits *c, uint32_t n)
{
	if (n > c->in_use)
		n = c->in_use;
	c->in_use -= n;
	c->pending += n;
}

uint32_t srp_credits_take(struct srp_credits *c)
{
	uint32_t delta = c->pending;
	c->pending = 0;
	c->initiator += delta;
	return delta;
}
