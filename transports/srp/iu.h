/* SRP information units (T10 SRP r16a, with SRP-2 immediate data as Linux ib_srp uses it): pure parse/build functions and request-limit accounting. */
#ifndef SRP_IU_H
#define SRP_IU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IU type codes (byte 0 of every IU). */
enum srp_iu_type {
	SRP_LOGIN_REQ = 0x00,
	SRP_TSK_MGMT = 0x01,
	SRP_CMD = 0x02,
	SRP_I_LOGOUT = 0x03,
	SRP_CRED_RSP = 0x41,
	SRP_AER_RSP = 0x42,
	SRP_T_LOGOUT = 0x80,
	SRP_CRED_REQ = 0x81,
	SRP_AER_REQ = 0x82,
	SRP_LOGIN_RSP = 0xc0,
	SRP_RSP = 0xc1,
	SRP_LOGIN_REJ = 0xc2,
};

/* Fixed lengths on the wire. */
enum {
	SRP_LOGIN_REQ_LEN = 64,
	/* The login request as RDMA/CM private data: IB CM REQ carries 92 bytes, RDMA/CM
	 * keeps 36 for itself, so initiators send the same fields without the reserved ones. */
	SRP_LOGIN_REQ_RDMA_LEN = 56,
	SRP_LOGIN_RSP_LEN = 52,
	SRP_LOGIN_REJ_LEN = 32,
	SRP_CMD_MIN_LEN = 48,
	SRP_TSK_MGMT_LEN = 48,
	SRP_RSP_MIN_LEN = 36,
	SRP_I_LOGOUT_LEN = 16,
	SRP_T_LOGOUT_LEN = 16,
	SRP_CRED_REQ_LEN = 16,
	SRP_CRED_RSP_LEN = 16,
	SRP_AER_REQ_MIN_LEN = 36,
	SRP_AER_RSP_LEN = 16,
	SRP_DESC_LEN = 16,          /* a direct data buffer descriptor */
	SRP_INDIRECT_HDR_LEN = 20,  /* table descriptor + total length, before the list */
	SRP_IMM_HDR_LEN = 4,        /* immediate data descriptor: its length */
	SRP_MAX_ADD_CDB_LEN = 252,  /* 6-bit count of 4-byte words */
};

/* Data buffer descriptor formats a login may ask for (REQ/SUP BUF FMT bits). */
enum {
	SRP_BUF_FORMAT_DIRECT = 1u << 1,
	SRP_BUF_FORMAT_INDIRECT = 1u << 2,
};

/* Descriptor format codes in SRP_CMD byte 5 (data-out in the high nibble). */
enum srp_desc_fmt {
	SRP_FMT_NONE = 0,
	SRP_FMT_DIRECT = 1,
	SRP_FMT_INDIRECT = 2,
	SRP_FMT_IMMEDIATE = 3, /* SRP-2 */
};

/* SRP_LOGIN_REQ REQ FLAGS. */
enum {
	SRP_REQ_MULTICHAN_MASK = 0x03,
	SRP_REQ_MULTICHAN_SINGLE = 0x00, /* terminate the nexus's other channels */
	SRP_REQ_MULTICHAN_MULTI = 0x01,  /* join them */
	SRP_REQ_IMMED_REQUESTED = 0x80,  /* SRP-2 */
};

/* SRP_LOGIN_RSP RSP FLAGS. */
enum {
	SRP_RSP_MULTICHAN_NO_CHAN = 0x00,
	SRP_RSP_MULTICHAN_TERMINATED = 0x01,
	SRP_RSP_MULTICHAN_MAINTAINED = 0x02,
	SRP_RSP_IMMED_SUPPORTED = 0x80,
};

/* SRP_LOGIN_REJ reasons. */
enum {
	SRP_REJ_UNABLE_ESTABLISH_CHANNEL = 0x00010000,
	SRP_REJ_INSUFFICIENT_RESOURCES = 0x00010001,
	SRP_REJ_IT_IU_LENGTH_TOO_LARGE = 0x00010002,
	SRP_REJ_UNABLE_ASSOCIATE_CHANNEL = 0x00010003,
	SRP_REJ_UNSUPPORTED_DESCRIPTOR_FMT = 0x00010004,
	SRP_REJ_MULTI_CHANNEL_UNSUPPORTED = 0x00010005,
	SRP_REJ_CHANNEL_LIMIT_REACHED = 0x00010006,
};

/* SRP_T_LOGOUT reasons. */
enum {
	SRP_LOGOUT_NO_REASON = 0,
	SRP_LOGOUT_INACTIVE = 1,
	SRP_LOGOUT_INVALID_IU_TYPE = 2,
	SRP_LOGOUT_UNEXPECTED_RESPONSE = 3,
	SRP_LOGOUT_MULTICHANNEL_ACTION = 4,
	SRP_LOGOUT_BAD_DATA_OUT_FMT = 5,
	SRP_LOGOUT_BAD_DATA_IN_FMT = 6,
	SRP_LOGOUT_INVALID_IU_LENGTH = 8,
};

/* SRP_RSP FLAGS. */
enum {
	SRP_RSP_FLAG_RSPVALID = 1u << 0,
	SRP_RSP_FLAG_SNSVALID = 1u << 1,
	SRP_RSP_FLAG_DOOVER = 1u << 2,
	SRP_RSP_FLAG_DOUNDER = 1u << 3,
	SRP_RSP_FLAG_DIOVER = 1u << 4,
	SRP_RSP_FLAG_DIUNDER = 1u << 5,
};

/* Task management functions of SRP_TSK_MGMT. */
enum {
	SRP_TSK_ABORT_TASK = 0x01,
	SRP_TSK_ABORT_TASK_SET = 0x02,
	SRP_TSK_CLEAR_TASK_SET = 0x04,
	SRP_TSK_LUN_RESET = 0x08,
	SRP_TSK_CLEAR_ACA = 0x40,
};

/* RSP CODE of the 4-byte response data answering SRP_TSK_MGMT. */
enum {
	SRP_TMF_RSP_COMPLETE = 0x00,
	SRP_TMF_RSP_INVALID_FIELDS = 0x02,
	SRP_TMF_RSP_NOT_SUPPORTED = 0x04,
	SRP_TMF_RSP_FAILED = 0x05,
};

/* Task attributes of SRP_CMD byte 29 (bits 2..0). */
enum {
	SRP_ATTR_SIMPLE = 0,
	SRP_ATTR_HEAD_OF_QUEUE = 1,
	SRP_ATTR_ORDERED = 2,
	SRP_ATTR_ACA = 4,
};

/* A LUN field that is not a single-level LUN (peripheral bus 0 or flat): none of ours. */
#define SRP_LUN_INVALID UINT64_MAX

/* The initiator's opaque 8-byte tags are kept as the bytes they are (memcpy'd). */
uint64_t srp_tag_get(const uint8_t *p);
void srp_tag_put(uint8_t *p, uint64_t tag);
uint64_t srp_lun_decode(const uint8_t lun[8]);
/* The IU type of a received IU, or -1 when it is empty. */
int srp_iu_type(const uint8_t *iu, size_t len);

/* ---- login ---- */

struct srp_login_req {
	uint64_t tag;
	uint32_t req_it_iu_len;
	uint16_t req_buf_fmt;
	uint8_t req_flags;
	uint16_t imm_data_offset;   /* meaningful with SRP_REQ_IMMED_REQUESTED */
	uint8_t initiator_port_id[16];
	uint8_t target_port_id[16];
};

/* 0, or -1 when the bytes are not a login request. The RDMA/CM form is what ib_srp sends
 * over RoCE; the 64-byte IU form is the one IB CM carries. */
int srp_login_req_parse_rdma(const uint8_t *pdata, size_t len, struct srp_login_req *out);
int srp_login_req_parse(const uint8_t *iu, size_t len, struct srp_login_req *out);

struct srp_login_rsp {
	uint32_t req_lim_delta;
	uint64_t tag;
	uint32_t max_it_iu_len;
	uint32_t max_ti_iu_len;
	uint16_t buf_fmt;
	uint8_t rsp_flags;
};
size_t srp_login_rsp_build(uint8_t out[SRP_LOGIN_RSP_LEN], const struct srp_login_rsp *rsp);
size_t srp_login_rej_build(uint8_t out[SRP_LOGIN_REJ_LEN], uint32_t reason, uint64_t tag,
			   uint16_t buf_fmt);

/* What this target port offers a channel. */
struct srp_channel_limits {
	uint32_t max_it_iu_len;   /* largest request IU a receive buffer takes */
	uint32_t max_ti_iu_len;   /* largest IU this side sends */
	uint32_t req_lim;         /* request limit granted at login */
	uint16_t buf_fmt;         /* SRP_BUF_FORMAT_* supported */
	bool imm_data;            /* SRP-2 immediate data supported */
};

/* The outcome of the parts of a login that depend on the request alone (identity and
 * multichannel state are the caller's). */
struct srp_login_result {
	bool accept;
	uint32_t reject_reason;
	struct srp_login_rsp rsp;  /* rsp_flags carries IMMED_SUPPORTED; the caller ORs in the
				    * multichannel result */
	uint32_t it_iu_len;        /* the request IU length this channel must receive */
	bool imm_data;
	uint16_t imm_data_offset;
};
void srp_login_negotiate(const struct srp_login_req *req, const struct srp_channel_limits *lim,
			 struct srp_login_result *out);

/* ---- SRP_CMD ---- */

struct srp_desc {
	uint64_t va;
	uint32_t key;
	uint32_t len;
};
struct srp_desc srp_desc_get(const uint8_t *p);
void srp_desc_put(uint8_t *p, const struct srp_desc *desc);

enum srp_data_dir { SRP_DIR_NONE = 0, SRP_DIR_OUT, SRP_DIR_IN };

enum srp_cmd_error {
	SRP_CMD_OK = 0,
	SRP_CMD_TOO_SHORT,      /* not even the fixed part: no tag to answer */
	SRP_CMD_BAD_FORMAT,     /* a reserved descriptor format, or immediate data not negotiated
				 * or for data-in */
	SRP_CMD_BIDIRECTIONAL,  /* data-out and data-in together */
	SRP_CMD_BAD_CDB_LEN,    /* additional CDB beyond the IU */
	SRP_CMD_BAD_DESCRIPTOR, /* descriptors beyond the IU or inconsistent counts */
};
const char *srp_cmd_error_name(enum srp_cmd_error err);

/* Bound on an indirect table, so that a request cannot make the target allocate much. */
#define SRP_MAX_INDIRECT_DESCS 4096u

struct srp_cmd {
	uint64_t tag;                 /* valid unless TOO_SHORT */
	uint64_t lun;
	uint8_t lun_raw[8];
	uint8_t sol_not;
	uint8_t task_attr;            /* SRP_ATTR_* */
	const uint8_t *cdb;           /* inside the IU */
	uint16_t cdb_len;             /* 16 + additional CDB length */
	enum srp_data_dir dir;
	enum srp_desc_fmt fmt;        /* of the direction in use */
	uint32_t data_len;            /* bytes the descriptors describe (expected length) */
	struct srp_desc direct;       /* SRP_FMT_DIRECT */
	struct srp_desc table;        /* SRP_FMT_INDIRECT: where the whole table lives */
	uint32_t table_count;         /* descriptors in the whole table */
	const uint8_t *descs;         /* SRP_FMT_INDIRECT: the descriptors inside the IU */
	uint32_t desc_count;          /*   how many of them (== table_count unless partial) */
	bool partial_table;           /* the table must be fetched with an RDMA READ */
	uint32_t imm_offset;          /* SRP_FMT_IMMEDIATE: where the data starts in the IU */
};
/* imm_data_offset is the channel's negotiated offset, 0 when immediate data is off. */
enum srp_cmd_error srp_cmd_parse(const uint8_t *iu, size_t len, uint16_t imm_data_offset,
				 struct srp_cmd *out);

/* Sum of the lengths of n packed descriptors (64-bit: cannot overflow for sane n). */
uint64_t srp_descs_total(const uint8_t *descs, uint32_t n);

/* ---- other initiator IUs ---- */

struct srp_tsk_mgmt {
	uint64_t tag;
	uint64_t lun;
	uint8_t lun_raw[8];
	uint8_t sol_not;
	uint8_t function;
	uint64_t task_tag;
};
int srp_tsk_mgmt_parse(const uint8_t *iu, size_t len, struct srp_tsk_mgmt *out);

/* SRP_I_LOGOUT, SRP_CRED_RSP, SRP_AER_RSP: type and tag only. 0, or -1 when too short or of
 * another type. */
int srp_simple_iu_parse(const uint8_t *iu, size_t len, uint8_t type, uint64_t *tag);

/* ---- target IUs ---- */

struct srp_rsp {
	uint64_t tag;
	uint32_t req_lim_delta;
	uint8_t sol_not;
	uint8_t status;
	uint8_t flags;               /* SRP_RSP_FLAG_DI/DO OVER/UNDER; the VALID bits are derived */
	uint32_t data_out_residual;
	uint32_t data_in_residual;
	const uint8_t *resp_data;
	uint32_t resp_data_len;
	const uint8_t *sense;
	uint32_t sense_len;
};
/* Residual flags and counts for a command of direction dir (SRP reports them per direction). */
void srp_rsp_set_residual(struct srp_rsp *rsp, enum srp_data_dir dir, bool overflow,
			  bool underflow, uint32_t residual);
/* Writes the response into out (cap bytes; sense is cut to fit), returns its length or 0 when
 * cap cannot hold the fixed part and the response data. */
size_t srp_rsp_build(uint8_t *out, size_t cap, const struct srp_rsp *rsp);
/* The answer to SRP_TSK_MGMT: response data with rsp_code, no sense. */
size_t srp_tmf_rsp_build(uint8_t *out, size_t cap, uint64_t tag, uint32_t req_lim_delta,
			 uint8_t rsp_code);

size_t srp_t_logout_build(uint8_t out[SRP_T_LOGOUT_LEN], uint64_t tag, uint32_t reason);
size_t srp_cred_req_build(uint8_t out[SRP_CRED_REQ_LEN], uint64_t tag, uint32_t req_lim_delta);
size_t srp_aer_req_build(uint8_t *out, size_t cap, uint64_t tag, uint32_t req_lim_delta,
			 const uint8_t lun_raw[8], const uint8_t *sense, uint32_t sense_len);

/* ---- request-limit accounting ----
 *
 * The initiator may send SRP_CMD and SRP_TSK_MGMT only while it holds credits; each costs one
 * and comes back through REQUEST LIMIT DELTA of a later target IU once the target has freed
 * what the request occupied. Invariant: initiator + in_use + pending == limit.
 */
struct srp_credits {
	uint32_t limit;     /* granted at login: receive buffers and command slots behind it */
	uint32_t initiator; /* credits the initiator holds */
	uint32_t in_use;    /* requests being processed */
	uint32_t pending;   /* freed, not yet reported to the initiator */
};
void srp_credits_init(struct srp_credits *c, uint32_t limit);
/* A request arrived. False when the initiator had no credit (an overrun): the caller answers
 * it without a delta and never releases it. */
bool srp_credits_consume(struct srp_credits *c);
/* n requests finished; their credits wait for the next target IU. */
void srp_credits_release(struct srp_credits *c, uint32_t n);
/* The REQUEST LIMIT DELTA for the target IU being built: every pending credit. */
uint32_t srp_credits_take(struct srp_credits *c);

#endif
