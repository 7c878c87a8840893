/* Per-loop asynchronous I/O: io_uring with eventfd completions into libev, or a worker-thread pool. */
#include "core/ioengine.h"

#include <errno.h>
#include <ev.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/device.h"
#include "core/log.h"

/*
 * Ring slots in flight at once. The completion queue is twice this size, so keeping at most
 * RING_DEPTH requests in the kernel means completions can never overflow; the rest wait in
 * ring_waiting, in arrival order.
 */
#define RING_DEPTH 128
#define POOL_THREADS 4
/* A request that keeps failing with EAGAIN/EINTR without moving a byte gives up eventually
 * instead of spinning the loop forever. */
#define RETRY_LIMIT 64
#define REQ_CACHE_MAX 256
#define INLINE_IOVS 4

enum req_kind {
	REQ_READ,
	REQ_WRITE,
	REQ_FLUSH,
	REQ_CALL,     /* a blocking function run on a worker */
	REQ_COMPLETE, /* no work: only deliver a preset result on the loop */
};

struct ioreq {
	struct ioreq *next;
	struct tg_io *io;
	enum req_kind kind;
	int fd;
	int result; /* the worker's outcome (bytes or -errno), or the preset result */
	uint64_t done_bytes;
	unsigned retries;
	/* What is still to be transferred: the caller's own iovecs while they match exactly,
	 * otherwise a copy trimmed to the remainder (after a short transfer, or when the caller's
	 * iovecs are longer than io->len). */
	const struct iovec *iov;
	int iovcnt;
	struct iovec *iov_heap;
	int iov_heap_cap;
	struct iovec iov_inline[INLINE_IOVS];
	int (*fn)(struct tg_io *io, void *arg);
	void *arg;
	bool in_place; /* memory-backed store: performed on the loop thread unless large */
};

struct req_list {
	struct ioreq *head;
	struct ioreq *tail;
};

struct worker_pool {
	pthread_t threads[POOL_THREADS];
	unsigned nthreads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct req_list jobs;     /* waiting for a worker */
	struct req_list finished; /* waiting for the loop */
	bool stopping;
	int efd;
};

struct tg_ioengine {
	struct ev_loop *loop;
	int efd; /* signalled by the ring, by workers, and by deferred completions */
	ev_io efd_watcher;
	ev_prepare submit_watcher; /* batches the iteration's SQEs into one io_uring_enter */
	/* Completions the loop thread produced itself (in-place transfers, preset results) are
	 * taken on the next turn by a zero-delay timer: no eventfd write and read for them. */
	ev_timer local_watcher;
	bool use_uring;
	struct io_uring ring;
	unsigned ring_inflight; /* SQEs handed to the ring whose CQE has not been reaped */
	struct req_list ring_waiting;
	struct req_list ready; /* REQ_COMPLETE requests, loop-thread only */
	struct req_list done_in_place; /* in-place attempts whose outcome awaits req_progress */
	struct worker_pool *pool;
	unsigned outstanding; /* accepted requests whose done() has not run yet */
	bool destroying;
	struct ioreq *cache;
	unsigned cache_count;
	pthread_t owner;             /* the thread that runs loop */
	pthread_mutex_t calls_lock;  /* calls: pushed by any thread, run by the owner */
	struct tg_loop_call *calls_head, *calls_tail;
	atomic_bool calls_pending;   /* lets the loop skip the lock when nothing came */
};

static void list_push(struct req_list *list, struct ioreq *req)
{
	req->next = NULL;
	if (list->tail)
		list->tail->next = req;
	else
		list->head = req;
	list->tail = req;
}

static struct ioreq *list_pop(struct req_list *list)
{
	struct ioreq *req = list->head;
	if (req) {
		list->head = req->next;
		if (!list->head)
			list->tail = NULL;
		req->next = NULL;
	}
	return req;
}

static void signal_efd(int efd)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* ---- request bookkeeping (loop thread) ---- */

static struct ioreq *req_get(struct tg_ioengine *engine)
{
	struct ioreq *req = engine->cache;
	if (req) {
		engine->cache = req->next;
		engine->cache_count--;
	} else {
		req = calloc(1, sizeof(*req));
		if (!req)
			return NULL;
	}
	struct iovec *heap = req->iov_heap;
	int heap_cap = req->iov_heap_cap;
	memset(req, 0, sizeof(*req));
	req->iov_heap = heap;
	req->iov_heap_cap = heap_cap;
	return req;
}

static void req_put(struct tg_ioengine *engine, struct ioreq *req)
{
	if (engine->cache_count >= REQ_CACHE_MAX) {
		free(req->iov_heap);
		free(req);
		return;
	}
	req->next = engine->cache;
	engine->cache = req;
	engine->cache_count++;
}

/* The engine holds one loop reference while it owes any completion, none while idle, so
 * ev_run() returns once all I/O is done and nothing else is watched. */
static void outstanding_inc(struct tg_ioengine *engine)
{
	if (engine->outstanding++ == 0)
		ev_ref(engine->loop);
}

static void outstanding_dec(struct tg_ioengine *engine)
{
	if (--engine->outstanding == 0)
		ev_unref(engine->loop);
}

static void req_finish(struct tg_ioengine *engine, struct ioreq *req, int result)
{
	struct tg_io *io = req->io;
	req_put(engine, req);
	io->result = result;
	outstanding_dec(engine);
	io->done(io);
}

static bool iov_reserve(struct ioreq *req, int count)
{
	if (count <= INLINE_IOVS)
		return true;
	if (count <= req->iov_heap_cap)
		return true;
	struct iovec *grown = realloc(req->iov_heap, (size_t)count * sizeof(*grown));
	if (!grown)
		return false;
	req->iov_heap = grown;
	req->iov_heap_cap = count;
	return true;
}

/*
 * Points req->iov at the bytes [done_bytes, io->len) of the caller's buffers. Returns 0,
 * -EINVAL when the caller's iovecs hold fewer than io->len bytes, or -ENOMEM.
 */
static int req_set_remainder(struct ioreq *req)
{
	const struct tg_io *io = req->io;
	uint64_t skip = req->done_bytes;
	uint64_t want = io->len - req->done_bytes;
	int first = 0;
	while (first < io->iovcnt && skip >= io->iov[first].iov_len)
		skip -= io->iov[first++].iov_len;
	int count = 0;
	uint64_t covered = 0;
	for (int i = first; i < io->iovcnt && covered < want; i++, count++)
		covered += io->iov[i].iov_len - (i == first ? skip : 0);
	if (covered < want)
		return -EINVAL;
	if (skip == 0 && covered == want) {
		req->iov = io->iov + first;
		req->iovcnt = count;
		return 0;
	}
	if (!iov_reserve(req, count))
		return -ENOMEM;
	struct iovec *copy = count <= INLINE_IOVS ? req->iov_inline : req->iov_heap;
	memcpy(copy, io->iov + first, (size_t)count * sizeof(*copy));
	copy[0].iov_base = (uint8_t *)copy[0].iov_base + skip;
	copy[0].iov_len -= skip;
	copy[count - 1].iov_len -= covered - want;
	req->iov = copy;
	req->iovcnt = count;
	return 0;
}

/* A read that meets end-of-file reads the rest as zeroes (see submit_fd's contract). */
static void req_zero_remainder(struct ioreq *req)
{
	for (int i = 0; i < req->iovcnt; i++)
		memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
}

/* ---- worker pool ---- */

static ssize_t worker_write(struct ioreq *req, off_t offset)
{
	if (!req->io->fua)
		return pwritev(req->fd, req->iov, req->iovcnt, offset);
	ssize_t n = pwritev2(req->fd, req->iov, req->iovcnt, offset, RWF_DSYNC);
	if (n < 0 && errno == EOPNOTSUPP) {
		n = pwritev(req->fd, req->iov, req->iovcnt, offset);
		if (n > 0 && fdatasync(req->fd) != 0)
			n = -1;
	}
	return n;
}

static int worker_execute(struct ioreq *req)
{
	off_t offset = (off_t)(req->io->offset + req->done_bytes);
	ssize_t n;
	switch (req->kind) {
	case REQ_READ:
		n = preadv(req->fd, req->iov, req->iovcnt, offset);
		break;
	case REQ_WRITE:
		n = worker_write(req, offset);
		break;
	case REQ_FLUSH:
		n = fdatasync(req->fd);
		break;
	case REQ_CALL:
		return req->fn(req->io, req->arg);
	default:
		return req->result;
	}
	/* The kernel caps one transfer below INT_MAX bytes, so the count fits the result. */
	return n < 0 ? -errno : (int)n;
}

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->jobs.head && !pool->stopping)
			pthread_cond_wait(&pool->wake, &pool->lock);
		struct ioreq *req = list_pop(&pool->jobs);
		if (!req)
			break;
		pthread_mutex_unlock(&pool->lock);
		req->result = worker_execute(req);
		pthread_mutex_lock(&pool->lock);
		/* The loop reads the eventfd before it empties the list, so a push onto an empty
		 * list is the only one that needs a wake-up. */
		bool was_empty = pool->finished.head == NULL;
		list_push(&pool->finished, req);
		if (was_empty)
			signal_efd(pool->efd);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static void pool_stop(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

static struct worker_pool *pool_start(int efd)
{
	struct worker_pool *pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->efd = efd;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	/* Workers must not take the daemon's signals (SIGINT, SIGHUP are the loop's business). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < POOL_THREADS; i++) {
		if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
			break;
		pool->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pool->nthreads == 0) {
		pool_stop(pool);
		return NULL;
	}
	return pool;
}

/* ---- dispatch ---- */

static void local_push(struct tg_ioengine *engine, struct req_list *list, struct ioreq *req)
{
	bool was_empty = list->head == NULL;
	list_push(list, req);
	if (!engine->destroying && tg_ioengine_on_loop_thread(engine)) {
		if (!ev_is_active(&engine->local_watcher)) {
			ev_timer_set(&engine->local_watcher, 0, 0);
			ev_timer_start(engine->loop, &engine->local_watcher);
		}
	} else if (was_empty) {
		/* Draining, or a thread other than the loop's: the eventfd is what they wait on. */
		signal_efd(engine->efd);
	}
}

static void complete_later(struct tg_ioengine *engine, struct ioreq *req, int result)
{
	req->kind = REQ_COMPLETE;
	req->result = result;
	local_push(engine, &engine->ready, req);
}

static bool ring_start(struct tg_ioengine *engine, struct ioreq *req)
{
	if (engine->ring_inflight >= RING_DEPTH)
		return false;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&engine->ring);
	if (!sqe) {
		io_uring_submit(&engine->ring);
		sqe = io_uring_get_sqe(&engine->ring);
		if (!sqe)
			return false;
	}
	uint64_t offset = req->io->offset + req->done_bytes;
	bool single = req->iovcnt == 1 && req->iov[0].iov_len <= UINT32_MAX;
	switch (req->kind) {
	case REQ_READ:
		if (single)
			io_uring_prep_read(sqe, req->fd, req->iov[0].iov_base,
					   (unsigned)req->iov[0].iov_len, offset);
		else
			io_uring_prep_readv(sqe, req->fd, req->iov, (unsigned)req->iovcnt, offset);
		break;
	case REQ_WRITE:
		if (single)
			io_uring_prep_write(sqe, req->fd, req->iov[0].iov_base,
					    (unsigned)req->iov[0].iov_len, offset);
		else
			io_uring_prep_writev(sqe, req->fd, req->iov, (unsigned)req->iovcnt, offset);
		sqe->rw_flags = req->io->fua ? RWF_DSYNC : 0;
		break;
	default:
		io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	/* Memory-backed transfers come here only when large (see dispatch): without this the
	 * kernel would perform the copy inside io_uring_enter, i.e. on the loop thread anyway. */
	if (req->in_place)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	engine->ring_inflight++;
	return true;
}

static void ring_fill(struct tg_ioengine *engine)
{
	while (engine->ring_waiting.head && ring_start(engine, engine->ring_waiting.head))
		list_pop(&engine->ring_waiting);
}

static void ring_flush(struct tg_ioengine *engine)
{
	if (!engine->use_uring || io_uring_sq_ready(&engine->ring) == 0)
		return;
	int rc = io_uring_submit(&engine->ring);
	/* What the kernel did not take stays in the SQ for the next iteration's attempt. */
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
		tg_warn("ioengine", "io_uring_submit: %s", strerror(-rc));
}

/*
 * A memory copy this large is worth another CPU: done in place it would hold the loop, and the
 * transfers of every other connection on it, for as long as the copy takes (a 1 MiB read from
 * tmpfs is a sizeable part of what the loop spends on a 1 MiB command).
 */
#define IN_PLACE_MAX_BYTES (256u << 10)

static void dispatch(struct tg_ioengine *engine, struct ioreq *req)
{
	if (req->in_place && req->kind != REQ_CALL &&
	    (req->kind == REQ_FLUSH || req->io->len < IN_PLACE_MAX_BYTES)) {
		/* A syscall on memory-backed storage is a memory copy: cheaper done here than
		 * handed to a kernel or pool worker. Its outcome is still taken on a later turn of
		 * the loop, so done() never runs inside submit. */
		req->result = worker_execute(req);
		local_push(engine, &engine->done_in_place, req);
		return;
	}
	if (req->kind == REQ_CALL || !engine->use_uring) {
		if (!engine->pool)
			engine->pool = pool_start(engine->efd);
		if (!engine->pool) {
			complete_later(engine, req, -EAGAIN);
			return;
		}
		struct worker_pool *pool = engine->pool;
		pthread_mutex_lock(&pool->lock);
		list_push(&pool->jobs, req);
		pthread_cond_signal(&pool->wake);
		pthread_mutex_unlock(&pool->lock);
		return;
	}
	/* Older requests waiting for a slot go first. */
	if (engine->ring_waiting.head || !ring_start(engine, req))
		list_push(&engine->ring_waiting, req);
}

static void retry_or_finish(struct tg_ioengine *engine, struct ioreq *req, int error)
{
	if (++req->retries <= RETRY_LIMIT) {
		dispatch(engine, req);
		return;
	}
	req_finish(engine, req, error);
}

/* Takes one attempt's outcome: finishes the request or sends its remainder again. */
static void req_progress(struct tg_ioengine *engine, struct ioreq *req, int res)
{
	switch (req->kind) {
	case REQ_CALL:
	case REQ_COMPLETE:
		req_finish(engine, req, res);
		return;
	case REQ_FLUSH:
		if (res == -EAGAIN || res == -EINTR)
			retry_or_finish(engine, req, res);
		else
			req_finish(engine, req, res < 0 ? res : 0);
		return;
	case REQ_READ:
	case REQ_WRITE:
		break;
	}
	if (res == -EAGAIN || res == -EINTR) {
		retry_or_finish(engine, req, res);
		return;
	}
	if (res < 0) {
		req_finish(engine, req, res);
		return;
	}
	if (res == 0) {
		if (req->kind == REQ_WRITE) {
			/* A write that moves nothing and reports no error would loop forever. */
			req_finish(engine, req, -EIO);
			return;
		}
		req_zero_remainder(req);
		req_finish(engine, req, 0);
		return;
	}
	req->retries = 0;
	req->done_bytes += (uint64_t)res;
	if (req->done_bytes >= req->io->len) {
		req_finish(engine, req, 0);
		return;
	}
	int rc = req_set_remainder(req);
	if (rc < 0) {
		req_finish(engine, req, rc);
		return;
	}
	dispatch(engine, req);
}

/* ---- completions on the loop ---- */

static void ring_reap(struct tg_ioengine *engine)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&engine->ring, &cqe) == 0) {
		struct ioreq *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&engine->ring, cqe);
		engine->ring_inflight--;
		req_progress(engine, req, res);
	}
	ring_fill(engine);
}

/*
 * One call at a time, popped under the lock: a call may end an object whose own call is still
 * queued, and cancelling that one (tg_ioengine_cancel_call) must find it in the list.
 */
static bool run_calls(struct tg_ioengine *engine)
{
	if (!atomic_load(&engine->calls_pending))
		return false;
	bool ran = false;
	for (;;) {
		pthread_mutex_lock(&engine->calls_lock);
		struct tg_loop_call *call = engine->calls_head;
		if (call) {
			engine->calls_head = call->next;
			if (!engine->calls_head) {
				engine->calls_tail = NULL;
				atomic_store(&engine->calls_pending, false);
			}
			call->next = NULL;
			atomic_store(&call->queued, false);
		}
		pthread_mutex_unlock(&engine->calls_lock);
		if (!call)
			return ran;
		ran = true;
		call->fn(call->arg);
	}
}

static void run_local(struct tg_ioengine *engine)
{
	struct req_list in_place = engine->done_in_place;
	engine->done_in_place.head = engine->done_in_place.tail = NULL;
	while (in_place.head) {
		struct ioreq *req = list_pop(&in_place);
		req_progress(engine, req, req->result);
	}
	struct req_list ready = engine->ready;
	engine->ready.head = engine->ready.tail = NULL;
	while (ready.head) {
		struct ioreq *req = list_pop(&ready);
		req_progress(engine, req, req->result);
	}
}

static void handle_completions(struct tg_ioengine *engine)
{
	uint64_t count;
	/* Drain the counter before looking at the sources, so anything that arrives afterwards
	 * signals again instead of being missed. */
	while (read(engine->efd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	if (engine->use_uring)
		ring_reap(engine);
	if (engine->pool) {
		pthread_mutex_lock(&engine->pool->lock);
		struct ioreq *req = engine->pool->finished.head;
		engine->pool->finished.head = engine->pool->finished.tail = NULL;
		pthread_mutex_unlock(&engine->pool->lock);
		while (req) {
			struct ioreq *next = req->next;
			req_progress(engine, req, req->result);
			req = next;
		}
	}
	run_local(engine);
	run_calls(engine);
	ring_flush(engine);
}

static void local_cb(struct ev_loop *loop, ev_timer *watcher, int revents)
{
	struct tg_ioengine *engine = watcher->data;
	run_local(engine);
	ring_flush(engine);
}

static void efd_cb(struct ev_loop *loop, ev_io *watcher, int revents)
{
	handle_completions(watcher->data);
}

static void submit_cb(struct ev_loop *loop, ev_prepare *watcher, int revents)
{
	ring_flush(watcher->data);
}

/* ---- public ---- */

static bool ring_setup(struct tg_ioengine *engine)
{
	int rc = io_uring_queue_init(RING_DEPTH, &engine->ring, IORING_SETUP_SUBMIT_ALL);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(RING_DEPTH, &engine->ring, 0);
	if (rc < 0) {
		tg_warn("ioengine", "io_uring unavailable (io_uring_queue_init: %s), using %d worker threads",
			strerror(-rc), POOL_THREADS);
		return false;
	}
	rc = io_uring_register_eventfd(&engine->ring, engine->efd);
	if (rc < 0) {
		tg_warn("ioengine", "io_uring_register_eventfd: %s, using %d worker threads",
			strerror(-rc), POOL_THREADS);
		io_uring_queue_exit(&engine->ring);
		return false;
	}
	return true;
}

struct tg_ioengine *tg_ioengine_create(struct ev_loop *loop)
{
	struct tg_ioengine *engine = calloc(1, sizeof(*engine));
	if (!engine)
		return NULL;
	engine->loop = loop;
	engine->owner = pthread_self();
	pthread_mutex_init(&engine->calls_lock, NULL);
	engine->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (engine->efd < 0) {
		tg_err("ioengine", "eventfd: %s", strerror(errno));
		pthread_mutex_destroy(&engine->calls_lock);
		free(engine);
		return NULL;
	}
	const char *choice = getenv("TG_IOENGINE");
	bool force_threads = choice && strcmp(choice, "threads") == 0;
	if (choice && !force_threads && strcmp(choice, "uring") != 0 && strcmp(choice, "io_uring") != 0)
		tg_warn("ioengine", "TG_IOENGINE=%s not understood (threads | uring), using the default",
			choice);
	engine->use_uring = !force_threads && ring_setup(engine);
	tg_debug("ioengine", "engine on loop %p: %s", (void *)loop,
		 engine->use_uring ? "io_uring" : "worker threads");

	ev_io_init(&engine->efd_watcher, efd_cb, engine->efd, EV_READ);
	engine->efd_watcher.data = engine;
	ev_timer_init(&engine->local_watcher, local_cb, 0, 0);
	engine->local_watcher.data = engine;
	ev_io_start(loop, &engine->efd_watcher);
	ev_unref(loop);
	if (engine->use_uring) {
		ev_prepare_init(&engine->submit_watcher, submit_cb);
		engine->submit_watcher.data = engine;
		/* Lowest priority: runs after every other prepare watcher that might submit. */
		ev_set_priority(&engine->submit_watcher, EV_MINPRI);
		ev_prepare_start(loop, &engine->submit_watcher);
		ev_unref(loop);
	}
	return engine;
}

/*
 * Everything already submitted is carried out and completed (done() runs from here), because
 * buffers the kernel or a worker is still using cannot be handed back early. Submissions made
 * from those done() callbacks complete with -ECANCELED. Not to be called from inside a done().
 */
void tg_ioengine_destroy(struct tg_ioengine *engine)
{
	if (!engine)
		return;
	engine->destroying = true;
	ev_timer_stop(engine->loop, &engine->local_watcher);
	/* What the timer would have taken: from here on, local completions signal the eventfd. */
	if (engine->done_in_place.head || engine->ready.head)
		signal_efd(engine->efd);
	run_calls(engine);
	while (engine->outstanding) {
		ring_flush(engine);
		struct pollfd pfd = { .fd = engine->efd, .events = POLLIN };
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
			tg_err("ioengine", "poll while draining: %s", strerror(errno));
			break;
		}
		handle_completions(engine);
	}
	if (engine->pool)
		pool_stop(engine->pool);
	ev_ref(engine->loop);
	ev_io_stop(engine->loop, &engine->efd_watcher);
	if (engine->use_uring) {
		ev_ref(engine->loop);
		ev_prepare_stop(engine->loop, &engine->submit_watcher);
		io_uring_queue_exit(&engine->ring);
	}
	close(engine->efd);
	if (engine->calls_head)
		tg_warn("ioengine", "calls handed to a loop that is gone are dropped");
	pthread_mutex_destroy(&engine->calls_lock);
	while (engine->cache) {
		struct ioreq *req = engine->cache;
		engine->cache = req->next;
		free(req->iov_heap);
		free(req);
	}
	free(engine);
}

bool tg_ioengine_uses_uring(const struct tg_ioengine *engine) { return engine->use_uring; }

bool tg_ioengine_on_loop_thread(const struct tg_ioengine *engine)
{
	return pthread_equal(engine->owner, pthread_self()) != 0;
}

void tg_ioengine_call(struct tg_ioengine *engine, struct tg_loop_call *call)
{
	call->next = NULL;
	pthread_mutex_lock(&engine->calls_lock);
	atomic_store(&call->queued, true);
	bool was_empty = engine->calls_head == NULL;
	if (engine->calls_tail)
		engine->calls_tail->next = call;
	else
		engine->calls_head = call;
	engine->calls_tail = call;
	atomic_store(&engine->calls_pending, true);
	pthread_mutex_unlock(&engine->calls_lock);
	if (was_empty)
		signal_efd(engine->efd);
}

void tg_ioengine_cancel_call(struct tg_ioengine *engine, struct tg_loop_call *call)
{
	if (!atomic_load(&call->queued))
		return;
	pthread_mutex_lock(&engine->calls_lock);
	struct tg_loop_call *prev = NULL;
	for (struct tg_loop_call *c = engine->calls_head; c; prev = c, c = c->next) {
		if (c != call)
			continue;
		if (prev)
			prev->next = c->next;
		else
			engine->calls_head = c->next;
		if (engine->calls_tail == c)
			engine->calls_tail = prev;
		if (!engine->calls_head)
			atomic_store(&engine->calls_pending, false);
		break;
	}
	call->next = NULL;
	atomic_store(&call->queued, false);
	pthread_mutex_unlock(&engine->calls_lock);
}

bool tg_ioengine_drain(struct tg_ioengine *engine)
{
	bool did = false;
	for (;;) {
		bool busy = engine->outstanding != 0 || atomic_load(&engine->calls_pending);
		if (!busy)
			return did;
		did = true;
		ring_flush(engine);
		/* (Local completions queued before the loop ended wait for no signal.) */
		if (engine->outstanding && !atomic_load(&engine->calls_pending) &&
		    !engine->done_in_place.head && !engine->ready.head) {
			struct pollfd pfd = { .fd = engine->efd, .events = POLLIN };
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
				tg_err("ioengine", "poll while draining: %s", strerror(errno));
				return did;
			}
		}
		handle_completions(engine);
	}
}

static struct ioreq *accept_request(struct tg_ioengine *engine, struct tg_io *io,
				    enum req_kind kind)
{
	io->engine = engine;
	struct ioreq *req = req_get(engine);
	if (!req) {
		/* Nowhere to remember it: the only way left to honour "done on the loop". */
		io->result = -ENOMEM;
		io->done(io);
		return NULL;
	}
	req->io = io;
	req->kind = kind;
	req->fd = -1;
	outstanding_inc(engine);
	if (engine->destroying && kind != REQ_COMPLETE) {
		complete_later(engine, req, -ECANCELED);
		return NULL;
	}
	return req;
}

/*
 * READ and WRITE move exactly io->len bytes of the iovecs. A short transfer is continued where
 * it stopped. A read that reaches end-of-file completes successfully with the rest zero-filled:
 * backends check the range against the device size before submitting, so end-of-file inside
 * that range means an image shorter than its device (shrunk behind our back, or a sparse tail
 * not yet materialised), and unwritten blocks read as zeroes.
 */
static void submit_fd(struct tg_ioengine *engine, int fd, struct tg_io *io, bool in_place)
{
	enum req_kind kind;
	switch (io->op) {
	case TG_IO_READ:
		kind = REQ_READ;
		break;
	case TG_IO_WRITE:
		kind = REQ_WRITE;
		break;
	case TG_IO_FLUSH:
		kind = REQ_FLUSH;
		break;
	default:
		kind = REQ_COMPLETE;
		break;
	}
	struct ioreq *req = accept_request(engine, io, kind);
	if (!req)
		return;
	req->fd = fd;
	req->in_place = in_place;
	if (kind == REQ_COMPLETE) {
		complete_later(engine, req, -EOPNOTSUPP);
		return;
	}
	if (kind != REQ_FLUSH) {
		if (io->len == 0) {
			complete_later(engine, req, 0);
			return;
		}
		int rc = req_set_remainder(req);
		if (rc < 0) {
			complete_later(engine, req, rc);
			return;
		}
	}
	dispatch(engine, req);
}

void tg_ioengine_submit_fd(struct tg_ioengine *engine, int fd, struct tg_io *io)
{
	submit_fd(engine, fd, io, false);
}

void tg_ioengine_submit_fd_in_place(struct tg_ioengine *engine, int fd, struct tg_io *io)
{
	submit_fd(engine, fd, io, true);
}

void tg_ioengine_submit_blocking(struct tg_ioengine *engine, struct tg_io *io,
				 int (*fn)(struct tg_io *io, void *arg), void *arg)
{
	struct ioreq *req = accept_request(engine, io, REQ_CALL);
	if (!req)
		return;
	req->fn = fn;
	req->arg = arg;
	dispatch(engine, req);
}

void tg_ioengine_complete(struct tg_ioengine *engine, struct tg_io *io, int result)
{
	struct ioreq *req = accept_request(engine, io, REQ_COMPLETE);
	if (req)
		complete_later(engine, req, result);
}
