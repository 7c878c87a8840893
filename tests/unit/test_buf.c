/* Unit tests for core/buf.c's bounded per-thread buffer cache and core/mem.c's return of freed memory to the kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* Empties this thread's cache (allocations are served from it first) so tests start clean. */
static void drain_cache(void)
{
	size_t sizes[] = { 4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB, 256 * KIB,
			   512 * KIB, MIB, 2 * MIB, 4 * MIB, 8 * MIB, 16 * MIB };
	static struct tg_buf held[TG_BUF_CACHE_PER_CLASS];
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = 0;
		while (tg_buf_cached_bytes() > 0 && n < TG_BUF_CACHE_PER_CLASS) {
			size_t before = tg_buf_cached_bytes();
			assert_int_equal(tg_buf_alloc(&held[n], sizes[s]), 0);
			n++;
			if (tg_buf_cached_bytes() == before)
				break; /* this class was empty: the allocator served it */
		}
		/* Straight back to the allocator, past the cache. */
		for (size_t i = 0; i < n; i++)
			free(held[i].base);
	}
	assert_int_equal(tg_buf_cached_bytes(), 0);
}

static int setup(void **state)
{
	drain_cache();
	return 0;
}

static void test_freed_buffer_is_reused(void **state)
{
	struct tg_buf a, b;
	assert_int_equal(tg_buf_alloc(&a, 3000), 0);
	assert_int_equal(a.cap, 4 * KIB);
	assert_int_equal(a.len, 3000);
	assert_int_equal((uintptr_t)a.base % TG_BUF_ALIGN, 0);
	uint8_t *first = a.base;
	tg_buf_free(&a);
	assert_null(a.base);
	assert_int_equal(tg_buf_cached_bytes(), 4 * KIB);
	assert_int_equal(tg_buf_alloc(&b, 4096), 0);
	assert_ptr_equal(b.base, first);
	assert_int_equal(tg_buf_cached_bytes(), 0);
	tg_buf_free(&b);
}

static void test_count_per_class_is_bounded(void **state)
{
	enum { N = TG_BUF_CACHE_PER_CLASS + 36 };
	static struct tg_buf bufs[N];
	for (int i = 0; i < N; i++)
		assert_int_equal(tg_buf_alloc(&bufs[i], 8 * KIB), 0);
	for (int i = 0; i < N; i++)
		tg_buf_free(&bufs[i]);
	assert_int_equal(tg_buf_cached_bytes(), TG_BUF_CACHE_PER_CLASS * 8 * KIB);
}

static void test_bytes_are_bounded(void **state)
{
	/* 40 MiB of 1 MiB buffers: only the budget's worth stays. */
	enum { N = 40 };
	static struct tg_buf bufs[N];
	for (int i = 0; i < N; i++)
		assert_int_equal(tg_buf_alloc(&bufs[i], MIB), 0);
	for (int i = 0; i < N; i++)
		tg_buf_free(&bufs[i]);
	assert_int_equal(tg_buf_cached_bytes(), TG_BUF_CACHE_MAX_BYTES);
	/* A full cache takes nothing more, however small, until something leaves it. */
	struct tg_buf small;
	assert_int_equal(tg_buf_alloc(&small, 4 * KIB), 0);
	tg_buf_free(&small);
	assert_int_equal(tg_buf_cached_bytes(), TG_BUF_CACHE_MAX_BYTES);
	struct tg_buf big;
	assert_int_equal(tg_buf_alloc(&big, MIB), 0);
	assert_int_equal(tg_buf_cached_bytes(), TG_BUF_CACHE_MAX_BYTES - MIB);
	tg_buf_free(&big);
	assert_int_equal(tg_buf_cached_bytes(), TG_BUF_CACHE_MAX_BYTES);
}

static void test_oversized_buffers_are_never_cached(void **state)
{
	struct tg_buf buf;
	assert_int_equal(tg_buf_alloc(&buf, 17 * MIB + 1), 0);
	assert_int_equal(buf.cap, 17 * MIB + 4 * KIB);
	tg_buf_free(&buf);
	assert_int_equal(tg_buf_cached_bytes(), 0);
}

static void *free_on_thread(void *arg)
{
	struct tg_buf *buf = arg;
	tg_buf_free(buf);
	return (void *)tg_buf_cached_bytes();
}

static void test_cache_is_per_thread(void **state)
{
	struct tg_buf buf;
	assert_int_equal(tg_buf_alloc(&buf, 64 * KIB), 0);
	pthread_t t;
	void *theirs;
	assert_int_equal(pthread_create(&t, NULL, free_on_thread, &buf), 0);
	assert_int_equal(pthread_join(t, &theirs), 0);
	/* The freeing thread keeps it (its own bound), ours is untouched. */
	assert_int_equal((size_t)theirs, 64 * KIB);
	assert_int_equal(tg_buf_cached_bytes(), 0);
}

static long resident_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	long size, resident;
	assert_int_equal(fscanf(f, "%ld %ld", &size, &resident), 2);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_released_memory_leaves_the_process(void **state)
{
	/* Heap blocks (below glibc's mmap threshold), written so they are resident, then freed
	 * under a block that pins the top of the heap: glibc alone keeps all of it. */
	enum { N = 256, SIZE = 100 * 1024 };
	static void *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(SIZE);
		assert_non_null(blocks[i]);
		memset(blocks[i], 0x5a, SIZE);
	}
	void *pin = malloc(64);
	assert_non_null(pin);
	long full = resident_kib();
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	long freed = resident_kib();
	unsigned long trims = tg_mem_trims();

	/* Below the batch and not idle: nothing happens yet. */
	tg_mem_released(SIZE, false);
	assert_int_equal(tg_mem_trims(), trims);
	assert_true(resident_kib() > freed - (long)(N * SIZE / 1024) / 2);

	/* The last session gone: the pages go back. */
	tg_mem_released(SIZE, true);
	assert_int_equal(tg_mem_trims(), trims + 1);
	long trimmed = resident_kib();
	print_message("resident KiB: %ld written, %ld freed, %ld after the trim\n", full, freed,
		      trimmed);
	assert_true(full - trimmed >= (long)(N * SIZE / 1024) * 3 / 4);

	/* A full batch trims without being idle. */
	tg_mem_released(TG_MEM_TRIM_BYTES, false);
	assert_int_equal(tg_mem_trims(), trims + 2);
	free(pin);
}

/* The budget counts what buffers hold while allocated, cached or not, and gives it back. */
static void test_budget_refuses_beyond_it(void **state)
{
	(void)state;
	size_t base = tg_buf_in_flight_bytes(); /* what earlier tests left allocated */
	uint64_t refusals = tg_buf_budget_refusals();
	tg_buf_set_budget(base + 64 * KIB);
	struct tg_buf a, b, c, d;
	assert_int_equal(tg_buf_alloc(&a, 32 * KIB), 0);
	assert_int_equal(tg_buf_alloc(&b, 20 * KIB), 0); /* a 32 KiB class buffer */
	assert_int_equal(tg_buf_in_flight_bytes(), base + 64 * KIB);
	assert_int_equal(tg_buf_alloc(&c, 1), -EBUSY);
	assert_int_equal(tg_buf_budget_refusals(), refusals + 1);
	assert_int_equal(tg_buf_in_flight_bytes(), base + 64 * KIB);
	tg_buf_free(&a); /* into the cache: no longer in flight */
	assert_int_equal(tg_buf_in_flight_bytes(), base + 32 * KIB);
	assert_int_equal(tg_buf_alloc(&c, 16 * KIB), 0);
	assert_int_equal(tg_buf_alloc(&d, 16 * KIB), 0);
	assert_int_equal(tg_buf_alloc(&a, 4 * KIB), -EBUSY);
	tg_buf_free(&b);
	tg_buf_free(&c);
	tg_buf_free(&d);
	assert_int_equal(tg_buf_in_flight_bytes(), base);
	/* No budget: nothing refused. */
	tg_buf_set_budget(0);
	assert_int_equal(tg_buf_alloc(&a, 64 * MIB), 0);
	tg_buf_free(&a);
	assert_int_equal(tg_buf_budget_refusals(), refusals + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_freed_buffer_is_reused, setup),
		cmocka_unit_test_setup(test_count_per_class_is_bounded, setup),
		cmocka_unit_test_setup(test_bytes_are_bounded, setup),
		cmocka_unit_test_setup(test_oversized_buffers_are_never_cached, setup),
		cmocka_unit_test_setup(test_cache_is_per_thread, setup),
		cmocka_unit_test(test_released_memory_leaves_the_process),
		cmocka_unit_test_setup(test_budget_refuses_beyond_it, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
