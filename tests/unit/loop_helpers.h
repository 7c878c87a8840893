/* Helpers shared by the unit tests that run real I/O on an event loop: engine choice, bounded waits, aligned buffers. */
#ifndef TG_TEST_LOOP_HELPERS_H
#define TG_TEST_LOOP_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>
#include <ev.h>

#include "core/buf.h"
#include "core/device.h"
#include "core/ioengine.h"

/* A completion that never comes must fail the test, not hang it. */
#define GUARD_SECONDS 5.0

/* Set by the group setups below: each test file runs its tests once per engine. */
static bool force_threads;

static inline int use_default_engine(void **state)
{
	(void)state;
	force_threads = false;
	return 0;
}

static inline int use_worker_threads(void **state)
{
	(void)state;
	force_threads = true;
	return 0;
}

/* The engine force_threads asks for, whatever TG_IOENGINE the test runner was started with. */
static inline struct tg_ioengine *loop_engine_create(struct ev_loop *loop)
{
	if (force_threads)
		setenv("TG_IOENGINE", "threads", 1);
	else
		unsetenv("TG_IOENGINE");
	struct tg_ioengine *engine = tg_ioengine_create(loop);
	unsetenv("TG_IOENGINE");
	assert_non_null(engine);
	return engine;
}

static inline void loop_guard_expired(struct ev_loop *loop, ev_timer *timer, int revents)
{
	(void)revents;
	*(bool *)timer->data = true;
	ev_break(loop, EVBREAK_ONE);
}

/* Runs loop until *count reaches target; false if GUARD_SECONDS passed first. */
static inline bool loop_run_until(struct ev_loop *loop, const int *count, int target)
{
	bool expired = false;
	ev_timer guard;
	ev_timer_init(&guard, loop_guard_expired, GUARD_SECONDS, 0);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	while (*count < target && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
	return !expired;
}

static inline void loop_count_done(struct tg_io *io) { (*(int *)io->priv)++; }

/*
 * Submits one request (buf NULL: none) to dev and runs loop until it completes, which must be
 * exactly once and not inside submit; returns its result.
 */
static inline int loop_do_io(struct ev_loop *loop, struct tg_ioengine *engine,
			     struct tg_device *dev, enum tg_io_op op, uint64_t offset, uint64_t len,
			     void *buf, bool fua)
{
	struct iovec iov = { buf, len };
	int calls = 0;
	struct tg_io io = { .op = op, .offset = offset, .len = len, .iov = buf ? &iov : NULL,
			    .iovcnt = buf ? 1 : 0, .fua = fua, .engine = engine,
			    .done = loop_count_done, .priv = &calls };
	tg_device_submit(dev, &io);
	assert_int_equal(calls, 0);
	assert_true(loop_run_until(loop, &calls, 1));
	assert_int_equal(calls, 1);
	return io.result;
}

/* A buffer fit for O_DIRECT, filled with byte; give it back with release(). */
static inline uint8_t *aligned(size_t len, int byte)
{
	struct tg_buf buf;
	assert_int_equal(tg_buf_alloc(&buf, len), 0);
	memset(buf.base, byte, len);
	return buf.base;
}

static inline void release(uint8_t *base, size_t len)
{
	struct tg_buf buf = { .base = base, .len = len, .cap = len };
	tg_buf_free(&buf);
}

static inline void assert_all(const uint8_t *buf, size_t len, int byte)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)byte)
			fail_msg("byte %zu is %#x, want %#x", i, buf[i], byte);
}

#endif
