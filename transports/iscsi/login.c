/* iSCSI login phase (RFC 7143 section 6): stages, key negotiation, session creation and
 * reinstatement, and login status codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/nexus.h"
#include "core/runtime.h"
#include "transports/iscsi/auth.h"
#include "transports/iscsi/iscsi.h"

/* Login status classes/details (RFC 7143 11.13.5). */
enum {
	LOGIN_OK = 0x0000,
	LOGIN_INITIATOR_ERROR = 0x0200,
	LOGIN_AUTH_FAILED = 0x0201,
	LOGIN_FORBIDDEN = 0x0202,
	LOGIN_NOT_FOUND = 0x0203,
	LOGIN_UNSUPPORTED_VERSION = 0x0205,
	LOGIN_TOO_MANY_CONNECTIONS = 0x0206,
	LOGIN_MISSING_PARAMETER = 0x0207,
	LOGIN_SESSION_NOT_FOUND = 0x020a,
	LOGIN_INVALID_REQUEST = 0x020b,
	LOGIN_TARGET_ERROR = 0x0300,
	LOGIN_SERVICE_UNAVAILABLE = 0x0301,
	LOGIN_OUT_OF_RESOURCES = 0x0302,
};

enum { STAGE_SECURITY = 0, STAGE_OPERATIONAL = 1, STAGE_FULL_FEATURE = 3 };

#define LOGIN_RESPONSE_MAX 8192 /* the initiator's MaxRecvDataSegmentLength during login */

void iscsi_login_cleanup(struct iscsi_conn *conn)
{
	/* The predecessor may live on another loop, which unlinks the pair under the same lock
	 * when it ends; a resumption it already sent here is dropped with the connection. */
	struct iscsi_server *table = iscsi_server_shared(conn->server);
	pthread_mutex_lock(&table->table_lock);
	if (conn->predecessor) {
		conn->predecessor->successor = NULL;
		conn->predecessor = NULL;
	}
	pthread_mutex_unlock(&table->table_lock);
	if (conn->server->engine)
		tg_ioengine_cancel_call(conn->server->engine, &conn->resume_call);
	iscsi_text_buf_free(&conn->parked_out);
	free(conn->login_text);
	conn->login_text = NULL;
	conn->login_text_len = 0;
	iscsi_auth_free(conn);
}

static void queue_login_rsp(struct iscsi_conn *conn, const struct iscsi_hdr *req, bool transit,
			    uint8_t nsg, uint16_t status, const struct iscsi_text_buf *text)
{
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn = { 0 };
	sn.statsn = conn->statsn;
	if (status == LOGIN_OK || transit)
		conn->statsn++;
	sn.expcmdsn = req->cmdsn;
	sn.maxcmdsn = req->cmdsn;
	if (conn->session) {
		iscsi_session_update_window(conn->session);
		sn.expcmdsn = conn->session->exp_cmdsn;
		sn.maxcmdsn = conn->session->max_cmdsn;
	}
	uint32_t len = text ? (uint32_t)text->len : 0;
	iscsi_build_login_rsp(bhs, transit, false, req->csg, transit ? nsg : 0, 0x00, 0x00,
			      conn->isid, conn->session ? conn->session->tsih : 0, req->itt,
			      (uint8_t)(status >> 8), (uint8_t)status, len, &sn);
	iscsi_conn_send(conn, bhs, text ? text->data : NULL, len, status != LOGIN_OK);
}

/* The flush may close the connection (a write error, or the close after a refusal), which
 * frees the session and, outside the connection's receive callback, the connection. */
static void send_login_rsp(struct iscsi_conn *conn, const struct iscsi_hdr *req, bool transit,
			   uint8_t nsg, uint16_t status, const struct iscsi_text_buf *text)
{
	queue_login_rsp(conn, req, transit, nsg, status, text);
	iscsi_conn_flush(conn);
}

static void login_fail(struct iscsi_conn *conn, const struct iscsi_hdr *req, uint16_t status,
		       const char *why)
{
	tg_warn("iscsi", "%s: login of %s to %s refused (status %#06x): %s", conn->peer,
		conn->login_keys.have_initiator_name ? conn->login_keys.initiator_name : "?",
		conn->login_keys.have_target_name ? conn->login_keys.target_name : "discovery",
		status, why);
	send_login_rsp(conn, req, false, 0, status, NULL);
}

/* First PDU of the login: who is logging in to what, and may they. */
static uint16_t login_identify(struct iscsi_conn *conn, const struct iscsi_hdr *req,
			       const uint8_t *text, size_t len, const char **why)
{
	if (req->version_min > 0x00) {
		*why = "unsupported version";
		return LOGIN_UNSUPPORTED_VERSION;
	}
	if (iscsi_login_keys_parse(text, len, &conn->login_keys) != 0) {
		*why = "malformed login keys";
		return LOGIN_INITIATOR_ERROR;
	}
	const struct iscsi_login_keys *keys = &conn->login_keys;
	if (!keys->have_initiator_name) {
		*why = "no InitiatorName";
		return LOGIN_MISSING_PARAMETER;
	}
	if (req->tsih != 0) {
		/* Adding a connection to a session needs MaxConnections > 1. */
		*why = "connection to an existing session (MaxConnections=1)";
		return LOGIN_SESSION_NOT_FOUND;
	}
	memcpy(conn->isid, req->isid, sizeof(conn->isid));
	conn->cid = req->cid;
	conn->statsn = req->expstatsn;
	struct tg_runtime *rt = conn->server->runtime;
	bool auth_required;
	if (keys->session_type == ISCSI_SESSION_DISCOVERY) {
		conn->target = NULL;
		auth_required = rt->discovery_chap.enabled;
	} else {
		if (!keys->have_target_name) {
			*why = "no TargetName";
			return LOGIN_MISSING_PARAMETER;
		}
		conn->target = tg_runtime_find_target(rt, keys->target_name);
		if (!conn->target || !(conn->target->transports & conn->dm->transport)) {
			*why = "no such target";
			return LOGIN_NOT_FOUND;
		}
		if (!tg_target_resolve_view(conn->target, keys->initiator_name)) {
			*why = "the initiator is not allowed to see this target";
			return LOGIN_FORBIDDEN;
		}
		auth_required = conn->target->chap.enabled;
	}
	iscsi_negotiation_init(&conn->neg, conn->limits, keys->session_type);
	conn->neg.auth_required = auth_required;
	return LOGIN_OK;
}

/* Creates the session and answers the final login request: full feature phase begins. */
static void login_enter_full_feature(struct iscsi_conn *conn, const struct iscsi_hdr *hdr,
				     const struct iscsi_text_buf *out)
{
	struct iscsi_session *session = iscsi_session_create(
		conn, conn->target ? ISCSI_SESSION_NORMAL : ISCSI_SESSION_DISCOVERY);
	if (!session) {
		unsigned limit = iscsi_server_shared(conn->server)->max_sessions;
		char why[64];
		if (errno == EUSERS)
			snprintf(why, sizeof(why), "session limit reached (max_sessions = %u)", limit);
		else
			snprintf(why, sizeof(why), "cannot create session");
		login_fail(conn, hdr, LOGIN_OUT_OF_RESOURCES, why);
		return;
	}
	session->exp_cmdsn = conn->login_cmdsn;
	if (conn->dm->full_feature && conn->dm->full_feature(conn) != 0) {
		login_fail(conn, hdr, LOGIN_OUT_OF_RESOURCES, "no resources for full feature phase");
		return;
	}
	queue_login_rsp(conn, hdr, true, STAGE_FULL_FEATURE, LOGIN_OK, out);
	/* Digests apply from the first PDU after the final Login Response (queued above
	 * without them). */
	conn->header_digest = session->params.header_digest;
	conn->data_digest = session->params.data_digest;
	conn->phase = ISCSI_PHASE_FULL_FEATURE;
	iscsi_conn_login_done(conn);
	tg_info("iscsi", "%s: %s logged in to %s over %s (TSIH %u%s%s)", conn->peer,
		conn->login_keys.initiator_name, conn->target ? conn->target->name : "discovery",
		conn->dm->name, session->tsih, conn->header_digest ? ", header digest" : "",
		conn->data_digest ? ", data digest" : "");
	/* Last: an initiator that has gone makes this close the connection and free the
	 * session. */
	iscsi_conn_flush(conn);
}

/* Keeps the final login request and its answer until the old session has gone; the
 * connection reads nothing more meanwhile. The wait is the target's (the old commands are in
 * its backend), not the initiator's: the login timeout no longer applies. */
static void park_login(struct iscsi_conn *conn, const struct iscsi_hdr *hdr,
		       struct iscsi_text_buf *out)
{
	iscsi_conn_login_done(conn);
	conn->parked_hdr = *hdr;
	conn->parked_out = *out;
	memset(out, 0, sizeof(*out)); /* ownership moves to the connection */
	if (conn->dm->receive_pause)
		conn->dm->receive_pause(conn, true);
}

/*
 * Session reinstatement (RFC 7143 6.3.5): a new login from the same initiator port replaces
 * the old session. The old session's commands still in the backend must finish before the
 * new session runs any command, or an old write could land after a new one; so the final
 * login response waits until the old session is gone. Returns true when the login is parked.
 */
static bool login_wait_for_predecessor(struct iscsi_conn *conn, const struct iscsi_hdr *hdr,
				       struct iscsi_text_buf *out)
{
	if (!conn->target)
		return false;
	uint16_t old_tsih = 0;
	switch (iscsi_session_reinstate_remote(conn, &old_tsih)) {
	case ISCSI_REINSTATE_NONE:
		return false;
	case ISCSI_REINSTATE_BUSY:
		login_fail(conn, hdr, LOGIN_SERVICE_UNAVAILABLE,
			   "another login is already reinstating that session");
		return true;
	case ISCSI_REINSTATE_PARKED:
		/* The old session lives on another I/O thread's loop, which ends it and then
		 * resumes this login here (iscsi_login_resume). */
		tg_info("iscsi", "%s: reinstating session TSIH %u of %s (on another I/O thread)",
			conn->peer, old_tsih, conn->login_keys.initiator_name);
		park_login(conn, hdr, out);
		return true;
	case ISCSI_REINSTATE_DRAINING:
		tg_info("iscsi", "%s: waiting for the commands of %s's previous session (TSIH %u) "
			"to finish", conn->peer, conn->login_keys.initiator_name, old_tsih);
		park_login(conn, hdr, out);
		return true;
	case ISCSI_REINSTATE_LOCAL:
		break;
	}
	struct iscsi_session *old = iscsi_session_find(conn->server, conn->login_keys.initiator_name,
						       conn->isid, conn->target);
	if (!old)
		return false;
	tg_info("iscsi", "%s: reinstating session TSIH %u of %s", conn->peer, old->tsih,
		old->initiator_name);
	iscsi_session_destroy(old);
	if (!iscsi_session_draining(conn->server, old))
		return false; /* gone at once: nothing was in flight */
	struct iscsi_server *table = iscsi_server_shared(conn->server);
	pthread_mutex_lock(&table->table_lock);
	old->successor = conn;
	conn->predecessor = old;
	pthread_mutex_unlock(&table->table_lock);
	tg_info("iscsi", "%s: waiting for %u command(s) of the old session", conn->peer,
		old->active_cmds);
	park_login(conn, hdr, out);
	return true;
}

void iscsi_login_resume(struct iscsi_conn *conn)
{
	conn->predecessor = NULL;
	if (conn->phase == ISCSI_PHASE_CLOSING)
		return;
	/* The login lets go of everything before it answers: the answer may find the initiator
	 * gone, and closing then frees the connection (no receive callback holds it here). */
	struct iscsi_hdr hdr = conn->parked_hdr;
	struct iscsi_text_buf out = conn->parked_out;
	memset(&conn->parked_out, 0, sizeof(conn->parked_out));
	iscsi_login_cleanup(conn);
	if (conn->dm->receive_pause)
		conn->dm->receive_pause(conn, false);
	login_enter_full_feature(conn, &hdr, &out);
	iscsi_text_buf_free(&out);
}

/* Negotiates one complete login request and answers it; out collects the response keys. */
static void login_step(struct iscsi_conn *conn, const struct iscsi_hdr *hdr, const uint8_t *text,
		       size_t text_len, struct iscsi_text_buf *out)
{
	bool auth_failure = false;
	char err[160] = "";
	if (iscsi_negotiate(&conn->neg, text, text_len, hdr->csg == STAGE_SECURITY, out,
			    &auth_failure, err, sizeof(err)) != 0) {
		login_fail(conn, hdr, auth_failure ? LOGIN_AUTH_FAILED : LOGIN_INITIATOR_ERROR, err);
		return;
	}
	bool transit = hdr->transit;
	if (hdr->csg == STAGE_SECURITY) {
		if (conn->neg.auth_required && conn->neg.auth != ISCSI_AUTH_CHAP) {
			if (transit) {
				login_fail(conn, hdr, LOGIN_AUTH_FAILED, "CHAP required");
				return;
			}
		} else if (conn->neg.auth == ISCSI_AUTH_CHAP) {
			enum iscsi_auth_result r = iscsi_auth_step(conn, text, text_len, out);
			if (r == ISCSI_AUTH_FAILED) {
				login_fail(conn, hdr, LOGIN_AUTH_FAILED, "CHAP authentication failed");
				return;
			}
			if (r == ISCSI_AUTH_CONTINUE)
				transit = false; /* the exchange is not over yet */
		}
	} else if (conn->neg.auth_required && !iscsi_auth_succeeded(conn)) {
		login_fail(conn, hdr, LOGIN_AUTH_FAILED, "operational stage without authentication");
		return;
	}
	if (transit && hdr->nsg == STAGE_FULL_FEATURE)
		iscsi_negotiation_finish(&conn->neg, out);
	if (out->overflow || out->len > LOGIN_RESPONSE_MAX) {
		login_fail(conn, hdr, LOGIN_TARGET_ERROR, "login response too long");
		return;
	}
	if (transit && hdr->nsg == STAGE_FULL_FEATURE) {
		if (!login_wait_for_predecessor(conn, hdr, out))
			login_enter_full_feature(conn, hdr, out);
		return;
	}
	if (transit)
		conn->login_csg = hdr->nsg;
	send_login_rsp(conn, hdr, transit, hdr->nsg, LOGIN_OK, out);
}

void iscsi_login_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr, const uint8_t *data)
{
	/* Gather a request split over several PDUs (C bit) before acting on it. */
	if (hdr->data_len) {
		size_t total = conn->login_text_len + hdr->data_len;
		uint8_t *grown = total <= 4 * ISCSI_CTRL_DSL_MAX ? realloc(conn->login_text, total)
								 : NULL;
		if (!grown) {
			login_fail(conn, hdr, LOGIN_OUT_OF_RESOURCES, "login text too long");
			return;
		}
		conn->login_text = grown;
		memcpy(conn->login_text + conn->login_text_len, data, hdr->data_len);
		conn->login_text_len = total;
	}
	if (hdr->cont) {
		send_login_rsp(conn, hdr, false, 0, LOGIN_OK, NULL);
		return;
	}
	if (!conn->login_started) {
		const char *why = "";
		conn->login_started = true;
		conn->login_cmdsn = hdr->cmdsn;
		conn->login_csg = hdr->csg;
		uint16_t status = login_identify(conn, hdr, conn->login_text, conn->login_text_len,
						 &why);
		if (status != LOGIN_OK) {
			login_fail(conn, hdr, status, why);
			return;
		}
	} else if (memcmp(hdr->isid, conn->isid, 6) != 0) {
		login_fail(conn, hdr, LOGIN_INITIATOR_ERROR, "ISID changed during login");
		return;
	}
	if (hdr->csg == STAGE_FULL_FEATURE || hdr->csg != conn->login_csg ||
	    (hdr->transit && (hdr->nsg <= hdr->csg || hdr->nsg == 2))) {
		login_fail(conn, hdr, LOGIN_INITIATOR_ERROR, "invalid login stage transition");
		return;
	}
	struct iscsi_text_buf out = { 0 };
	login_step(conn, hdr, conn->login_text, conn->login_text_len, &out);
	iscsi_text_buf_free(&out);
	free(conn->login_text);
	conn->login_text = NULL;
	conn->login_text_len = 0;
	if (conn->phase == ISCSI_PHASE_FULL_FEATURE)
		iscsi_login_cleanup(conn);
}
