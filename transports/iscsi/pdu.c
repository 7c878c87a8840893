/* Decoding of initiator BHSs and building of target BHSs (RFC 7143 section 11), without I/O. */
#include "transports/iscsi/pdu.h"

#include <string.h>

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Byte 1 bit layout of the PDUs that use it. */
#define FLAG_F 0x80
#define FLAG_R 0x40      /* SCSI Command */
#define FLAG_W 0x20      /* SCSI Command */
#define FLAG_T 0x80      /* Login */
#define FLAG_C 0x40      /* Login, Text */
#define FLAG_A 0x40      /* Data-In */
#define FLAG_O 0x04      /* SCSI Response, Data-In: residual overflow */
#define FLAG_U 0x02      /* SCSI Response, Data-In: residual underflow */
#define FLAG_S 0x01      /* Data-In: status present */
#define IMMEDIATE_BIT 0x40

/* Highest defined codes of enumerated fields; anything above is reserved. */
#define ATTR_MAX 4               /* ACA */
#define TMF_FUNCTION_MAX 12      /* QUERY ASYNCHRONOUS EVENT (RFC 7144 adds 9-12) */
#define LOGOUT_REASON_MAX 2      /* remove the connection for recovery */
#define SNACK_TYPE_MAX 3         /* R-Data */
#define LOGIN_STAGE_RESERVED 2

#define AHS_TYPE_EXTENDED_CDB 1
#define AHS_TYPE_BIDI_READ_LEN 2
#define AHS_TYPE_FIRST_EXTENSION 60 /* 60..63 are for non-iSCSI extensions */

static bool is_initiator_opcode(uint8_t opcode)
{
	switch (opcode) {
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_SCSI_CMD:
	case ISCSI_OP_TMF_REQ:
	case ISCSI_OP_LOGIN_REQ:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_DATA_OUT:
	case ISCSI_OP_LOGOUT_REQ:
	case ISCSI_OP_SNACK_REQ:
		return true;
	default:
		/* Target opcodes, the reserved ones and the vendor-specific initiator codes
		 * 0x1c-0x1e alike: we implement none of them, so the caller answers with a
		 * Reject (command not supported). */
		return false;
	}
}

/* Decodes per-opcode fields and applies the rules the RFC states as MUST/MUST NOT. */
static enum iscsi_parse_error parse_opcode_fields(const uint8_t *bhs, struct iscsi_hdr *h)
{
	switch (h->opcode) {
	case ISCSI_OP_NOP_OUT:
		h->ttt = get32(bhs + 20);
		h->cmdsn = get32(bhs + 24);
		h->expstatsn = get32(bhs + 28);
		/* 11.18: a NOP-Out with the reserved ITT asks for no answer and MUST be sent
		 * as an immediate command, so CmdSN does not advance. Accepting it as a
		 * non-immediate PDU would make the CmdSN window disagree with the initiator's. */
		if (h->itt == ISCSI_RESERVED_TAG && !h->immediate)
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;

	case ISCSI_OP_SCSI_CMD:
		h->read = h->flags & FLAG_R;
		h->write = h->flags & FLAG_W;
		h->attr = h->flags & 0x07;
		h->exp_xfer_len = get32(bhs + 20);
		h->cmdsn = get32(bhs + 24);
		h->expstatsn = get32(bhs + 28);
		memcpy(h->cdb, bhs + 32, sizeof(h->cdb));
		/* 11.2.1: receipt of a reserved code value in a defined field is a protocol
		 * error; ATTR values 5-7 are reserved (11.3.1.3). */
		if (h->attr > ATTR_MAX)
			return ISCSI_PARSE_BAD_FIELD;
		/* 11.3.1.1/2: R and W MUST NOT both be 0 when data is expected — otherwise the
		 * direction of a nonzero transfer is unknowable. (Both may be 1, or set with a
		 * zero length: the RFC allows that, so we do too.) */
		if (h->exp_xfer_len != 0 && !h->read && !h->write)
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;

	case ISCSI_OP_TMF_REQ:
		h->tmf_function = h->flags & 0x7f;
		h->ref_itt = get32(bhs + 20);
		h->cmdsn = get32(bhs + 24);
		h->expstatsn = get32(bhs + 28);
		h->refcmdsn = get32(bhs + 32);
		h->expdatasn = get32(bhs + 36);
		/* Functions 1-8 are defined by RFC 7143 11.5.1 and 9-12 (QUERY TASK, QUERY TASK
		 * SET, I_T NEXUS RESET, QUERY ASYNCHRONOUS EVENT) by RFC 7144 4.1; 0 and 13-127
		 * are reserved codes, which 11.2.1 says MUST be reported as a protocol error. */
		if (h->tmf_function == 0 || h->tmf_function > TMF_FUNCTION_MAX)
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;

	case ISCSI_OP_LOGIN_REQ:
		h->transit = h->flags & FLAG_T;
		h->cont = h->flags & FLAG_C;
		h->csg = (h->flags >> 2) & 3;
		h->nsg = h->flags & 3;
		h->version_max = bhs[2];
		h->version_min = bhs[3];
		memcpy(h->isid, bhs + 8, sizeof(h->isid));
		h->tsih = get16(bhs + 14);
		h->cid = get16(bhs + 20);
		h->cmdsn = get32(bhs + 24);
		h->expstatsn = get32(bhs + 28);
		/* The LUN field carries ISID/TSIH here; it addresses no logical unit. */
		memset(h->lun_raw, 0, sizeof(h->lun_raw));
		h->lun = 0;
		/* 11.12.2: if T is 1, C MUST be 0 (a stage cannot end mid-text). */
		if (h->transit && h->cont)
			return ISCSI_PARSE_BAD_FIELD;
		/* 11.12.3: stage code 2 is reserved; NSG only has a meaning when T is 1. */
		if (h->csg == LOGIN_STAGE_RESERVED || (h->transit && h->nsg == LOGIN_STAGE_RESERVED))
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;

	case ISCSI_OP_TEXT_REQ:
		h->cont = h->flags & FLAG_C;
		h->ttt = get32(bhs + 20);
		h->cmdsn = get32(bhs + 24);
		h->expstatsn = get32(bhs + 28);
		/* 11.10.2: a Text Request with C set MUST have F clear. */
		if (h->cont && h->final)
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;

	case ISCSI_OP_DATA_OUT:
		h->ttt = get32(bhs + 20);
		h->expstatsn = get32(bhs + 28);
		h->datasn = get32(bhs + 36);
		h->buffer_offset = get32(bhs + 40);
		return ISCSI_PARSE_OK;

	case ISCSI_OP_LOGOUT_REQ:
		h->logout_reason = h->flags & 0x7f;
		h->cid = get16(bhs + 20);
		h->cmdsn = get32(bhs + 24);
		h->expstatsn = get32(bhs + 28);
		/* Reasons 0-2 are defined (11.14.1); the rest are reserved codes (11.2.1). */
		if (h->logout_reason > LOGOUT_REASON_MAX)
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;

	case ISCSI_OP_SNACK_REQ:
		h->snack_type = h->flags & 0x0f;
		h->ttt = get32(bhs + 20);
		h->expstatsn = get32(bhs + 28);
		h->begrun = get32(bhs + 40);
		h->runlength = get32(bhs + 44);
		/* Types 0-3 are defined (11.16.1); 4-15 are reserved codes (11.2.1). */
		if (h->snack_type > SNACK_TYPE_MAX)
			return ISCSI_PARSE_BAD_FIELD;
		return ISCSI_PARSE_OK;
	}
	return ISCSI_PARSE_BAD_OPCODE;
}

enum iscsi_parse_error iscsi_hdr_parse(const uint8_t bhs[ISCSI_BHS_LEN], uint32_t max_dsl,
				       struct iscsi_hdr *out)
{
	memset(out, 0, sizeof(*out));
	/* Byte 0 bit 7 is reserved: ignored, as 11.2.1 asks of receivers. */
	out->opcode = bhs[0] & 0x3f;
	out->immediate = bhs[0] & IMMEDIATE_BIT;
	out->flags = bhs[1];
	out->final = bhs[1] & FLAG_F;
	out->ahs_len = (uint32_t)bhs[4] * 4;
	out->data_len = get24(bhs + 5);
	memcpy(out->lun_raw, bhs + 8, sizeof(out->lun_raw));
	out->lun = iscsi_lun_decode(bhs + 8);
	out->itt = get32(bhs + 16);

	if (!is_initiator_opcode(out->opcode))
		return ISCSI_PARSE_BAD_OPCODE;
	if (max_dsl > ISCSI_MAX_DSL_CEILING)
		max_dsl = ISCSI_MAX_DSL_CEILING;
	enum iscsi_parse_error err = parse_opcode_fields(bhs, out);
	if (err != ISCSI_PARSE_OK)
		return err;
	/* 11.2.1.8: 0xffffffff is never assigned to a task; it may only appear in a
	 * NOP-Out answering a NOP-In, and a Status/DataACK SNACK MUST carry it. Any other
	 * request with it could not be answered unambiguously. */
	if (out->itt == ISCSI_RESERVED_TAG && out->opcode != ISCSI_OP_NOP_OUT &&
	    out->opcode != ISCSI_OP_SNACK_REQ)
		return ISCSI_PARSE_BAD_FIELD;
	if (out->data_len > max_dsl)
		return ISCSI_PARSE_DSL_TOO_LARGE;
	return ISCSI_PARSE_OK;
}

void iscsi_lun_encode(uint64_t lun, uint8_t out[8])
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun; /* peripheral device addressing, bus 0 */
	} else if (lun < 16384) {
		out[0] = (uint8_t)(0x40 | (lun >> 8)); /* flat space addressing */
		out[1] = (uint8_t)lun;
	} else {
		/* Unencodable in single-level addressing: all ones decodes back to
		 * ISCSI_LUN_INVALID rather than aliasing a real LUN. */
		memset(out, 0xff, 8);
	}
}

uint64_t iscsi_lun_decode(const uint8_t in[8])
{
	/* Bytes 2-7 address lower levels of a hierarchical LUN; ours are single-level. */
	for (int i = 2; i < 8; i++)
		if (in[i] != 0)
			return ISCSI_LUN_INVALID;
	switch (in[0] >> 6) {
	case 0:
		/* A nonzero bus identifier names a device behind another bus, never ours. */
		if ((in[0] & 0x3f) != 0)
			return ISCSI_LUN_INVALID;
		return in[1];
	case 1:
		return (uint64_t)(in[0] & 0x3f) << 8 | in[1];
	default:
		return ISCSI_LUN_INVALID;
	}
}

int iscsi_ahs_extended_cdb(const uint8_t *ahs, uint32_t ahs_len, const uint8_t cdb16[16],
			   uint8_t *cdb_out, size_t cdb_cap)
{
	if (cdb_cap < 16 || (ahs_len & 3) != 0 || (ahs_len != 0 && ahs == NULL))
		return -1;
	memcpy(cdb_out, cdb16, 16);
	size_t cdb_len = 16;
	bool have_extended = false;
	uint32_t pos = 0;
	while (pos < ahs_len) {
		if (ahs_len - pos < 4)
			return -1;
		uint32_t length = get16(ahs + pos);
		uint8_t type = ahs[pos + 2] & 0x3f; /* the top two bits are reserved */
		/* AHSLength counts the bytes after the type byte; each AHS is padded to 4. */
		uint32_t total = (3 + length + 3) & ~3u;
		if (total > ahs_len - pos)
			return -1;
		if (type == AHS_TYPE_EXTENDED_CDB) {
			/* AHSLength is CDBLength - 15: one reserved byte, then CDB bytes 16... A
			 * length of 0 would mean a 15-byte CDB, and two extended CDBs conflict. */
			if (have_extended || length == 0)
				return -1;
			size_t extra = length - 1;
			if (extra > cdb_cap - 16)
				return -1;
			memcpy(cdb_out + 16, ahs + pos + 4, extra);
			cdb_len = 16 + extra;
			have_extended = true;
		} else if (type != AHS_TYPE_BIDI_READ_LEN && type < AHS_TYPE_FIRST_EXTENSION) {
			/* 0 and 3-59 are reserved AHS types: a protocol error (11.2.1). */
			return -1;
		}
		pos += total;
	}
	return (int)cdb_len;
}

/* The StatSN/ExpCmdSN/MaxCmdSN trio at bytes 24-35, common to every target PDU. */
static void put_sn(uint8_t bhs[ISCSI_BHS_LEN], const struct iscsi_sn_fields *sn, bool with_statsn)
{
	if (sn == NULL)
		return;
	if (with_statsn)
		put32(bhs + 24, sn->statsn);
	put32(bhs + 28, sn->expcmdsn);
	put32(bhs + 32, sn->maxcmdsn);
}

static void start_bhs(uint8_t bhs[ISCSI_BHS_LEN], uint8_t opcode, uint8_t flags, uint32_t data_len)
{
	memset(bhs, 0, ISCSI_BHS_LEN);
	bhs[0] = opcode;
	bhs[1] = flags;
	/* Target PDUs carry no AHS; the segment length is 24 bits wide. */
	put24(bhs + 5, data_len & ISCSI_MAX_DSL_CEILING);
}

static uint8_t residual_flags(bool overflow, bool underflow)
{
	return (overflow ? FLAG_O : 0) | (underflow ? FLAG_U : 0);
}

void iscsi_build_scsi_rsp(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint8_t response,
			  uint8_t status, bool overflow, bool underflow, uint32_t residual,
			  uint32_t data_len, const struct iscsi_sn_fields *sn, uint32_t expdatasn)
{
	start_bhs(bhs, ISCSI_OP_SCSI_RSP, FLAG_F | residual_flags(overflow, underflow), data_len);
	bhs[2] = response;
	bhs[3] = status;
	put32(bhs + 16, itt);
	/* SNACK Tag (20) and the bidirectional read residual (40) stay 0: no SNACK
	 * support at ERL 0 and no bidirectional commands. */
	put_sn(bhs, sn, true);
	put32(bhs + 36, expdatasn);
	put32(bhs + 44, residual);
}

void iscsi_build_data_in(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint64_t lun, uint32_t ttt,
			 bool final, bool status_valid, uint8_t status, bool overflow,
			 bool underflow, uint32_t residual, uint32_t datasn,
			 uint32_t buffer_offset, uint32_t data_len,
			 const struct iscsi_sn_fields *sn)
{
	/* 11.7.1: S may only be set together with F. A valid TTT means the target asks
	 * for a DataACK (A bit), and only then are TTT and LUN defined (11.7.4). */
	bool ack = ttt != ISCSI_RESERVED_TAG;
	uint8_t flags = 0;
	if (final || status_valid)
		flags |= FLAG_F;
	if (ack)
		flags |= FLAG_A;
	if (status_valid)
		flags |= FLAG_S | residual_flags(overflow, underflow);
	start_bhs(bhs, ISCSI_OP_DATA_IN, flags, data_len);
	if (status_valid)
		bhs[3] = status;
	if (ack)
		iscsi_lun_encode(lun, bhs + 8);
	put32(bhs + 16, itt);
	put32(bhs + 20, ack ? ttt : ISCSI_RESERVED_TAG);
	/* StatSN and the residual are reserved unless the PDU carries status. */
	put_sn(bhs, sn, status_valid);
	put32(bhs + 36, datasn);
	put32(bhs + 40, buffer_offset);
	if (status_valid)
		put32(bhs + 44, residual);
}

void iscsi_build_r2t(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint64_t lun, uint32_t ttt,
		     uint32_t r2tsn, uint32_t buffer_offset, uint32_t desired_len,
		     const struct iscsi_sn_fields *sn)
{
	start_bhs(bhs, ISCSI_OP_R2T, FLAG_F, 0);
	iscsi_lun_encode(lun, bhs + 8);
	put32(bhs + 16, itt);
	put32(bhs + 20, ttt);
	/* An R2T carries the next StatSN without consuming it (11.8). */
	put_sn(bhs, sn, true);
	put32(bhs + 36, r2tsn);
	put32(bhs + 40, buffer_offset);
	put32(bhs + 44, desired_len);
}

void iscsi_build_nop_in(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint32_t ttt, uint64_t lun,
			uint32_t data_len, const struct iscsi_sn_fields *sn)
{
	start_bhs(bhs, ISCSI_OP_NOP_IN, FLAG_F, data_len);
	/* 11.19: the LUN is only defined when the TTT is (a target ping); else reserved. */
	if (ttt != ISCSI_RESERVED_TAG)
		iscsi_lun_encode(lun, bhs + 8);
	put32(bhs + 16, itt);
	put32(bhs + 20, ttt);
	put_sn(bhs, sn, true);
}

void iscsi_build_login_rsp(uint8_t bhs[ISCSI_BHS_LEN], bool transit, bool cont, uint8_t csg,
			   uint8_t nsg, uint8_t version_max, uint8_t version_active,
			   const uint8_t isid[6], uint16_t tsih, uint32_t itt,
			   uint8_t status_class, uint8_t status_detail, uint32_t data_len,
			   const struct iscsi_sn_fields *sn)
{
	/* 11.13.2: T and C MUST NOT both be 1 — unfinished text cannot end a stage. NSG is
	 * reserved when T is 0. */
	if (cont)
		transit = false;
	uint8_t flags = (uint8_t)((transit ? FLAG_T : 0) | (cont ? FLAG_C : 0) | (csg & 3) << 2);
	if (transit)
		flags |= nsg & 3;
	start_bhs(bhs, ISCSI_OP_LOGIN_RSP, flags, data_len);
	bhs[2] = version_max;
	bhs[3] = version_active;
	if (isid != NULL)
		memcpy(bhs + 8, isid, 6);
	put16(bhs + 14, tsih);
	put32(bhs + 16, itt);
	put_sn(bhs, sn, true);
	bhs[36] = status_class;
	bhs[37] = status_detail;
}

void iscsi_build_text_rsp(uint8_t bhs[ISCSI_BHS_LEN], bool final, bool cont, uint32_t itt,
			  uint32_t ttt, uint32_t data_len, const struct iscsi_sn_fields *sn)
{
	/* 11.11.1/11.11.2: C=1 requires F=0, and a final response MUST carry the reserved
	 * TTT (there is nothing left to continue). */
	if (cont)
		final = false;
	start_bhs(bhs, ISCSI_OP_TEXT_RSP, (final ? FLAG_F : 0) | (cont ? FLAG_C : 0), data_len);
	put32(bhs + 16, itt);
	put32(bhs + 20, final ? ISCSI_RESERVED_TAG : ttt);
	put_sn(bhs, sn, true);
}

void iscsi_build_logout_rsp(uint8_t bhs[ISCSI_BHS_LEN], uint8_t response, uint32_t itt,
			    uint16_t time2wait, uint16_t time2retain,
			    const struct iscsi_sn_fields *sn)
{
	start_bhs(bhs, ISCSI_OP_LOGOUT_RSP, FLAG_F, 0);
	bhs[2] = response;
	put32(bhs + 16, itt);
	put_sn(bhs, sn, true);
	put16(bhs + 40, time2wait);
	put16(bhs + 42, time2retain);
}

void iscsi_build_tmf_rsp(uint8_t bhs[ISCSI_BHS_LEN], uint8_t response, uint32_t itt,
			 const struct iscsi_sn_fields *sn)
{
	start_bhs(bhs, ISCSI_OP_TMF_RSP, FLAG_F, 0);
	bhs[2] = response;
	put32(bhs + 16, itt);
	put_sn(bhs, sn, true);
}

void iscsi_build_reject(uint8_t bhs[ISCSI_BHS_LEN], uint8_t reason,
			const struct iscsi_sn_fields *sn, uint32_t datasn_r2tsn)
{
	start_bhs(bhs, ISCSI_OP_REJECT, FLAG_F, ISCSI_BHS_LEN);
	bhs[2] = reason;
	/* 11.17: the ITT of a Reject is reserved and MUST be 0xffffffff. */
	put32(bhs + 16, ISCSI_RESERVED_TAG);
	put_sn(bhs, sn, true);
	put32(bhs + 36, datasn_r2tsn);
}

void iscsi_build_async(uint8_t bhs[ISCSI_BHS_LEN], uint8_t event, uint16_t param1,
		       uint16_t param2, uint16_t param3, uint32_t data_len,
		       const struct iscsi_sn_fields *sn)
{
	start_bhs(bhs, ISCSI_OP_ASYNC_MSG, FLAG_F, data_len);
	/* 11.9: the ITT is reserved (0xffffffff); the LUN only matters for SCSI async
	 * events, which carry sense data instead and address LUN 0 here. */
	put32(bhs + 16, ISCSI_RESERVED_TAG);
	put_sn(bhs, sn, true);
	bhs[36] = event;
	put16(bhs + 38, param1);
	put16(bhs + 40, param2);
	put16(bhs + 42, param3);
}
