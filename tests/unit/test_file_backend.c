/* Unit tests for devices/file.c: image creation and sizing, direct and buffered I/O, unmap, zeroes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/device.h"
#include "core/ioengine.h"

#include "backend_fixture.h"

#define MiB (1024 * 1024)

static int setup(void **state)
{
	*state = backend_fixture_new("file");
	return 0;
}

static struct cfg_device base_cfg(struct backend_fixture *fx, uint64_t size)
{
	return (struct cfg_device){ .name = "disk0", .backend = "file", .path = fx->path,
				    .size = size };
}

static struct stat stat_ok(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st;
}

static void test_creates_sparse_image_of_size(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 64 * MiB);
	open_ok(fx, &cfg);
	struct stat st = stat_ok(fx->path);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 64 * MiB);
	assert_true(st.st_blocks <= 8); /* a hole, not 64 MiB of allocated zeroes */
	assert_int_equal(fx->dev.block_size, 512);
	assert_int_equal(fx->dev.num_blocks, 64 * MiB / 512);
	assert_true(fx->dev.write_cache);
	assert_true(fx->dev.can_unmap);
	assert_true(fx->dev.can_write_zeroes);
	assert_false(fx->dev.backend_read_only);
	assert_string_equal(fx->dev.ops->name, "file");

	uint8_t *buf = aligned(4096, 0x77);
	assert_int_equal(do_io(fx, TG_IO_READ, 0, 4096, buf, false), 0);
	assert_all(buf, 4096, 0);
	release(buf, 4096);
}

/* Reopens the image as size bytes (0: the file's own) and checks what it exports and the file. */
static void reopen_as(struct backend_fixture *fx, struct cfg_device *cfg, uint64_t size,
		      uint64_t exported, off_t file_size)
{
	close_dev(fx);
	cfg->size = size;
	open_ok(fx, cfg);
	assert_int_equal(fx->dev.num_blocks, exported / cfg->block_size);
	assert_int_equal(stat_ok(fx->path).st_size, file_size);
}

/* The 8 KiB written at 4 MiB - 8 KiB read back as they were. */
static void expect_kept(struct backend_fixture *fx, const uint8_t *data)
{
	uint8_t *back = aligned(8192, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 4 * MiB - 8192, 8192, back, false), 0);
	assert_memory_equal(back, data, 8192);
	release(back, 8192);
}

static void test_reopen_existing_and_resize(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 4 * MiB);
	cfg.block_size = 4096;
	open_ok(fx, &cfg);
	uint8_t *data = aligned(8192, 0x5a);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 4 * MiB - 8192, 8192, data, false), 0);

	/* No size: the file's own. */
	reopen_as(fx, &cfg, 0, 4 * MiB, 4 * MiB);
	expect_kept(fx, data);

	/* Larger: extended, sparsely, keeping the data. */
	reopen_as(fx, &cfg, 16 * MiB, 16 * MiB, 16 * MiB);
	expect_kept(fx, data);

	/* Smaller: only that much is exported; the file is not cut. */
	reopen_as(fx, &cfg, 2 * MiB, 2 * MiB, 16 * MiB);
	uint8_t *back = aligned(4096, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 2 * MiB, 4096, back, false), -EINVAL);
	assert_int_equal(do_io(fx, TG_IO_READ, 2 * MiB - 4096, 4096, back, false), 0);
	release(data, 8192);
	release(back, 4096);
}

static void test_direct_io_round_trip(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 8 * MiB);
	cfg.direct = cfg.direct_set = true;
	cfg.block_size = 4096;
	open_ok(fx, &cfg);
	assert_false(fx->dev.write_cache);
	uint8_t *data = aligned(64 * 1024, 0);
	for (size_t i = 0; i < 64 * 1024; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 12));
	assert_int_equal(do_io(fx, TG_IO_WRITE, 1 * MiB, 64 * 1024, data, true), 0);
	uint8_t *back = aligned(64 * 1024, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 1 * MiB, 64 * 1024, back, false), 0);
	assert_memory_equal(back, data, 64 * 1024);
	assert_int_equal(do_io(fx, TG_IO_FLUSH, 0, 0, NULL, false), 0);
	/* Really direct: the kernel refuses a misaligned buffer for allocated blocks (holes it
	 * just zero-fills). */
	assert_int_equal(do_io(fx, TG_IO_READ, 1 * MiB, 4096, back + 1, false), -EINVAL);

	int fd = open(fx->path, O_RDONLY);
	assert_true(fd >= 0);
	memset(back, 0, 64 * 1024);
	assert_int_equal(pread(fd, back, 64 * 1024, 1 * MiB), 64 * 1024);
	assert_memory_equal(back, data, 64 * 1024);
	close(fd);
	release(data, 64 * 1024);
	release(back, 64 * 1024);
}

static void test_buffered_fua_and_flush(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 1 * MiB);
	open_ok(fx, &cfg);
	uint8_t *data = aligned(1024, 0x3c);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 512, 1024, data, true), 0);
	assert_int_equal(do_io(fx, TG_IO_FLUSH, 0, 0, NULL, false), 0);
	uint8_t *back = aligned(2048, 0xff);
	assert_int_equal(do_io(fx, TG_IO_READ, 0, 2048, back, false), 0);
	assert_all(back, 512, 0);
	assert_all(back + 512, 1024, 0x3c);
	assert_all(back + 1536, 512, 0);
	release(data, 1024);
	release(back, 2048);
}

static void expect_lba_status(struct backend_fixture *fx, uint64_t lba, bool mapped, uint64_t run)
{
	uint64_t got_run = 0;
	bool got_mapped = !mapped;
	assert_int_equal(fx->dev.ops->lba_status(&fx->dev, lba, &got_run, &got_mapped), 0);
	assert_int_equal(got_mapped, mapped);
	assert_int_equal(got_run, run);
}

static void test_unmap_frees_blocks_and_reads_zeroes(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 8 * MiB);
	open_ok(fx, &cfg);
	uint8_t *data = aligned(2 * MiB, 0xe1);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 2 * MiB, 2 * MiB, data, true), 0);
	blkcnt_t before = stat_ok(fx->path).st_blocks;
	assert_true(before >= 2 * MiB / 512);
	expect_lba_status(fx, 0, false, 2 * MiB / 512);
	expect_lba_status(fx, 2 * MiB / 512, true, 2 * MiB / 512);

	/* Free the middle megabyte. */
	assert_int_equal(do_io(fx, TG_IO_UNMAP, 5 * MiB / 2, 1 * MiB, NULL, false), 0);
	blkcnt_t after = stat_ok(fx->path).st_blocks;
	assert_true(after <= before - 1 * MiB / 512);
	assert_int_equal(stat_ok(fx->path).st_size, 8 * MiB);
	expect_lba_status(fx, 2 * MiB / 512, true, MiB / 2 / 512);
	expect_lba_status(fx, 5 * MiB / 2 / 512, false, 1 * MiB / 512);
	expect_lba_status(fx, 7 * MiB / 2 / 512, true, MiB / 2 / 512);
	expect_lba_status(fx, 4 * MiB / 512, false, 4 * MiB / 512);

	assert_int_equal(do_io(fx, TG_IO_READ, 2 * MiB, 2 * MiB, data, false), 0);
	assert_all(data, MiB / 2, 0xe1);
	assert_all(data + MiB / 2, 1 * MiB, 0);
	assert_all(data + 3 * MiB / 2, MiB / 2, 0xe1);
	release(data, 2 * MiB);
}

static void check_write_zeroes(struct backend_fixture *fx)
{
	struct cfg_device cfg = base_cfg(fx, 1 * MiB);
	open_ok(fx, &cfg);
	assert_true(fx->dev.can_write_zeroes);
	uint8_t *data = aligned(256 * 1024, 0x99);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 0, 256 * 1024, data, false), 0);
	assert_int_equal(do_io(fx, TG_IO_WRITE_ZEROES, 4096, 200 * 1024, NULL, true), 0);
	memset(data, 0x11, 256 * 1024);
	assert_int_equal(do_io(fx, TG_IO_READ, 0, 256 * 1024, data, false), 0);
	assert_all(data, 4096, 0x99);
	assert_all(data + 4096, 200 * 1024, 0);
	assert_all(data + 4096 + 200 * 1024, 256 * 1024 - 4096 - 200 * 1024, 0x99);
	assert_int_equal(stat_ok(fx->path).st_size, 1 * MiB);
	release(data, 256 * 1024);
}

static void test_write_zeroes(void **state)
{
	check_write_zeroes(*state);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE, so this takes the write-zeroes fallback. */
static void test_write_zeroes_without_zero_range(void **state)
{
	struct backend_fixture *fx = *state;
	char dir[] = "/dev/shm/targe-test-file-XXXXXX";
	assert_non_null(mkdtemp(dir));
	snprintf(fx->path, sizeof(fx->path), "%s/disk.img", dir);
	int fd = open(fx->path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	close(fd);
	unlink(fx->path);
	check_write_zeroes(fx);
	close_dev(fx);
	unlink(fx->path);
	rmdir(dir);
}

static void test_read_only_refuses_changes(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 1 * MiB);
	open_ok(fx, &cfg);
	uint8_t *data = aligned(4096, 0x42);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 0, 4096, data, false), 0);
	close_dev(fx);

	cfg.read_only = true;
	cfg.size = 0;
	open_ok(fx, &cfg);
	assert_true(fx->dev.backend_read_only);
	assert_false(fx->dev.can_unmap);
	assert_false(fx->dev.can_write_zeroes);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 0, 4096, data, false), -EROFS);
	assert_int_equal(do_io(fx, TG_IO_UNMAP, 0, 4096, NULL, false), -EROFS);
	assert_int_equal(do_io(fx, TG_IO_WRITE_ZEROES, 0, 4096, NULL, false), -EROFS);
	memset(data, 0, 4096);
	assert_int_equal(do_io(fx, TG_IO_READ, 0, 4096, data, false), 0);
	assert_all(data, 4096, 0x42);
	assert_int_equal(do_io(fx, TG_IO_FLUSH, 0, 0, NULL, false), 0);
	close_dev(fx);

	/* A read-only device neither grows its file nor creates one. */
	cfg.size = 2 * MiB;
	expect_open_error(fx, &cfg, "read-only");
	assert_int_equal(stat_ok(fx->path).st_size, 1 * MiB);
	unlink(fx->path);
	expect_open_error(fx, &cfg, "read-only");
	assert_int_equal(access(fx->path, F_OK), -1);
	release(data, 4096);
}

static void test_open_errors(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 0);
	char want[700];
	snprintf(want, sizeof(want), "%s: file does not exist and no size given", fx->path);
	expect_open_error(fx, &cfg, want);
	assert_int_equal(access(fx->path, F_OK), -1);

	char deep[400];
	snprintf(deep, sizeof(deep), "%s/missing/dir/disk.img", fx->dir);
	cfg.path = deep;
	cfg.size = 1 * MiB;
	snprintf(want, sizeof(want), "%s: %s", deep, strerror(ENOENT));
	expect_open_error(fx, &cfg, want);

	cfg.path = fx->dir;
	expect_open_error(fx, &cfg, strerror(EISDIR));

	cfg.path = "/dev/null";
	expect_open_error(fx, &cfg, "not a regular file");

	cfg.path = fx->path;
	cfg.block_size = 1000;
	expect_open_error(fx, &cfg, "block_size 1000");
	assert_int_equal(access(fx->path, F_OK), -1);

	cfg.block_size = 4096;
	cfg.size = 1024;
	expect_open_error(fx, &cfg, "less than one 4096-byte block");
	assert_int_equal(access(fx->path, F_OK), -1); /* a failed open leaves nothing behind */

	int fd = open(fx->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	cfg.size = 0;
	expect_open_error(fx, &cfg, "file is empty and no size given");
}

static void test_out_of_range_and_unknown(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg(fx, 1 * MiB);
	open_ok(fx, &cfg);
	uint8_t *buf = aligned(4096, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 1 * MiB - 512, 1024, buf, false), -EINVAL);
	assert_int_equal(do_io(fx, TG_IO_WRITE, UINT64_MAX - 511, 1024, buf, false), -EINVAL);
	assert_int_equal(do_io(fx, TG_IO_UNMAP, 1 * MiB, 512, NULL, false), -EINVAL);
	assert_int_equal(do_io(fx, (enum tg_io_op)99, 0, 512, buf, false), -EOPNOTSUPP);
	assert_int_equal(fx->dev.ops->lba_status(&fx->dev, 1 * MiB / 512, &(uint64_t){ 0 },
						 &(bool){ false }),
			 -EINVAL);
	release(buf, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		backend_test(test_creates_sparse_image_of_size),
		backend_test(test_reopen_existing_and_resize),
		backend_test(test_direct_io_round_trip),
		backend_test(test_buffered_fua_and_flush),
		backend_test(test_unmap_frees_blocks_and_reads_zeroes),
		backend_test(test_write_zeroes),
		backend_test(test_write_zeroes_without_zero_range),
		backend_test(test_read_only_refuses_changes),
		backend_test(test_open_errors),
		backend_test(test_out_of_range_and_unknown),
	};
	int failed = cmocka_run_group_tests_name("file backend, default engine", tests,
						 use_default_engine, NULL);
	failed += cmocka_run_group_tests_name("file backend, TG_IOENGINE=threads", tests,
					      use_worker_threads, NULL);
	return failed;
}
