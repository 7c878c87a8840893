/* iSCSI sessions: TSIH allocation, the command pool and CmdSN window, teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/nexus.h"
#include "transports/iscsi/iscsi.h"

struct iscsi_session *iscsi_session_create(struct iscsi_conn *conn, enum iscsi_session_type type)
{
	struct iscsi_server *server = conn->server;
	struct iscsi_server *table = iscsi_server_shared(server);
	struct iscsi_session *session = calloc(1, sizeof(*session));
	if (!session)
		return NULL;
	session->server = server;
	session->type = type;
	/* TSIH 0 means "new session" on the wire, so it is never handed out. A draining
	 * session still holds its commands' buffers, so it counts against the limit. */
	pthread_mutex_lock(&table->table_lock);
	if (table->max_sessions && table->session_count >= table->max_sessions) {
		pthread_mutex_unlock(&table->table_lock);
		free(session);
		errno = EUSERS;
		return NULL;
	}
	table->session_count++;
	do {
		session->tsih = table->next_tsih++;
	} while (session->tsih == 0);
	pthread_mutex_unlock(&table->table_lock);
	memcpy(session->isid, conn->isid, sizeof(session->isid));
	snprintf(session->initiator_name, sizeof(session->initiator_name), "%s",
		 conn->login_keys.initiator_name);
	session->target = conn->target;
	session->params = conn->neg.params;
	session->conn = conn;
	session->next_ttt = 1;
	for (int i = ISCSI_SESSION_CMDS - 1; i >= 0; i--) {
		session->cmds[i].session = session;
		session->cmds[i].next_free = session->free_cmds;
		session->free_cmds = &session->cmds[i];
	}
	if (type == ISCSI_SESSION_NORMAL) {
		char port[ISCSI_NAME_MAX + 32];
		snprintf(port, sizeof(port), "%s,i,0x%02x%02x%02x%02x%02x%02x",
			 session->initiator_name, conn->isid[0], conn->isid[1], conn->isid[2],
			 conn->isid[3], conn->isid[4], conn->isid[5]);
		session->nexus = tg_nexus_create(conn->target, TG_TRANSPORT_ISCSI,
						 session->initiator_name, port);
		if (!session->nexus) {
			pthread_mutex_lock(&table->table_lock);
			table->session_count--;
			pthread_mutex_unlock(&table->table_lock);
			free(session);
			errno = ENOMEM;
			return NULL;
		}
		/* The first thing a new I_T nexus hears: power on, or that its predecessor
		 * was lost (libiscsi and Linux clear it with TEST UNIT READY after login). */
		tg_nexus_login(session->nexus);
	}
	pthread_mutex_lock(&table->table_lock);
	session->next = table->sessions;
	table->sessions = session;
	pthread_mutex_unlock(&table->table_lock);
	conn->session = session;
	return session;
}

static void session_unlink_from(struct iscsi_session **list, struct iscsi_session *session)
{
	for (struct iscsi_session **p = list; *p; p = &(*p)->next) {
		if (*p == session) {
			*p = session->next;
			return;
		}
	}
}

static void resume_parked_login(void *arg) { iscsi_login_resume(arg); }

static void session_free_if_idle(struct iscsi_session *session)
{
	if (!session->dying || session->active_cmds)
		return;
	struct iscsi_server *server = session->server;
	struct iscsi_server *table = iscsi_server_shared(server);
	/* The login waiting for this session is taken off it in the same step that makes the
	 * session unreachable: a login on another loop reads the link under this lock. */
	pthread_mutex_lock(&table->table_lock);
	session_unlink_from(&table->draining, session);
	table->session_count--;
	struct iscsi_conn *successor = session->successor;
	session->successor = NULL;
	if (successor)
		successor->predecessor = NULL;
	bool idle = !table->sessions && !table->draining;
	pthread_mutex_unlock(&table->table_lock);
	if (server->engine)
		tg_ioengine_cancel_call(server->engine, &session->reinstate_call);
	tg_nexus_destroy(session->nexus);
	struct iscsi_conn *conn = session->conn;
	if (conn) {
		conn->session = NULL;
		iscsi_conn_free(conn);
	}
	free(session);
	/* glibc keeps freed heap memory resident; hand it back in batches (core/mem.h). */
	tg_mem_released(sizeof(*session) + sizeof(*conn) + 2 * ISCSI_CTRL_DSL_MAX, idle);
	if (!successor)
		return;
	if (successor->server == server || !successor->server->engine) {
		iscsi_login_resume(successor);
	} else {
		/* The login lives on another loop; its connection cancels this if it closes. */
		successor->resume_call.fn = resume_parked_login;
		successor->resume_call.arg = successor;
		tg_ioengine_call(successor->server->engine, &successor->resume_call);
	}
}

void iscsi_session_destroy(struct iscsi_session *session)
{
	if (session->dying)
		return;
	if (session->conn && session->conn->phase != ISCSI_PHASE_CLOSING) {
		/* Closing the connection comes back here through its session pointer. */
		iscsi_conn_close(session->conn, "session reinstated or closed");
		return;
	}
	session->dying = true;
	/* Off the live list (no new lookups find it), onto the draining list until its last
	 * command returns. */
	struct iscsi_server *table = iscsi_server_shared(session->server);
	pthread_mutex_lock(&table->table_lock);
	session_unlink_from(&table->sessions, session);
	session->next = table->draining;
	table->draining = session;
	pthread_mutex_unlock(&table->table_lock);
	/* Hold the session while aborting: the last command put would otherwise free it. */
	session->active_cmds++;
	for (int i = 0; i < ISCSI_SESSION_CMDS; i++) {
		struct iscsi_cmd *cmd = &session->cmds[i];
		if (!cmd->in_use)
			continue;
		if (!cmd->submitted) {
			/* Still receiving its PDU: the core never saw it. */
			cmd->response_queued = true;
			if (cmd->tx_refs == 0)
				iscsi_cmd_put(cmd);
			continue;
		}
		if (cmd->response_queued) {
			/* Answered, waiting only for unsolicited data that will never come now. */
			if (cmd->tx_refs == 0)
				iscsi_cmd_put(cmd);
			continue;
		}
		tg_task_abort(&cmd->task);
		if (cmd->write_pending) {
			cmd->write_pending = false;
			tg_task_data_ready(&cmd->task, TG_SR_TASK_ABORTED);
		}
	}
	session->active_cmds--;
	session_free_if_idle(session);
}

bool iscsi_session_draining(const struct iscsi_server *server, const struct iscsi_session *session)
{
	struct iscsi_server *table = iscsi_server_shared((struct iscsi_server *)server);
	bool found = false;
	pthread_mutex_lock(&table->table_lock);
	for (const struct iscsi_session *s = table->draining; s && !found; s = s->next)
		found = s == session;
	pthread_mutex_unlock(&table->table_lock);
	return found;
}

/* The caller holds the table lock. */
static struct iscsi_session *find_in(struct iscsi_session *list, const char *initiator_name,
				     const uint8_t isid[6], const struct tg_target *target)
{
	for (struct iscsi_session *s = list; s; s = s->next)
		if (s->target == target && memcmp(s->isid, isid, 6) == 0 &&
		    strcasecmp(s->initiator_name, initiator_name) == 0)
			return s;
	return NULL;
}

static struct iscsi_session *find_locked(struct iscsi_server *table, const char *initiator_name,
					 const uint8_t isid[6], const struct tg_target *target)
{
	return find_in(table->sessions, initiator_name, isid, target);
}

/* A session found by a login on another thread is only ever torn down by its own loop. */
struct iscsi_session *iscsi_session_find(struct iscsi_server *server, const char *initiator_name,
					 const uint8_t isid[6], const struct tg_target *target)
{
	struct iscsi_server *table = iscsi_server_shared(server);
	pthread_mutex_lock(&table->table_lock);
	struct iscsi_session *s = find_locked(table, initiator_name, isid, target);
	pthread_mutex_unlock(&table->table_lock);
	return s;
}

static void reinstate_on_own_loop(void *arg) { iscsi_session_destroy(arg); }

enum iscsi_reinstate iscsi_session_reinstate_remote(struct iscsi_conn *conn, uint16_t *old_tsih)
{
	struct iscsi_server *table = iscsi_server_shared(conn->server);
	enum iscsi_reinstate outcome = ISCSI_REINSTATE_LOCAL;
	pthread_mutex_lock(&table->table_lock);
	struct iscsi_session *old = find_locked(table, conn->login_keys.initiator_name, conn->isid,
						conn->target);
	struct iscsi_session *dying = old ? NULL
				      : find_in(table->draining, conn->login_keys.initiator_name,
						conn->isid, conn->target);
	if (dying) {
		/* The same I_T nexus after a lost connection: its writes still in the backend
		 * must land before the new session's, as for reinstatement. */
		*old_tsih = dying->tsih;
		if (dying->successor) {
			outcome = ISCSI_REINSTATE_BUSY;
		} else {
			dying->successor = conn;
			conn->predecessor = dying;
			outcome = ISCSI_REINSTATE_DRAINING;
		}
	} else if (!old) {
		outcome = ISCSI_REINSTATE_NONE;
	} else if (old->server != conn->server && old->server->engine) {
		*old_tsih = old->tsih;
		if (old->successor) {
			outcome = ISCSI_REINSTATE_BUSY;
		} else {
			/* Linked under the lock that the old session's end takes to unlink it, so
			 * the login learns of that end whichever comes first. */
			old->successor = conn;
			conn->predecessor = old;
			old->reinstate_call.fn = reinstate_on_own_loop;
			old->reinstate_call.arg = old;
			tg_ioengine_call(old->server->engine, &old->reinstate_call);
			outcome = ISCSI_REINSTATE_PARKED;
		}
	}
	pthread_mutex_unlock(&table->table_lock);
	return outcome;
}

struct iscsi_cmd *iscsi_cmd_get(struct iscsi_session *session)
{
	struct iscsi_cmd *cmd = session->free_cmds;
	if (!cmd)
		return NULL;
	session->free_cmds = cmd->next_free;
	struct iscsi_session *owner = cmd->session;
	memset(cmd, 0, sizeof(*cmd));
	cmd->session = owner;
	cmd->conn = session->conn;
	cmd->in_use = true;
	session->active_cmds++;
	return cmd;
}

void iscsi_cmd_put(struct iscsi_cmd *cmd)
{
	struct iscsi_session *session = cmd->session;
	if (!cmd->in_use)
		return;
	tg_task_release(&cmd->task);
	cmd->in_use = false;
	cmd->next_free = session->free_cmds;
	session->free_cmds = cmd;
	session->active_cmds--;
	session_free_if_idle(session);
}

/* A tag may match a command that already answered (kept for its trailing unsolicited data)
 * and a newer one that reused the tag: the live one wins. */
static struct iscsi_cmd *find_cmd(struct iscsi_session *session, bool by_ttt, uint32_t tag)
{
	struct iscsi_cmd *answered = NULL;
	for (int i = 0; i < ISCSI_SESSION_CMDS; i++) {
		struct iscsi_cmd *cmd = &session->cmds[i];
		if (!cmd->in_use || (by_ttt ? cmd->ttt : cmd->itt) != tag)
			continue;
		if (!cmd->response_queued)
			return cmd;
		answered = cmd;
	}
	return answered;
}

struct iscsi_cmd *iscsi_cmd_find_itt(struct iscsi_session *session, uint32_t itt)
{
	return find_cmd(session, false, itt);
}

struct iscsi_cmd *iscsi_cmd_find_ttt(struct iscsi_session *session, uint32_t ttt)
{
	return find_cmd(session, true, ttt);
}

void iscsi_session_update_window(struct iscsi_session *session)
{
	unsigned limit = session->cmd_limit && session->cmd_limit < ISCSI_SESSION_CMDS
				 ? session->cmd_limit
				 : ISCSI_SESSION_CMDS;
	unsigned free_slots = session->active_cmds < limit ? limit - session->active_cmds : 0;
	/* MaxCmdSN = ExpCmdSN - 1 closes the window while every slot is busy. */
	session->max_cmdsn = session->exp_cmdsn + free_slots - 1;
}
