/* iSCSI connections: PDU dispatch and close shared by every datamover; the TCP datamover's receive state machine and batched send queue. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/scsi.h"
#include "core/target.h"
#include "transports/iscsi/digest.h"
#include "transports/iscsi/iscsi.h"

#define TX_BATCH_IOV 192

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Per thread: each I/O thread's loop allocates and frees its own connections' PDUs. The list
 * keeps at most TX_FREE_MAX of them: a burst of thousands of outstanding commands must not
 * leave its high-water mark of PDUs behind for good. */
#define TX_FREE_MAX 1024
static _Thread_local struct iscsi_tx_pdu *tx_free_list;
static _Thread_local unsigned tx_free_count;

void iscsi_tx_cache_drop(void)
{
	while (tx_free_list) {
		struct iscsi_tx_pdu *pdu = tx_free_list;
		tx_free_list = pdu->next;
		free(pdu);
	}
	tx_free_count = 0;
}

struct iscsi_tx_pdu *iscsi_tx_alloc(void)
{
	struct iscsi_tx_pdu *pdu = tx_free_list;
	if (pdu) {
		tx_free_list = pdu->next;
		tx_free_count--;
	} else if (!(pdu = malloc(sizeof(*pdu))))
		return NULL;
	memset(pdu, 0, offsetof(struct iscsi_tx_pdu, hdr));
	pdu->hdr_len = ISCSI_BHS_LEN;
	pdu->data = NULL;
	pdu->data_len = 0;
	pdu->trailer_len = 0;
	pdu->owned_data = NULL;
	pdu->cmd = NULL;
	pdu->close_after = false;
	pdu->sent = 0;
	return pdu;
}

static void tx_free(struct iscsi_tx_pdu *pdu)
{
	free(pdu->owned_data);
	if (tx_free_count >= TX_FREE_MAX) {
		free(pdu);
		return;
	}
	pdu->next = tx_free_list;
	tx_free_list = pdu;
	tx_free_count++;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(out, len, "%s:%u", host, port);
}

static void rx_expect_bhs(struct iscsi_conn *conn)
{
	conn->rx_stage = ISCSI_RX_BHS;
	conn->rx_have = 0;
	conn->rx_need = ISCSI_BHS_LEN;
	conn->rx_cmd = NULL;
	conn->rx_discard = false;
}

static void login_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct iscsi_conn *conn = w->data;
	/* A connection that never finishes its login holds a descriptor and its receive
	 * buffers for good; it may also be a port scanner or a stuck initiator. */
	char why[64];
	snprintf(why, sizeof(why), "no login within %u s", iscsi_server_shared(conn->server)->login_timeout);
	iscsi_conn_close(conn, why);
}

void iscsi_conn_login_done(struct iscsi_conn *conn)
{
	if (ev_is_active(&conn->login_timer))
		ev_timer_stop(conn->server->loop, &conn->login_timer);
}

void iscsi_conn_init(struct iscsi_server *server, struct iscsi_conn *conn,
		     const struct iscsi_datamover *dm, const struct iscsi_target_limits *limits,
		     const char *peer)
{
	conn->server = server;
	conn->dm = dm;
	conn->limits = limits;
	conn->fd = -1;
	conn->phase = ISCSI_PHASE_LOGIN;
	snprintf(conn->peer, sizeof(conn->peer), "%s", peer);
	conn->next = server->conns;
	server->conns = conn;
	atomic_fetch_add(&server->conn_count, 1);
	unsigned timeout = iscsi_server_shared(server)->login_timeout;
	ev_timer_init(&conn->login_timer, login_timeout_cb, timeout, 0);
	conn->login_timer.data = conn;
	if (timeout && server->loop)
		ev_timer_start(server->loop, &conn->login_timer);
}

void iscsi_conn_accept(struct iscsi_server *server, int fd, const struct sockaddr_storage *peer)
{
	struct iscsi_conn *conn = calloc(1, sizeof(*conn));
	uint8_t *ctrl = malloc(ISCSI_CTRL_DSL_MAX + 8);
	if (!conn || !ctrl) {
		free(conn);
		free(ctrl);
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	socklen_t len = sizeof(conn->local_addr);
	getsockname(fd, (struct sockaddr *)&conn->local_addr, &len);
	char name[sizeof(conn->peer)];
	format_peer(peer, name, sizeof(name));
	iscsi_conn_init(server, conn, &iscsi_tcp_datamover, &server->limits, name);
	conn->fd = fd;
	conn->rx_ctrl = ctrl;
	rx_expect_bhs(conn);
	ev_io_init(&conn->read_watcher, conn_read_cb, fd, EV_READ);
	conn->read_watcher.data = conn;
	ev_io_init(&conn->write_watcher, conn_write_cb, fd, EV_WRITE);
	conn->write_watcher.data = conn;
	ev_io_start(server->loop, &conn->read_watcher);
	if (iscsi_server_shared(server)->worker_count)
		tg_info("iscsi", "connection from %s (I/O thread %u)", conn->peer,
			server->thread_index);
	else
		tg_info("iscsi", "connection from %s", conn->peer);
}

static void conn_unlink(struct iscsi_conn *conn)
{
	for (struct iscsi_conn **p = &conn->server->conns; *p; p = &(*p)->next) {
		if (*p == conn) {
			*p = conn->next;
			atomic_fetch_sub(&conn->server->conn_count, 1);
			return;
		}
	}
}

/*
 * Responses produced while the loop handles one batch of events (a burst of backend
 * completions, a read of many PDUs) go out in one writev per connection just before the
 * loop sleeps again, instead of one small TCP segment per response.
 */
static void flush_pending_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct iscsi_server *server = w->data;
	while (server->flush_list) {
		struct iscsi_conn *conn = server->flush_list;
		server->flush_list = conn->next_flush;
		conn->flush_scheduled = false;
		if (conn->phase != ISCSI_PHASE_CLOSING)
			iscsi_conn_flush(conn);
	}
}

void iscsi_conn_schedule_flush(struct iscsi_conn *conn)
{
	struct iscsi_server *server = conn->server;
	if (conn->flush_scheduled || conn->phase == ISCSI_PHASE_CLOSING)
		return;
	if (!ev_is_active(&server->flush_watcher)) {
		ev_prepare_init(&server->flush_watcher, flush_pending_cb);
		server->flush_watcher.data = server;
		ev_prepare_start(server->loop, &server->flush_watcher);
		/* The watcher alone must not keep the loop running at shutdown. */
		ev_unref(server->loop);
	}
	conn->flush_scheduled = true;
	conn->next_flush = server->flush_list;
	server->flush_list = conn;
}

static void unschedule_flush(struct iscsi_conn *conn)
{
	if (!conn->flush_scheduled)
		return;
	for (struct iscsi_conn **p = &conn->server->flush_list; *p; p = &(*p)->next_flush) {
		if (*p == conn) {
			*p = conn->next_flush;
			break;
		}
	}
	conn->flush_scheduled = false;
}

/*
 * The connection whose receive callback is running on this thread. What that callback calls
 * (a refused login, a protocol error) may close the connection, and the callers look at it
 * again on the way out (conn->phase), so its memory is freed when the callback returns.
 */
static _Thread_local struct iscsi_conn *receiving;
static _Thread_local bool receiving_freed;

void iscsi_conn_free(struct iscsi_conn *conn)
{
	if (conn == receiving) {
		receiving_freed = true;
		return;
	}
	iscsi_conn_login_done(conn);
	iscsi_login_cleanup(conn);
	unschedule_flush(conn);
	conn->dm->destroy(conn);
}

static void tcp_destroy(struct iscsi_conn *conn)
{
	free(conn->rx_stash);
	free(conn->rx_ctrl);
	free(conn);
}

static void tcp_close(struct iscsi_conn *conn)
{
	ev_io_stop(conn->server->loop, &conn->read_watcher);
	ev_io_stop(conn->server->loop, &conn->write_watcher);
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	/* Unsent PDUs are dropped; the commands they belong to are released. */
	while (conn->tx_head) {
		struct iscsi_tx_pdu *pdu = conn->tx_head;
		conn->tx_head = pdu->next;
		iscsi_tx_done(conn, pdu);
	}
	conn->tx_tail = NULL;
}

void iscsi_conn_close(struct iscsi_conn *conn, const char *why)
{
	if (conn->phase == ISCSI_PHASE_CLOSING)
		return;
	tg_info("iscsi", "closing %s connection %s: %s", conn->dm->name, conn->peer, why);
	iscsi_conn_login_done(conn);
	conn->phase = ISCSI_PHASE_CLOSING;
	conn_unlink(conn);
	conn->dm->close(conn);
	if (conn->session) {
		struct iscsi_session *session = conn->session;
		/* The session goes with its only connection (ErrorRecoveryLevel 0). It frees the
		 * connection once every command still in the backend has come back. */
		iscsi_session_destroy(session);
		return;
	}
	iscsi_conn_free(conn);
}

void iscsi_conn_sn(struct iscsi_conn *conn, bool advance_statsn, struct iscsi_sn_fields *sn)
{
	sn->statsn = conn->statsn;
	if (advance_statsn)
		conn->statsn++;
	if (conn->session) {
		iscsi_session_update_window(conn->session);
		sn->expcmdsn = conn->session->exp_cmdsn;
		sn->maxcmdsn = conn->session->max_cmdsn;
	} else {
		sn->expcmdsn = conn->session ? conn->session->exp_cmdsn : 0;
		sn->maxcmdsn = sn->expcmdsn;
	}
}

static void finalize_digests(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu)
{
	if (conn->header_digest) {
		iscsi_digest_put(pdu->hdr + ISCSI_BHS_LEN, iscsi_crc32c(pdu->hdr, ISCSI_BHS_LEN));
		pdu->hdr_len = ISCSI_BHS_LEN + ISCSI_DIGEST_LEN;
	}
	uint32_t pad = iscsi_pad(pdu->data_len);
	memset(pdu->trailer, 0, sizeof(pdu->trailer));
	pdu->trailer_len = pad;
	if (pdu->data_len && conn->data_digest) {
		iscsi_digest_put(pdu->trailer + pad, iscsi_data_digest(pdu->data, pdu->data_len));
		pdu->trailer_len += ISCSI_DIGEST_LEN;
	}
}

void iscsi_conn_queue(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu)
{
	if (conn->phase == ISCSI_PHASE_CLOSING) {
		iscsi_tx_done(conn, pdu);
		return;
	}
	conn->dm->queue(conn, pdu);
}

static void tcp_queue(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu)
{
	finalize_digests(conn, pdu);
	pdu->next = NULL;
	if (conn->tx_tail)
		conn->tx_tail->next = pdu;
	else
		conn->tx_head = pdu;
	conn->tx_tail = pdu;
}

void iscsi_conn_send(struct iscsi_conn *conn, const uint8_t bhs[ISCSI_BHS_LEN], const void *data,
		     uint32_t data_len, bool close_after)
{
	struct iscsi_tx_pdu *pdu = iscsi_tx_alloc();
	if (!pdu) {
		iscsi_conn_close(conn, "out of memory");
		return;
	}
	memcpy(pdu->hdr, bhs, ISCSI_BHS_LEN);
	if (data_len) {
		pdu->owned_data = malloc(data_len);
		if (!pdu->owned_data) {
			tx_free(pdu);
			iscsi_conn_close(conn, "out of memory");
			return;
		}
		memcpy(pdu->owned_data, data, data_len);
		pdu->data = pdu->owned_data;
		pdu->data_len = data_len;
	}
	pdu->close_after = close_after;
	iscsi_conn_queue(conn, pdu);
}

/* A PDU has left (or will never leave): drop its hold on its command. */
void iscsi_tx_done(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu)
{
	struct iscsi_cmd *cmd = pdu->cmd;
	tx_free(pdu);
	if (cmd && --cmd->tx_refs == 0 && cmd->response_queued)
		iscsi_cmd_put(cmd);
}

void iscsi_conn_flush(struct iscsi_conn *conn)
{
	if (conn->phase != ISCSI_PHASE_CLOSING)
		conn->dm->flush(conn);
}

static void tcp_flush(struct iscsi_conn *conn)
{
	while (conn->tx_head && conn->phase != ISCSI_PHASE_CLOSING) {
		struct iovec iov[TX_BATCH_IOV];
		int n = 0;
		for (struct iscsi_tx_pdu *pdu = conn->tx_head; pdu && n + 3 <= TX_BATCH_IOV;
		     pdu = pdu->next) {
			size_t skip = pdu->sent;
			const struct { const void *p; size_t len; } parts[3] = {
				{ pdu->hdr, pdu->hdr_len },
				{ pdu->data, pdu->data_len },
				{ pdu->trailer, pdu->trailer_len },
			};
			for (int i = 0; i < 3; i++) {
				if (skip >= parts[i].len) {
					skip -= parts[i].len;
					continue;
				}
				iov[n].iov_base = (uint8_t *)parts[i].p + skip;
				iov[n].iov_len = parts[i].len - skip;
				skip = 0;
				n++;
			}
		}
		ssize_t wrote = writev(conn->fd, iov, n);
		if (wrote < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!conn->write_armed) {
					ev_io_start(conn->server->loop, &conn->write_watcher);
					conn->write_armed = true;
				}
				return;
			}
			iscsi_conn_close(conn, strerror(errno));
			return;
		}
		size_t left = (size_t)wrote;
		while (conn->tx_head && left) {
			struct iscsi_tx_pdu *pdu = conn->tx_head;
			size_t total = pdu->hdr_len + pdu->data_len + pdu->trailer_len;
			size_t remain = total - pdu->sent;
			if (left < remain) {
				pdu->sent += left;
				left = 0;
				break;
			}
			left -= remain;
			conn->tx_head = pdu->next;
			if (!conn->tx_head)
				conn->tx_tail = NULL;
			bool close_after = pdu->close_after;
			iscsi_tx_done(conn, pdu);
			if (close_after) {
				iscsi_conn_close(conn, "logout complete");
				return;
			}
		}
	}
	if (conn->write_armed && conn->phase != ISCSI_PHASE_CLOSING) {
		ev_io_stop(conn->server->loop, &conn->write_watcher);
		conn->write_armed = false;
	}
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	iscsi_conn_flush(w->data);
}

static void tcp_receive_pause(struct iscsi_conn *conn, bool paused)
{
	if (paused)
		ev_io_stop(conn->server->loop, &conn->read_watcher);
	else
		ev_io_start(conn->server->loop, &conn->read_watcher);
}

void iscsi_conn_reject(struct iscsi_conn *conn, uint8_t reason, const uint8_t *bad_bhs)
{
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(conn, true, &sn);
	iscsi_build_reject(bhs, reason, &sn, 0);
	iscsi_conn_send(conn, bhs, bad_bhs, ISCSI_BHS_LEN, false);
}

/*
 * CmdSN rules (RFC 7143 4.2.2.1): a non-immediate command must carry the next expected
 * CmdSN; anything else is outside the window (with one connection per session there is no
 * legitimate gap) and is dropped. Immediate commands do not advance ExpCmdSN.
 */
bool iscsi_cmdsn_accept(struct iscsi_conn *conn, const struct iscsi_hdr *hdr)
{
	struct iscsi_session *session = conn->session;
	conn->exp_statsn = hdr->expstatsn;
	if (hdr->immediate)
		return true;
	if (hdr->cmdsn != session->exp_cmdsn) {
		tg_warn("iscsi", "%s: CmdSN %u outside window (expected %u), dropped", conn->peer,
			hdr->cmdsn, session->exp_cmdsn);
		return false;
	}
	session->exp_cmdsn++;
	return true;
}

static void handle_nop_out(struct iscsi_conn *conn, const struct iscsi_hdr *hdr,
			   const uint8_t *data)
{
	if (hdr->itt == ISCSI_RESERVED_TAG) {
		/* A reply to our ping, or an unsolicited keep-alive: nothing to answer. */
		if (!hdr->immediate)
			iscsi_cmdsn_accept(conn, hdr);
		return;
	}
	if (!iscsi_cmdsn_accept(conn, hdr))
		return;
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(conn, true, &sn);
	uint32_t len = hdr->data_len;
	if (len > conn->session->params.max_xmit_dsl)
		len = conn->session->params.max_xmit_dsl;
	iscsi_build_nop_in(bhs, hdr->itt, ISCSI_RESERVED_TAG, hdr->lun, len, &sn);
	memcpy(bhs + 8, hdr->lun_raw, 8);
	iscsi_conn_send(conn, bhs, data, len, false);
}

static void handle_logout(struct iscsi_conn *conn, const struct iscsi_hdr *hdr)
{
	if (!iscsi_cmdsn_accept(conn, hdr))
		return;
	uint8_t response = 0;
	/* Reason 0 closes the session, 1 this connection; with one connection both end the
	 * session. Reason 2 (remove for recovery) needs ErrorRecoveryLevel 2. */
	if (hdr->logout_reason == 2)
		response = 2; /* connection recovery is not supported */
	tg_info("iscsi", "%s: logout (reason %u)", conn->peer, hdr->logout_reason);
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(conn, true, &sn);
	iscsi_build_logout_rsp(bhs, response, hdr->itt, 0, 0, &sn);
	iscsi_conn_send(conn, bhs, NULL, 0, response == 0);
}

/* A complete PDU (header and data) has arrived. */
void iscsi_conn_dispatch(struct iscsi_conn *conn)
{
	const struct iscsi_hdr *hdr = &conn->rx_hdr;
	const uint8_t *data = conn->rx_data;
	if (conn->phase == ISCSI_PHASE_LOGIN) {
		if (hdr->opcode != ISCSI_OP_LOGIN_REQ) {
			tg_warn("iscsi", "%s: opcode %#x before login completed", conn->peer,
				hdr->opcode);
			iscsi_conn_close(conn, "protocol error during login");
			return;
		}
		iscsi_login_handle(conn, hdr, data);
		return;
	}
	bool discovery = conn->session && conn->session->type == ISCSI_SESSION_DISCOVERY;
	switch (hdr->opcode) {
	case ISCSI_OP_SCSI_CMD:
		iscsi_scsi_cmd_end(conn);
		break;
	case ISCSI_OP_DATA_OUT:
		iscsi_data_out_end(conn);
		break;
	case ISCSI_OP_NOP_OUT:
		handle_nop_out(conn, hdr, data);
		break;
	case ISCSI_OP_TEXT_REQ:
		iscsi_text_handle(conn, hdr, data);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		handle_logout(conn, hdr);
		break;
	case ISCSI_OP_TMF_REQ:
		if (discovery) {
			iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR, conn->rx_bhs);
			break;
		}
		iscsi_tmf_handle(conn, hdr);
		break;
	case ISCSI_OP_SNACK_REQ:
		/* ErrorRecoveryLevel 0: SNACK is never negotiated. */
		iscsi_conn_reject(conn, ISCSI_REJECT_SNACK_REJECT, conn->rx_bhs);
		break;
	case ISCSI_OP_LOGIN_REQ:
	default:
		tg_warn("iscsi", "%s: unexpected opcode %#x in full feature phase", conn->peer,
			hdr->opcode);
		iscsi_conn_close(conn, "protocol error");
		break;
	}
}

int iscsi_conn_rx_begin(struct iscsi_conn *conn)
{
	const struct iscsi_hdr *hdr = &conn->rx_hdr;
	conn->rx_data = NULL;
	conn->rx_discard = false;
	int rc = 0;
	if (conn->phase == ISCSI_PHASE_FULL_FEATURE && hdr->opcode == ISCSI_OP_SCSI_CMD)
		rc = iscsi_scsi_cmd_begin(conn, hdr);
	else if (conn->phase == ISCSI_PHASE_FULL_FEATURE && hdr->opcode == ISCSI_OP_DATA_OUT)
		rc = iscsi_data_out_begin(conn, hdr);
	else if (hdr->data_len > ISCSI_CTRL_DSL_MAX) {
		tg_warn("iscsi", "%s: opcode %#x with DataSegmentLength %u", conn->peer, hdr->opcode,
			hdr->data_len);
		rc = -1;
	} else {
		conn->rx_data = conn->rx_ctrl;
	}
	return rc;
}

/* Header (BHS, AHS, header digest) is complete: decide where the data segment goes. */
static void header_done(struct iscsi_conn *conn)
{
	const struct iscsi_hdr *hdr = &conn->rx_hdr;
	if (iscsi_conn_rx_begin(conn) != 0) {
		iscsi_conn_close(conn, "malformed PDU");
		return;
	}
	if (hdr->data_len == 0) {
		iscsi_conn_dispatch(conn);
		if (conn->phase != ISCSI_PHASE_CLOSING)
			rx_expect_bhs(conn);
		return;
	}
	conn->rx_stage = ISCSI_RX_DATA;
	conn->rx_have = 0;
	conn->rx_need = hdr->data_len + iscsi_pad(hdr->data_len) +
			(conn->data_digest ? ISCSI_DIGEST_LEN : 0);
}

static bool data_digest_ok(struct iscsi_conn *conn)
{
	const struct iscsi_hdr *hdr = &conn->rx_hdr;
	if (!conn->data_digest || conn->rx_discard)
		return true;
	uint32_t pad = iscsi_pad(hdr->data_len);
	return iscsi_data_digest(conn->rx_data, hdr->data_len) ==
	       iscsi_digest_get(conn->rx_trailer + pad);
}

/* Where the next bytes of the current stage go, and how many. */
static uint8_t *rx_target(struct iscsi_conn *conn, size_t *len)
{
	switch (conn->rx_stage) {
	case ISCSI_RX_BHS:
		*len = conn->rx_need - conn->rx_have;
		return conn->rx_bhs + conn->rx_have;
	case ISCSI_RX_AHS:
		*len = conn->rx_need - conn->rx_have;
		return conn->rx_ahs + conn->rx_have;
	case ISCSI_RX_DATA: {
		size_t data_len = conn->rx_hdr.data_len;
		if (conn->rx_have < data_len) {
			*len = data_len - conn->rx_have;
			if (conn->rx_discard) {
				if (*len > ISCSI_CTRL_DSL_MAX)
					*len = ISCSI_CTRL_DSL_MAX;
				return conn->rx_ctrl;
			}
			return conn->rx_data + conn->rx_have;
		}
		*len = conn->rx_need - conn->rx_have;
		return conn->rx_trailer + (conn->rx_have - data_len);
	}
	}
	*len = 0;
	return NULL;
}

/* Returns false when the connection was closed. */
static bool rx_stage_done(struct iscsi_conn *conn)
{
	switch (conn->rx_stage) {
	case ISCSI_RX_BHS: {
		uint32_t max_dsl = conn->phase == ISCSI_PHASE_FULL_FEATURE && conn->session
					   ? conn->session->params.max_recv_dsl
					   : ISCSI_CTRL_DSL_MAX;
		enum iscsi_parse_error err = iscsi_hdr_parse(conn->rx_bhs, max_dsl, &conn->rx_hdr);
		if (err != ISCSI_PARSE_OK) {
			tg_warn("iscsi", "%s: malformed PDU header (opcode %#x, error %d, DSL %u)",
				conn->peer, conn->rx_bhs[0] & 0x3f, err,
				get_be24(conn->rx_bhs + 5));
			iscsi_conn_close(conn, "malformed PDU");
			return false;
		}
		size_t ahs = conn->rx_hdr.ahs_len + (conn->header_digest ? ISCSI_DIGEST_LEN : 0);
		if (ahs) {
			conn->rx_stage = ISCSI_RX_AHS;
			conn->rx_have = 0;
			conn->rx_need = ahs;
			return true;
		}
		header_done(conn);
		return conn->phase != ISCSI_PHASE_CLOSING;
	}
	case ISCSI_RX_AHS:
		if (conn->header_digest) {
			uint32_t crc = iscsi_crc32c_update(iscsi_crc32c(conn->rx_bhs, ISCSI_BHS_LEN),
							   conn->rx_ahs, conn->rx_hdr.ahs_len);
			if (crc != iscsi_digest_get(conn->rx_ahs + conn->rx_hdr.ahs_len)) {
				tg_warn("iscsi", "%s: header digest error", conn->peer);
				iscsi_conn_close(conn, "header digest error");
				return false;
			}
		}
		header_done(conn);
		return conn->phase != ISCSI_PHASE_CLOSING;
	case ISCSI_RX_DATA:
		if (!data_digest_ok(conn)) {
			tg_warn("iscsi", "%s: data digest error (opcode %#x, ITT %#x)", conn->peer,
				conn->rx_hdr.opcode, conn->rx_hdr.itt);
			/* At ErrorRecoveryLevel 0 the data cannot be recovered: end the session. */
			iscsi_conn_close(conn, "data digest error");
			return false;
		}
		iscsi_conn_dispatch(conn);
		if (conn->phase == ISCSI_PHASE_CLOSING)
			return false;
		rx_expect_bhs(conn);
		return true;
	}
	return true;
}

/*
 * Small PDUs (commands, headers, short data) are read many at a time into a stash and parsed
 * from there; a large data segment with nothing stashed is read straight into its command's
 * buffer. Payload bytes that do pass through the stash are counted as copies.
 */
#define RX_STASH_SIZE (64u * 1024)
#define RX_DIRECT_MIN (16u * 1024)

static void conn_receive(struct iscsi_conn *conn)
{
	if (!conn->rx_stash && !(conn->rx_stash = malloc(RX_STASH_SIZE))) {
		iscsi_conn_close(conn, "out of memory");
		return;
	}
	/* Bounded work per wakeup so one busy connection cannot starve the others. */
	for (int rounds = 0; rounds < 256 && conn->phase != ISCSI_PHASE_CLOSING; rounds++) {
		size_t want;
		uint8_t *dest = rx_target(conn, &want);
		size_t stashed = conn->rx_stash_end - conn->rx_stash_pos;
		size_t n;
		if (want == 0) {
			n = 0;
		} else if (stashed) {
			n = stashed < want ? stashed : want;
			memcpy(dest, conn->rx_stash + conn->rx_stash_pos, n);
			if (conn->rx_stage == ISCSI_RX_DATA && !conn->rx_discard && conn->rx_cmd)
				tg_stats_count_copy(n);
			conn->rx_stash_pos += n;
		} else {
			bool direct = want >= RX_DIRECT_MIN;
			ssize_t got = direct ? read(conn->fd, dest, want)
					     : read(conn->fd, conn->rx_stash, RX_STASH_SIZE);
			if (got == 0) {
				iscsi_conn_close(conn, "peer closed the connection");
				return;
			}
			if (got < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				iscsi_conn_close(conn, strerror(errno));
				return;
			}
			if (!direct) {
				conn->rx_stash_pos = 0;
				conn->rx_stash_end = (size_t)got;
				continue;
			}
			n = (size_t)got;
		}
		conn->rx_have += n;
		if (conn->rx_have < conn->rx_need)
			continue;
		if (!rx_stage_done(conn))
			return;
	}
	if (conn->rx_stash_end > conn->rx_stash_pos && conn->phase != ISCSI_PHASE_CLOSING) {
		/* Work is left in the stash but the round budget is spent: come back without
		 * waiting for the socket, which may have nothing more to say. */
		ev_feed_event(conn->server->loop, &conn->read_watcher, EV_READ);
	}
	iscsi_conn_schedule_flush(conn);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct iscsi_conn *conn = w->data;
	receiving = conn;
	receiving_freed = false;
	conn_receive(conn);
	receiving = NULL;
	if (receiving_freed)
		iscsi_conn_free(conn);
}

const struct iscsi_datamover iscsi_tcp_datamover = {
	.name = "tcp",
	.transport = TG_TRANSPORT_ISCSI,
	.queue = tcp_queue,
	.flush = tcp_flush,
	.solicit = iscsi_tcp_send_r2ts,
	.send_read_data = iscsi_tcp_send_data_in,
	.close = tcp_close,
	.destroy = tcp_destroy,
	.receive_pause = tcp_receive_pause,
};
