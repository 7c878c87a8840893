/* I/O threads: each thread creates and runs its own event loop and I/O engine until told to stop. */
#include "core/iothreads.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/ioengine.h"

struct io_thread {
	struct tg_io_threads *set;
	unsigned index;
	pthread_t thread;
	bool running;
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	ev_async stop;
	/* Set before stop is sent: libev's wake-up alone may carry no ordering a thread checker
	 * sees (a loop that is awake takes it through its own fences), and the stopping hook
	 * must see what the stopper did before. */
	atomic_bool stop_requested;
	/* start-up report: 0 starting, 1 running, -1 failed */
	pthread_mutex_t start_lock;
	pthread_cond_t started;
	int start_state;
	bool pinned;
	unsigned cpu;
	int pin_error; /* errno of a failed pinning, else 0 */
};

struct tg_io_threads {
	unsigned count;
	struct tg_io_thread_ops ops;
	void *arg;
	struct io_thread *threads;
};

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct io_thread *t = w->data;
	if (!atomic_load(&t->stop_requested))
		return;
	if (t->set->ops.stopping)
		t->set->ops.stopping(t->set->arg, t->index);
	ev_async_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

static void report_start(struct io_thread *t, int state)
{
	pthread_mutex_lock(&t->start_lock);
	t->start_state = state;
	pthread_cond_signal(&t->started);
	pthread_mutex_unlock(&t->start_lock);
}

int tg_pin_current_thread(unsigned cpu)
{
	if (cpu >= CPU_SETSIZE)
		return EINVAL;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *thread_main(void *arg)
{
	struct io_thread *t = arg;
	/* Before the loop and engine exist, so that what they allocate is touched on that CPU. */
	if (t->pinned) {
		t->pin_error = tg_pin_current_thread(t->cpu);
		if (t->pin_error) {
			report_start(t, -1);
			return NULL;
		}
	}
	t->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	t->engine = t->loop ? tg_ioengine_create(t->loop) : NULL;
	if (t->engine && t->set->ops.init &&
	    t->set->ops.init(t->set->arg, t->index, t->loop, t->engine) != 0) {
		tg_ioengine_destroy(t->engine);
		t->engine = NULL;
	}
	if (!t->engine) {
		if (t->loop)
			ev_loop_destroy(t->loop);
		t->loop = NULL;
		report_start(t, -1);
		return NULL;
	}
	ev_async_init(&t->stop, stop_cb);
	t->stop.data = t;
	ev_async_start(t->loop, &t->stop);
	report_start(t, 1);
	ev_run(t->loop, 0);
	/* What this thread keeps for reuse would be lost with it. */
	if (t->set->ops.ended)
		t->set->ops.ended(t->set->arg, t->index);
	tg_buf_cache_drop();
	return NULL;
}

struct tg_io_threads *tg_io_threads_start(unsigned count, const char *name,
					  const struct tg_io_thread_ops *ops, void *arg,
					  const struct tg_io_thread_cpus *cpus, char *err,
					  size_t errlen)
{
	struct tg_io_threads *set = calloc(1, sizeof(*set));
	if (set)
		set->threads = calloc(count ? count : 1, sizeof(*set->threads));
	if (!set || !set->threads) {
		free(set);
		snprintf(err, errlen, "I/O threads: out of memory");
		return NULL;
	}
	if (ops)
		set->ops = *ops;
	set->arg = arg;
	/* Signals are the calling thread's: the I/O threads never take one. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	bool ok = true;
	for (unsigned i = 0; i < count && ok; i++) {
		struct io_thread *t = &set->threads[i];
		t->set = set;
		t->index = i;
		if (cpus && cpus->count) {
			t->pinned = true;
			t->cpu = cpus->cpus[i % cpus->count];
		}
		pthread_mutex_init(&t->start_lock, NULL);
		pthread_cond_init(&t->started, NULL);
		set->count = i + 1;
		int rc = pthread_create(&t->thread, NULL, thread_main, t);
		if (rc != 0) {
			snprintf(err, errlen, "%s I/O thread %u: %s", name, i + 1, strerror(rc));
			ok = false;
			break;
		}
		pthread_mutex_lock(&t->start_lock);
		while (t->start_state == 0)
			pthread_cond_wait(&t->started, &t->start_lock);
		pthread_mutex_unlock(&t->start_lock);
		if (t->start_state < 0) {
			pthread_join(t->thread, NULL);
			if (t->pin_error)
				snprintf(err, errlen, "%s I/O thread %u: cannot run on CPU %u: %s", name,
					 i + 1, t->cpu, strerror(t->pin_error));
			else
				snprintf(err, errlen, "%s I/O thread %u: cannot create its event loop, "
						      "I/O engine or transport state", name, i + 1);
			ok = false;
			break;
		}
		char tname[16];
		snprintf(tname, sizeof(tname), "%.12s%u", name, (i + 1) % 1000);
		pthread_setname_np(t->thread, tname);
		t->running = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ok)
		return set;
	tg_io_threads_destroy(set);
	return NULL;
}

unsigned tg_io_threads_count(const struct tg_io_threads *threads)
{
	return threads ? threads->count : 0;
}

struct ev_loop *tg_io_threads_loop(const struct tg_io_threads *threads, unsigned index)
{
	return threads->threads[index].loop;
}

struct tg_ioengine *tg_io_threads_engine(const struct tg_io_threads *threads, unsigned index)
{
	return threads->threads[index].engine;
}

void tg_io_threads_stop(struct tg_io_threads *threads)
{
	if (!threads)
		return;
	for (unsigned i = 0; i < threads->count; i++) {
		struct io_thread *t = &threads->threads[i];
		if (!t->running)
			continue;
		atomic_store(&t->stop_requested, true);
		ev_async_send(t->loop, &t->stop);
	}
	for (unsigned i = 0; i < threads->count; i++) {
		struct io_thread *t = &threads->threads[i];
		if (!t->running)
			continue;
		pthread_join(t->thread, NULL);
		t->running = false;
	}
}

void tg_io_threads_drain_with(struct tg_io_threads *threads, struct tg_ioengine *also)
{
	/* A completion on one engine may queue work to another: until all are idle in a row. */
	bool busy;
	do {
		busy = also && tg_ioengine_drain(also);
		for (unsigned i = 0; threads && i < threads->count; i++)
			if (threads->threads[i].engine)
				busy |= tg_ioengine_drain(threads->threads[i].engine);
	} while (busy);
}

void tg_io_threads_drain(struct tg_io_threads *threads)
{
	tg_io_threads_drain_with(threads, NULL);
}

void tg_io_threads_destroy(struct tg_io_threads *threads)
{
	if (!threads)
		return;
	tg_io_threads_stop(threads);
	tg_io_threads_drain(threads);
	for (unsigned i = 0; i < threads->count; i++) {
		struct io_thread *t = &threads->threads[i];
		if (t->engine)
			tg_ioengine_destroy(t->engine);
		if (t->loop)
			ev_loop_destroy(t->loop);
		pthread_mutex_destroy(&t->start_lock);
		pthread_cond_destroy(&t->started);
	}
	free(threads->threads);
	free(threads);
}
