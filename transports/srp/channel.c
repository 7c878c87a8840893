/* SRP logins over RDMA-CM: target port identity, I_T nexuses with one or more RDMA channels, channel rings, credits flushes and teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "config/config.h"
#include "core/iothreads.h"
#include "core/log.h"
#include "core/nexus.h"
#include "core/runtime.h"
#include "transports/srp/srp_internal.h"

static void hex16(const uint8_t id[16], char out[33])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[32] = '\0';
}

static int parse_port_id(const char *text, uint8_t id[16])
{
	if (!text || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') || strlen(text) != 34)
		return -1;
	for (int i = 0; i < 16; i++) {
		unsigned v;
		if (sscanf(text + 2 + 2 * i, "%2x", &v) != 1)
			return -1;
		id[i] = (uint8_t)v;
	}
	return 0;
}

/* ---- deferred work ---- */

static void flush_credits(struct srp_channel *ch);

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct srp_loop *sl = w->data;
	sl->kick_armed = false;
	ev_timer_stop(loop, w);
	/* Task management answers first: they carry the credits of the tasks they aborted. */
	srp_send_ready_tmfs(sl);
	while (sl->flush_head) {
		struct srp_channel *ch = sl->flush_head;
		sl->flush_head = ch->next_flush;
		ch->flush_queued = false;
		flush_credits(ch);
	}
}

void srp_loop_kick(struct srp_loop *sl)
{
	if (sl->kick_armed)
		return;
	sl->kick_armed = true;
	ev_timer_set(&sl->kick, 0, 0);
	ev_timer_start(sl->loop, &sl->kick);
}

void srp_channel_schedule_flush(struct srp_channel *ch)
{
	if (ch->flush_queued)
		return;
	ch->flush_queued = true;
	ch->next_flush = ch->home->flush_head;
	ch->home->flush_head = ch;
	srp_loop_kick(ch->home);
}

/* ---- target-initiated IUs: SRP_CRED_REQ and SRP_T_LOGOUT ---- */

static void channel_maybe_release(struct srp_channel *ch);

static void treq_done(struct tg_rdma_op *op, int status)
{
	struct srp_channel *ch = op->priv;
	ch->treq_in_flight = false;
	if (ch->logout_then_disconnect) {
		tg_rdma_conn_disconnect(ch->conn, "target logout sent");
	} else if (status) {
		ch->cred_req_unanswered = false;
	} else if (ch->credits.pending) {
		srp_channel_schedule_flush(ch);
	}
	channel_maybe_release(ch);
}

static int post_treq(struct srp_channel *ch, size_t len)
{
	ch->treq_op = (struct tg_rdma_op){ .kind = TG_RDMA_SEND, .local = ch->treq_buf,
					   .len = (uint32_t)len,
					   .lkey = tg_rdma_mr_lkey(ch->send_mr),
					   .done = treq_done, .priv = ch };
	if (tg_rdma_post(ch->conn, &ch->treq_op) != 0)
		return -1;
	ch->treq_in_flight = true;
	return 0;
}

/* Credits that nothing else is carrying back (tasks aborted by task management, perhaps from
 * another channel) go in an SRP_CRED_REQ; one may be unanswered at a time. */
static void flush_credits(struct srp_channel *ch)
{
	if (ch->state != SRP_CH_LIVE || ch->logout_then_disconnect || !ch->credits.pending ||
	    ch->treq_in_flight || ch->cred_req_unanswered)
		return;
	uint32_t delta = srp_take_delta(ch);
	srp_cred_req_build(ch->treq_buf, ch->next_treq_tag++, delta);
	if (post_treq(ch, SRP_CRED_REQ_LEN) == 0) {
		ch->cred_req_unanswered = true;
		ch->stats.cred_reqs++;
		tg_debug(SRP_LOG, "%s: SRP_CRED_REQ returns %u credits", ch->name, delta);
	}
}

void srp_channel_logout(struct srp_channel *ch, uint32_t reason, const char *why)
{
	if (ch->state == SRP_CH_CLOSING || ch->logout_then_disconnect)
		return;
	tg_warn(SRP_LOG, "%s: logging the channel out: %s", ch->name, why);
	ch->logout_then_disconnect = true;
	if (ch->state == SRP_CH_LIVE && !ch->treq_in_flight) {
		srp_t_logout_build(ch->treq_buf, ch->next_treq_tag++, reason);
		if (post_treq(ch, SRP_T_LOGOUT_LEN) == 0)
			return;
	}
	tg_rdma_conn_disconnect(ch->conn, why);
}

/* ---- receive path ---- */

int srp_channel_repost(struct srp_channel *ch, struct srp_recv *recv)
{
	if (ch->state != SRP_CH_LIVE)
		return -1;
	return tg_rdma_post_recv(ch->conn, &recv->rr);
}

static struct srp_ctx *ctx_take(struct srp_channel *ch)
{
	struct srp_ctx *ctx = ch->free_ctx;
	if (ctx)
		ch->free_ctx = ctx->next;
	return ctx;
}

void srp_channel_ctx_freed(struct srp_channel *ch)
{
	while (ch->wait_head && ch->state == SRP_CH_LIVE && !ch->logout_then_disconnect) {
		struct srp_ctx *ctx = ctx_take(ch);
		if (!ctx)
			break;
		struct srp_recv *recv = ch->wait_head;
		ch->wait_head = recv->next_wait;
		if (!ch->wait_head)
			ch->wait_tail = NULL;
		srp_handle_request(ch, ctx, recv);
	}
	channel_maybe_release(ch);
}

static void on_recv(struct tg_rdma_conn *conn, struct tg_rdma_recv *rr, uint32_t len)
{
	struct srp_channel *ch = tg_rdma_conn_priv(conn);
	struct srp_recv *recv = rr->priv;
	recv->len = len;
	if (ch->state != SRP_CH_LIVE || ch->logout_then_disconnect)
		return;
	const uint8_t *iu = rr->buf;
	uint64_t tag;
	switch (srp_iu_type(iu, len)) {
	case SRP_CMD:
	case SRP_TSK_MGMT: {
		struct srp_ctx *ctx = ch->wait_head ? NULL : ctx_take(ch);
		if (!ctx) {
			/* Every context still sends a response: this request waits for one. */
			recv->next_wait = NULL;
			if (ch->wait_tail)
				ch->wait_tail->next_wait = recv;
			else
				ch->wait_head = recv;
			ch->wait_tail = recv;
			return;
		}
		srp_handle_request(ch, ctx, recv);
		return;
	}
	case SRP_I_LOGOUT:
		tg_info(SRP_LOG, "%s: SRP_I_LOGOUT", ch->name);
		tg_rdma_conn_disconnect(conn, "initiator logout");
		return;
	case SRP_CRED_RSP:
		if (srp_simple_iu_parse(iu, len, SRP_CRED_RSP, &tag) != 0 || !ch->cred_req_unanswered)
			tg_warn(SRP_LOG, "%s: unexpected SRP_CRED_RSP", ch->name);
		ch->cred_req_unanswered = false;
		srp_channel_repost(ch, recv);
		if (ch->credits.pending)
			srp_channel_schedule_flush(ch);
		return;
	case SRP_AER_RSP:
		/* No SRP_AER_REQ is ever sent (unit attentions travel as CHECK CONDITION). */
		tg_warn(SRP_LOG, "%s: SRP_AER_RSP without a request", ch->name);
		srp_channel_repost(ch, recv);
		return;
	default: {
		char why[64];
		snprintf(why, sizeof(why), "invalid IU type %#x (%u bytes)",
			 len ? iu[0] : 0u, len);
		srp_channel_logout(ch, SRP_LOGOUT_INVALID_IU_TYPE, why);
		return;
	}
	}
}

/* ---- nexuses ---- */

static struct srp_nexus *nexus_find(struct srp_server *server, const uint8_t i_id[16],
				    const uint8_t t_id[16], bool live_only)
{
	/* New nexuses go first in the list: the first match is the most recent one. */
	for (struct srp_nexus *sn = server->nexuses; sn; sn = sn->next)
		if (memcmp(sn->i_port_id, i_id, 16) == 0 && memcmp(sn->t_port_id, t_id, 16) == 0 &&
		    (!live_only || sn->state != SRP_NEXUS_GONE))
			return sn;
	return NULL;
}

static struct srp_nexus *nexus_new(struct srp_server *server, const struct srp_login_req *req,
				   struct tg_target *target, const char *initiator_name)
{
	struct srp_nexus *sn = calloc(1, sizeof(*sn));
	if (!sn)
		return NULL;
	sn->server = server;
	sn->state = SRP_NEXUS_LIVE;
	memcpy(sn->i_port_id, req->initiator_port_id, 16);
	memcpy(sn->t_port_id, req->target_port_id, 16);
	snprintf(sn->initiator_name, sizeof(sn->initiator_name), "%s", initiator_name);
	sn->target = target;
	sn->next = server->nexuses;
	server->nexuses = sn;
	return sn;
}

static void channel_accept(struct srp_channel *ch);
static void channel_reject(struct srp_channel *ch, uint32_t reason);
static void channel_request(struct srp_channel *ch, unsigned action);

/* The predecessor has drained: create the core's I_T nexus and let the channels in. */
static void nexus_go_live(struct srp_nexus *sn)
{
	sn->state = SRP_NEXUS_LIVE;
	sn->nexus = tg_nexus_create(sn->target, TG_TRANSPORT_SRP, sn->initiator_name,
				    sn->initiator_name);
	if (!sn->nexus) {
		tg_warn(SRP_LOG, "%s: cannot create the I_T nexus", sn->initiator_name);
		sn->state = SRP_NEXUS_GONE;
		struct srp_channel *ch = sn->channels;
		while (ch) {
			struct srp_channel *next = ch->next_in_nexus;
			if (sn->server->threads)
				channel_request(ch, SRP_ACT_SETTLE);
			else if (ch->state == SRP_CH_PENDING)
				channel_reject(ch, SRP_REJ_INSUFFICIENT_RESOURCES);
			ch = next;
		}
		return;
	}
	tg_nexus_login(sn->nexus);
	struct srp_channel *ch = sn->channels;
	while (ch) {
		struct srp_channel *next = ch->next_in_nexus;
		if (sn->server->threads)
			channel_request(ch, SRP_ACT_SETTLE);
		else if (ch->state == SRP_CH_PENDING)
			channel_accept(ch);
		ch = next;
	}
}

static void nexus_free(struct srp_nexus *sn)
{
	struct srp_server *server = sn->server;
	for (struct srp_nexus **p = &server->nexuses; *p; p = &(*p)->next) {
		if (*p == sn) {
			*p = sn->next;
			break;
		}
	}
	/* Whoever waited for this one now waits for what this one waited for, if anything. */
	bool waited_for = false;
	for (struct srp_nexus *n = server->nexuses; n; n = n->next) {
		if (n->successor == sn) {
			n->successor = sn->successor;
			waited_for = true;
		}
	}
	struct srp_nexus *successor = sn->successor;
	if (sn->nexus) {
		tg_info(SRP_LOG, "I_T nexus %s -> %s ended", sn->initiator_name, sn->target->name);
		tg_nexus_destroy(sn->nexus);
	}
	free(sn);
	if (successor && !waited_for && successor->state == SRP_NEXUS_PENDING &&
	    !server->stopping)
		nexus_go_live(successor);
}

/* A nexus whose channels are all closing takes no new channel; a new login starts another. */
static void nexus_check_gone(struct srp_nexus *sn)
{
	if (sn->state == SRP_NEXUS_GONE)
		return;
	for (struct srp_channel *ch = sn->channels; ch; ch = ch->next_in_nexus)
		if (ch->state != SRP_CH_CLOSING)
			return;
	sn->state = SRP_NEXUS_GONE;
}

/* ---- channels ---- */

static void channel_free(struct srp_channel *ch)
{
	struct srp_server *server = ch->server;
	struct srp_nexus *sn = ch->sn;
	pthread_mutex_lock(&server->lock);
	/* No other thread can queue anything for it once it is off the lists (under the lock). */
	if (ch->call_queued)
		tg_ioengine_cancel_call(ch->home->engine, &ch->call);
	for (struct srp_channel **p = &sn->channels; *p; p = &(*p)->next_in_nexus) {
		if (*p == ch) {
			*p = ch->next_in_nexus;
			break;
		}
	}
	for (struct srp_channel **p = &server->channels; *p; p = &(*p)->next_all) {
		if (*p == ch) {
			*p = ch->next_all;
			break;
		}
	}
	if (ch->flush_queued) {
		for (struct srp_channel **p = &ch->home->flush_head; *p; p = &(*p)->next_flush) {
			if (*p == ch) {
				*p = ch->next_flush;
				break;
			}
		}
	}
	for (uint32_t i = 0; i < ch->nctx; i++) {
		struct srp_ctx *ctx = &ch->ctxs[i];
		if (ctx->remote && ctx->remote != ctx->remote_inline)
			free(ctx->remote);
		if (ctx->table.base)
			tg_rdma_buf_free(&ctx->table);
		if (ctx->bounce.base)
			tg_rdma_buf_free(&ctx->bounce);
	}
	tg_rdma_dereg(ch->recv_mr);
	tg_rdma_dereg(ch->send_mr);
	free(ch->recv_mem);
	free(ch->send_mem);
	free(ch->recvs);
	free(ch->ctxs);
	atomic_fetch_sub(&ch->home->channel_count, 1);
	free(ch);
	sn->channel_count--;
	nexus_check_gone(sn);
	if (sn->channel_count == 0)
		nexus_free(sn);
	pthread_mutex_unlock(&server->lock);
}

static void channel_maybe_release(struct srp_channel *ch)
{
	if (ch->state != SRP_CH_CLOSING || ch->released || ch->active_ctx || ch->treq_in_flight)
		return;
	ch->released = true;
	tg_rdma_conn_release(ch->conn);
}

static void on_closing(struct tg_rdma_conn *conn)
{
	struct srp_channel *ch = tg_rdma_conn_priv(conn);
	/* (under the lock: a login on another thread may be looking at its nexus's channels) */
	pthread_mutex_lock(&ch->server->lock);
	bool was_live = ch->state == SRP_CH_LIVE;
	ch->state = SRP_CH_CLOSING;
	pthread_mutex_unlock(&ch->server->lock);
	if (was_live)
		tg_info(SRP_LOG,
			"%s: channel closed; %llu commands (%llu with immediate data, %llu with a "
			"fetched descriptor table), %llu task management functions, %llu credit "
			"requests; %u requests still in progress",
			ch->name, (unsigned long long)ch->stats.commands,
			(unsigned long long)ch->stats.immediate,
			(unsigned long long)ch->stats.tables_fetched,
			(unsigned long long)ch->stats.tmfs, (unsigned long long)ch->stats.cred_reqs,
			ch->active_ctx);
	ch->wait_head = ch->wait_tail = NULL;
	srp_channel_abort_ctxs(ch);
	pthread_mutex_lock(&ch->server->lock);
	nexus_check_gone(ch->sn);
	pthread_mutex_unlock(&ch->server->lock);
	channel_maybe_release(ch);
}

static void on_released(struct tg_rdma_conn *conn)
{
	channel_free(tg_rdma_conn_priv(conn));
}

static void on_established(struct tg_rdma_conn *conn)
{
	struct srp_channel *ch = tg_rdma_conn_priv(conn);
	tg_debug(SRP_LOG, "%s: established", ch->name);
}

static const struct tg_rdma_conn_ops channel_conn_ops = {
	.established = on_established,
	.recv = on_recv,
	.closing = on_closing,
	.released = on_released,
};

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Builds the rings of a channel and posts its receives. The receive buffers are laid out so
 * that immediate data starts on a 4 KiB boundary: the backend can write it from there
 * (O_DIRECT included) with no copy. */
static int channel_rings(struct srp_channel *ch)
{
	ch->nrecv = ch->credits.limit + SRP_EXTRA_RECVS;
	ch->nctx = ch->credits.limit + SRP_EXTRA_CTXS;
	ch->recv_pad = ch->imm_data ? (TG_BUF_ALIGN - ch->imm_data_offset % TG_BUF_ALIGN) %
					      TG_BUF_ALIGN
				    : 0;
	ch->recv_stride = round_up(ch->recv_pad + ch->it_iu_len, ch->imm_data ? TG_BUF_ALIGN : 64);
	ch->recv_mem_len = ch->recv_stride * ch->nrecv;
	ch->send_mem_len = (size_t)ch->ti_iu_len * ch->nctx + 64;
	void *mem = NULL;
	if (posix_memalign(&mem, TG_BUF_ALIGN, ch->recv_mem_len) != 0)
		return -1;
	ch->recv_mem = mem;
	mem = NULL;
	if (posix_memalign(&mem, 64, ch->send_mem_len) != 0)
		return -1;
	ch->send_mem = mem;
	ch->recvs = calloc(ch->nrecv, sizeof(*ch->recvs));
	ch->ctxs = calloc(ch->nctx, sizeof(*ch->ctxs));
	if (!ch->recvs || !ch->ctxs)
		return -1;
	ch->recv_mr = tg_rdma_reg(ch->dev, ch->recv_mem, ch->recv_mem_len);
	ch->send_mr = tg_rdma_reg(ch->dev, ch->send_mem, ch->send_mem_len);
	if (!ch->recv_mr || !ch->send_mr)
		return -1;
	for (uint32_t i = ch->nctx; i-- > 0;) {
		struct srp_ctx *ctx = &ch->ctxs[i];
		ctx->ch = ch;
		ctx->send_buf = ch->send_mem + (size_t)i * ch->ti_iu_len;
		ctx->send_lkey = tg_rdma_mr_lkey(ch->send_mr);
		ctx->next = ch->free_ctx;
		ch->free_ctx = ctx;
	}
	ch->treq_buf = ch->send_mem + (size_t)ch->ti_iu_len * ch->nctx;
	for (uint32_t i = 0; i < ch->nrecv; i++) {
		struct srp_recv *r = &ch->recvs[i];
		r->ch = ch;
		r->rr.buf = ch->recv_mem + (size_t)i * ch->recv_stride + ch->recv_pad;
		r->rr.len = ch->it_iu_len;
		r->rr.lkey = tg_rdma_mr_lkey(ch->recv_mr);
		r->rr.priv = r;
		if (tg_rdma_post_recv(ch->conn, &r->rr) != 0)
			return -1;
	}
	return 0;
}

static void channel_reject(struct srp_channel *ch, uint32_t reason)
{
	uint8_t rej[SRP_LOGIN_REJ_LEN];
	srp_login_rej_build(rej, reason, ch->login_rsp.tag,
			    SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT);
	tg_rdma_conn_reject(ch->conn, rej, sizeof(rej));
	ch->state = SRP_CH_CLOSING;
	channel_free(ch);
}

static void channel_accept(struct srp_channel *ch)
{
	uint8_t rsp[SRP_LOGIN_RSP_LEN];
	srp_login_rsp_build(rsp, &ch->login_rsp);
	ch->state = SRP_CH_LIVE;
	if (tg_rdma_conn_accept(ch->conn, rsp, sizeof(rsp)) != 0) {
		/* The connection closes; on_closing takes the channel down. */
		return;
	}
	tg_info(SRP_LOG, "%s: logged in to %s (channel %u of the nexus; request limit %u, IU %u/%u "
		"bytes%s)",
		ch->name, ch->sn->target->name, ch->index, ch->login_rsp.req_lim_delta,
		ch->it_iu_len, ch->ti_iu_len, ch->imm_data ? ", immediate data" : "");
	if (ch->server->threads)
		tg_info(SRP_LOG, "%s: runs on SRP I/O thread %u", ch->name, ch->home->index);
}

/* ---- channels on I/O threads (global.io_threads > 1) ---- */

static void channel_settle(struct srp_channel *ch);

static void channel_call_cb(void *arg)
{
	struct srp_channel *ch = arg;
	struct srp_server *server = ch->server;
	pthread_mutex_lock(&server->lock);
	ch->call_queued = false;
	/* Before adoption the connection is still on its way here: adoption settles it. */
	if (ch->adopted)
		channel_settle(ch);
	pthread_mutex_unlock(&server->lock);
}

/* Under the server lock, from any thread: the channel's own thread acts on it. */
static void channel_request(struct srp_channel *ch, unsigned action)
{
	ch->actions |= action;
	if (ch->call_queued)
		return;
	ch->call_queued = true;
	tg_ioengine_call(ch->home->engine, &ch->call);
}

/* Under the server lock, on the channel's thread: what other threads asked, and a pending
 * channel's answer once its nexus is live (or gone). */
static void channel_settle(struct srp_channel *ch)
{
	struct srp_nexus *sn = ch->sn;
	unsigned actions = ch->actions;
	ch->actions = 0;
	if (ch->state == SRP_CH_PENDING) {
		if ((actions & (SRP_ACT_SHUTDOWN | SRP_ACT_REPLACED)) || ch->server->stopping ||
		    sn->state == SRP_NEXUS_GONE || (sn->state == SRP_NEXUS_LIVE && !sn->nexus))
			channel_reject(ch, SRP_REJ_UNABLE_ESTABLISH_CHANNEL);
		else if (sn->state == SRP_NEXUS_LIVE)
			channel_accept(ch);
		return;
	}
	if (actions & SRP_ACT_SHUTDOWN)
		tg_rdma_conn_disconnect(ch->conn, "target shutting down");
	else if (actions & SRP_ACT_REPLACED)
		srp_channel_logout(ch, SRP_LOGOUT_MULTICHANNEL_ACTION,
				   "a new single-channel login replaces it");
}

static struct srp_loop *pick_loop(struct srp_server *server)
{
	struct srp_loop *best = NULL;
	unsigned best_count = 0;
	for (unsigned i = 1; i < server->loop_count; i++) {
		unsigned n = atomic_load(&server->loops[i].channel_count);
		if (!best || n < best_count) {
			best = &server->loops[i];
			best_count = n;
		}
	}
	return best;
}

static int channel_setup(struct srp_channel *ch);

/* On the home thread: the connection request has arrived here. */
static void channel_adopted(struct tg_rdma_conn *conn, void *arg)
{
	struct srp_channel *ch = arg;
	struct srp_server *server = ch->server;
	ch->dev = tg_rdma_conn_device(conn);
	int rc = ch->dev ? channel_setup(ch) : -1;
	pthread_mutex_lock(&server->lock);
	ch->adopted = true;
	if (rc != 0) {
		tg_warn(SRP_LOG, "%s: no resources for a channel", ch->name);
		channel_reject(ch, SRP_REJ_INSUFFICIENT_RESOURCES);
	} else {
		channel_settle(ch);
	}
	pthread_mutex_unlock(&server->lock);
}

/* The target a login names: its srp_port_id, or by default id_ext = ioc_guid = the node GUID
 * of the RDMA device the login came through. */
static struct tg_target *find_target(struct srp_server *server, struct tg_rdma_conn *conn,
				     const uint8_t port_id[16])
{
	uint8_t guid[8], dflt[16];
	tg_rdma_device_node_guid(tg_rdma_conn_device(conn), guid);
	memcpy(dflt, guid, 8);
	memcpy(dflt + 8, guid, 8);
	struct tg_runtime *rt = server->runtime;
	for (size_t i = 0; i < rt->target_count; i++) {
		struct tg_target *t = &rt->targets[i];
		if (!(t->transports & TG_TRANSPORT_SRP))
			continue;
		uint8_t id[16];
		if (t->srp_port_id) {
			if (parse_port_id(t->srp_port_id, id) == 0 && memcmp(id, port_id, 16) == 0)
				return t;
		} else if (memcmp(dflt, port_id, 16) == 0) {
			return t;
		}
	}
	return NULL;
}

static void reject_conn(struct tg_rdma_conn *conn, uint32_t reason, uint64_t tag)
{
	uint8_t rej[SRP_LOGIN_REJ_LEN];
	srp_login_rej_build(rej, reason, tag, SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT);
	tg_rdma_conn_reject(conn, rej, sizeof(rej));
}

/* Every credit can hold a command with a data transfer of several work requests and its
 * response; a full send queue only delays posting, it never loses anything. */
static int channel_setup(struct srp_channel *ch)
{
	struct tg_rdma_conn_params params = {
		.sq_depth = 2 * ch->credits.limit + 16,
		.rq_depth = ch->credits.limit + SRP_EXTRA_RECVS,
		.max_inline = SRP_RSP_MIN_LEN + 32,
	};
	if (tg_rdma_conn_setup(ch->conn, &channel_conn_ops, ch, &params) != 0 ||
	    channel_rings(ch) != 0)
		return -1;
	return 0;
}

static void connect_request_locked(struct srp_server *server, struct tg_rdma_conn *conn,
				   const void *pdata, size_t pdata_len);

static void connect_request(void *ulp, struct tg_rdma_conn *conn, const void *pdata,
			    size_t pdata_len)
{
	struct srp_server *server = ulp;
	pthread_mutex_lock(&server->lock);
	connect_request_locked(server, conn, pdata, pdata_len);
	pthread_mutex_unlock(&server->lock);
}

static void connect_request_locked(struct srp_server *server, struct tg_rdma_conn *conn,
				   const void *pdata, size_t pdata_len)
{
	const char *peer = tg_rdma_conn_peer(conn);
	struct srp_login_req req;
	if (server->stopping) {
		reject_conn(conn, SRP_REJ_UNABLE_ESTABLISH_CHANNEL, 0);
		return;
	}
	if (srp_login_req_parse_rdma(pdata, pdata_len, &req) != 0) {
		tg_warn(SRP_LOG, "%s: connect request without an SRP_LOGIN_REQ (%zu bytes)", peer,
			pdata_len);
		reject_conn(conn, SRP_REJ_UNABLE_ESTABLISH_CHANNEL, 0);
		return;
	}
	char ihex[33], thex[33], iname[40];
	hex16(req.initiator_port_id, ihex);
	hex16(req.target_port_id, thex);
	snprintf(iname, sizeof(iname), "0x%s", ihex);
	struct tg_target *target = find_target(server, conn, req.target_port_id);
	if (!target) {
		tg_warn(SRP_LOG, "%s: login of %s to target port 0x%s: no target has that port id",
			peer, iname, thex);
		reject_conn(conn, SRP_REJ_UNABLE_ESTABLISH_CHANNEL, req.tag);
		return;
	}
	if (!tg_target_resolve_view(target, iname)) {
		tg_warn(SRP_LOG, "%s: login of %s to %s refused by the access rules", peer, iname,
			target->name);
		reject_conn(conn, SRP_REJ_UNABLE_ESTABLISH_CHANNEL, req.tag);
		return;
	}
	struct srp_login_result res;
	srp_login_negotiate(&req, &server->limits, &res);
	if (!res.accept) {
		tg_warn(SRP_LOG, "%s: login of %s refused (reason %#x; IU length %u, formats %#x)",
			peer, iname, res.reject_reason, req.req_it_iu_len, req.req_buf_fmt);
		reject_conn(conn, res.reject_reason, req.tag);
		return;
	}

	struct srp_nexus *live = nexus_find(server, req.initiator_port_id, req.target_port_id, true);
	bool multi = (req.req_flags & SRP_REQ_MULTICHAN_MASK) == SRP_REQ_MULTICHAN_MULTI;
	struct srp_nexus *sn;
	uint8_t mc;
	if (live && multi) {
		if (live->channel_count >= SRP_MAX_CHANNELS_PER_NEXUS) {
			tg_warn(SRP_LOG, "%s: %s already has %u channels", peer, iname,
				live->channel_count);
			reject_conn(conn, SRP_REJ_CHANNEL_LIMIT_REACHED, req.tag);
			return;
		}
		sn = live;
		mc = SRP_RSP_MULTICHAN_MAINTAINED;
	} else {
		mc = SRP_RSP_MULTICHAN_NO_CHAN;
		if (live) {
			/* SINGLE CHANNEL: the nexus's existing channels end (a reinstatement, e.g.
			 * after the initiator rebooted); the new one starts once they have drained. */
			mc = SRP_RSP_MULTICHAN_TERMINATED;
			live->state = SRP_NEXUS_GONE;
			/* (a channel never accepted is rejected and freed, perhaps with the nexus:
			 * nothing of it is touched after its turn) */
			struct srp_channel *c = live->channels;
			while (c) {
				struct srp_channel *next = c->next_in_nexus;
				if (server->threads)
					channel_request(c, SRP_ACT_REPLACED);
				else if (c->state == SRP_CH_PENDING)
					channel_reject(c, SRP_REJ_UNABLE_ESTABLISH_CHANNEL);
				else
					srp_channel_logout(c, SRP_LOGOUT_MULTICHANNEL_ACTION,
							   "a new single-channel login replaces it");
				c = next;
			}
		}
		struct srp_nexus *predecessor =
			nexus_find(server, req.initiator_port_id, req.target_port_id, false);
		sn = nexus_new(server, &req, target, iname);
		if (!sn) {
			reject_conn(conn, SRP_REJ_INSUFFICIENT_RESOURCES, req.tag);
			return;
		}
		if (predecessor) {
			sn->state = SRP_NEXUS_PENDING;
			predecessor->successor = sn;
		}
	}

	struct srp_channel *ch = calloc(1, sizeof(*ch));
	if (!ch) {
		reject_conn(conn, SRP_REJ_INSUFFICIENT_RESOURCES, req.tag);
		if (sn->channel_count == 0)
			nexus_free(sn);
		return;
	}
	ch->server = server;
	ch->home = server->threads ? pick_loop(server) : &server->loops[0];
	atomic_fetch_add(&ch->home->channel_count, 1);
	ch->call.fn = channel_call_cb;
	ch->call.arg = ch;
	ch->sn = sn;
	ch->conn = conn;
	ch->dev = tg_rdma_conn_device(conn);
	ch->state = SRP_CH_PENDING;
	ch->index = sn->next_index++;
	ch->it_iu_len = res.it_iu_len;
	ch->ti_iu_len = server->limits.max_ti_iu_len;
	ch->imm_data = res.imm_data;
	ch->imm_data_offset = res.imm_data_offset;
	ch->login_rsp = res.rsp;
	ch->login_rsp.rsp_flags |= mc;
	ch->next_treq_tag = 1;
	srp_credits_init(&ch->credits, res.rsp.req_lim_delta);
	snprintf(ch->name, sizeof(ch->name), "%s %s ch%u", peer, iname, ch->index);
	ch->next_in_nexus = sn->channels;
	sn->channels = ch;
	sn->channel_count++;
	ch->next_all = server->channels;
	server->channels = ch;

	if (server->threads) {
		/* The channel lives on an I/O thread: its nexus is made here, everything of the
		 * connection there (channel_adopted). */
		if (sn->state == SRP_NEXUS_LIVE && !sn->nexus) {
			sn->nexus = tg_nexus_create(target, TG_TRANSPORT_SRP, iname, iname);
			if (sn->nexus)
				tg_nexus_login(sn->nexus);
		}
		tg_rdma_conn_hand_over(conn, ch->home->rdma, channel_adopted, ch);
		return;
	}
	if (channel_setup(ch) != 0) {
		tg_warn(SRP_LOG, "%s: no resources for a channel", ch->name);
		channel_reject(ch, SRP_REJ_INSUFFICIENT_RESOURCES);
		return;
	}
	if (sn->state == SRP_NEXUS_LIVE && !sn->nexus) {
		sn->nexus = tg_nexus_create(target, TG_TRANSPORT_SRP, iname, iname);
		if (!sn->nexus) {
			channel_reject(ch, SRP_REJ_INSUFFICIENT_RESOURCES);
			return;
		}
		tg_nexus_login(sn->nexus);
	}
	if (sn->state == SRP_NEXUS_LIVE)
		channel_accept(ch);
	else
		tg_info(SRP_LOG, "%s: login waits for the previous nexus to drain", ch->name);
}

static const struct tg_rdma_listener_ops listener_ops = {
	.connect_request = connect_request,
};

/* ---- the server ---- */

static void loop_init(struct srp_server *server, struct srp_loop *sl, unsigned index,
		      struct ev_loop *loop, struct tg_ioengine *engine)
{
	sl->server = server;
	sl->index = index;
	sl->loop = loop;
	sl->engine = engine;
	ev_timer_init(&sl->kick, kick_cb, 0, 0);
	sl->kick.data = sl;
}

/* On each I/O thread before its loop runs: its own RDMA instance (CM event channel, and per
 * device its PD, completion channel and buffer pool), so that nothing of the data path is
 * shared between threads. The pool bound is split between them. */
static int thread_init(void *arg, unsigned index, struct ev_loop *loop, struct tg_ioengine *engine)
{
	struct srp_server *server = arg;
	struct srp_loop *sl = &server->loops[index + 1];
	loop_init(server, sl, index + 1, loop, engine);
	size_t share = ((size_t)256 << 20) / (server->loop_count - 1);
	struct tg_rdma_pool_params pool = { .max_bytes = share < ((size_t)64 << 20)
							      ? (size_t)64 << 20
							      : share };
	sl->rdma = tg_rdma_create(loop, &pool);
	return sl->rdma ? 0 : -1;
}

int srp_server_start(struct ev_loop *loop, struct tg_ioengine *engine, struct tg_runtime *runtime,
		     struct srp_server **out, char *err, size_t errlen)
{
	const struct cfg_portal_list *listen = &runtime->config->srp_listen;
	unsigned io_threads = runtime->config->io_threads > 1 ? runtime->config->io_threads : 0;
	struct srp_server *server = calloc(1, sizeof(*server));
	if (server)
		server->loops = calloc(1 + io_threads, sizeof(*server->loops));
	if (!server || !server->loops) {
		free(server);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&server->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	server->loop = loop;
	server->engine = engine;
	server->runtime = runtime;
	server->limits = (struct srp_channel_limits){
		.max_it_iu_len = SRP_MAX_IT_IU_LEN,
		.max_ti_iu_len = SRP_MAX_TI_IU_LEN,
		.req_lim = SRP_REQ_LIMIT,
		.buf_fmt = SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT,
		.imm_data = true,
	};
	server->loop_count = 1;
	loop_init(server, &server->loops[0], 0, loop, engine);
	server->rdma = tg_rdma_create(loop, NULL);
	if (!server->rdma) {
		snprintf(err, errlen, "SRP: cannot open the RDMA connection manager: %s",
			 strerror(errno));
		srp_server_destroy(server);
		return -1;
	}
	server->loops[0].rdma = server->rdma;
	if (io_threads) {
		/* Channels go to these threads; the main loop keeps the listeners and logins. */
		server->loop_count = 1 + io_threads;
		static const struct tg_io_thread_ops thread_ops = { .init = thread_init };
		const struct tg_io_thread_cpus cpus = { runtime->config->io_thread_cpus,
							runtime->config->io_thread_cpu_count };
		server->threads = tg_io_threads_start(io_threads, "srp-io", &thread_ops, server,
						      &cpus, err, errlen);
		if (!server->threads) {
			server->loop_count = 1;
			srp_server_destroy(server);
			return -1;
		}
		tg_info(SRP_LOG, "channels run on %u I/O threads", io_threads);
	}
	server->listeners = calloc(listen->count ? listen->count : 1, sizeof(*server->listeners));
	if (!server->listeners) {
		snprintf(err, errlen, "out of memory");
		srp_server_destroy(server);
		return -1;
	}
	for (size_t i = 0; i < listen->count; i++) {
		const struct cfg_portal *p = &listen->items[i];
		struct tg_rdma_listener *l = tg_rdma_listen(server->rdma, p->host, p->port,
							    &listener_ops, server, err, errlen);
		if (!l) {
			srp_server_destroy(server);
			return -1;
		}
		server->listeners[server->listener_count++] = l;
		tg_info(SRP_LOG, "listening on %s (RDMA-CM)", tg_rdma_listener_name(l));
	}
	*out = server;
	return 0;
}

void srp_server_stop(struct srp_server *server)
{
	if (!server || server->stopping)
		return;
	pthread_mutex_lock(&server->lock);
	server->stopping = true;
	for (size_t i = 0; i < server->listener_count; i++)
		tg_rdma_listener_close(server->listeners[i]);
	server->listener_count = 0;
	struct srp_channel *ch = server->channels;
	while (ch) {
		struct srp_channel *next = ch->next_all;
		if (server->threads)
			channel_request(ch, SRP_ACT_SHUTDOWN);
		else if (ch->state == SRP_CH_PENDING)
			channel_reject(ch, SRP_REJ_UNABLE_ESTABLISH_CHANNEL);
		else
			tg_rdma_conn_disconnect(ch->conn, "target shutting down");
		ch = next;
	}
	pthread_mutex_unlock(&server->lock);
	if (server->threads) {
		/* The threads end; what their engines owe (backend completions, the calls above)
		 * is done here, while the other transports' loops and engines still exist. */
		tg_io_threads_stop(server->threads);
		tg_io_threads_drain(server->threads);
	}
}

void srp_server_destroy(struct srp_server *server)
{
	if (!server)
		return;
	srp_server_stop(server);
	/* Runs every channel's closing and released callbacks, freeing them and their nexuses;
	 * the I/O threads have ended, so this thread does it for theirs too. */
	for (unsigned i = 1; i < server->loop_count; i++) {
		struct srp_loop *sl = &server->loops[i];
		if (!sl->loop)
			continue;
		tg_rdma_destroy(sl->rdma);
		tg_io_threads_drain(server->threads);
		ev_timer_stop(sl->loop, &sl->kick);
	}
	ev_timer_stop(server->loop, &server->loops[0].kick);
	tg_rdma_destroy(server->rdma);
	tg_io_threads_destroy(server->threads);
	pthread_mutex_destroy(&server->lock);
	free(server->loops);
	free(server->listeners);
	free(server);
}
