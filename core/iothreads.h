/* A set of I/O threads, each running its own libev loop with its own I/O engine, for a transport that spreads its connections over threads. */
#ifndef TG_IOTHREADS_H
#define TG_IOTHREADS_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct tg_ioengine;
struct tg_io_threads;

/*
 * Starts count threads named "<name>N" (N from 1). Each creates its loop and engine itself
 * (an engine belongs to the thread that creates it), then runs init(arg, index, loop, engine)
 * on that thread before its loop starts (index from 0; init returns 0, or -1 to fail the
 * start). Signals stay with the calling thread. Returns NULL with a message in err on failure
 * (the threads already started are stopped and freed).
 */
struct tg_io_threads *tg_io_threads_start(unsigned count, const char *name,
					  int (*init)(void *arg, unsigned index,
						      struct ev_loop *loop,
						      struct tg_ioengine *engine),
					  void *arg, char *err, size_t errlen);
unsigned tg_io_threads_count(const struct tg_io_threads *threads);
struct ev_loop *tg_io_threads_loop(const struct tg_io_threads *threads, unsigned index);
struct tg_ioengine *tg_io_threads_engine(const struct tg_io_threads *threads, unsigned index);
/* Ends every loop (after the callbacks of its current turn) and waits for the threads.
 * Idempotent. What their engines still owe is then for tg_io_threads_drain. */
void tg_io_threads_stop(struct tg_io_threads *threads);
/* After stop: performs, on the calling thread, the completions and queued calls of every
 * engine until none has any left. */
void tg_io_threads_drain(struct tg_io_threads *threads);
/* After stop (drains first): frees the engines, loops and the set. */
void tg_io_threads_destroy(struct tg_io_threads *threads);

#endif
