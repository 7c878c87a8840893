/* The iSER datamover (RFC 7145): iSCSI PDUs in SENDs, solicited write data by RDMA READ, read data by RDMA WRITE, receive/send rings and the CmdSN window they allow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/scsi.h"
#include "core/target.h"
#include "transports/iser/iser_internal.h"

/* Receive buffers start on cache lines. */
#define RECV_STRIDE ((ISER_RECV_LEN + 63u) & ~63u)
/* What we report as our RDMA READ depth in a HelloReply when the initiator's IRD is larger. */
#define HELLO_ORD_MAX 16

static struct iser_conn *iser_of(struct iscsi_conn *conn)
{
	/* The iSCSI connection is the first member of the iSER one. */
	return (struct iser_conn *)conn;
}

static struct iser_task *task_of(struct iser_conn *ic, const struct iscsi_cmd *cmd)
{
	return &ic->tasks[cmd - cmd->session->cmds];
}

void iser_target_limits(struct iscsi_target_limits *limits)
{
	iscsi_target_limits_default(limits);
	limits->rdma = true;
	/* RFC 7145 6.3 / 5.1: the RDMA layer protects the data; iSER carries no digests. */
	limits->allow_header_digest = false;
	limits->allow_data_digest = false;
	limits->max_recv_dsl = ISER_TARGET_RECV_DSL;
	limits->first_burst_length = ISER_TARGET_RECV_DSL;
	limits->max_outstanding_unexpected_pdus = ISER_RECVS_MAX - ISER_EXTRA_RECVS;
}

/* ---- releasing ---- */

static void free_rings(struct iser_conn *ic)
{
	for (int i = 0; i < 2; i++) {
		if (ic->recv_mr[i])
			ic->rdma->dereg(ic->recv_mr[i]);
		ic->recv_mr[i] = NULL;
	}
	if (ic->send_mr)
		ic->rdma->dereg(ic->send_mr);
	ic->send_mr = NULL;
}

static void free_conn(struct iser_conn *ic)
{
	free_rings(ic);
	for (int i = 0; i < 2; i++)
		free(ic->recv_mem[i]);
	free(ic->send_mem);
	free(ic->recvs);
	free(ic);
}

/* The RDMA layer may let go once the iSCSI layer has (and no receive is being handled: the
 * handler still looks at the connection on its way out). */
static void maybe_release(struct iser_conn *ic)
{
	if (!ic->iscsi_done || ic->busy || ic->release_called)
		return;
	if (ic->released) {
		free_conn(ic);
		return;
	}
	ic->release_called = true;
	ic->rdma->release(ic);
}

void iser_conn_released(struct iser_conn *ic)
{
	ic->released = true;
	ic->rconn = NULL;
	/* The memory registrations go with the device's protection domain, now. */
	free_rings(ic);
	if (ic->iscsi_done && ic->release_called)
		free_conn(ic);
	/* else: the daemon is exiting and a session still holds the connection; the iSCSI
	 * layer frees it (every post fails from here on). */
}

/* ---- sending ---- */

static void send_next_waiting(struct iser_conn *ic);

static void return_slot(struct iser_conn *ic, struct iser_send *s)
{
	if (s->big.base)
		ic->rdma->buf_free(&s->big);
	s->pdu = NULL;
	s->close_after = false;
	s->next_free = ic->free_sends;
	ic->free_sends = s;
}

static void send_done(struct tg_rdma_op *op, int status)
{
	struct iser_send *s = op->priv;
	struct iser_conn *ic = s->ic;
	struct iscsi_tx_pdu *pdu = s->pdu;
	bool close_after = s->close_after;
	ic->sends_busy--;
	return_slot(ic, s);
	/* The connection outlives this (the RDMA layer releases it after every completion). */
	ic->busy++;
	if (pdu)
		iscsi_tx_done(&ic->conn, pdu);
	if (close_after && status == 0)
		iscsi_conn_close(&ic->conn, "logout complete");
	send_next_waiting(ic);
	ic->busy--;
	maybe_release(ic);
}

static struct iser_send *take_slot(struct iser_conn *ic)
{
	struct iser_send *s = ic->free_sends;
	if (s)
		ic->free_sends = s->next_free;
	return s;
}

/* Posts a SEND of len bytes from the slot (or its own buffer); false when the connection is
 * gone (the slot is back on the free list then). */
static bool post_send(struct iser_conn *ic, struct iser_send *s, const uint8_t *buf,
		      uint32_t len, uint32_t lkey)
{
	s->op = (struct tg_rdma_op){ .kind = TG_RDMA_SEND, .local = (void *)buf, .len = len,
				     .lkey = lkey, .done = send_done, .priv = s };
	ic->sends_busy++;
	if (ic->rdma->post(ic, &s->op) == 0)
		return true;
	ic->sends_busy--;
	return false;
}

/* An iSCSI PDU (the shared layer's BHS and data) in a SEND: iSER header, BHS, data, pad. */
static void send_pdu(struct iser_conn *ic, struct iser_send *s, struct iscsi_tx_pdu *pdu)
{
	uint32_t dlen = pdu->data_len;
	uint32_t total = ISER_PDU_HDRS_LEN + dlen + iscsi_pad(dlen);
	uint8_t *buf = s->slot;
	uint32_t lkey = ic->send_lkey;
	if (total > ISER_SEND_SLOT_LEN) {
		if (ic->rdma->buf_alloc(ic, &s->big, total) != 0) {
			return_slot(ic, s);
			iscsi_tx_done(&ic->conn, pdu);
			iscsi_conn_close(&ic->conn, "out of registered memory for a send");
			return;
		}
		buf = s->big.base;
		lkey = s->big.lkey;
	}
	iser_hdr_build_ctrl(buf);
	/* Digests are never on over iSER, so the header is the BHS alone. */
	memcpy(buf + ISER_HDR_LEN, pdu->hdr, ISCSI_BHS_LEN);
	if (dlen)
		memcpy(buf + ISER_PDU_HDRS_LEN, pdu->data, dlen);
	memset(buf + ISER_PDU_HDRS_LEN + dlen, 0, iscsi_pad(dlen));
	s->pdu = pdu;
	s->close_after = pdu->close_after;
	if (!post_send(ic, s, buf, total, lkey)) {
		/* The connection is closing: the PDU never leaves. */
		s->pdu = NULL;
		return_slot(ic, s);
		iscsi_tx_done(&ic->conn, pdu);
	}
}

static void send_next_waiting(struct iser_conn *ic)
{
	while (ic->wait_head && ic->conn.phase != ISCSI_PHASE_CLOSING) {
		struct iser_send *s = take_slot(ic);
		if (!s)
			return;
		struct iscsi_tx_pdu *pdu = ic->wait_head;
		ic->wait_head = pdu->next;
		if (!ic->wait_head)
			ic->wait_tail = NULL;
		send_pdu(ic, s, pdu);
	}
}

static void iser_queue(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu)
{
	struct iser_conn *ic = iser_of(conn);
	pdu->next = NULL;
	/* In order: nothing overtakes a PDU that waits for a slot. */
	struct iser_send *s = ic->wait_head ? NULL : take_slot(ic);
	if (s) {
		send_pdu(ic, s, pdu);
		return;
	}
	if (ic->wait_tail)
		ic->wait_tail->next = pdu;
	else
		ic->wait_head = pdu;
	ic->wait_tail = pdu;
}

/* Each PDU is posted as it is queued: the RDMA layer batches the doorbells. */
static void iser_flush(struct iscsi_conn *conn) {}

/* ---- data movement ---- */

static void data_done(struct tg_rdma_op *op, int status)
{
	struct iscsi_cmd *cmd = op->priv;
	struct iser_conn *ic = iser_of(cmd->conn);
	ic->data_ops--;
	cmd->tx_refs--;
	ic->busy++;
	if (op->kind == TG_RDMA_READ) {
		cmd->r2t_outstanding = 0;
		/* On failure the connection is closing: its teardown ends the data phase. */
		if (status == 0) {
			ic->rdma_read_bytes += op->len;
			cmd->received += op->len;
			iscsi_cmd_check_write_done(cmd);
		}
	} else if (status == 0) {
		ic->rdma_write_bytes += op->len;
	}
	/* The buffer was held for the device; the command may go now. */
	if (cmd->tx_refs == 0 && cmd->response_queued)
		iscsi_cmd_put(cmd);
	ic->busy--;
	maybe_release(ic);
}

static bool post_data(struct iser_conn *ic, struct iscsi_cmd *cmd, struct iser_task *t,
		      enum tg_rdma_op_kind kind, uint8_t *local, uint32_t len)
{
	t->op = (struct tg_rdma_op){ .kind = kind, .local = local, .len = len,
				     .lkey = cmd->task.data.lkey, .remote = &t->remote,
				     .nremote = 1, .done = data_done, .priv = cmd };
	cmd->tx_refs++;
	ic->data_ops++;
	if (ic->rdma->post(ic, &t->op) == 0)
		return true;
	cmd->tx_refs--;
	ic->data_ops--;
	return false;
}

/* Every task buffer of an iSER connection comes from iser_alloc_buf (the registered pool):
 * one that does not could not be moved by the device at all. */
static bool registered(const struct iscsi_cmd *cmd)
{
	return cmd->task.data.owner != NULL;
}

static void fail_write(struct iscsi_cmd *cmd, enum tg_sense_reason reason, const char *why)
{
	tg_warn(ISER_LOG, "%s: ITT %#x: %s", cmd->conn->peer, cmd->itt, why);
	cmd->write_pending = false;
	tg_task_data_ready(&cmd->task, reason);
}

/*
 * The rest of the write data comes by one RDMA READ from the initiator's write buffer, whose
 * STag and VA describe the bytes after its unsolicited data (RFC 7145 7.3.5). The READ waits
 * for the unsolicited data to be in: the offsets of Data-Out PDUs still arriving are checked
 * against what was received before them.
 */
static void iser_solicit(struct iscsi_cmd *cmd)
{
	struct iser_conn *ic = iser_of(cmd->conn);
	uint32_t need = (uint32_t)cmd->task.data.len;
	if (cmd->r2t_outstanding || cmd->solicited >= need || !cmd->unsolicited_done)
		return;
	if (cmd->received < cmd->unsolicited_len) {
		fail_write(cmd, TG_SR_NOT_ENOUGH_UNSOLICITED_DATA,
			   "less unsolicited data than FirstBurstLength required");
		return;
	}
	struct iser_task *t = task_of(ic, cmd);
	if (!t->tags.wsv) {
		fail_write(cmd, TG_SR_DATA_PHASE_ERROR, "write data to fetch but no write STag");
		return;
	}
	uint32_t from = cmd->received;
	t->remote = (struct tg_rdma_remote){ .addr = t->tags.write_va + (from - cmd->unsolicited_len),
					     .rkey = t->tags.write_stag, .len = need - from };
	if (!registered(cmd)) {
		fail_write(cmd, TG_SR_INTERNAL_TARGET_FAILURE, "write buffer not RDMA-registered");
		return;
	}
	cmd->solicited = need;
	cmd->r2t_outstanding = 1;
	if (!post_data(ic, cmd, t, TG_RDMA_READ, cmd->task.data.base + from, need - from))
		cmd->r2t_outstanding = 0; /* closing: the session teardown ends the command */
}

/* Read data goes by RDMA WRITE into the initiator's read buffer; the SCSI Response follows
 * as a SEND posted after it (the RDMA layer keeps them in order). */
static bool iser_send_read_data(struct iscsi_cmd *cmd, bool with_status)
{
	struct iser_conn *ic = iser_of(cmd->conn);
	struct iser_task *t = task_of(ic, cmd);
	uint32_t len = (uint32_t)cmd->task.data.len;
	if (len > cmd->exp_len)
		len = cmd->exp_len;
	if (!t->tags.rsv) {
		tg_warn(ISER_LOG, "%s: ITT %#x: read data but no read STag", ic->conn.peer, cmd->itt);
		iscsi_conn_close(&ic->conn, "read command without a read STag");
		return true;
	}
	if (!registered(cmd)) {
		tg_err(ISER_LOG, "%s: ITT %#x: read buffer not RDMA-registered", ic->conn.peer,
		       cmd->itt);
		iscsi_conn_close(&ic->conn, "internal error: unregistered data buffer");
		return true;
	}
	t->remote = (struct tg_rdma_remote){ .addr = t->tags.read_va, .rkey = t->tags.read_stag,
					     .len = cmd->exp_len };
	post_data(ic, cmd, t, TG_RDMA_WRITE, cmd->task.data.base, len);
	return false;
}

static int iser_alloc_buf(struct iscsi_conn *conn, struct tg_buf *buf, size_t len)
{
	struct iser_conn *ic = iser_of(conn);
	return ic->rdma->buf_alloc(ic, buf, len);
}

static void iser_free_buf(struct iscsi_conn *conn, struct tg_buf *buf)
{
	iser_of(conn)->rdma->buf_free(buf);
}

/* ---- receiving ---- */

static int add_receives(struct iser_conn *ic, int region, uint32_t count)
{
	if (count == 0)
		return 0;
	size_t len = (size_t)count * RECV_STRIDE;
	void *mem = NULL;
	if (posix_memalign(&mem, TG_BUF_ALIGN, len) != 0)
		return -1;
	ic->recv_mem[region] = mem;
	uint32_t lkey = 0;
	ic->recv_mr[region] = ic->rdma->reg(ic, mem, len, &lkey);
	if (!ic->recv_mr[region])
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		struct iser_recv *r = &ic->recvs[ic->nrecv];
		r->ic = ic;
		r->rr.buf = (uint8_t *)mem + (size_t)i * RECV_STRIDE;
		r->rr.len = ISER_RECV_LEN;
		r->rr.lkey = lkey;
		r->rr.priv = r;
		if (ic->rdma->post_recv(ic, &r->rr) != 0)
			return -1;
		ic->nrecv++;
	}
	return 0;
}

static void repost(struct iser_conn *ic, struct iser_recv *r)
{
	if (ic->conn.phase != ISCSI_PHASE_CLOSING)
		ic->rdma->post_recv(ic, &r->rr);
}

static bool send_raw(struct iser_conn *ic, const uint8_t *bytes, uint32_t len)
{
	struct iser_send *s = take_slot(ic);
	if (!s)
		return false;
	memcpy(s->slot, bytes, len);
	if (!post_send(ic, s, s->slot, len, ic->send_lkey)) {
		return_slot(ic, s);
		return false;
	}
	return true;
}

/* RFC 7145 9.3/9.4: Linux never sends a Hello, but an initiator that does gets its reply. */
static void handle_hello(struct iser_conn *ic, const uint8_t *msg, uint32_t len)
{
	struct iser_hello hello;
	if (iser_hello_parse(msg, len, &hello) != ISER_PARSE_OK) {
		iscsi_conn_close(&ic->conn, "malformed iSER Hello");
		return;
	}
	bool common = hello.min_version <= ISER_VERSION && ISER_VERSION <= hello.max_version;
	uint16_t ord = hello.ird < HELLO_ORD_MAX ? hello.ird : HELLO_ORD_MAX;
	uint8_t reply[ISER_HELLO_LEN];
	iser_hello_reply_build(reply, !common, ISER_VERSION, ISER_VERSION, ord);
	tg_info(ISER_LOG, "%s: iSER Hello (versions %u-%u, IRD %u): %s", ic->conn.peer,
		hello.min_version, hello.max_version, hello.ird, common ? "accepted" : "rejected");
	if (!send_raw(ic, reply, sizeof(reply)))
		iscsi_conn_close(&ic->conn, "cannot send the iSER HelloReply");
}

/* One SEND from the initiator: an iSCSI PDU whole, read in place (control data) or copied
 * into its command's buffer (immediate and unsolicited data). */
static void handle_message(struct iser_conn *ic, struct iser_recv *r, uint32_t len)
{
	struct iscsi_conn *conn = &ic->conn;
	const uint8_t *msg = r->rr.buf;
	struct iser_hdr ih;
	enum iser_parse_error err = iser_hdr_parse(msg, len, &ih);
	if (err == ISER_PARSE_OK && ih.opcode == ISER_OP_HELLO) {
		handle_hello(ic, msg, len);
		return;
	}
	if (err != ISER_PARSE_OK || ih.opcode != ISER_OP_CTRL || len < ISER_PDU_HDRS_LEN) {
		tg_warn(ISER_LOG, "%s: malformed iSER message (%u bytes, byte 0 %#x)", conn->peer,
			len, len ? msg[0] : 0u);
		iscsi_conn_close(conn, "malformed iSER header");
		return;
	}
	memcpy(conn->rx_bhs, msg + ISER_HDR_LEN, ISCSI_BHS_LEN);
	uint32_t max_dsl = conn->phase == ISCSI_PHASE_FULL_FEATURE && conn->session
				   ? conn->session->params.max_recv_dsl
				   : ISCSI_CTRL_DSL_MAX;
	enum iscsi_parse_error perr = iscsi_hdr_parse(conn->rx_bhs, max_dsl, &conn->rx_hdr);
	if (perr != ISCSI_PARSE_OK) {
		tg_warn(ISER_LOG, "%s: malformed PDU header (opcode %#x, error %d, DSL %u)",
			conn->peer, conn->rx_bhs[0] & 0x3f, perr, get_be24(conn->rx_bhs + 5));
		iscsi_conn_close(conn, "malformed PDU");
		return;
	}
	const struct iscsi_hdr *hdr = &conn->rx_hdr;
	size_t need = (size_t)ISER_PDU_HDRS_LEN + hdr->ahs_len + hdr->data_len;
	if (hdr->ahs_len > sizeof(conn->rx_ahs) - ISCSI_DIGEST_LEN || len < need) {
		tg_warn(ISER_LOG, "%s: SEND of %u bytes for a PDU of %zu (opcode %#x)", conn->peer,
			len, need, hdr->opcode);
		iscsi_conn_close(conn, "truncated PDU");
		return;
	}
	memcpy(conn->rx_ahs, msg + ISER_PDU_HDRS_LEN, hdr->ahs_len);
	uint8_t *data = (uint8_t *)msg + ISER_PDU_HDRS_LEN + hdr->ahs_len;
	conn->rx_cmd = NULL;
	conn->rx_ctrl = data;
	if (iscsi_conn_rx_begin(conn) != 0) {
		conn->rx_ctrl = NULL;
		iscsi_conn_close(conn, "malformed PDU");
		return;
	}
	/* The STags travel with the command; its data phase starts only after dispatch. */
	if (hdr->opcode == ISCSI_OP_SCSI_CMD && conn->rx_cmd)
		task_of(ic, conn->rx_cmd)->tags = ih;
	if (hdr->data_len && !conn->rx_discard && conn->rx_data != data) {
		/* Immediate or unsolicited data: the one copy on the iSER data path (counted;
		 * InitialR2T=Yes with ImmediateData=No avoids it). */
		memcpy(conn->rx_data, data, hdr->data_len);
		tg_stats_count_copy(hdr->data_len);
		ic->copied_bytes += hdr->data_len;
	}
	iscsi_conn_dispatch(conn);
	conn->rx_ctrl = NULL;
}

static void receive(struct iser_conn *ic, struct iser_recv *r, uint32_t len)
{
	ic->busy++;
	handle_message(ic, r, len);
	repost(ic, r);
	ic->busy--;
	maybe_release(ic);
}

void iser_conn_recv(struct iser_conn *ic, struct iser_recv *r, uint32_t len)
{
	if (ic->conn.phase == ISCSI_PHASE_CLOSING)
		return;
	if (ic->paused || ic->held_head) {
		/* A login waits for its predecessor: keep the order, handle these later. */
		r->held_len = len;
		r->next_held = NULL;
		if (ic->held_tail)
			ic->held_tail->next_held = r;
		else
			ic->held_head = r;
		ic->held_tail = r;
		return;
	}
	receive(ic, r, len);
}

static void iser_receive_pause(struct iscsi_conn *conn, bool paused)
{
	struct iser_conn *ic = iser_of(conn);
	ic->paused = paused;
	while (!ic->paused && ic->held_head && conn->phase != ISCSI_PHASE_CLOSING) {
		struct iser_recv *r = ic->held_head;
		ic->held_head = r->next_held;
		if (!ic->held_head)
			ic->held_tail = NULL;
		receive(ic, r, r->held_len);
	}
}

/* ---- the session's window ---- */

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/*
 * The final login response is about to go: from then on the initiator may send as many
 * commands as the CmdSN window allows, each with its unsolicited PDUs. Every one of those
 * needs a posted receive (an RDMA SEND with none waiting is an error that kills the
 * connection), so the receives are posted now and the window is held to what they cover.
 */
static int iser_full_feature(struct iscsi_conn *conn)
{
	struct iser_conn *ic = iser_of(conn);
	struct iscsi_session *session = conn->session;
	struct iscsi_params *p = &session->params;
	bool normal = session->type == ISCSI_SESSION_NORMAL;
	if (normal && !p->rdma_extensions) {
		tg_warn(ISER_LOG, "%s: RDMAExtensions=No on an iSER connection", conn->peer);
		return -1;
	}
	if (p->rdma_extensions) {
		p->max_recv_dsl = p->target_recv_dsl;
		p->max_xmit_dsl = min_u32(p->initiator_recv_dsl, ISER_SEND_DSL_MAX);
	} else {
		p->max_xmit_dsl = min_u32(p->max_xmit_dsl, ISER_SEND_DSL_MAX);
	}
	if (p->max_recv_dsl > ISER_TARGET_RECV_DSL)
		p->max_recv_dsl = ISER_TARGET_RECV_DSL;
	uint32_t per_cmd = 1;
	if (normal && !p->initial_r2t) {
		uint32_t first = p->first_burst_length;
		uint32_t imm = p->immediate_data ? min_u32(first, p->max_recv_dsl) : 0;
		if (first > imm)
			per_cmd += (first - imm + p->max_recv_dsl - 1) / p->max_recv_dsl;
	}
	uint32_t want = normal ? ISCSI_SESSION_CMDS * per_cmd + ISER_EXTRA_RECVS : ic->nrecv;
	want = min_u32(want, ISER_RECVS_MAX);
	if (want > ic->nrecv && add_receives(ic, 1, want - ic->nrecv) != 0) {
		tg_warn(ISER_LOG, "%s: cannot post %u receives", conn->peer, want);
		return -1;
	}
	uint32_t window = ic->nrecv > ISER_EXTRA_RECVS ? (ic->nrecv - ISER_EXTRA_RECVS) / per_cmd : 1;
	session->cmd_limit = window ? window : 1;
	if (normal)
		tg_info(ISER_LOG, "%s: %u receives posted for a window of %u commands (%u PDUs each: "
			"InitialR2T=%s ImmediateData=%s FirstBurstLength=%u), data segments in %u/out %u",
			conn->peer, ic->nrecv, session->cmd_limit, per_cmd,
			p->initial_r2t ? "Yes" : "No", p->immediate_data ? "Yes" : "No",
			p->first_burst_length, p->max_recv_dsl, p->max_xmit_dsl);
	return 0;
}

/* ---- closing ---- */

static void iser_close(struct iscsi_conn *conn)
{
	struct iser_conn *ic = iser_of(conn);
	while (ic->wait_head) {
		struct iscsi_tx_pdu *pdu = ic->wait_head;
		ic->wait_head = pdu->next;
		iscsi_tx_done(conn, pdu);
	}
	ic->wait_tail = NULL;
	ic->held_head = ic->held_tail = NULL;
	/* What the session teardown is about to abort: a peer that vanished mid-transfer shows
	 * here (the guest scenarios look for it). */
	unsigned unanswered = 0;
	if (conn->session)
		for (int i = 0; i < ISCSI_SESSION_CMDS; i++)
			if (conn->session->cmds[i].in_use && !conn->session->cmds[i].response_queued)
				unanswered++;
	tg_info(ISER_LOG, "%s: connection closed: %llu bytes by RDMA READ, %llu by RDMA WRITE; "
		"data path copies: %llu bytes on this connection; %u commands unanswered, "
		"%u RDMA transfers in flight", conn->peer,
		(unsigned long long)ic->rdma_read_bytes, (unsigned long long)ic->rdma_write_bytes,
		(unsigned long long)ic->copied_bytes, unanswered, ic->data_ops);
	if (!ic->rdma_closing)
		ic->rdma->disconnect(ic, "iSCSI connection closed");
}

static void iser_destroy(struct iscsi_conn *conn)
{
	struct iser_conn *ic = iser_of(conn);
	ic->iscsi_done = true;
	maybe_release(ic);
}

void iser_conn_closing(struct iser_conn *ic, const char *why)
{
	ic->rdma_closing = true;
	ic->busy++;
	iscsi_conn_close(&ic->conn, why);
	ic->busy--;
	maybe_release(ic);
}

/* ---- set-up ---- */

int iser_conn_init(struct iser_conn *ic, struct iscsi_server *server,
		   const struct iscsi_target_limits *limits, const char *peer)
{
	ic->recvs = calloc(ISER_RECVS_MAX, sizeof(*ic->recvs));
	void *mem = NULL;
	size_t send_len = (size_t)ISER_SEND_SLOTS * ISER_SEND_SLOT_LEN;
	if (!ic->recvs || posix_memalign(&mem, 64, send_len) != 0)
		return -1;
	ic->send_mem = mem;
	ic->send_mr = ic->rdma->reg(ic, mem, send_len, &ic->send_lkey);
	if (!ic->send_mr)
		return -1;
	for (int i = ISER_SEND_SLOTS - 1; i >= 0; i--) {
		struct iser_send *s = &ic->sends[i];
		s->ic = ic;
		s->slot = ic->send_mem + (size_t)i * ISER_SEND_SLOT_LEN;
		s->next_free = ic->free_sends;
		ic->free_sends = s;
	}
	/* Only the login's receives for now: the rest waits for an authenticated session
	 * (RFC 7145 11: no resources for a connection that may be an attack). */
	if (add_receives(ic, 0, ISER_LOGIN_RECVS) != 0)
		return -1;
	iscsi_conn_init(server, &ic->conn, &iser_datamover, limits, peer);
	return 0;
}

void iser_conn_discard(struct iser_conn *ic)
{
	free_conn(ic);
}

const struct iscsi_datamover iser_datamover = {
	.name = "iser",
	.transport = TG_TRANSPORT_ISER,
	.queue = iser_queue,
	.flush = iser_flush,
	.solicit = iser_solicit,
	.send_read_data = iser_send_read_data,
	.close = iser_close,
	.destroy = iser_destroy,
	.receive_pause = iser_receive_pause,
	.full_feature = iser_full_feature,
	.alloc_buf = iser_alloc_buf,
	.free_buf = iser_free_buf,
};
