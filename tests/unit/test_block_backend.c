/* Unit tests for devices/block.c against a real loop device backed by a 64 MiB sparse file. */
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/device.h"
#include "core/ioengine.h"

#include "backend_fixture.h"

#define MiB (1024 * 1024)
#define BACKING_SIZE (64 * MiB)

/* Shared by a group: the backing file and the loop device attached to it. */
static char backing_dir[256];
static char backing_path[300];
static char loop_path[64];

static int run_command(const char *command, char *out, size_t outlen)
{
	FILE *p = popen(command, "r");
	if (!p)
		return -1;
	if (out) {
		out[0] = '\0';
		if (fgets(out, (int)outlen, p))
			out[strcspn(out, "\n")] = '\0';
	}
	return pclose(p);
}

static int attach_loop_device(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(backing_dir, sizeof(backing_dir), "%s/targe-test-block-XXXXXX", tmp);
	if (!mkdtemp(backing_dir)) {
		print_error("mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(backing_path, sizeof(backing_path), "%s/backing.img", backing_dir);
	int fd = open(backing_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, BACKING_SIZE) != 0) {
		print_error("%s: %s\n", backing_path, strerror(errno));
		return -1;
	}
	close(fd);
	char command[400];
	snprintf(command, sizeof(command), "losetup --find --show '%s' 2>&1", backing_path);
	int rc = run_command(command, loop_path, sizeof(loop_path));
	if (rc != 0 || strncmp(loop_path, "/dev/loop", 9) != 0) {
		/* Loop devices need root and a kernel with CONFIG_BLK_DEV_LOOP. */
		print_error("losetup failed (status %d): %s\n", rc, loop_path);
		loop_path[0] = '\0';
		return -1;
	}
	return 0;
}

static int detach_loop_device(void **state)
{
	if (loop_path[0]) {
		char command[128];
		snprintf(command, sizeof(command), "losetup -d '%s' 2>&1", loop_path);
		char out[256];
		if (run_command(command, out, sizeof(out)) != 0)
			print_error("losetup -d %s: %s\n", loop_path, out);
		loop_path[0] = '\0';
	}
	unlink(backing_path);
	rmdir(backing_dir);
	return 0;
}

static int setup(void **state)
{
	*state = backend_fixture_new(NULL);
	return 0;
}

static struct cfg_device base_cfg(void)
{
	return (struct cfg_device){ .name = "raw0", .backend = "block", .path = loop_path };
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 29 + i * 3 + (i >> 9));
}

static blkcnt_t backing_blocks(void)
{
	struct stat st;
	assert_int_equal(stat(backing_path, &st), 0);
	return st.st_blocks;
}

static int sysfs_queue_int(const char *attr)
{
	struct stat st;
	assert_int_equal(stat(loop_path, &st), 0);
	char path[128];
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s", major(st.st_rdev),
		 minor(st.st_rdev), attr);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	int value = -1;
	assert_int_equal(fscanf(f, "%d", &value), 1);
	fclose(f);
	return value;
}

static void test_geometry_from_the_device(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	open_ok(fx, &cfg);
	assert_string_equal(fx->dev.ops->name, "block");
	assert_int_equal(fx->dev.block_size, 512);
	assert_int_equal(fx->dev.num_blocks, BACKING_SIZE / 512);
	assert_int_equal(fx->dev.rotational, sysfs_queue_int("rotational") != 0);
	assert_true(fx->dev.can_unmap); /* a loop device over ext4 discards by punching holes */
	assert_true(fx->dev.can_write_zeroes);
	assert_false(fx->dev.backend_read_only);
	close_dev(fx);

	cfg.block_size = 4096;
	open_ok(fx, &cfg);
	assert_int_equal(fx->dev.block_size, 4096);
	assert_int_equal(fx->dev.num_blocks, BACKING_SIZE / 4096);
	close_dev(fx);

	cfg.block_size = 0;
	cfg.size = 16 * MiB;
	open_ok(fx, &cfg);
	assert_int_equal(fx->dev.num_blocks, 16 * MiB / 512);
	uint8_t *buf = aligned(4096, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 16 * MiB, 4096, buf, false), -EINVAL);
	release(buf, 4096);
}

static void test_open_errors(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	cfg.block_size = 256;
	expect_open_error(fx, &cfg, "logical block size 512");
	cfg.block_size = 1536;
	expect_open_error(fx, &cfg, "logical block size 512");
	cfg.block_size = 0;
	cfg.size = BACKING_SIZE + 512;
	expect_open_error(fx, &cfg, "larger than the device");

	cfg = base_cfg();
	cfg.path = backing_path;
	expect_open_error(fx, &cfg, "not a block device (use backend \"file\"");
	cfg.path = "/dev/null";
	expect_open_error(fx, &cfg, "not a block device");
	cfg.path = "/dev/targe-no-such-device";
	expect_open_error(fx, &cfg, strerror(ENOENT));

	/* A device already held for writing (here: by ourselves) is refused, not shared. */
	cfg = base_cfg();
	open_ok(fx, &cfg);
	expect_open_error(fx, &cfg, strerror(EBUSY));
}

static void round_trip(struct backend_fixture *fx)
{
	enum { LEN = 128 * 1024 };
	uint8_t *data = aligned(LEN, 0);
	fill(data, LEN, (unsigned)fx->dev.write_cache + 1);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 3 * MiB, LEN, data, true), 0);
	assert_int_equal(do_io(fx, TG_IO_FLUSH, 0, 0, NULL, false), 0);
	uint8_t *back = aligned(LEN, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 3 * MiB, LEN, back, false), 0);
	assert_memory_equal(back, data, LEN);
	/* The bytes went through the loop device into the backing file. */
	int fd = open(backing_path, O_RDONLY);
	assert_true(fd >= 0);
	memset(back, 0, LEN);
	assert_int_equal(pread(fd, back, LEN, 3 * MiB), LEN);
	assert_memory_equal(back, data, LEN);
	close(fd);
	release(data, LEN);
	release(back, LEN);
}

static void test_direct_read_write_flush(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	open_ok(fx, &cfg);
	round_trip(fx);
	/* Direct by default: the kernel refuses a misaligned buffer. */
	uint8_t *buf = aligned(8192, 0);
	assert_int_equal(do_io(fx, TG_IO_READ, 0, 4096, buf + 1, false), -EINVAL);
	release(buf, 8192);
}

static void test_buffered_when_asked(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	cfg.direct_set = true;
	cfg.direct = false;
	open_ok(fx, &cfg);
	assert_true(fx->dev.write_cache);
	round_trip(fx);
}

static void test_unmap_discards_and_reads_zeroes(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	open_ok(fx, &cfg);
	uint8_t *data = aligned(4 * MiB, 0xd7);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 8 * MiB, 4 * MiB, data, true), 0);
	assert_int_equal(do_io(fx, TG_IO_FLUSH, 0, 0, NULL, false), 0);
	blkcnt_t before = backing_blocks();
	assert_true(before >= 4 * MiB / 512);

	assert_int_equal(do_io(fx, TG_IO_UNMAP, 9 * MiB, 2 * MiB, NULL, false), 0);
	/* The loop driver turned it into a hole in the backing file. */
	assert_true(backing_blocks() <= before - 2 * MiB / 512);
	assert_int_equal(do_io(fx, TG_IO_READ, 8 * MiB, 4 * MiB, data, false), 0);
	assert_all(data, 1 * MiB, 0xd7);
	assert_all(data + 1 * MiB, 2 * MiB, 0);
	assert_all(data + 3 * MiB, 1 * MiB, 0xd7);
	release(data, 4 * MiB);
}

static void test_write_zeroes(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	open_ok(fx, &cfg);
	uint8_t *data = aligned(1 * MiB, 0x6e);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 20 * MiB, 1 * MiB, data, false), 0);
	assert_int_equal(do_io(fx, TG_IO_WRITE_ZEROES, 20 * MiB + 4096, 512 * 1024, NULL, true), 0);
	memset(data, 0x01, 1 * MiB);
	assert_int_equal(do_io(fx, TG_IO_READ, 20 * MiB, 1 * MiB, data, false), 0);
	assert_all(data, 4096, 0x6e);
	assert_all(data + 4096, 512 * 1024, 0);
	assert_all(data + 4096 + 512 * 1024, 1 * MiB - 4096 - 512 * 1024, 0x6e);
	release(data, 1 * MiB);
}

static void test_read_only(void **state)
{
	struct backend_fixture *fx = *state;
	struct cfg_device cfg = base_cfg();
	cfg.read_only = true;
	open_ok(fx, &cfg);
	assert_true(fx->dev.backend_read_only);
	assert_false(fx->dev.can_unmap);
	uint8_t *data = aligned(4096, 0x12);
	assert_int_equal(do_io(fx, TG_IO_WRITE, 0, 4096, data, false), -EROFS);
	assert_int_equal(do_io(fx, TG_IO_UNMAP, 0, 4096, NULL, false), -EROFS);
	assert_int_equal(do_io(fx, TG_IO_WRITE_ZEROES, 0, 4096, NULL, false), -EROFS);
	assert_int_equal(do_io(fx, TG_IO_READ, 0, 4096, data, false), 0);
	release(data, 4096);
}

static int default_engine_on_loop_device(void **state)
{
	use_default_engine(state);
	return attach_loop_device(state);
}

static int worker_threads_on_loop_device(void **state)
{
	use_worker_threads(state);
	return attach_loop_device(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		backend_test(test_geometry_from_the_device),
		backend_test(test_open_errors),
		backend_test(test_direct_read_write_flush),
		backend_test(test_buffered_when_asked),
		backend_test(test_unmap_discards_and_reads_zeroes),
		backend_test(test_write_zeroes),
		backend_test(test_read_only),
	};
	int failed = cmocka_run_group_tests_name("block backend on a loop device, default engine",
						 tests, default_engine_on_loop_device, detach_loop_device);
	failed += cmocka_run_group_tests_name("block backend on a loop device, TG_IOENGINE=threads",
					      tests, worker_threads_on_loop_device, detach_loop_device);
	return failed;
}
