/* iSER wire formats (RFC 7145 section 9 and the RDMA-CM private data): pure encoders and decoders, no I/O. */
#ifndef ISER_PROTO_H
#define ISER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/iscsi/pdu.h"

/* The iSER header of a control-type message: opcode/flags, write STag + VA, read STag + VA
 * (the 64-bit VA form every Linux initiator uses: it never supports zero-based VAs). */
#define ISER_HDR_LEN 28
/* Hello and HelloReply are an iSER header alone, in this shorter form. */
#define ISER_HELLO_LEN 12
/* What precedes the data segment of an iSCSI PDU in a SEND (without AHS). */
#define ISER_PDU_HDRS_LEN (ISER_HDR_LEN + ISCSI_BHS_LEN)
/* The iSER version RFC 7145 defines. */
#define ISER_VERSION 1
/* RDMA-CM private data carried by the connect request and its reply. */
#define ISER_CM_HDR_LEN 4

enum iser_opcode {
	ISER_OP_CTRL = 0x1,        /* an iSCSI control-type PDU follows */
	ISER_OP_HELLO = 0x2,
	ISER_OP_HELLO_REPLY = 0x3,
};

/* Byte 0 of the header: opcode in the high nibble, then the STag-valid flags. */
#define ISER_FLAG_WSV 0x08 /* write STag and VA valid: solicited write data by RDMA READ */
#define ISER_FLAG_RSV 0x04 /* read STag and VA valid: read data by RDMA WRITE */

struct iser_hdr {
	enum iser_opcode opcode;
	bool wsv, rsv;
	uint32_t write_stag;
	uint64_t write_va;
	uint32_t read_stag;
	uint64_t read_va;
};

enum iser_parse_error {
	ISER_PARSE_OK = 0,
	ISER_PARSE_SHORT = -1,      /* fewer bytes than the header (or the PDU it announces) */
	ISER_PARSE_BAD_OPCODE = -2, /* reserved iSER opcode */
	ISER_PARSE_BAD_PDU = -3,    /* the iSCSI header inside is malformed */
};

/* Decodes the iSER header at the front of a received message. Hello/HelloReply need
 * ISER_HELLO_LEN bytes, a control-type message ISER_HDR_LEN. */
enum iser_parse_error iser_hdr_parse(const uint8_t *msg, size_t len, struct iser_hdr *out);
/* The target's header for an iSCSI PDU it sends: no STags (it never asks the initiator to
 * RDMA anything). */
void iser_hdr_build_ctrl(uint8_t out[ISER_HDR_LEN]);

/* One received SEND carrying an iSCSI PDU: iSER header, BHS, AHS, data segment (padding, if
 * the initiator sent any, is tolerated). */
struct iser_msg {
	struct iser_hdr iser;
	const uint8_t *bhs;        /* ISCSI_BHS_LEN bytes */
	struct iscsi_hdr hdr;
	const uint8_t *ahs;        /* hdr.ahs_len bytes */
	const uint8_t *data;       /* hdr.data_len bytes */
	enum iscsi_parse_error pdu_error; /* when the result is ISER_PARSE_BAD_PDU */
};
/* Splits and decodes a control-type message; max_dsl bounds the data segment as the
 * negotiated TargetRecvDataSegmentLength does. */
enum iser_parse_error iser_msg_parse(const uint8_t *msg, size_t len, uint32_t max_dsl,
				     struct iser_msg *out);

/* Hello (initiator → target) and HelloReply (RFC 7145 9.3, 9.4). */
struct iser_hello {
	uint8_t max_version, min_version;
	uint16_t ird;              /* initiator's RDMA Read depth (inbound) */
};
enum iser_parse_error iser_hello_parse(const uint8_t *msg, size_t len, struct iser_hello *out);
/* reject: no common version (then cur_version is meaningless to the initiator). */
void iser_hello_reply_build(uint8_t out[ISER_HELLO_LEN], bool reject, uint8_t max_version,
			    uint8_t cur_version, uint16_t ord);

/* RDMA-CM private data. In the request: what the initiator cannot do; in the reply: what the
 * target will not do (Linux's ib_iser reads the reply to decide on remote invalidation). */
#define ISER_CM_ZBVA_NOT_SUPPORTED 0x80
#define ISER_CM_SEND_W_INV_NOT_SUPPORTED 0x40
struct iser_cm_req {
	bool present;              /* the request carried iSER private data */
	bool zbva_not_supported;
	bool send_w_inv_not_supported;
};
void iser_cm_req_parse(const void *pdata, size_t len, struct iser_cm_req *out);
/* Our reply: no zero-based VAs, no Send with Invalidate. */
void iser_cm_rep_build(uint8_t out[ISER_CM_HDR_LEN]);

#endif
