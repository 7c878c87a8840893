/* iSER wire formats: the header of every SEND, the PDU inside it, Hello/HelloReply, the RDMA-CM private data. */
#include "transports/iser/proto.h"

#include <string.h>

#include "core/scsi.h"

enum iser_parse_error iser_hdr_parse(const uint8_t *msg, size_t len, struct iser_hdr *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return ISER_PARSE_SHORT;
	unsigned opcode = msg[0] >> 4;
	switch (opcode) {
	case ISER_OP_CTRL:
		if (len < ISER_HDR_LEN)
			return ISER_PARSE_SHORT;
		out->opcode = ISER_OP_CTRL;
		out->wsv = msg[0] & ISER_FLAG_WSV;
		out->rsv = msg[0] & ISER_FLAG_RSV;
		/* An STag the flag does not vouch for means nothing: leave it out. */
		if (out->wsv) {
			out->write_stag = get_be32(msg + 4);
			out->write_va = get_be64(msg + 8);
		}
		if (out->rsv) {
			out->read_stag = get_be32(msg + 16);
			out->read_va = get_be64(msg + 20);
		}
		return ISER_PARSE_OK;
	case ISER_OP_HELLO:
	case ISER_OP_HELLO_REPLY:
		if (len < ISER_HELLO_LEN)
			return ISER_PARSE_SHORT;
		out->opcode = (enum iser_opcode)opcode;
		return ISER_PARSE_OK;
	default:
		return ISER_PARSE_BAD_OPCODE;
	}
}

void iser_hdr_build_ctrl(uint8_t out[ISER_HDR_LEN])
{
	memset(out, 0, ISER_HDR_LEN);
	out[0] = ISER_OP_CTRL << 4;
}

enum iser_parse_error iser_msg_parse(const uint8_t *msg, size_t len, uint32_t max_dsl,
				     struct iser_msg *out)
{
	memset(out, 0, sizeof(*out));
	enum iser_parse_error rc = iser_hdr_parse(msg, len, &out->iser);
	if (rc != ISER_PARSE_OK)
		return rc;
	if (out->iser.opcode != ISER_OP_CTRL)
		return ISER_PARSE_BAD_OPCODE;
	if (len < ISER_PDU_HDRS_LEN)
		return ISER_PARSE_SHORT;
	out->bhs = msg + ISER_HDR_LEN;
	out->pdu_error = iscsi_hdr_parse(out->bhs, max_dsl, &out->hdr);
	if (out->pdu_error != ISCSI_PARSE_OK)
		return ISER_PARSE_BAD_PDU;
	/* One SEND carries exactly one PDU: what it announces must be there. */
	size_t need = (size_t)ISER_PDU_HDRS_LEN + out->hdr.ahs_len + out->hdr.data_len;
	if (len < need)
		return ISER_PARSE_SHORT;
	out->ahs = msg + ISER_PDU_HDRS_LEN;
	out->data = out->ahs + out->hdr.ahs_len;
	return ISER_PARSE_OK;
}

enum iser_parse_error iser_hello_parse(const uint8_t *msg, size_t len, struct iser_hello *out)
{
	memset(out, 0, sizeof(*out));
	struct iser_hdr hdr;
	enum iser_parse_error rc = iser_hdr_parse(msg, len, &hdr);
	if (rc != ISER_PARSE_OK)
		return rc;
	if (hdr.opcode != ISER_OP_HELLO)
		return ISER_PARSE_BAD_OPCODE;
	out->max_version = msg[1] >> 4;
	out->min_version = msg[1] & 0x0f;
	out->ird = get_be16(msg + 2);
	return ISER_PARSE_OK;
}

void iser_hello_reply_build(uint8_t out[ISER_HELLO_LEN], bool reject, uint8_t max_version,
			    uint8_t cur_version, uint16_t ord)
{
	memset(out, 0, ISER_HELLO_LEN);
	out[0] = (uint8_t)(ISER_OP_HELLO_REPLY << 4 | (reject ? 1 : 0));
	out[1] = (uint8_t)((max_version & 0x0f) << 4 | (cur_version & 0x0f));
	put_be16(out + 2, ord);
}

void iser_cm_req_parse(const void *pdata, size_t len, struct iser_cm_req *out)
{
	memset(out, 0, sizeof(*out));
	/* Initiators that predate the private data send none (or zeros): nothing is promised
	 * either way, and we never rely on either feature. */
	if (len < ISER_CM_HDR_LEN)
		return;
	const uint8_t *p = pdata;
	out->present = true;
	out->zbva_not_supported = p[0] & ISER_CM_ZBVA_NOT_SUPPORTED;
	out->send_w_inv_not_supported = p[0] & ISER_CM_SEND_W_INV_NOT_SUPPORTED;
}

void iser_cm_rep_build(uint8_t out[ISER_CM_HDR_LEN])
{
	memset(out, 0, ISER_CM_HDR_LEN);
	/* Our RDMA operations use the initiator's VAs as given, and we never send with
	 * invalidate: the initiator invalidates its own STags. */
	out[0] = ISER_CM_ZBVA_NOT_SUPPORTED | ISER_CM_SEND_W_INV_NOT_SUPPORTED;
}
