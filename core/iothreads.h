/* A set of I/O threads, each running its own libev loop with its own I/O engine, for a transport that spreads its connections over threads. */
#ifndef TG_IOTHREADS_H
#define TG_IOTHREADS_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct tg_ioengine;
struct tg_io_threads;

/*
 * What a user of the threads does on each of them, always on that thread (index from 0); any
 * hook may be NULL. init runs before the loop starts and returns 0, or -1 to fail the start.
 * stopping runs when tg_io_threads_stop reaches the thread, in the same loop turn that ends
 * the loop: what lives on that loop is closed there, by the thread that owns it. ended runs
 * after the loop has ended (per-thread caches are dropped there) and only if init succeeded.
 */
struct tg_io_thread_ops {
	int (*init)(void *arg, unsigned index, struct ev_loop *loop, struct tg_ioengine *engine);
	void (*stopping)(void *arg, unsigned index);
	void (*ended)(void *arg, unsigned index);
};

/* Where the threads run (global.io_thread_cpus): thread i on cpus[i % count]; count 0 leaves
 * them to the scheduler. */
struct tg_io_thread_cpus {
	const unsigned *cpus;
	unsigned count;
};

/*
 * Starts count threads named "<name>N" (N from 1). Each pins itself to its CPU when cpus (may
 * be NULL) names some, creates its loop and engine itself (an engine belongs to the thread
 * that creates it), then runs ops->init(arg, ...). Signals stay with the calling thread. Work
 * for a thread's loop is posted to its engine (tg_ioengine_call on tg_io_threads_engine).
 * Returns NULL with a message in err on failure (the threads already started are stopped and
 * freed).
 */
struct tg_io_threads *tg_io_threads_start(unsigned count, const char *name,
					  const struct tg_io_thread_ops *ops, void *arg,
					  const struct tg_io_thread_cpus *cpus, char *err,
					  size_t errlen);
/* Pins the calling thread to one CPU; 0, or an errno value. */
int tg_pin_current_thread(unsigned cpu);
unsigned tg_io_threads_count(const struct tg_io_threads *threads);
struct ev_loop *tg_io_threads_loop(const struct tg_io_threads *threads, unsigned index);
struct tg_ioengine *tg_io_threads_engine(const struct tg_io_threads *threads, unsigned index);
/* Runs each thread's stopping hook and ends its loop (after the callbacks of its current
 * turn), then waits for the threads. Idempotent. What their engines still owe is then for
 * tg_io_threads_drain. */
void tg_io_threads_stop(struct tg_io_threads *threads);
/* After stop: performs, on the calling thread, the completions and queued calls of every
 * engine until none has any left. */
void tg_io_threads_drain(struct tg_io_threads *threads);
/* As tg_io_threads_drain, with one more engine (NULL for none) drained in the same rounds:
 * the main loop's, once that loop has ended too, when work travels between it and the
 * threads. */
void tg_io_threads_drain_with(struct tg_io_threads *threads, struct tg_ioengine *also);
/* After stop (drains first): frees the engines, loops and the set. */
void tg_io_threads_destroy(struct tg_io_threads *threads);

#endif
