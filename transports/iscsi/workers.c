/* iSCSI/TCP I/O threads (global.io_threads > 1): worker event loops that accepted connections are handed to, each with its own I/O engine. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"
#include "core/ioengine.h"
#include "core/iothreads.h"
#include "core/log.h"
#include "core/runtime.h"
#include "transports/iscsi/iscsi.h"

/*
 * The main loop keeps the listening portals, signals, iSER and SRP; a TCP connection it
 * accepts is handed to the worker with the fewest connections and lives its whole life on
 * that worker's loop: its watchers, its batched flush, its commands and their backend I/O
 * (the worker's engine). What crosses loops goes through the shared session table (under its
 * lock) or travels as a call to the other loop's engine (tg_ioengine_call). The threads, their
 * loops and engines, and their stop and drain are core/iothreads.c's; what is iSCSI's is here.
 */

struct iscsi_worker {
	struct iscsi_server server; /* this loop's view; server.shared is the main loop's */
	bool stopping;              /* set as its loop ends: connections still handed over are refused */
	atomic_uint queued;         /* handed over, not yet accepted: load not yet counted */
};

struct hand_off {
	struct tg_loop_call call;
	struct iscsi_worker *worker;
	int fd;
	struct sockaddr_storage peer;
};

static struct iscsi_worker *worker_of(void *main_server, unsigned index)
{
	return &((struct iscsi_server *)main_server)->workers[index];
}

static void worker_close_all(struct iscsi_worker *w)
{
	struct iscsi_server *server = &w->server;
	while (server->conns)
		iscsi_conn_close(server->conns, "target shutting down");
	if (ev_is_active(&server->flush_watcher)) {
		ev_ref(server->loop);
		ev_prepare_stop(server->loop, &server->flush_watcher);
	}
}

static int worker_init(void *main_server, unsigned index, struct ev_loop *loop,
		       struct tg_ioengine *engine)
{
	struct iscsi_worker *w = worker_of(main_server, index);
	w->server.loop = loop;
	w->server.engine = engine;
	return 0;
}

static void worker_stopping(void *main_server, unsigned index)
{
	struct iscsi_worker *w = worker_of(main_server, index);
	w->stopping = true;
	/* As the main loop does with its own: closing aborts what is in flight; what is still
	 * in the backend completes when the main thread drains the engines after the join. */
	worker_close_all(w);
}

static void worker_ended(void *main_server, unsigned index)
{
	/* What this thread keeps for reuse would be lost with it. */
	iscsi_tx_cache_drop();
}

/* On the worker's loop; or, for one still queued when the loop ended, on the thread that
 * drains the engines, which must not start a connection on a loop that no longer runs. */
static void hand_off_arrived(void *arg)
{
	struct hand_off *h = arg;
	struct iscsi_worker *w = h->worker;
	if (w->stopping)
		close(h->fd);
	else
		iscsi_conn_accept(&w->server, h->fd, &h->peer);
	atomic_fetch_sub(&w->queued, 1);
	free(h);
}

int iscsi_workers_start(struct iscsi_server *server, unsigned count, char *err, size_t errlen)
{
	server->workers = calloc(count, sizeof(*server->workers));
	if (!server->workers) {
		snprintf(err, errlen, "I/O threads: out of memory");
		return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		struct iscsi_worker *w = &server->workers[i];
		w->server.shared = server;
		w->server.runtime = server->runtime;
		w->server.limits = server->limits;
		w->server.thread_index = i + 1;
	}
	static const struct tg_io_thread_ops worker_ops = {
		.init = worker_init,
		.stopping = worker_stopping,
		.ended = worker_ended,
	};
	const struct tg_config *config = server->runtime->config;
	const struct tg_io_thread_cpus cpus = { config->io_thread_cpus, config->io_thread_cpu_count };
	server->worker_threads = tg_io_threads_start(count, "targed-io", &worker_ops, server, &cpus,
						     err, errlen);
	if (!server->worker_threads) {
		free(server->workers);
		server->workers = NULL;
		return -1;
	}
	server->worker_count = count;
	return 0;
}

void iscsi_workers_hand_off(struct iscsi_server *server, int fd, const struct sockaddr_storage *peer)
{
	struct iscsi_worker *best = NULL;
	unsigned best_load = 0;
	for (unsigned i = 0; i < server->worker_count; i++) {
		struct iscsi_worker *w = &server->workers[i];
		unsigned load = atomic_load(&w->server.conn_count) + atomic_load(&w->queued);
		if (!best || load < best_load) {
			best = w;
			best_load = load;
		}
	}
	struct hand_off *h = calloc(1, sizeof(*h));
	if (!best || !h) {
		free(h);
		close(fd);
		return;
	}
	h->worker = best;
	h->fd = fd;
	h->peer = *peer;
	h->call.fn = hand_off_arrived;
	h->call.arg = h;
	atomic_fetch_add(&best->queued, 1);
	tg_ioengine_call(best->server.engine, &h->call);
}

void iscsi_workers_stop(struct iscsi_server *server)
{
	tg_io_threads_stop(server->worker_threads);
}

void iscsi_workers_destroy(struct iscsi_server *server, struct tg_ioengine *main_engine)
{
	if (!server->workers)
		return;
	tg_io_threads_stop(server->worker_threads);
	/*
	 * Every loop has ended: this thread now completes what each engine still owes. A
	 * completion on one loop may hand work to another (a range lock released, a session
	 * freed that a login elsewhere waits for), so all are drained until none has anything.
	 */
	tg_io_threads_drain_with(server->worker_threads, main_engine);
	/* Connections whose session has not gone (none should be left) would keep freed loops. */
	for (unsigned i = 0; i < server->worker_count; i++)
		if (server->workers[i].server.conns)
			tg_warn("iscsi", "I/O thread %u: connections left at shutdown", i + 1);
	tg_io_threads_destroy(server->worker_threads);
	server->worker_threads = NULL;
	free(server->workers);
	server->workers = NULL;
	server->worker_count = 0;
}

struct cold_reset {
	struct tg_loop_call call;
	struct iscsi_server *server;
	const struct tg_target *target;
};

static void cold_reset_on_loop(void *arg)
{
	struct cold_reset *msg = arg;
	iscsi_cold_reset_loop(msg->server, NULL, msg->target);
	free(msg);
}

static void cold_reset_post(struct iscsi_server *server, const struct tg_target *target)
{
	struct cold_reset *msg = calloc(1, sizeof(*msg));
	if (!msg) {
		tg_warn("iscsi", "out of memory: TARGET COLD RESET leaves I/O thread %u's sessions",
			server->thread_index);
		return;
	}
	msg->server = server;
	msg->target = target;
	msg->call.fn = cold_reset_on_loop;
	msg->call.arg = msg;
	tg_ioengine_call(server->engine, &msg->call);
}

void iscsi_workers_cold_reset(struct iscsi_conn *requester, const struct tg_target *target)
{
	struct iscsi_server *main_server = iscsi_server_shared(requester->server);
	if (!main_server->worker_count)
		return;
	if (main_server != requester->server && main_server->engine)
		cold_reset_post(main_server, target);
	for (unsigned i = 0; i < main_server->worker_count; i++) {
		struct iscsi_server *s = &main_server->workers[i].server;
		if (s != requester->server && s->engine)
			cold_reset_post(s, target);
	}
}
