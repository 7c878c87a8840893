/* iSCSI/TCP portals: listening sockets on the configured addresses, accepting connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "core/runtime.h"
#include "transports/iscsi/iscsi.h"

/*
 * Out of descriptors (EMFILE, ENFILE), a listening socket stays readable: accepting again at
 * once would spin the loop and flood the log. The portals pause and retry a moment later, and
 * the condition is logged once when it starts and once when it ends. One iSCSI server per
 * process, and the portals are always on the main loop (I/O threads get the accepted
 * sockets), hence one timer.
 */
#define ACCEPT_RETRY_SECONDS 0.25
static ev_timer accept_retry;
static bool accept_starved;

static void accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct iscsi_server *server = w->data;
	for (size_t i = 0; i < server->portal_count; i++)
		ev_io_start(loop, &server->portals[i].watcher);
}

static void accept_pause(struct iscsi_server *server, const struct iscsi_portal *portal, int err)
{
	if (!accept_starved)
		tg_warn("iscsi", "accept on %s: %s; retrying every %.2f s until descriptors free up",
			portal->name, strerror(err), ACCEPT_RETRY_SECONDS);
	accept_starved = true;
	for (size_t i = 0; i < server->portal_count; i++)
		ev_io_stop(server->loop, &server->portals[i].watcher);
	ev_timer_init(&accept_retry, accept_retry_cb, ACCEPT_RETRY_SECONDS, 0);
	accept_retry.data = server;
	ev_timer_start(server->loop, &accept_retry);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct iscsi_portal *portal = w->data;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(portal->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(portal->server, portal, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				tg_warn("iscsi", "accept on %s: %s", portal->name, strerror(errno));
			return;
		}
		if (accept_starved) {
			accept_starved = false;
			tg_info("iscsi", "accepting connections on %s again", portal->name);
		}
		/* With I/O threads the connection lives on one of their loops, not here. */
		if (portal->server->worker_count)
			iscsi_workers_hand_off(portal->server, fd, &peer);
		else
			iscsi_conn_accept(portal->server, fd, &peer);
	}
}

static int open_portal(struct iscsi_portal *portal, const struct cfg_portal *cfg, char *err,
		       size_t errlen)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(cfg->host[0] ? cfg->host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen %s:%u: %s", cfg->host, cfg->port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (res->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		snprintf(err, errlen, "listen %s:%u: %s", cfg->host, cfg->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	memcpy(&portal->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	portal->fd = fd;
	if (strchr(cfg->host, ':'))
		snprintf(portal->name, sizeof(portal->name), "[%s]:%u", cfg->host, cfg->port);
	else
		snprintf(portal->name, sizeof(portal->name), "%s:%u", cfg->host, cfg->port);
	return 0;
}

int iscsi_server_start(struct iscsi_server *server, struct ev_loop *loop,
		       struct tg_ioengine *engine, struct tg_runtime *runtime, char *err,
		       size_t errlen)
{
	const struct cfg_portal_list *listen = &runtime->config->iscsi_listen;
	server->loop = loop;
	server->engine = engine;
	server->runtime = runtime;
	server->next_tsih = 1;
	server->login_timeout = runtime->config->iscsi_login_timeout;
	server->max_sessions = runtime->config->max_sessions;
	pthread_mutex_init(&server->table_lock, NULL);
	iscsi_target_limits_default(&server->limits);
	server->portals = calloc(listen->count ? listen->count : 1, sizeof(*server->portals));
	if (!server->portals)
		return -1;
	for (size_t i = 0; i < listen->count; i++) {
		struct iscsi_portal *portal = &server->portals[i];
		if (open_portal(portal, &listen->items[i], err, errlen) != 0) {
			iscsi_server_stop(server);
			return -1;
		}
		server->portal_count++;
		portal->server = server;
		ev_io_init(&portal->watcher, accept_cb, portal->fd, EV_READ);
		portal->watcher.data = portal;
		ev_io_start(loop, &portal->watcher);
		tg_info("iscsi", "listening on %s", portal->name);
	}
	return 0;
}

void iscsi_server_stop(struct iscsi_server *server)
{
	for (size_t i = 0; i < server->portal_count; i++) {
		ev_io_stop(server->loop, &server->portals[i].watcher);
		close(server->portals[i].fd);
	}
	server->portal_count = 0;
	if (ev_is_active(&accept_retry))
		ev_timer_stop(server->loop, &accept_retry);
	while (server->conns)
		iscsi_conn_close(server->conns, "target shutting down");
	if (ev_is_active(&server->flush_watcher)) {
		ev_ref(server->loop);
		ev_prepare_stop(server->loop, &server->flush_watcher);
	}
	free(server->portals);
	server->portals = NULL;
}
