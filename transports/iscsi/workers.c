/* iSCSI/TCP I/O threads (global.io_threads > 1): worker event loops that accepted connections are handed to, each with its own I/O engine. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ioengine.h"
#include "core/log.h"
#include "transports/iscsi/iscsi.h"

/*
 * The main loop keeps the listening portals, signals, iSER and SRP; a TCP connection it
 * accepts is queued to the worker with the fewest connections and lives its whole life on
 * that worker's loop: its watchers, its batched flush, its commands and their backend I/O
 * (the worker's engine). What crosses loops goes through the shared session table (under its
 * lock) or travels as a call to the other loop's engine (tg_ioengine_call).
 */

struct hand_off {
	struct hand_off *next;
	int fd;
	struct sockaddr_storage peer;
};

struct iscsi_worker {
	struct iscsi_server server; /* this loop's view; server.shared is the main loop's */
	struct ev_loop *loop;
	pthread_t thread;
	bool running;
	ev_async wake;              /* new connections queued, or stop */
	pthread_mutex_t lock;       /* queue and stopping */
	struct hand_off *queue, *queue_tail;
	bool stopping;
	atomic_uint queued;         /* handed over, not yet accepted: load not yet counted */
	/* start-up: the thread creates its loop and engine itself (an engine belongs to the
	 * thread that creates it) and reports here */
	pthread_mutex_t start_lock;
	pthread_cond_t started;
	int start_state;            /* 0 starting, 1 running, -1 failed */
};

static void worker_close_all(struct iscsi_worker *w)
{
	struct iscsi_server *server = &w->server;
	while (server->conns)
		iscsi_conn_close(server->conns, "target shutting down");
	if (ev_is_active(&server->flush_watcher)) {
		ev_ref(w->loop);
		ev_prepare_stop(w->loop, &server->flush_watcher);
	}
}

static void wake_cb(struct ev_loop *loop, ev_async *watcher, int revents)
{
	struct iscsi_worker *w = watcher->data;
	pthread_mutex_lock(&w->lock);
	struct hand_off *list = w->queue;
	w->queue = w->queue_tail = NULL;
	bool stopping = w->stopping;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct hand_off *h = list;
		list = h->next;
		if (stopping)
			close(h->fd);
		else
			iscsi_conn_accept(&w->server, h->fd, &h->peer);
		atomic_fetch_sub(&w->queued, 1);
		free(h);
	}
	if (!stopping)
		return;
	/* As the main loop does with its own: closing aborts what is in flight; what is still
	 * in the backend completes when the main thread drains the engines after the join. */
	worker_close_all(w);
	ev_async_stop(loop, &w->wake);
	ev_break(loop, EVBREAK_ALL);
}

static void report_start(struct iscsi_worker *w, int state)
{
	pthread_mutex_lock(&w->start_lock);
	w->start_state = state;
	pthread_cond_signal(&w->started);
	pthread_mutex_unlock(&w->start_lock);
}

static void *worker_main(void *arg)
{
	struct iscsi_worker *w = arg;
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	struct tg_ioengine *engine = w->loop ? tg_ioengine_create(w->loop) : NULL;
	if (!engine) {
		if (w->loop)
			ev_loop_destroy(w->loop);
		w->loop = NULL;
		report_start(w, -1);
		return NULL;
	}
	w->server.loop = w->loop;
	w->server.engine = engine;
	ev_async_init(&w->wake, wake_cb);
	w->wake.data = w;
	ev_async_start(w->loop, &w->wake);
	report_start(w, 1);
	ev_run(w->loop, 0);
	/* What this thread keeps for reuse would be lost with it. */
	iscsi_tx_cache_drop();
	tg_buf_cache_drop();
	return NULL;
}

int iscsi_workers_start(struct iscsi_server *server, unsigned count, char *err, size_t errlen)
{
	server->workers = calloc(count, sizeof(*server->workers));
	if (!server->workers) {
		snprintf(err, errlen, "I/O threads: out of memory");
		return -1;
	}
	/* Signals are the main loop's: the threads never take one. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	unsigned started = 0;
	for (unsigned i = 0; i < count; i++) {
		struct iscsi_worker *w = &server->workers[i];
		w->server.shared = server;
		w->server.runtime = server->runtime;
		w->server.limits = server->limits;
		w->server.thread_index = i + 1;
		pthread_mutex_init(&w->lock, NULL);
		pthread_mutex_init(&w->start_lock, NULL);
		pthread_cond_init(&w->started, NULL);
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			snprintf(err, errlen, "I/O thread %u: %s", i + 1, strerror(rc));
			break;
		}
		pthread_mutex_lock(&w->start_lock);
		while (w->start_state == 0)
			pthread_cond_wait(&w->started, &w->start_lock);
		pthread_mutex_unlock(&w->start_lock);
		if (w->start_state < 0) {
			pthread_join(w->thread, NULL);
			snprintf(err, errlen, "I/O thread %u: cannot create its event loop or I/O engine",
				 i + 1);
			break;
		}
		char name[16];
		snprintf(name, sizeof(name), "targed-io%u", (i + 1) % 1000);
		pthread_setname_np(w->thread, name);
		w->running = true;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	server->worker_count = started;
	if (started == count)
		return 0;
	iscsi_workers_stop(server);
	iscsi_workers_destroy(server, NULL);
	return -1;
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
	struct hand_off *h = malloc(sizeof(*h));
	if (!best || !h) {
		free(h);
		close(fd);
		return;
	}
	h->next = NULL;
	h->fd = fd;
	h->peer = *peer;
	atomic_fetch_add(&best->queued, 1);
	pthread_mutex_lock(&best->lock);
	if (best->queue_tail)
		best->queue_tail->next = h;
	else
		best->queue = h;
	best->queue_tail = h;
	pthread_mutex_unlock(&best->lock);
	ev_async_send(best->loop, &best->wake);
}

void iscsi_workers_stop(struct iscsi_server *server)
{
	for (unsigned i = 0; i < server->worker_count; i++) {
		struct iscsi_worker *w = &server->workers[i];
		if (!w->running)
			continue;
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_mutex_unlock(&w->lock);
		ev_async_send(w->loop, &w->wake);
	}
	for (unsigned i = 0; i < server->worker_count; i++) {
		struct iscsi_worker *w = &server->workers[i];
		if (!w->running)
			continue;
		pthread_join(w->thread, NULL);
		w->running = false;
	}
}

void iscsi_workers_destroy(struct iscsi_server *server, struct tg_ioengine *main_engine)
{
	if (!server->workers)
		return;
	/*
	 * Every loop has ended: this thread now completes what each engine still owes. A
	 * completion on one loop may hand work to another (a range lock released, a session
	 * freed that a login elsewhere waits for), so all are drained until none has anything.
	 */
	bool busy;
	do {
		busy = main_engine && tg_ioengine_drain(main_engine);
		for (unsigned i = 0; i < server->worker_count; i++)
			if (server->workers[i].server.engine)
				busy |= tg_ioengine_drain(server->workers[i].server.engine);
	} while (busy);
	/* Connections whose session has not gone (none should be left) would keep freed loops. */
	for (unsigned i = 0; i < server->worker_count; i++)
		if (server->workers[i].server.conns)
			tg_warn("iscsi", "I/O thread %u: connections left at shutdown", i + 1);
	size_t allocated = server->worker_count;
	for (size_t i = 0; i < allocated; i++) {
		struct iscsi_worker *w = &server->workers[i];
		if (w->server.engine)
			tg_ioengine_destroy(w->server.engine);
		if (w->loop)
			ev_loop_destroy(w->loop);
		while (w->queue) {
			struct hand_off *h = w->queue;
			w->queue = h->next;
			close(h->fd);
			free(h);
		}
		pthread_mutex_destroy(&w->lock);
		pthread_mutex_destroy(&w->start_lock);
		pthread_cond_destroy(&w->started);
	}
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
