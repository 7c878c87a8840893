/* iSCSI PDU header decoding and building (RFC 7143 section 11): pure functions, no I/O. */
#ifndef ISCSI_PDU_H
#define ISCSI_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISCSI_BHS_LEN 48
#define ISCSI_DIGEST_LEN 4
#define ISCSI_RESERVED_TAG 0xffffffffu
/* Hard ceiling on any DataSegmentLength we accept, whatever was negotiated (16 MiB - 1). */
#define ISCSI_MAX_DSL_CEILING 0xffffffu

enum iscsi_opcode {
	/* initiator → target */
	ISCSI_OP_NOP_OUT = 0x00,
	ISCSI_OP_SCSI_CMD = 0x01,
	ISCSI_OP_TMF_REQ = 0x02,
	ISCSI_OP_LOGIN_REQ = 0x03,
	ISCSI_OP_TEXT_REQ = 0x04,
	ISCSI_OP_DATA_OUT = 0x05,
	ISCSI_OP_LOGOUT_REQ = 0x06,
	ISCSI_OP_SNACK_REQ = 0x10,
	/* target → initiator */
	ISCSI_OP_NOP_IN = 0x20,
	ISCSI_OP_SCSI_RSP = 0x21,
	ISCSI_OP_TMF_RSP = 0x22,
	ISCSI_OP_LOGIN_RSP = 0x23,
	ISCSI_OP_TEXT_RSP = 0x24,
	ISCSI_OP_DATA_IN = 0x25,
	ISCSI_OP_LOGOUT_RSP = 0x26,
	ISCSI_OP_R2T = 0x31,
	ISCSI_OP_ASYNC_MSG = 0x32,
	ISCSI_OP_REJECT = 0x3f,
};

/* Why a header could not be decoded; each maps to a Reject reason or a connection close. */
enum iscsi_parse_error {
	ISCSI_PARSE_OK = 0,
	ISCSI_PARSE_BAD_OPCODE = -1,      /* not an initiator opcode (incl. reserved ones) */
	ISCSI_PARSE_BAD_FIELD = -2,       /* a field holds a value the RFC forbids */
	ISCSI_PARSE_DSL_TOO_LARGE = -3,   /* DataSegmentLength above the ceiling given */
};

/* Reject reasons (RFC 7143 11.17.1). */
enum iscsi_reject_reason {
	ISCSI_REJECT_DATA_DIGEST_ERROR = 0x02,
	ISCSI_REJECT_SNACK_REJECT = 0x03,
	ISCSI_REJECT_PROTOCOL_ERROR = 0x04,
	ISCSI_REJECT_CMD_NOT_SUPPORTED = 0x05,
	ISCSI_REJECT_IMM_CMD_REJECT = 0x06,
	ISCSI_REJECT_TASK_IN_PROGRESS = 0x07,
	ISCSI_REJECT_INVALID_DATA_ACK = 0x08,
	ISCSI_REJECT_INVALID_PDU_FIELD = 0x09,
	ISCSI_REJECT_LONG_OP_REJECT = 0x0a,
	ISCSI_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

/* A decoded initiator PDU header. Only the fields of its opcode are meaningful. */
struct iscsi_hdr {
	uint8_t opcode;
	bool immediate;          /* I bit */
	bool final;              /* F bit (byte 1 bit 7) */
	uint8_t flags;           /* byte 1 as sent */
	uint32_t ahs_len;        /* TotalAHSLength in bytes (already multiplied by 4) */
	uint32_t data_len;       /* DataSegmentLength, without padding */
	uint8_t lun_raw[8];
	uint64_t lun;            /* flat LUN decoded from SAM addressing (peripheral/flat) */
	uint32_t itt;
	uint32_t ttt;            /* NOP-Out, Data-Out, SNACK, Text */
	uint32_t cmdsn;
	uint32_t expstatsn;

	/* SCSI Command */
	bool read;               /* R bit */
	bool write;              /* W bit */
	uint8_t attr;            /* ATTR field (0 untagged/simple ... 4 ACA) */
	uint32_t exp_xfer_len;
	uint8_t cdb[16];

	/* Data-Out */
	uint32_t datasn;
	uint32_t buffer_offset;

	/* Login */
	bool transit;            /* T */
	bool cont;               /* C (login, text) */
	uint8_t csg, nsg;
	uint8_t version_max, version_min;
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;            /* login, logout */

	/* Task management */
	uint8_t tmf_function;
	uint32_t ref_itt;
	uint32_t refcmdsn;
	uint32_t expdatasn;

	/* Logout */
	uint8_t logout_reason;

	/* SNACK */
	uint8_t snack_type;
	uint32_t begrun;
	uint32_t runlength;
};

/* Decodes a 48-byte BHS sent by an initiator. max_dsl bounds DataSegmentLength. */
enum iscsi_parse_error iscsi_hdr_parse(const uint8_t bhs[ISCSI_BHS_LEN], uint32_t max_dsl,
				       struct iscsi_hdr *out);
/* What iscsi_lun_decode returns for an 8-byte LUN that is neither single-level peripheral
 * (bus 0) nor single-level flat addressing: no logical unit of ours can have this number. */
#define ISCSI_LUN_INVALID UINT64_MAX
/* Encodes a flat LUN number into the 8-byte SAM LUN field (peripheral < 256, flat < 16384). */
void iscsi_lun_encode(uint64_t lun, uint8_t out[8]);
uint64_t iscsi_lun_decode(const uint8_t in[8]);
/* Bytes of padding after a data segment of len bytes. */
static inline uint32_t iscsi_pad(uint32_t len) { return (4 - (len & 3)) & 3; }

/* AHS walk: finds the extended-CDB AHS (type 1) and appends its bytes to cdb[16..].
 * Returns the total CDB length, or -1 if the AHS area is malformed. */
int iscsi_ahs_extended_cdb(const uint8_t *ahs, uint32_t ahs_len, const uint8_t cdb16[16],
			   uint8_t *cdb_out, size_t cdb_cap);

/* Sequence-number arithmetic (RFC 1982, 32-bit serial numbers). */
static inline bool iscsi_sn_lt(uint32_t a, uint32_t b) { return a != b && (int32_t)(a - b) < 0; }
static inline bool iscsi_sn_le(uint32_t a, uint32_t b) { return a == b || (int32_t)(a - b) < 0; }

/* Builders for target PDUs: each fills all 48 bytes of bhs (zeroing what is reserved). */
struct iscsi_sn_fields {
	uint32_t statsn;
	uint32_t expcmdsn;
	uint32_t maxcmdsn;
};

void iscsi_build_scsi_rsp(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint8_t response,
			  uint8_t status, bool overflow, bool underflow, uint32_t residual,
			  uint32_t data_len, const struct iscsi_sn_fields *sn, uint32_t expdatasn);
/* Data-In; with `status_valid` the S bit (and F) is set and status/residual are carried. */
void iscsi_build_data_in(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint64_t lun, uint32_t ttt,
			 bool final, bool status_valid, uint8_t status, bool overflow,
			 bool underflow, uint32_t residual, uint32_t datasn,
			 uint32_t buffer_offset, uint32_t data_len,
			 const struct iscsi_sn_fields *sn);
void iscsi_build_r2t(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint64_t lun, uint32_t ttt,
		     uint32_t r2tsn, uint32_t buffer_offset, uint32_t desired_len,
		     const struct iscsi_sn_fields *sn);
void iscsi_build_nop_in(uint8_t bhs[ISCSI_BHS_LEN], uint32_t itt, uint32_t ttt, uint64_t lun,
			uint32_t data_len, const struct iscsi_sn_fields *sn);
void iscsi_build_login_rsp(uint8_t bhs[ISCSI_BHS_LEN], bool transit, bool cont, uint8_t csg,
			   uint8_t nsg, uint8_t version_max, uint8_t version_active,
			   const uint8_t isid[6], uint16_t tsih, uint32_t itt,
			   uint8_t status_class, uint8_t status_detail, uint32_t data_len,
			   const struct iscsi_sn_fields *sn);
void iscsi_build_text_rsp(uint8_t bhs[ISCSI_BHS_LEN], bool final, bool cont, uint32_t itt,
			  uint32_t ttt, uint32_t data_len, const struct iscsi_sn_fields *sn);
void iscsi_build_logout_rsp(uint8_t bhs[ISCSI_BHS_LEN], uint8_t response, uint32_t itt,
			    uint16_t time2wait, uint16_t time2retain,
			    const struct iscsi_sn_fields *sn);
void iscsi_build_tmf_rsp(uint8_t bhs[ISCSI_BHS_LEN], uint8_t response, uint32_t itt,
			 const struct iscsi_sn_fields *sn);
/* Reject carries the offending BHS as its data segment (48 bytes). */
void iscsi_build_reject(uint8_t bhs[ISCSI_BHS_LEN], uint8_t reason,
			const struct iscsi_sn_fields *sn, uint32_t datasn_r2tsn);
void iscsi_build_async(uint8_t bhs[ISCSI_BHS_LEN], uint8_t event, uint16_t param1,
		       uint16_t param2, uint16_t param3, uint32_t data_len,
		       const struct iscsi_sn_fields *sn);

#endif
