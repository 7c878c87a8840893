/* Per-event-loop asynchronous I/O engine: io_uring when the kernel allows it, else worker threads. */
#ifndef TG_IOENGINE_H
#define TG_IOENGINE_H

#include <stdatomic.h>
#include <stdbool.h>

struct ev_loop;
struct tg_io;
struct tg_ioengine;

/* Creates an engine whose completions are delivered on `loop` (through an eventfd watcher). */
struct tg_ioengine *tg_ioengine_create(struct ev_loop *loop);
void tg_ioengine_destroy(struct tg_ioengine *engine);
bool tg_ioengine_uses_uring(const struct tg_ioengine *engine);

/*
 * Performs io (READ/WRITE via readv/writev at io->offset, FLUSH via fdatasync, WRITE with fua
 * via RWF_DSYNC) on fd asynchronously and calls io->done on the engine's loop.
 */
void tg_ioengine_submit_fd(struct tg_ioengine *engine, int fd, struct tg_io *io);

/*
 * As tg_ioengine_submit_fd, but the syscalls of small transfers run on the loop thread (large
 * ones go to a kernel worker, as a copy that long is better done on another CPU): only for files
 * whose every read and write is a memory copy that cannot block (tmpfs, ramfs). Completion still
 * comes on a later loop turn.
 */
void tg_ioengine_submit_fd_in_place(struct tg_ioengine *engine, int fd, struct tg_io *io);

/*
 * Runs fn(arg) on a worker thread (for operations with no async form, e.g. ioctl(BLKDISCARD),
 * fallocate on old kernels, SG_IO) and then io->done on the loop with io->result = fn's return.
 */
void tg_ioengine_submit_blocking(struct tg_ioengine *engine, struct tg_io *io,
				 int (*fn)(struct tg_io *io, void *arg), void *arg);

/*
 * Completes io with `result` on the engine's loop, never from inside this call: for requests a
 * backend answers without doing I/O (out of range, read-only store, unsupported operation).
 */
void tg_ioengine_complete(struct tg_ioengine *engine, struct tg_io *io, int result);

/*
 * Work one loop thread hands to another (global.io_threads > 1): a connection, task or
 * session that lives on one loop is only ever touched by that loop's thread, so whatever
 * another thread has for it travels as a call. The caller embeds the call in the object it
 * concerns and fills fn and arg; the engine owns it from tg_ioengine_call until fn starts.
 */
struct tg_loop_call {
	struct tg_loop_call *next;
	void (*fn)(void *arg);
	void *arg;
	atomic_bool queued;
};

/* Whether the calling thread runs the engine's loop (the thread that created the engine). */
bool tg_ioengine_on_loop_thread(const struct tg_ioengine *engine);
/*
 * Runs call->fn(call->arg) on the engine's loop thread on its next turn; callable from any
 * thread (under any lock: it only takes the engine's own short hand-off lock). The call must
 * not be queued already.
 */
void tg_ioengine_call(struct tg_ioengine *engine, struct tg_loop_call *call);
/*
 * The object holding call is about to go away: a call still queued is dropped. Only from the
 * engine's loop thread (or once that thread has ended), which is the one thread that could be
 * running fn, so fn is either over or will never start.
 */
void tg_ioengine_cancel_call(struct tg_ioengine *engine, struct tg_loop_call *call);
/*
 * For shutdown, once the engine's loop thread has ended: performs completions and queued
 * calls from the calling thread. Returns whether it found anything to do; engines that hand
 * work to each other are drained by calling this on each until all return false in a row.
 * Blocks while the engine still owes completions.
 */
bool tg_ioengine_drain(struct tg_ioengine *engine);

#endif
