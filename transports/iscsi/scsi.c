/* iSCSI SCSI data path: commands, immediate/unsolicited/R2T-solicited Data-Out, Data-In,
 * status, and task management — the transport ops the core calls back. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/nexus.h"
#include "core/scsi.h"
#include "core/tmf.h"
#include "transports/iscsi/iscsi.h"

static struct iscsi_cmd *cmd_of(struct tg_task *task)
{
	return (struct iscsi_cmd *)((char *)task - offsetof(struct iscsi_cmd, task));
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

int iscsi_scsi_cmd_begin(struct iscsi_conn *conn, const struct iscsi_hdr *hdr)
{
	struct iscsi_session *session = conn->session;
	if (!session || session->type != ISCSI_SESSION_NORMAL) {
		tg_warn("iscsi", "%s: SCSI command in a discovery session", conn->peer);
		return -1;
	}
	const struct iscsi_params *p = &session->params;
	if (hdr->data_len && (!hdr->write || !p->immediate_data ||
			      hdr->data_len > min_u32(p->first_burst_length, hdr->exp_xfer_len))) {
		tg_warn("iscsi", "%s: ITT %#x: %u bytes of immediate data not allowed", conn->peer,
			hdr->itt, hdr->data_len);
		return -1;
	}
	struct iscsi_cmd *cmd = iscsi_cmd_get(session);
	if (!cmd) {
		/* The initiator ignored MaxCmdSN. */
		tg_warn("iscsi", "%s: command beyond MaxCmdSN (no free slot)", conn->peer);
		return -1;
	}
	cmd->itt = hdr->itt;
	cmd->cmdsn = hdr->cmdsn;
	cmd->exp_len = hdr->exp_xfer_len;
	cmd->ttt = ISCSI_RESERVED_TAG;
	struct tg_task *task = &cmd->task;
	tg_task_init(task, session->nexus, &iscsi_transport_ops, conn->server->engine);
	task->lun = hdr->lun;
	task->tag = hdr->itt;
	task->attr = hdr->attr == 1 ? TG_ATTR_SIMPLE
		     : hdr->attr == 2 ? TG_ATTR_ORDERED
		     : hdr->attr == 3 ? TG_ATTR_HEAD_OF_QUEUE
		     : hdr->attr == 4 ? TG_ATTR_ACA
				      : TG_ATTR_SIMPLE;
	task->exp_dir = hdr->write ? TG_DIR_WRITE : hdr->read ? TG_DIR_READ : TG_DIR_NONE;
	task->exp_len = hdr->exp_xfer_len;
	if (hdr->ahs_len) {
		int len = iscsi_ahs_extended_cdb(conn->rx_ahs, hdr->ahs_len, hdr->cdb, task->cdb,
						 sizeof(task->cdb));
		if (len < 0) {
			tg_warn("iscsi", "%s: ITT %#x: malformed AHS", conn->peer, hdr->itt);
			task->cdb_len = 0;
			iscsi_cmd_put(cmd);
			return -1;
		}
		task->cdb_len = (uint16_t)len;
	} else {
		memcpy(task->cdb, hdr->cdb, 16);
		task->cdb_len = 16;
	}
	if (hdr->write && hdr->exp_xfer_len) {
		cmd->unsolicited_len = p->initial_r2t ? hdr->data_len
				       : min_u32(p->first_burst_length, hdr->exp_xfer_len);
		cmd->unsolicited_done = p->initial_r2t || hdr->final;
		/* Immediate and unsolicited data land directly in the command's buffer. Without
		 * one (the data-buffer budget is spent) the data is read and dropped and the
		 * command answered TASK SET FULL, which the initiator retries. */
		if (hdr->exp_xfer_len <= ISCSI_MAX_PREALLOC &&
		    tg_task_alloc_data(task, hdr->exp_xfer_len) != 0)
			task->refuse = TG_SR_TASK_SET_FULL;
		task->data.len = 0;
		if (task->data.base)
			conn->rx_data = task->data.base;
		else
			conn->rx_discard = true;
		cmd->received = hdr->data_len;
	} else {
		cmd->unsolicited_done = true;
	}
	conn->rx_cmd = cmd;
	return 0;
}

void iscsi_scsi_cmd_end(struct iscsi_conn *conn)
{
	struct iscsi_cmd *cmd = conn->rx_cmd;
	conn->rx_cmd = NULL;
	if (!iscsi_cmdsn_accept(conn, &conn->rx_hdr)) {
		tg_task_release(&cmd->task);
		iscsi_cmd_put(cmd);
		return;
	}
	cmd->submitted = true;
	tg_task_submit(&cmd->task);
}

void iscsi_tcp_send_r2ts(struct iscsi_cmd *cmd)
{
	struct iscsi_conn *conn = cmd->conn;
	const struct iscsi_params *p = &cmd->session->params;
	uint32_t need = (uint32_t)cmd->task.data.len;
	if (cmd->ttt == ISCSI_RESERVED_TAG) {
		do {
			cmd->ttt = cmd->session->next_ttt++;
		} while (cmd->ttt == ISCSI_RESERVED_TAG);
	}
	while (cmd->solicited < need && cmd->r2t_outstanding < p->max_outstanding_r2t) {
		uint32_t len = min_u32(p->max_burst_length, need - cmd->solicited);
		uint8_t bhs[ISCSI_BHS_LEN];
		struct iscsi_sn_fields sn;
		iscsi_conn_sn(conn, false, &sn);
		iscsi_build_r2t(bhs, cmd->itt, cmd->task.lun, cmd->ttt, cmd->r2tsn++, cmd->solicited,
				len, &sn);
		iscsi_conn_send(conn, bhs, NULL, 0, false);
		cmd->solicited += len;
		cmd->r2t_outstanding++;
	}
}

/* The data phase is over once what the command needs is here and the initiator has nothing
 * more in flight that it was allowed to send unsolicited. */
void iscsi_cmd_check_write_done(struct iscsi_cmd *cmd)
{
	if (!cmd->write_pending)
		return;
	uint32_t need = (uint32_t)cmd->task.data.len;
	if (cmd->received >= need && cmd->unsolicited_done && cmd->r2t_outstanding == 0) {
		cmd->write_pending = false;
		tg_task_data_ready(&cmd->task, TG_SR_OK);
		return;
	}
	cmd->conn->dm->solicit(cmd);
}

static void iscsi_write_pending(struct tg_task *task)
{
	struct iscsi_cmd *cmd = cmd_of(task);
	if (cmd->conn->phase == ISCSI_PHASE_CLOSING) {
		tg_task_data_ready(task, TG_SR_TASK_ABORTED);
		return;
	}
	cmd->write_pending = true;
	/* The initiator covers [0, unsolicited_len) on its own; R2Ts ask for the rest. */
	cmd->solicited = cmd->unsolicited_len;
	iscsi_cmd_check_write_done(cmd);
	iscsi_conn_schedule_flush(cmd->conn);
}

int iscsi_data_out_begin(struct iscsi_conn *conn, const struct iscsi_hdr *hdr)
{
	struct iscsi_session *session = conn->session;
	struct iscsi_cmd *cmd = hdr->ttt == ISCSI_RESERVED_TAG ? iscsi_cmd_find_itt(session, hdr->itt)
							       : iscsi_cmd_find_ttt(session, hdr->ttt);
	if (!cmd || cmd->itt != hdr->itt) {
		/* Data for a command that already ended (e.g. failed before its data phase):
		 * read and drop it. */
		tg_debug("iscsi", "%s: Data-Out for unknown ITT %#x TTT %#x dropped", conn->peer,
			 hdr->itt, hdr->ttt);
		conn->rx_discard = true;
		conn->rx_cmd = NULL;
		return 0;
	}
	conn->rx_cmd = cmd;
	if (cmd->response_queued || cmd->data_error) {
		/* Trailing data of a command that has already failed: consume quietly. */
		conn->rx_discard = true;
		return 0;
	}
	if (hdr->ttt == ISCSI_RESERVED_TAG && cmd->unsolicited_done) {
		tg_warn("iscsi", "%s: ITT %#x: unsolicited Data-Out not allowed", conn->peer, hdr->itt);
		return -1;
	}
	if (hdr->buffer_offset != cmd->received || hdr->datasn != cmd->datasn_expected) {
		/* A sequence error at ErrorRecoveryLevel 0: reject the PDU and fail the command
		 * (its data is incomplete), keeping the session (RFC 7143 7.3 / 11.17). */
		tg_warn("iscsi", "%s: ITT %#x: Data-Out offset %u DataSN %u, expected %u/%u",
			conn->peer, hdr->itt, hdr->buffer_offset, hdr->datasn, cmd->received,
			cmd->datasn_expected);
		iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR, conn->rx_bhs);
		cmd->data_error = true;
		conn->rx_discard = true;
		return 0;
	}
	uint64_t end = (uint64_t)hdr->buffer_offset + hdr->data_len;
	if (end > cmd->exp_len) {
		tg_warn("iscsi", "%s: ITT %#x: Data-Out beyond the expected length %u", conn->peer,
			hdr->itt, cmd->exp_len);
		return -1;
	}
	if (cmd->task.data.base && end <= cmd->task.data.cap)
		conn->rx_data = cmd->task.data.base + hdr->buffer_offset;
	else
		conn->rx_discard = true;
	return 0;
}

void iscsi_data_out_end(struct iscsi_conn *conn)
{
	struct iscsi_cmd *cmd = conn->rx_cmd;
	const struct iscsi_hdr *hdr = &conn->rx_hdr;
	conn->rx_cmd = NULL;
	if (!cmd)
		return;
	if (cmd->data_error && cmd->write_pending) {
		cmd->write_pending = false;
		if (hdr->ttt == ISCSI_RESERVED_TAG && hdr->final)
			cmd->unsolicited_done = true;
		tg_task_data_ready(&cmd->task, TG_SR_DATA_PHASE_ERROR);
		return;
	}
	cmd->received += hdr->data_len;
	cmd->datasn_expected++;
	if (hdr->final) {
		cmd->datasn_expected = 0;
		if (hdr->ttt == ISCSI_RESERVED_TAG)
			cmd->unsolicited_done = true;
		else if (cmd->r2t_outstanding)
			cmd->r2t_outstanding--;
	}
	if (!cmd->submitted || !cmd->write_pending) {
		/* A command that failed before its data phase waits for the unsolicited data
		 * the initiator was entitled to send, then goes. */
		if (cmd->response_queued && cmd->unsolicited_done && cmd->tx_refs == 0)
			iscsi_cmd_put(cmd);
		return;
	}
	iscsi_cmd_check_write_done(cmd);
}

static void queue_pdu_for_cmd(struct iscsi_cmd *cmd, struct iscsi_tx_pdu *pdu)
{
	pdu->cmd = cmd;
	cmd->tx_refs++;
	iscsi_conn_queue(cmd->conn, pdu);
}

bool iscsi_tcp_send_data_in(struct iscsi_cmd *cmd, bool piggyback_status)
{
	struct tg_task *task = &cmd->task;
	struct iscsi_conn *conn = cmd->conn;
	const struct iscsi_params *p = &cmd->session->params;
	uint32_t total = (uint32_t)task->data.len;
	uint32_t offset = 0, burst_used = 0;
	while (offset < total) {
		uint32_t len = min_u32(p->max_xmit_dsl, total - offset);
		len = min_u32(len, p->max_burst_length - burst_used);
		bool last = offset + len == total;
		bool end_of_burst = last || burst_used + len == p->max_burst_length;
		struct iscsi_tx_pdu *pdu = iscsi_tx_alloc();
		if (!pdu) {
			iscsi_conn_close(conn, "out of memory");
			return true;
		}
		struct iscsi_sn_fields sn;
		bool status = last && piggyback_status;
		iscsi_conn_sn(conn, status, &sn);
		iscsi_build_data_in(pdu->hdr, cmd->itt, task->lun, ISCSI_RESERVED_TAG, end_of_burst,
				    status, task->status, status && task->residual_overflow,
				    status && task->residual_underflow, status ? task->residual : 0,
				    cmd->datasn_in++, offset, len, &sn);
		pdu->data = task->data.base + offset;
		pdu->data_len = len;
		queue_pdu_for_cmd(cmd, pdu);
		offset += len;
		burst_used = end_of_burst ? 0 : burst_used + len;
	}
	return piggyback_status;
}

static void send_scsi_response(struct iscsi_cmd *cmd)
{
	struct tg_task *task = &cmd->task;
	struct iscsi_tx_pdu *pdu = iscsi_tx_alloc();
	if (!pdu) {
		iscsi_conn_close(cmd->conn, "out of memory");
		return;
	}
	uint32_t data_len = 0;
	if (task->sense_len) {
		data_len = 2u + task->sense_len;
		pdu->owned_data = malloc(data_len);
		if (!pdu->owned_data) {
			data_len = 0;
		} else {
			put_be16(pdu->owned_data, task->sense_len);
			memcpy(pdu->owned_data + 2, task->sense, task->sense_len);
			pdu->data = pdu->owned_data;
			pdu->data_len = data_len;
		}
	}
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(cmd->conn, true, &sn);
	iscsi_build_scsi_rsp(pdu->hdr, cmd->itt, 0x00, task->status, task->residual_overflow,
			     task->residual_underflow, task->residual, data_len, &sn,
			     cmd->datasn_in + cmd->r2tsn);
	queue_pdu_for_cmd(cmd, pdu);
}

static void iscsi_queue_response(struct tg_task *task)
{
	struct iscsi_cmd *cmd = cmd_of(task);
	struct iscsi_conn *conn = cmd->conn;
	cmd->response_queued = true;
	/* Held while the response is queued: a datamover that fails to post closes the
	 * connection on the spot, and the teardown must not free this command under us. */
	cmd->tx_refs++;
	if (task->state != TG_TASK_ABORTED && conn->phase == ISCSI_PHASE_FULL_FEATURE) {
		bool good = task->status == SCSI_STATUS_GOOD;
		bool status_sent = false;
		if (task->dir == TG_DIR_READ && task->data.len)
			status_sent = conn->dm->send_read_data(cmd, good);
		if (!status_sent && conn->phase == ISCSI_PHASE_FULL_FEATURE)
			send_scsi_response(cmd);
	}
	cmd->tx_refs--;
	/* The task (and the buffer its Data-In PDUs point into) is released by iscsi_cmd_put
	 * once those PDUs are out and any unsolicited data still owed has arrived. On a closed
	 * connection that put may free the session and the connection with it: decide on the
	 * flush before. */
	bool flush = conn->phase == ISCSI_PHASE_FULL_FEATURE;
	if (cmd->tx_refs == 0 && (cmd->unsolicited_done || conn->phase == ISCSI_PHASE_CLOSING))
		iscsi_cmd_put(cmd);
	if (flush)
		iscsi_conn_schedule_flush(conn);
}

/* Task management aborted the command: a data phase still open ends here (whatever Data-Out
 * still arrives for it is dropped as for any answered command). */
static void iscsi_task_aborted(struct tg_task *task)
{
	struct iscsi_cmd *cmd = cmd_of(task);
	if (cmd->write_pending) {
		cmd->write_pending = false;
		tg_task_data_ready(task, TG_SR_TASK_ABORTED);
	}
}

/* Buffers come from the datamover when it has a pool it can move without copying (iSER's
 * registered memory: the backend reads and writes the very buffer RDMA moves). */
static int iscsi_alloc_buf(struct tg_task *task, struct tg_buf *buf, size_t len)
{
	struct iscsi_conn *conn = cmd_of(task)->conn;
	if (conn && conn->dm->alloc_buf)
		return conn->dm->alloc_buf(conn, buf, len);
	return tg_buf_alloc(buf, len);
}

static void iscsi_free_buf(struct tg_task *task, struct tg_buf *buf)
{
	struct iscsi_conn *conn = cmd_of(task)->conn;
	if (conn && conn->dm->free_buf)
		conn->dm->free_buf(conn, buf);
	else
		tg_buf_free(buf);
}

const struct tg_transport_ops iscsi_transport_ops = {
	.name = "iscsi",
	.write_pending = iscsi_write_pending,
	.queue_response = iscsi_queue_response,
	.alloc_buf = iscsi_alloc_buf,
	.free_buf = iscsi_free_buf,
	.task_aborted = iscsi_task_aborted,
};

/* ---- task management ---- */

enum {
	TMF_ABORT_TASK = 1,
	TMF_ABORT_TASK_SET = 2,
	TMF_CLEAR_ACA = 3,
	TMF_CLEAR_TASK_SET = 4,
	TMF_LUN_RESET = 5,
	TMF_TARGET_WARM_RESET = 6,
	TMF_TARGET_COLD_RESET = 7,
	TMF_TASK_REASSIGN = 8,
	/* RFC 7144 4.1 */
	TMF_QUERY_TASK = 9,
	TMF_QUERY_TASK_SET = 10,
	TMF_I_T_NEXUS_RESET = 11,
	TMF_QUERY_ASYNC_EVENT = 12,
};

enum {
	TMF_RSP_COMPLETE = 0,
	TMF_RSP_NO_TASK = 1,
	TMF_RSP_NO_LUN = 2,
	TMF_RSP_NOT_SUPPORTED = 5,
	TMF_RSP_SUCCEEDED = 7, /* RFC 7144 4.2 */
	TMF_RSP_REJECTED = 255,
};

static void send_tmf_response(struct iscsi_conn *conn, uint32_t itt, uint8_t response,
			      bool close_after)
{
	if (conn->phase != ISCSI_PHASE_FULL_FEATURE)
		return;
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(conn, true, &sn);
	iscsi_build_tmf_rsp(bhs, response, itt, &sn);
	iscsi_conn_send(conn, bhs, NULL, 0, close_after);
	iscsi_conn_flush(conn);
}

/*
 * RFC 7143 11.5.1: TARGET COLD RESET ends every session with the target; the requester's
 * connection closes once its response is out.
 */
static void cold_reset_sessions(struct iscsi_conn *conn)
{
	/* Sessions on other I/O threads' loops are closed by those loops. */
	iscsi_workers_cold_reset(conn, conn->target);
	iscsi_cold_reset_loop(conn->server, conn, conn->target);
}

void iscsi_cold_reset_loop(struct iscsi_server *server, const struct iscsi_conn *spare,
			   const struct tg_target *target)
{
	size_t n = 0;
	for (struct iscsi_conn *c = server->conns; c; c = c->next)
		n++;
	struct iscsi_conn **victims = calloc(n ? n : 1, sizeof(*victims));
	if (!victims)
		return;
	n = 0;
	for (struct iscsi_conn *c = server->conns; c; c = c->next)
		if (c != spare && c->session && c->session->target == target &&
		    c->session->type == ISCSI_SESSION_NORMAL)
			victims[n++] = c;
	for (size_t i = 0; i < n; i++)
		iscsi_conn_close(victims[i], "target cold reset");
	free(victims);
}

static uint8_t tmf_response_code(enum tg_tmf_result result)
{
	switch (result) {
	case TG_TMF_COMPLETE:
		return TMF_RSP_COMPLETE;
	case TG_TMF_SUCCEEDED:
		return TMF_RSP_SUCCEEDED;
	case TG_TMF_NO_TASK:
		return TMF_RSP_NO_TASK;
	case TG_TMF_NO_LUN:
		return TMF_RSP_NO_LUN;
	default:
		return TMF_RSP_REJECTED;
	}
}

/*
 * The TMF occupies a command slot (as its CmdSN would) from the request until the response:
 * the slot keeps the session and connection alive while aborted tasks, perhaps of other
 * sessions, are still on their way back. Its task is never submitted; two of its handler
 * slots remember the request.
 */
enum { TMF_SLOT_FUNCTION = 0, TMF_SLOT_MISSING_IS_COMPLETE = 1 };

enum { TMF_SLOT_RESULT = 2 };

static void tmf_answer(struct iscsi_cmd *slot, enum tg_tmf_result result);

static void tmf_answer_on_own_loop(struct tg_task *task)
{
	tmf_answer(cmd_of(task), (enum tg_tmf_result)task->handler_u64[TMF_SLOT_RESULT]);
}

/* The core calls this where the last aborted task returned, which with several I/O threads
 * may be another loop's thread; the slot holds the session, so it is still there. */
static void tmf_done(void *priv, enum tg_tmf_result result)
{
	struct iscsi_cmd *slot = priv;
	if (!tg_task_on_own_loop(&slot->task)) {
		slot->task.handler_u64[TMF_SLOT_RESULT] = result;
		tg_task_run_on_own_loop(&slot->task, tmf_answer_on_own_loop);
		return;
	}
	tmf_answer(slot, result);
}

static void tmf_answer(struct iscsi_cmd *slot, enum tg_tmf_result result)
{
	struct iscsi_conn *conn = slot->conn;
	uint8_t function = (uint8_t)slot->task.handler_u64[TMF_SLOT_FUNCTION];
	if (result == TG_TMF_NO_TASK && slot->task.handler_u64[TMF_SLOT_MISSING_IS_COMPLETE])
		result = TG_TMF_COMPLETE;
	bool cold = function == TMF_TARGET_COLD_RESET && result == TG_TMF_COMPLETE;
	/* The other sessions first: sending the response may close this connection at once. */
	if (cold && conn->phase == ISCSI_PHASE_FULL_FEATURE)
		cold_reset_sessions(conn);
	send_tmf_response(conn, slot->itt, tmf_response_code(result), cold);
	slot->response_queued = true;
	iscsi_cmd_put(slot);
}

static bool serial_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

void iscsi_tmf_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr)
{
	struct iscsi_session *session = conn->session;
	uint32_t exp_cmdsn = session->exp_cmdsn;
	if (!iscsi_cmdsn_accept(conn, hdr))
		return;
	struct tg_nexus *nexus = session->nexus;
	uint8_t function = hdr->tmf_function;
	switch (function) {
	case TMF_CLEAR_ACA: /* NACA = 1 is refused, so there is never an ACA to clear */
	case TMF_TASK_REASSIGN: /* ErrorRecoveryLevel 0 */
	case TMF_QUERY_ASYNC_EVENT:
		send_tmf_response(conn, hdr->itt, TMF_RSP_NOT_SUPPORTED, false);
		return;
	case TMF_QUERY_TASK:
		send_tmf_response(conn, hdr->itt,
				  tmf_response_code(tg_tmf_query_task(nexus, hdr->lun, hdr->ref_itt)),
				  false);
		return;
	case TMF_QUERY_TASK_SET:
		send_tmf_response(conn, hdr->itt,
				  tmf_response_code(tg_tmf_query_task_set(nexus, hdr->lun)), false);
		return;
	default:
		break;
	}
	struct iscsi_cmd *slot = iscsi_cmd_get(session);
	if (!slot) {
		send_tmf_response(conn, hdr->itt, TMF_RSP_REJECTED, false);
		return;
	}
	slot->itt = hdr->itt;
	slot->ttt = ISCSI_RESERVED_TAG;
	slot->submitted = true;        /* session teardown leaves it to tmf_done */
	slot->unsolicited_done = true; /* no data belongs to it */
	tg_task_init(&slot->task, nexus, &iscsi_transport_ops, conn->server->engine);
	slot->task.handler_u64[TMF_SLOT_FUNCTION] = function;
	/* 11.6.1: an ABORT TASK for a command that never arrived, though its CmdSN is below the
	 * TMF's and not yet acknowledged, is answered "Function complete". */
	slot->task.handler_u64[TMF_SLOT_MISSING_IS_COMPLETE] =
		function == TMF_ABORT_TASK && !serial_lt(hdr->refcmdsn, exp_cmdsn) &&
		serial_lt(hdr->refcmdsn, hdr->cmdsn);
	tg_info("iscsi", "%s: task management function %u on LUN %llu", conn->peer, function,
		(unsigned long long)hdr->lun);
	switch (function) {
	case TMF_ABORT_TASK:
		tg_tmf_abort_task(nexus, hdr->lun, hdr->ref_itt, tmf_done, slot);
		break;
	case TMF_ABORT_TASK_SET:
		tg_tmf_abort_task_set(nexus, hdr->lun, tmf_done, slot);
		break;
	case TMF_CLEAR_TASK_SET:
		tg_tmf_clear_task_set(nexus, hdr->lun, tmf_done, slot);
		break;
	case TMF_LUN_RESET:
		tg_tmf_lun_reset(nexus, hdr->lun, tmf_done, slot);
		break;
	case TMF_TARGET_WARM_RESET:
	case TMF_TARGET_COLD_RESET:
		tg_tmf_target_reset(nexus, tmf_done, slot);
		break;
	case TMF_I_T_NEXUS_RESET:
		tg_tmf_nexus_reset(nexus, tmf_done, slot);
		break;
	default: /* reserved codes never get past the PDU parser */
		tmf_done(slot, TG_TMF_REJECTED);
		break;
	}
}
