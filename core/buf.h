/* Data and protection-information buffers a task carries, and the allocator behind them. */
#ifndef TG_BUF_H
#define TG_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * One contiguous, 4 KiB-aligned region (O_DIRECT and RDMA registration both want that).
 * `len` is how many bytes are valid for this command; `cap` is what was allocated.
 * `lkey` is set by transports that hand out RDMA-registered memory, 0 otherwise.
 */
struct tg_buf {
	uint8_t *base;
	size_t len;
	size_t cap;
	uint32_t lkey;
	void *owner; /* who frees it: NULL for the core allocator, else the transport's pool */
};

#define TG_BUF_ALIGN 4096

/* Core allocator (aligned, recycled by size class). Returns 0 or -ENOMEM. */
int tg_buf_alloc(struct tg_buf *buf, size_t len);
void tg_buf_free(struct tg_buf *buf);

/*
 * What each thread keeps of freed buffers for reuse (size classes are powers of two from
 * 4 KiB to 16 MiB): at most TG_BUF_CACHE_PER_CLASS buffers of a class and
 * TG_BUF_CACHE_MAX_BYTES in all; beyond that a freed buffer goes back to the allocator.
 * This is the data-buffer memory a thread may hold while no command is outstanding.
 */
#define TG_BUF_CACHE_PER_CLASS 64
#define TG_BUF_CACHE_MAX_BYTES ((size_t)32 << 20)
/*
 * The budget of data-buffer bytes all commands may hold at once (global.buffer_memory):
 * past it tg_buf_alloc answers -EBUSY and the command gets TASK SET FULL, which initiators
 * retry, instead of the daemon growing until the kernel kills it. Counted from each
 * buffer's capacity while it is allocated (cached free buffers are bounded separately).
 * 0 = no budget. Set once at start, before any I/O.
 */
void tg_buf_set_budget(size_t bytes);
size_t tg_buf_budget(void);
size_t tg_buf_in_flight_bytes(void);
/* How many allocations the budget has refused since start. */
uint64_t tg_buf_budget_refusals(void);
/* Bytes the calling thread's free lists hold now. */
size_t tg_buf_cached_bytes(void);
/* Frees the calling thread's cached buffers (a thread about to end). */
void tg_buf_cache_drop(void);

static inline struct iovec tg_buf_iov(const struct tg_buf *buf)
{
	struct iovec v = { .iov_base = buf->base, .iov_len = buf->len };
	return v;
}

/*
 * Data-path copy accounting: every memcpy of payload between wire and backend is counted
 * here so tests can assert zero-copy paths stay zero-copy.
 */
void tg_stats_count_copy(size_t bytes);
uint64_t tg_stats_copied_bytes(void);

#endif
