/* iSCSI SCSI data path: commands, immediate/unsolicited/R2T-solicited Data-Out, Data-In,
 * status, and task management — the transport ops the core calls back. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/nexus.h"
#include "core/scsi.h"
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
		/* Immediate and unsolicited data land directly in the command's buffer. */
		if (hdr->exp_xfer_len <= ISCSI_MAX_PREALLOC &&
		    tg_task_alloc_data(task, hdr->exp_xfer_len) != 0) {
			iscsi_cmd_put(cmd);
			return -1;
		}
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

static void send_r2ts(struct iscsi_cmd *cmd)
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
static void check_write_done(struct iscsi_cmd *cmd)
{
	if (!cmd->write_pending)
		return;
	uint32_t need = (uint32_t)cmd->task.data.len;
	if (cmd->received >= need && cmd->unsolicited_done && cmd->r2t_outstanding == 0) {
		cmd->write_pending = false;
		tg_task_data_ready(&cmd->task, TG_SR_OK);
		return;
	}
	send_r2ts(cmd);
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
	check_write_done(cmd);
	iscsi_conn_flush(cmd->conn);
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
	check_write_done(cmd);
}

static void queue_pdu_for_cmd(struct iscsi_cmd *cmd, struct iscsi_tx_pdu *pdu)
{
	pdu->cmd = cmd;
	cmd->tx_refs++;
	iscsi_conn_queue(cmd->conn, pdu);
}

static void send_data_in(struct iscsi_cmd *cmd, bool piggyback_status)
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
			return;
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

static void tmf_task_returned(struct iscsi_cmd *cmd);

static void iscsi_queue_response(struct tg_task *task)
{
	struct iscsi_cmd *cmd = cmd_of(task);
	struct iscsi_conn *conn = cmd->conn;
	cmd->response_queued = true;
	if (task->state != TG_TASK_ABORTED && conn->phase == ISCSI_PHASE_FULL_FEATURE) {
		bool good = task->status == SCSI_STATUS_GOOD;
		if (task->dir == TG_DIR_READ && task->data.len && good) {
			send_data_in(cmd, true);
		} else {
			if (task->dir == TG_DIR_READ && task->data.len)
				send_data_in(cmd, false);
			send_scsi_response(cmd);
		}
	}
	if (cmd->tmf)
		tmf_task_returned(cmd);
	/* The task (and the buffer its Data-In PDUs point into) is released by iscsi_cmd_put
	 * once those PDUs are out and any unsolicited data still owed has arrived. */
	if (cmd->tx_refs == 0 && (cmd->unsolicited_done || conn->phase == ISCSI_PHASE_CLOSING))
		iscsi_cmd_put(cmd);
	if (conn->phase == ISCSI_PHASE_FULL_FEATURE)
		iscsi_conn_flush(conn);
}

const struct tg_transport_ops iscsi_transport_ops = {
	.name = "iscsi",
	.write_pending = iscsi_write_pending,
	.queue_response = iscsi_queue_response,
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
};

enum {
	TMF_RSP_COMPLETE = 0,
	TMF_RSP_NO_TASK = 1,
	TMF_RSP_NO_LUN = 2,
	TMF_RSP_NOT_SUPPORTED = 5,
	TMF_RSP_REJECTED = 255,
};

static void send_tmf_response(struct iscsi_conn *conn, uint32_t itt, uint8_t response)
{
	if (conn->phase != ISCSI_PHASE_FULL_FEATURE)
		return;
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(conn, true, &sn);
	iscsi_build_tmf_rsp(bhs, response, itt, &sn);
	iscsi_conn_send(conn, bhs, NULL, 0, false);
	iscsi_conn_flush(conn);
}

static void tmf_task_returned(struct iscsi_cmd *cmd)
{
	struct iscsi_tmf *tmf = cmd->tmf;
	cmd->tmf = NULL;
	if (--tmf->waiting == 0) {
		send_tmf_response(tmf->conn, tmf->itt, tmf->response);
		free(tmf);
	}
}

/* Aborts one command on behalf of tmf; returns whether the TMF must wait for it. */
static bool abort_cmd(struct iscsi_cmd *cmd, struct iscsi_tmf *tmf)
{
	if (!cmd->in_use || !cmd->submitted || cmd->response_queued || cmd->tmf)
		return false;
	tg_task_abort(&cmd->task);
	cmd->tmf = tmf;
	tmf->waiting++;
	if (cmd->write_pending) {
		cmd->write_pending = false;
		tg_task_data_ready(&cmd->task, TG_SR_TASK_ABORTED);
	}
	return true;
}

void iscsi_tmf_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr)
{
	if (!iscsi_cmdsn_accept(conn, hdr))
		return;
	struct iscsi_session *session = conn->session;
	uint8_t function = hdr->tmf_function;
	if (function != TMF_ABORT_TASK && function != TMF_ABORT_TASK_SET &&
	    function != TMF_CLEAR_TASK_SET && function != TMF_LUN_RESET &&
	    function != TMF_TARGET_WARM_RESET) {
		send_tmf_response(conn, hdr->itt,
				  function == TMF_TASK_REASSIGN || function == TMF_CLEAR_ACA ||
						  function == TMF_TARGET_COLD_RESET
					  ? TMF_RSP_NOT_SUPPORTED
					  : TMF_RSP_REJECTED);
		return;
	}
	bool lun_scoped = function != TMF_TARGET_WARM_RESET;
	if (lun_scoped && !tg_lun_map_find(session->nexus->map, hdr->lun)) {
		send_tmf_response(conn, hdr->itt, TMF_RSP_NO_LUN);
		return;
	}
	struct iscsi_tmf *tmf = calloc(1, sizeof(*tmf));
	if (!tmf) {
		send_tmf_response(conn, hdr->itt, TMF_RSP_REJECTED);
		return;
	}
	tmf->conn = conn;
	tmf->itt = hdr->itt;
	tmf->response = TMF_RSP_COMPLETE;
	tmf->waiting = 1; /* held until the scan below is over */
	if (function == TMF_ABORT_TASK) {
		struct iscsi_cmd *victim = iscsi_cmd_find_itt(session, hdr->ref_itt);
		if (victim && victim->submitted)
			abort_cmd(victim, tmf);
		/* A task that is not (or no longer) there is complete as far as the initiator
		 * is concerned (RFC 7143 11.6.1). */
	} else {
		for (int i = 0; i < ISCSI_SESSION_CMDS; i++) {
			struct iscsi_cmd *cmd = &session->cmds[i];
			if (cmd->in_use && (!lun_scoped || cmd->task.lun == hdr->lun))
				abort_cmd(cmd, tmf);
		}
		tg_info("iscsi", "%s: task management function %u on LUN %llu", conn->peer,
			function, (unsigned long long)hdr->lun);
	}
	if (--tmf->waiting == 0) {
		send_tmf_response(conn, tmf->itt, tmf->response);
		free(tmf);
	}
}
