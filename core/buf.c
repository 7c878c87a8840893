/* Aligned data-buffer allocation with per-size-class free lists, plus copy accounting. */
#include "core/buf.h"
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * Size classes are powers of two from 4 KiB to 16 MiB. Freed buffers go back to a short
 * per-thread free list so the hot path does not hit the allocator (and never a shared lock).
 * The lists are bounded in bytes as well as in count: without that, one burst of large
 * commands would leave every thread holding up to 64 buffers of each class (2 GiB) for good.
 */
#define CLASS_MIN_SHIFT 12
#define CLASS_COUNT 13

struct free_list {
	void *items[TG_BUF_CACHE_PER_CLASS];
	unsigned count;
};

static _Thread_local struct free_list free_lists[CLASS_COUNT];
static _Thread_local size_t cached_bytes;
static atomic_uint_fast64_t copied_bytes;
static size_t budget_bytes;
static atomic_size_t in_flight_bytes;
static atomic_uint_fast64_t budget_refusals;

static int size_class(size_t len)
{
	size_t size = (size_t)1 << CLASS_MIN_SHIFT;
	for (int c = 0; c < CLASS_COUNT; c++, size <<= 1)
		if (len <= size)
			return c;
	return -1;
}

int tg_buf_alloc(struct tg_buf *buf, size_t len)
{
	int cls = size_class(len ? len : 1);
	size_t cap = cls >= 0 ? (size_t)1 << (CLASS_MIN_SHIFT + cls)
			      : (len + TG_BUF_ALIGN - 1) & ~(size_t)(TG_BUF_ALIGN - 1);
	size_t before = atomic_fetch_add(&in_flight_bytes, cap);
	if (budget_bytes && before + cap > budget_bytes) {
		atomic_fetch_sub(&in_flight_bytes, cap);
		uint64_t refusals = atomic_fetch_add(&budget_refusals, 1) + 1;
		/* The first refusal and then every 1000th: enough to see it is happening. */
		if (refusals % 1000 == 1)
			tg_warn("buf", "data buffer budget of %zu MiB in use: %llu command(s) answered "
				"TASK SET FULL so far (global.buffer_memory)", budget_bytes >> 20,
				(unsigned long long)refusals);
		return -EBUSY;
	}
	void *p = NULL;
	if (cls >= 0 && free_lists[cls].count) {
		p = free_lists[cls].items[--free_lists[cls].count];
		cached_bytes -= cap;
	} else if (posix_memalign(&p, TG_BUF_ALIGN, cap) != 0) {
		atomic_fetch_sub(&in_flight_bytes, cap);
		return -ENOMEM;
	}
	buf->base = p;
	buf->len = len;
	buf->cap = cap;
	buf->lkey = 0;
	buf->owner = NULL;
	return 0;
}

void tg_buf_free(struct tg_buf *buf)
{
	if (!buf->base)
		return;
	atomic_fetch_sub(&in_flight_bytes, buf->cap);
	int cls = size_class(buf->cap);
	if (cls >= 0 && ((size_t)1 << (CLASS_MIN_SHIFT + cls)) == buf->cap &&
	    free_lists[cls].count < TG_BUF_CACHE_PER_CLASS &&
	    cached_bytes + buf->cap <= TG_BUF_CACHE_MAX_BYTES) {
		free_lists[cls].items[free_lists[cls].count++] = buf->base;
		cached_bytes += buf->cap;
	} else {
		free(buf->base);
	}
	memset(buf, 0, sizeof(*buf));
}

size_t tg_buf_cached_bytes(void) { return cached_bytes; }
void tg_buf_set_budget(size_t bytes) { budget_bytes = bytes; }
size_t tg_buf_budget(void) { return budget_bytes; }
size_t tg_buf_in_flight_bytes(void) { return atomic_load(&in_flight_bytes); }
uint64_t tg_buf_budget_refusals(void) { return atomic_load(&budget_refusals); }

void tg_buf_cache_drop(void)
{
	for (int c = 0; c < CLASS_COUNT; c++)
		while (free_lists[c].count)
			free(free_lists[c].items[--free_lists[c].count]);
	cached_bytes = 0;
}

void tg_stats_count_copy(size_t bytes) { atomic_fetch_add(&copied_bytes, bytes); }
uint64_t tg_stats_copied_bytes(void) { return atomic_load(&copied_bytes); }
