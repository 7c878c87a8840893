/* iSER portals: RDMA-CM listeners on transports.iser.listen, connection requests, and the datamover's use of the shared RDMA layer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "core/runtime.h"
#include "transports/iser/iser.h"
#include "transports/iser/iser_internal.h"

/* ---- the RDMA layer, for the datamover ---- */

static int real_post(struct iser_conn *ic, struct tg_rdma_op *op)
{
	return ic->rconn ? tg_rdma_post(ic->rconn, op) : -ENOTCONN;
}

static int real_post_recv(struct iser_conn *ic, struct tg_rdma_recv *recv)
{
	return ic->rconn ? tg_rdma_post_recv(ic->rconn, recv) : -1;
}

static void real_disconnect(struct iser_conn *ic, const char *why)
{
	if (ic->rconn)
		tg_rdma_conn_disconnect(ic->rconn, why);
}

static void real_release(struct iser_conn *ic)
{
	if (ic->rconn)
		tg_rdma_conn_release(ic->rconn);
}

static void *real_reg(struct iser_conn *ic, void *mem, size_t len, uint32_t *lkey)
{
	if (!ic->rconn)
		return NULL;
	struct ibv_mr *mr = tg_rdma_reg(tg_rdma_conn_device(ic->rconn), mem, len);
	if (mr)
		*lkey = tg_rdma_mr_lkey(mr);
	return mr;
}

static void real_dereg(void *mr) { tg_rdma_dereg(mr); }

static int real_buf_alloc(struct iser_conn *ic, struct tg_buf *buf, size_t len)
{
	if (!ic->rconn)
		return -ENOMEM;
	return tg_rdma_buf_alloc(tg_rdma_conn_device(ic->rconn), buf, len);
}

static void real_buf_free(struct tg_buf *buf) { tg_rdma_buf_free(buf); }

const struct iser_rdma_ops iser_rdma_ops_real = {
	.post = real_post,
	.post_recv = real_post_recv,
	.disconnect = real_disconnect,
	.release = real_release,
	.reg = real_reg,
	.dereg = real_dereg,
	.buf_alloc = real_buf_alloc,
	.buf_free = real_buf_free,
};

/* ---- connections ---- */

static void on_established(struct tg_rdma_conn *rconn)
{
	struct iser_conn *ic = tg_rdma_conn_priv(rconn);
	tg_debug(ISER_LOG, "%s: RDMA connection established", ic->conn.peer);
}

static void on_recv(struct tg_rdma_conn *rconn, struct tg_rdma_recv *rr, uint32_t len)
{
	struct iser_recv *r = rr->priv;
	iser_conn_recv(r->ic, r, len);
}

static void on_closing(struct tg_rdma_conn *rconn)
{
	iser_conn_closing(tg_rdma_conn_priv(rconn), "RDMA connection closed");
}

static void on_released(struct tg_rdma_conn *rconn)
{
	struct iser_conn *ic = tg_rdma_conn_priv(rconn);
	struct tg_rdma_pool_stats stats;
	tg_rdma_pool_stats(tg_rdma_conn_device(rconn), &stats);
	tg_info(ISER_LOG, "%s: RDMA resources released (%llu registered data buffers in use on %s)",
		 ic->conn.peer, (unsigned long long)stats.in_use,
		 tg_rdma_device_name(tg_rdma_conn_device(rconn)));
	iser_conn_released(ic);
}

static const struct tg_rdma_conn_ops conn_ops = {
	.established = on_established,
	.recv = on_recv,
	.closing = on_closing,
	.released = on_released,
};

static void connect_request(void *ulp, struct tg_rdma_conn *rconn, const void *pdata,
			    size_t pdata_len)
{
	struct iser_server *srv = ulp;
	const char *peer = tg_rdma_conn_peer(rconn);
	if (srv->stopping) {
		tg_rdma_conn_reject(rconn, NULL, 0);
		return;
	}
	struct iser_conn *ic = calloc(1, sizeof(*ic));
	if (!ic) {
		tg_rdma_conn_reject(rconn, NULL, 0);
		return;
	}
	ic->rconn = rconn;
	ic->rdma = &iser_rdma_ops_real;
	iser_cm_req_parse(pdata, pdata_len, &ic->cm_req);
	/* The queues are sized for the most the login can agree to (the QP cannot grow
	 * later); what the negotiated parameters need is posted once the session exists. */
	struct tg_rdma_conn_params params = {
		.sq_depth = ISER_SQ_DEPTH,
		.rq_depth = ISER_RECVS_MAX,
		.max_inline = ISER_MAX_INLINE,
	};
	if (tg_rdma_conn_setup(rconn, &conn_ops, ic, &params) != 0 ||
	    iser_conn_init(ic, srv->iscsi, &srv->limits, peer) != 0) {
		tg_warn(ISER_LOG, "%s: no resources for a connection", peer);
		tg_rdma_conn_reject(rconn, NULL, 0);
		ic->rconn = NULL;
		iser_conn_discard(ic);
		return;
	}
	const struct sockaddr *local = tg_rdma_conn_local_addr(rconn);
	if (local && (local->sa_family == AF_INET || local->sa_family == AF_INET6))
		memcpy(&ic->conn.local_addr, local,
		       local->sa_family == AF_INET ? sizeof(struct sockaddr_in)
						   : sizeof(struct sockaddr_in6));
	uint8_t rep[ISER_CM_HDR_LEN];
	iser_cm_rep_build(rep);
	if (tg_rdma_conn_accept(rconn, rep, sizeof(rep)) != 0)
		return; /* the connection is closing: on_closing takes it down */
	tg_info(ISER_LOG, "connection from %s%s", peer,
		ic->cm_req.present ? "" : " (no iSER private data in the request)");
}

static const struct tg_rdma_listener_ops listener_ops = {
	.connect_request = connect_request,
};

/* ---- the server ---- */

static int portal_addr(struct iscsi_portal *portal, const struct cfg_portal *cfg, char *err,
		       size_t errlen)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(cfg->host[0] ? cfg->host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "iSER listen %s:%u: %s", cfg->host, cfg->port, gai_strerror(rc));
		return -1;
	}
	memcpy(&portal->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	portal->fd = -1;
	return 0;
}

int iser_server_start(struct iscsi_server *server, char *err, size_t errlen)
{
	const struct cfg_portal_list *listen = &server->runtime->config->iser_listen;
	struct iser_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->iscsi = server;
	iser_target_limits(&srv->limits);
	srv->rdma = tg_rdma_create(server->loop, NULL);
	srv->listeners = calloc(listen->count ? listen->count : 1, sizeof(*srv->listeners));
	server->iser_portals = calloc(listen->count ? listen->count : 1,
				      sizeof(*server->iser_portals));
	server->iser = srv;
	if (!srv->rdma || !srv->listeners || !server->iser_portals) {
		snprintf(err, errlen, "iSER: cannot open the RDMA connection manager: %s",
			 strerror(errno));
		iser_server_destroy(server);
		return -1;
	}
	for (size_t i = 0; i < listen->count; i++) {
		const struct cfg_portal *p = &listen->items[i];
		struct iscsi_portal *portal = &server->iser_portals[i];
		if (portal_addr(portal, p, err, errlen) != 0) {
			iser_server_destroy(server);
			return -1;
		}
		struct tg_rdma_listener *l =
			tg_rdma_listen(srv->rdma, p->host, p->port, &listener_ops, srv, err, errlen);
		if (!l) {
			iser_server_destroy(server);
			return -1;
		}
		srv->listeners[srv->listener_count++] = l;
		snprintf(portal->name, sizeof(portal->name), "%s", tg_rdma_listener_name(l));
		portal->server = server;
		server->iser_portal_count++;
		tg_info(ISER_LOG, "listening on %s (RDMA-CM)", portal->name);
	}
	return 0;
}

void iser_server_stop(struct iscsi_server *server)
{
	struct iser_server *srv = server->iser;
	if (!srv || srv->stopping)
		return;
	srv->stopping = true;
	for (size_t i = 0; i < srv->listener_count; i++)
		tg_rdma_listener_close(srv->listeners[i]);
	srv->listener_count = 0;
}

void iser_server_destroy(struct iscsi_server *server)
{
	struct iser_server *srv = server->iser;
	if (!srv)
		return;
	iser_server_stop(server);
	/* Connections still draining complete their work requests (the commands holding them
	 * are put) and are freed. */
	if (srv->rdma)
		tg_rdma_destroy(srv->rdma);
	free(srv->listeners);
	free(server->iser_portals);
	server->iser_portals = NULL;
	server->iser_portal_count = 0;
	server->iser = NULL;
	free(srv);
}
