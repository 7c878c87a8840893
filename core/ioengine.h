/* Per-event-loop asynchronous I/O engine: io_uring when the kernel allows it, else worker threads. */
#ifndef TG_IOENGINE_H
#define TG_IOENGINE_H

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
 * As tg_ioengine_submit_fd, but the syscalls run on the loop thread: only for files whose
 * every read and write is a memory copy that cannot block (tmpfs, ramfs). Completion still
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

#endif
