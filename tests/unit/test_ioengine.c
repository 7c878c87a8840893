/* Unit tests for core/ioengine.c on a real libev loop, through io_uring and through the worker pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/device.h"
#include "core/ioengine.h"

#include "loop_helpers.h"

struct fixture {
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	char path[256];
	int fd;
	int completions;
};

/* One request and what its completion reported. */
struct op {
	struct tg_io io;
	struct iovec iov[4];
	int done_calls;
	pthread_t done_thread;
	int *counter;
};

static pthread_t loop_thread;

static void op_done(struct tg_io *io)
{
	struct op *op = io->priv;
	op->done_calls++;
	op->done_thread = pthread_self();
	(*op->counter)++;
}

static void op_init(struct op *op, struct fixture *fx, enum tg_io_op kind, uint64_t offset,
		    uint64_t len)
{
	memset(op, 0, sizeof(*op));
	op->io.op = kind;
	op->io.offset = offset;
	op->io.len = len;
	op->io.iov = op->iov;
	op->io.engine = fx->engine;
	op->io.done = op_done;
	op->io.priv = op;
	op->counter = &fx->completions;
}

/* Runs the loop until `target` completions were counted; fails after GUARD_SECONDS. */
static void run_until(struct fixture *fx, int target)
{
	if (!loop_run_until(fx->loop, &fx->completions, target))
		fail_msg("only %d of %d completions within %.0f s", fx->completions, target,
			 GUARD_SECONDS);
}

static void expect_done_once_on_loop(const struct op *op, int result)
{
	assert_int_equal(op->done_calls, 1);
	assert_true(pthread_equal(op->done_thread, loop_thread));
	assert_int_equal(op->io.result, result);
}

static bool kernel_allows_io_uring(void)
{
	struct io_uring ring;
	if (io_uring_queue_init(4, &ring, 0) != 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	loop_thread = pthread_self();
	fx->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(fx->loop);
	fx->engine = loop_engine_create(fx->loop);
	/* Where the kernel lets us have io_uring, the engine must use it unless told otherwise. */
	assert_int_equal(tg_ioengine_uses_uring(fx->engine), !force_threads && kernel_allows_io_uring());
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(fx->path, sizeof(fx->path), "%s/targe-test-ioengine-XXXXXX", dir);
	fx->fd = mkstemp(fx->path);
	assert_true(fx->fd >= 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	tg_ioengine_destroy(fx->engine);
	ev_loop_destroy(fx->loop);
	close(fx->fd);
	unlink(fx->path);
	free(fx);
	return 0;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* Three scattered buffers written at an offset come back through one buffer, and sit on disk. */
static void test_write_read_round_trip(void **state)
{
	struct fixture *fx = *state;
	static uint8_t a[4096], b[1024], c[3072], back[8192], disk[8192];
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	fill(c, sizeof(c), 3);
	struct op write;
	op_init(&write, fx, TG_IO_WRITE, 12288, 8192);
	write.iov[0] = (struct iovec){ a, sizeof(a) };
	write.iov[1] = (struct iovec){ b, sizeof(b) };
	write.iov[2] = (struct iovec){ c, sizeof(c) };
	write.io.iovcnt = 3;
	tg_ioengine_submit_fd(fx->engine, fx->fd, &write.io);
	assert_int_equal(write.done_calls, 0); /* never completes inside submit */
	run_until(fx, 1);
	expect_done_once_on_loop(&write, 0);

	struct op read;
	op_init(&read, fx, TG_IO_READ, 12288, 8192);
	read.iov[0] = (struct iovec){ back, sizeof(back) };
	read.io.iovcnt = 1;
	tg_ioengine_submit_fd(fx->engine, fx->fd, &read.io);
	run_until(fx, 2);
	expect_done_once_on_loop(&read, 0);
	assert_memory_equal(back, a, sizeof(a));
	assert_memory_equal(back + 4096, b, sizeof(b));
	assert_memory_equal(back + 5120, c, sizeof(c));

	assert_int_equal(pread(fx->fd, disk, sizeof(disk), 12288), (ssize_t)sizeof(disk));
	assert_memory_equal(disk, back, sizeof(disk));
}

static void test_fua_write_and_flush(void **state)
{
	struct fixture *fx = *state;
	static uint8_t data[4096], disk[4096];
	fill(data, sizeof(data), 9);
	struct op write, flush;
	op_init(&write, fx, TG_IO_WRITE, 0, sizeof(data));
	write.iov[0] = (struct iovec){ data, sizeof(data) };
	write.io.iovcnt = 1;
	write.io.fua = true;
	op_init(&flush, fx, TG_IO_FLUSH, 0, 0);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &write.io);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &flush.io);
	run_until(fx, 2);
	expect_done_once_on_loop(&write, 0);
	expect_done_once_on_loop(&flush, 0);
	assert_int_equal(pread(fx->fd, disk, sizeof(disk), 0), (ssize_t)sizeof(disk));
	assert_memory_equal(disk, data, sizeof(data));
}

/* The flush result is fdatasync's own: a pipe cannot be synced. */
static void test_flush_reports_errors(void **state)
{
	struct fixture *fx = *state;
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	struct op flush;
	op_init(&flush, fx, TG_IO_FLUSH, 0, 0);
	tg_ioengine_submit_fd(fx->engine, pipefd[1], &flush.io);
	run_until(fx, 1);
	expect_done_once_on_loop(&flush, -EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_read_error_reported(void **state)
{
	struct fixture *fx = *state;
	int write_only = open(fx->path, O_WRONLY);
	assert_true(write_only >= 0);
	static uint8_t buf[512];
	struct op read;
	op_init(&read, fx, TG_IO_READ, 0, sizeof(buf));
	read.iov[0] = (struct iovec){ buf, sizeof(buf) };
	read.io.iovcnt = 1;
	tg_ioengine_submit_fd(fx->engine, write_only, &read.io);
	run_until(fx, 1);
	expect_done_once_on_loop(&read, -EBADF);
	close(write_only);
}

/* Far more requests than the ring has slots: the rest wait their turn, none is lost. */
static void test_many_concurrent_requests(void **state)
{
	struct fixture *fx = *state;
	enum { COUNT = 1000, SIZE = 4096 };
	struct op *ops = calloc(COUNT, sizeof(*ops));
	uint8_t *data = malloc((size_t)COUNT * SIZE);
	uint8_t *back = calloc(COUNT, SIZE);
	assert_non_null(ops);
	assert_non_null(data);
	assert_non_null(back);
	fill(data, (size_t)COUNT * SIZE, 5);
	for (int i = 0; i < COUNT; i++) {
		op_init(&ops[i], fx, TG_IO_WRITE, (uint64_t)i * SIZE, SIZE);
		ops[i].iov[0] = (struct iovec){ data + (size_t)i * SIZE, SIZE };
		ops[i].io.iovcnt = 1;
		tg_ioengine_submit_fd(fx->engine, fx->fd, &ops[i].io);
	}
	run_until(fx, COUNT);
	for (int i = 0; i < COUNT; i++)
		expect_done_once_on_loop(&ops[i], 0);
	/* Read back in reverse order, two iovecs each, all at once again. */
	for (int i = 0; i < COUNT; i++) {
		int slot = COUNT - 1 - i;
		op_init(&ops[i], fx, TG_IO_READ, (uint64_t)slot * SIZE, SIZE);
		ops[i].iov[0] = (struct iovec){ back + (size_t)slot * SIZE, 1000 };
		ops[i].iov[1] = (struct iovec){ back + (size_t)slot * SIZE + 1000, SIZE - 1000 };
		ops[i].io.iovcnt = 2;
		tg_ioengine_submit_fd(fx->engine, fx->fd, &ops[i].io);
	}
	run_until(fx, 2 * COUNT);
	for (int i = 0; i < COUNT; i++)
		expect_done_once_on_loop(&ops[i], 0);
	assert_memory_equal(back, data, (size_t)COUNT * SIZE);
	free(ops);
	free(data);
	free(back);
}

/* A read that meets end-of-file keeps what it read and zero-fills the rest. */
static void test_short_read_at_eof_zero_fills(void **state)
{
	struct fixture *fx = *state;
	static uint8_t content[10000], buf[16384], beyond[4096];
	memset(content, 0xab, sizeof(content));
	assert_int_equal(pwrite(fx->fd, content, sizeof(content), 0), (ssize_t)sizeof(content));
	memset(buf, 0xcc, sizeof(buf));
	memset(beyond, 0xcc, sizeof(beyond));
	struct op spanning, past;
	op_init(&spanning, fx, TG_IO_READ, 0, sizeof(buf));
	spanning.iov[0] = (struct iovec){ buf, 6000 };
	spanning.iov[1] = (struct iovec){ buf + 6000, sizeof(buf) - 6000 };
	spanning.io.iovcnt = 2;
	op_init(&past, fx, TG_IO_READ, 1 << 20, sizeof(beyond));
	past.iov[0] = (struct iovec){ beyond, sizeof(beyond) };
	past.io.iovcnt = 1;
	tg_ioengine_submit_fd(fx->engine, fx->fd, &spanning.io);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &past.io);
	run_until(fx, 2);
	expect_done_once_on_loop(&spanning, 0);
	expect_done_once_on_loop(&past, 0);
	assert_memory_equal(buf, content, sizeof(content));
	for (size_t i = sizeof(content); i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	for (size_t i = 0; i < sizeof(beyond); i++)
		assert_int_equal(beyond[i], 0);
}

/*
 * RLIMIT_FSIZE makes the kernel write only up to the limit and report a short count; the
 * engine must go on with the remainder, which then fails with EFBIG. An engine that took the
 * short count for the whole would report success.
 */
static void test_short_write_continues_with_remainder(void **state)
{
	struct fixture *fx = *state;
	enum { LIMIT = 64 * 1024, SIZE = 128 * 1024 };
	static uint8_t data[SIZE], disk[SIZE];
	fill(data, sizeof(data), 11);
	struct rlimit saved, limited;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	limited = saved;
	limited.rlim_cur = LIMIT;
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);

	struct op write;
	op_init(&write, fx, TG_IO_WRITE, 0, SIZE);
	write.iov[0] = (struct iovec){ data, SIZE };
	write.io.iovcnt = 1;
	tg_ioengine_submit_fd(fx->engine, fx->fd, &write.io);
	run_until(fx, 1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, old_handler);

	expect_done_once_on_loop(&write, -EFBIG);
	struct stat st;
	assert_int_equal(fstat(fx->fd, &st), 0);
	assert_int_equal(st.st_size, LIMIT);
	assert_int_equal(pread(fx->fd, disk, LIMIT, 0), LIMIT);
	assert_memory_equal(disk, data, LIMIT);
}

/*
 * io_uring reads a pipe as a stream, which yields a genuinely short read in the middle of a
 * transfer: the engine must wait for the rest rather than complete with half the data. The
 * worker pool's positional preadv cannot read a pipe at all and must say so.
 */
static void test_short_read_waits_for_remainder(void **state)
{
	struct fixture *fx = *state;
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	static uint8_t sent[200], got[200];
	fill(sent, sizeof(sent), 13);
	assert_int_equal(write(pipefd[1], sent, 100), 100);
	struct op read;
	op_init(&read, fx, TG_IO_READ, 0, sizeof(got));
	read.iov[0] = (struct iovec){ got, sizeof(got) };
	read.io.iovcnt = 1;
	tg_ioengine_submit_fd(fx->engine, pipefd[0], &read.io);
	if (!tg_ioengine_uses_uring(fx->engine)) {
		run_until(fx, 1);
		expect_done_once_on_loop(&read, -ESPIPE);
		close(pipefd[0]);
		close(pipefd[1]);
		return;
	}
	for (int i = 0; i < 20; i++)
		ev_run(fx->loop, EVRUN_NOWAIT);
	assert_int_equal(read.done_calls, 0);
	assert_int_equal(write(pipefd[1], sent + 100, 100), 100);
	run_until(fx, 1);
	expect_done_once_on_loop(&read, 0);
	assert_memory_equal(got, sent, sizeof(sent));
	close(pipefd[0]);
	close(pipefd[1]);
}

/* io->len is what moves: longer iovecs are trimmed, shorter ones are a caller error. */
static void test_iovecs_versus_length(void **state)
{
	struct fixture *fx = *state;
	static uint8_t big[8192], small[1024];
	fill(big, sizeof(big), 17);
	struct op trimmed, too_short, empty;
	op_init(&trimmed, fx, TG_IO_WRITE, 0, 5000);
	trimmed.iov[0] = (struct iovec){ big, 4096 };
	trimmed.iov[1] = (struct iovec){ big + 4096, 4096 };
	trimmed.io.iovcnt = 2;
	op_init(&too_short, fx, TG_IO_WRITE, 0, 2048);
	too_short.iov[0] = (struct iovec){ small, sizeof(small) };
	too_short.io.iovcnt = 1;
	op_init(&empty, fx, TG_IO_READ, 0, 0);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &trimmed.io);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &too_short.io);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &empty.io);
	run_until(fx, 3);
	expect_done_once_on_loop(&trimmed, 0);
	expect_done_once_on_loop(&too_short, -EINVAL);
	expect_done_once_on_loop(&empty, 0);
	struct stat st;
	assert_int_equal(fstat(fx->fd, &st), 0);
	assert_int_equal(st.st_size, 5000);
}

struct blocking_call {
	pthread_t ran_on;
	int calls;
	int answer;
};

static int blocking_fn(struct tg_io *io, void *arg)
{
	struct blocking_call *call = arg;
	call->ran_on = pthread_self();
	call->calls++;
	usleep(1000);
	return call->answer;
}

static void test_blocking_submit(void **state)
{
	struct fixture *fx = *state;
	enum { COUNT = 16 };
	struct op ops[COUNT];
	struct blocking_call calls[COUNT];
	for (int i = 0; i < COUNT; i++) {
		op_init(&ops[i], fx, TG_IO_UNMAP, 0, 0);
		calls[i] = (struct blocking_call){ .answer = i % 2 ? -ENOTTY : i };
		tg_ioengine_submit_blocking(fx->engine, &ops[i].io, blocking_fn, &calls[i]);
	}
	run_until(fx, COUNT);
	for (int i = 0; i < COUNT; i++) {
		assert_int_equal(calls[i].calls, 1);
		assert_false(pthread_equal(calls[i].ran_on, loop_thread));
		expect_done_once_on_loop(&ops[i], calls[i].answer);
	}
}

static void test_complete_is_deferred(void **state)
{
	struct fixture *fx = *state;
	struct op op;
	op_init(&op, fx, TG_IO_WRITE, 0, 512);
	tg_ioengine_complete(fx->engine, &op.io, -EROFS);
	assert_int_equal(op.done_calls, 0);
	run_until(fx, 1);
	expect_done_once_on_loop(&op, -EROFS);
}

/* An idle engine does not keep ev_run alive; one with work in flight does, until it is done. */
static void test_loop_runs_exactly_while_busy(void **state)
{
	struct fixture *fx = *state;
	ev_run(fx->loop, 0); /* returns at once: nothing is pending */
	static uint8_t data[4096];
	fill(data, sizeof(data), 19);
	struct op write;
	op_init(&write, fx, TG_IO_WRITE, 0, sizeof(data));
	write.iov[0] = (struct iovec){ data, sizeof(data) };
	write.io.iovcnt = 1;
	write.io.fua = true;
	tg_ioengine_submit_fd(fx->engine, fx->fd, &write.io);
	alarm(10); /* a hang here would otherwise never end */
	ev_run(fx->loop, 0);
	alarm(0);
	expect_done_once_on_loop(&write, 0);
}

/*
 * With only one descriptor left, the engine's eventfd takes it and io_uring_queue_init fails
 * with EMFILE, as it would under a seccomp filter or with io_uring disabled: the engine must
 * fall back to its worker threads and still work.
 */
static void test_falls_back_when_io_uring_is_refused(void **state)
{
	struct fixture *fx = *state;
	int probe = open("/dev/null", O_RDONLY); /* the lowest free descriptor */
	assert_true(probe >= 0);
	close(probe);
	struct rlimit saved, limited;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	limited = saved;
	limited.rlim_cur = (rlim_t)probe + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &limited), 0);
	unsetenv("TG_IOENGINE");
	struct tg_ioengine *fallback = tg_ioengine_create(fx->loop);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_non_null(fallback);
	assert_false(tg_ioengine_uses_uring(fallback));

	static uint8_t data[8192], back[8192];
	fill(data, sizeof(data), 29);
	struct op write, read;
	op_init(&write, fx, TG_IO_WRITE, 4096, sizeof(data));
	write.io.engine = fallback;
	write.iov[0] = (struct iovec){ data, sizeof(data) };
	write.io.iovcnt = 1;
	write.io.fua = true;
	tg_ioengine_submit_fd(fallback, fx->fd, &write.io);
	run_until(fx, 1);
	expect_done_once_on_loop(&write, 0);
	op_init(&read, fx, TG_IO_READ, 4096, sizeof(back));
	read.io.engine = fallback;
	read.iov[0] = (struct iovec){ back, sizeof(back) };
	read.io.iovcnt = 1;
	tg_ioengine_submit_fd(fallback, fx->fd, &read.io);
	run_until(fx, 2);
	expect_done_once_on_loop(&read, 0);
	assert_memory_equal(back, data, sizeof(data));
	tg_ioengine_destroy(fallback);
}

/*
 * Memory-backed stores: a small transfer is performed inside the submit call (its data is in
 * the file when submit returns), a large one is not held on the loop thread; both complete
 * later, on the loop, with the right data.
 */
static void test_in_place_small_and_large(void **state)
{
	struct fixture *fx = *state;
	enum { SMALL = 4096, LARGE = 1 << 20 };
	static uint8_t small[SMALL], large[LARGE], back[LARGE];
	fill(small, sizeof(small), 31);
	fill(large, sizeof(large), 37);
	struct op w_small, w_large;
	op_init(&w_small, fx, TG_IO_WRITE, 0, SMALL);
	w_small.iov[0] = (struct iovec){ small, SMALL };
	w_small.io.iovcnt = 1;
	op_init(&w_large, fx, TG_IO_WRITE, SMALL, LARGE);
	w_large.iov[0] = (struct iovec){ large, LARGE };
	w_large.io.iovcnt = 1;
	tg_ioengine_submit_fd_in_place(fx->engine, fx->fd, &w_small.io);
	assert_int_equal(pread(fx->fd, back, SMALL, 0), SMALL);
	assert_memory_equal(back, small, SMALL);
	tg_ioengine_submit_fd_in_place(fx->engine, fx->fd, &w_large.io);
	assert_int_equal(w_small.done_calls + w_large.done_calls, 0);
	run_until(fx, 2);
	expect_done_once_on_loop(&w_small, 0);
	expect_done_once_on_loop(&w_large, 0);

	struct op r_large;
	op_init(&r_large, fx, TG_IO_READ, SMALL, LARGE);
	memset(back, 0, sizeof(back));
	r_large.iov[0] = (struct iovec){ back, LARGE };
	r_large.io.iovcnt = 1;
	tg_ioengine_submit_fd_in_place(fx->engine, fx->fd, &r_large.io);
	run_until(fx, 3);
	expect_done_once_on_loop(&r_large, 0);
	assert_memory_equal(back, large, LARGE);
}

/*
 * Completions the loop thread queued for itself (in place, preset results) wait for a turn of
 * the loop, not for the eventfd: draining after the loop has stopped must still find them
 * instead of waiting on the eventfd for ever.
 */
static void test_drain_finds_local_completions(void **state)
{
	struct fixture *fx = *state;
	static uint8_t data[4096];
	fill(data, sizeof(data), 41);
	struct op write, preset;
	op_init(&write, fx, TG_IO_WRITE, 0, sizeof(data));
	write.iov[0] = (struct iovec){ data, sizeof(data) };
	write.io.iovcnt = 1;
	tg_ioengine_submit_fd_in_place(fx->engine, fx->fd, &write.io);
	op_init(&preset, fx, TG_IO_READ, 0, 512);
	tg_ioengine_complete(fx->engine, &preset.io, -EIO);
	alarm(10); /* a hang here would otherwise never end */
	assert_true(tg_ioengine_drain(fx->engine));
	alarm(0);
	expect_done_once_on_loop(&write, 0);
	expect_done_once_on_loop(&preset, -EIO);
	assert_false(tg_ioengine_drain(fx->engine));
}

struct resubmitter {
	struct op first;
	struct op second;
	int fd;
	struct fixture *fx;
};

static void resubmit_done(struct tg_io *io)
{
	struct resubmitter *r = io->priv;
	r->first.done_calls++;
	r->first.done_thread = pthread_self();
	r->fx->completions++;
	tg_ioengine_submit_fd(r->fx->engine, r->fd, &r->second.io);
}

/* Destroy finishes everything already submitted; what done() submits meanwhile is cancelled. */
static void test_destroy_drains_in_flight(void **state)
{
	struct fixture *fx = *state;
	enum { COUNT = 300, SIZE = 4096 };
	struct op *ops = calloc(COUNT, sizeof(*ops));
	uint8_t *data = malloc((size_t)COUNT * SIZE);
	uint8_t *disk = malloc((size_t)COUNT * SIZE);
	assert_non_null(ops);
	assert_non_null(data);
	assert_non_null(disk);
	fill(data, (size_t)COUNT * SIZE, 23);
	for (int i = 0; i < COUNT; i++) {
		op_init(&ops[i], fx, TG_IO_WRITE, (uint64_t)i * SIZE, SIZE);
		ops[i].iov[0] = (struct iovec){ data + (size_t)i * SIZE, SIZE };
		ops[i].io.iovcnt = 1;
		tg_ioengine_submit_fd(fx->engine, fx->fd, &ops[i].io);
	}
	struct resubmitter r = { .fd = fx->fd, .fx = fx };
	op_init(&r.first, fx, TG_IO_FLUSH, 0, 0);
	r.first.io.done = resubmit_done;
	r.first.io.priv = &r;
	op_init(&r.second, fx, TG_IO_FLUSH, 0, 0);
	tg_ioengine_submit_fd(fx->engine, fx->fd, &r.first.io);
	struct blocking_call call = { .answer = 7 };
	struct op blocking;
	op_init(&blocking, fx, TG_IO_UNMAP, 0, 0);
	tg_ioengine_submit_blocking(fx->engine, &blocking.io, blocking_fn, &call);

	tg_ioengine_destroy(fx->engine);
	fx->engine = tg_ioengine_create(fx->loop); /* teardown destroys it again */
	assert_non_null(fx->engine);

	for (int i = 0; i < COUNT; i++)
		expect_done_once_on_loop(&ops[i], 0);
	expect_done_once_on_loop(&r.first, 0);
	expect_done_once_on_loop(&r.second, -ECANCELED);
	expect_done_once_on_loop(&blocking, 7);
	assert_int_equal(pread(fx->fd, disk, (size_t)COUNT * SIZE, 0), COUNT * SIZE);
	assert_memory_equal(disk, data, (size_t)COUNT * SIZE);
	free(ops);
	free(data);
	free(disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fua_write_and_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_reports_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_error_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_concurrent_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_read_at_eof_zero_fills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_write_continues_with_remainder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_read_waits_for_remainder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iovecs_versus_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_submit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complete_is_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_runs_exactly_while_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_drains_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_small_and_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_finds_local_completions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_falls_back_when_io_uring_is_refused, setup,
						teardown),
	};
	int failed = cmocka_run_group_tests_name("ioengine (default: io_uring when allowed)", tests,
						 use_default_engine, NULL);
	failed += cmocka_run_group_tests_name("ioengine (TG_IOENGINE=threads)", tests,
					      use_worker_threads, NULL);
	return failed;
}
