/* Unit tests for core/iothreads.c: each thread's hooks run on it in order, work posted to its engine runs there, threads run on the CPUs given, a failed start stops what it started, and draining follows work across engines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/ioengine.h"
#include "core/iothreads.h"
#include "allowed_cpus.h"

#define THREADS 3

/* One hook's calls on one thread; written on that thread, read here after start or stop. */
struct hook_seen {
	int calls;
	pthread_t thread;
	int at; /* position on the probe's clock */
};

struct thread_seen {
	struct hook_seen init, stopping, ended;
	struct ev_loop *loop;
	struct tg_ioengine *engine;
};

struct probe {
	struct thread_seen seen[THREADS];
	atomic_int clock;
	int fail_index; /* the thread whose init fails, or -1 */
};

static void note(struct probe *p, struct hook_seen *h)
{
	h->calls++;
	h->thread = pthread_self();
	h->at = atomic_fetch_add(&p->clock, 1);
}

static int probe_init(void *arg, unsigned index, struct ev_loop *loop, struct tg_ioengine *engine)
{
	struct probe *p = arg;
	note(p, &p->seen[index].init);
	p->seen[index].loop = loop;
	p->seen[index].engine = engine;
	return (int)index == p->fail_index ? -1 : 0;
}

static void probe_stopping(void *arg, unsigned index)
{
	struct probe *p = arg;
	note(p, &p->seen[index].stopping);
}

static void probe_ended(void *arg, unsigned index)
{
	struct probe *p = arg;
	note(p, &p->seen[index].ended);
}

static const struct tg_io_thread_ops probe_ops = {
	.init = probe_init,
	.stopping = probe_stopping,
	.ended = probe_ended,
};

static void test_hooks_run_on_their_thread_in_order(void **state)
{
	struct probe p = { .fail_index = -1 };
	char err[128] = "";
	struct tg_io_threads *threads = tg_io_threads_start(THREADS, "probe", &probe_ops, &p, NULL, err,
							    sizeof(err));
	assert_non_null(threads);
	assert_int_equal(tg_io_threads_count(threads), THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		struct thread_seen *s = &p.seen[i];
		assert_int_equal(s->init.calls, 1);
		assert_int_equal(s->stopping.calls, 0);
		assert_int_equal(s->ended.calls, 0);
		assert_false(pthread_equal(s->init.thread, pthread_self()));
		for (unsigned j = 0; j < i; j++)
			assert_false(pthread_equal(s->init.thread, p.seen[j].init.thread));
		assert_ptr_equal(s->loop, tg_io_threads_loop(threads, i));
		assert_ptr_equal(s->engine, tg_io_threads_engine(threads, i));
	}
	tg_io_threads_stop(threads);
	tg_io_threads_stop(threads);
	for (unsigned i = 0; i < THREADS; i++) {
		struct thread_seen *s = &p.seen[i];
		assert_int_equal(s->stopping.calls, 1);
		assert_int_equal(s->ended.calls, 1);
		assert_true(pthread_equal(s->stopping.thread, s->init.thread));
		assert_true(pthread_equal(s->ended.thread, s->init.thread));
		assert_true(s->init.at < s->stopping.at);
		assert_true(s->stopping.at < s->ended.at);
	}
	tg_io_threads_destroy(threads);
}

/* A call posted to one thread's engine, reporting where it ran. */
struct remote_call {
	struct tg_loop_call call;
	struct tg_ioengine *engine;
	pthread_t ran_on;
	bool on_loop_thread;
	char thread_name[16];
	sem_t done;
};

static void remote_call_fn(void *arg)
{
	struct remote_call *rc = arg;
	rc->ran_on = pthread_self();
	rc->on_loop_thread = tg_ioengine_on_loop_thread(rc->engine);
	pthread_getname_np(pthread_self(), rc->thread_name, sizeof(rc->thread_name));
	sem_post(&rc->done);
}

static void test_posted_call_runs_on_that_thread(void **state)
{
	struct probe p = { .fail_index = -1 };
	char err[128] = "";
	/* Nine characters, as targed's own threads are named: the number must still fit. */
	struct tg_io_threads *threads = tg_io_threads_start(THREADS, "targed-io", &probe_ops, &p,
							    NULL, err, sizeof(err));
	assert_non_null(threads);
	for (unsigned i = 0; i < THREADS; i++) {
		struct remote_call rc = { .engine = tg_io_threads_engine(threads, i) };
		sem_init(&rc.done, 0, 0);
		rc.call.fn = remote_call_fn;
		rc.call.arg = &rc;
		tg_ioengine_call(rc.engine, &rc.call);
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 5;
		int rv;
		while ((rv = sem_timedwait(&rc.done, &deadline)) != 0 && errno == EINTR)
			;
		assert_int_equal(rv, 0);
		assert_true(pthread_equal(rc.ran_on, p.seen[i].init.thread));
		assert_true(rc.on_loop_thread);
		char expected[16];
		snprintf(expected, sizeof(expected), "targed-io%u", i + 1);
		assert_string_equal(rc.thread_name, expected);
		sem_destroy(&rc.done);
	}
	tg_io_threads_destroy(threads);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(p.seen[i].stopping.calls, 1);
}

static void test_failed_init_stops_the_started_threads(void **state)
{
	struct probe p = { .fail_index = 1 };
	char err[128] = "";
	struct tg_io_threads *threads = tg_io_threads_start(THREADS, "probe", &probe_ops, &p, NULL, err,
							    sizeof(err));
	assert_null(threads);
	assert_non_null(strstr(err, "probe I/O thread 2"));
	/* The first ran and was stopped; the second failed and never ran its loop; the third
	 * was never started. */
	assert_int_equal(p.seen[0].init.calls, 1);
	assert_int_equal(p.seen[0].stopping.calls, 1);
	assert_int_equal(p.seen[0].ended.calls, 1);
	assert_int_equal(p.seen[1].init.calls, 1);
	assert_int_equal(p.seen[1].stopping.calls, 0);
	assert_int_equal(p.seen[1].ended.calls, 0);
	assert_int_equal(p.seen[2].init.calls, 0);
}

/* A chain of calls: thread 0's engine, then the main engine, then thread 1's. */
struct relay {
	struct tg_loop_call hop[3];
	struct tg_ioengine *engine[3];
	bool ran[3];
	pthread_t ran_on[3];
};

static void relay_hop(struct relay *r, int n)
{
	r->ran[n] = true;
	r->ran_on[n] = pthread_self();
	if (n + 1 < 3)
		tg_ioengine_call(r->engine[n + 1], &r->hop[n + 1]);
}

static void relay_hop0(void *arg) { relay_hop(arg, 0); }
static void relay_hop1(void *arg) { relay_hop(arg, 1); }
static void relay_hop2(void *arg) { relay_hop(arg, 2); }

static void test_drain_with_follows_work_across_engines(void **state)
{
	struct ev_loop *main_loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(main_loop);
	struct tg_ioengine *main_engine = tg_ioengine_create(main_loop);
	assert_non_null(main_engine);
	char err[128] = "";
	struct tg_io_threads *threads = tg_io_threads_start(2, "relay", NULL, NULL, NULL, err,
							    sizeof(err));
	assert_non_null(threads);
	tg_io_threads_stop(threads);

	struct relay r = { .engine = { tg_io_threads_engine(threads, 0), main_engine,
				       tg_io_threads_engine(threads, 1) } };
	void (*fns[3])(void *) = { relay_hop0, relay_hop1, relay_hop2 };
	for (int n = 0; n < 3; n++) {
		r.hop[n].fn = fns[n];
		r.hop[n].arg = &r;
	}
	tg_ioengine_call(r.engine[0], &r.hop[0]);
	/* The threads' own engines alone: the hop to the main engine waits there. */
	tg_io_threads_drain(threads);
	assert_true(r.ran[0]);
	assert_false(r.ran[1]);
	assert_false(r.ran[2]);
	tg_io_threads_drain_with(threads, main_engine);
	for (int n = 0; n < 3; n++) {
		assert_true(r.ran[n]);
		assert_true(pthread_equal(r.ran_on[n], pthread_self()));
	}
	tg_io_threads_destroy(threads);
	tg_ioengine_destroy(main_engine);
	ev_loop_destroy(main_loop);
}

/* What each thread's init saw of its own CPU mask. */
struct placement {
	cpu_set_t seen[THREADS];
};

static int record_placement(void *arg, unsigned index, struct ev_loop *loop,
			    struct tg_ioengine *engine)
{
	struct placement *p = arg;
	return sched_getaffinity(0, sizeof(p->seen[index]), &p->seen[index]) == 0 ? 0 : -1;
}

static void test_threads_run_on_their_cpus(void **state)
{
	unsigned first, last;
	cpu_set_t allowed = allowed_cpus(&first, &last);
	/* Two CPUs for three threads: the third wraps round to the first CPU. */
	const unsigned list[] = { last, first };
	const struct tg_io_thread_cpus cpus = { list, 2 };
	struct placement p;
	memset(&p, 0, sizeof(p));
	static const struct tg_io_thread_ops ops = { .init = record_placement };
	char err[128] = "";
	struct tg_io_threads *threads = tg_io_threads_start(THREADS, "pinned", &ops, &p, &cpus, err,
							    sizeof(err));
	assert_non_null(threads);
	for (unsigned i = 0; i < THREADS; i++) {
		assert_int_equal(CPU_COUNT(&p.seen[i]), 1);
		assert_true(CPU_ISSET(list[i % 2], &p.seen[i]));
	}
	tg_io_threads_destroy(threads);

	/* Unpinned threads keep the whole mask of the process. */
	memset(&p, 0, sizeof(p));
	threads = tg_io_threads_start(THREADS, "free", &ops, &p, NULL, err, sizeof(err));
	assert_non_null(threads);
	for (unsigned i = 0; i < THREADS; i++)
		assert_true(CPU_EQUAL(&p.seen[i], &allowed));
	tg_io_threads_destroy(threads);
}

static void test_cpu_it_may_not_use_fails_the_start(void **state)
{
	unsigned first, last;
	cpu_set_t allowed = allowed_cpus(&first, &last);
	unsigned missing = CPU_SETSIZE - 1;
	while (missing > 0 && CPU_ISSET(missing, &allowed))
		missing--;
	assert_false(CPU_ISSET(missing, &allowed));
	const unsigned list[] = { missing };
	const struct tg_io_thread_cpus cpus = { list, 1 };
	struct probe p = { .fail_index = -1 };
	char err[128] = "";
	assert_null(tg_io_threads_start(THREADS, "probe", &probe_ops, &p, &cpus, err, sizeof(err)));
	char want[64];
	snprintf(want, sizeof(want), "probe I/O thread 1: cannot run on CPU %u", missing);
	assert_non_null(strstr(err, want));
	/* It failed before its loop existed: no hook ran. */
	assert_int_equal(p.seen[0].init.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hooks_run_on_their_thread_in_order),
		cmocka_unit_test(test_posted_call_runs_on_that_thread),
		cmocka_unit_test(test_failed_init_stops_the_started_threads),
		cmocka_unit_test(test_drain_with_follows_work_across_engines),
		cmocka_unit_test(test_threads_run_on_their_cpus),
		cmocka_unit_test(test_cpu_it_may_not_use_fails_the_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
