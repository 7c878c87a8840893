/* The "block" backend: a whole block device (disk, partition, loop, LVM volume) exported as is. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "core/scsi.h"
#include "devices/backend_util.h"

struct block_store {
	int fd;
};

/*
 * Reads a queue attribute from sysfs. A partition has no queue/ of its own; its disk's is one
 * directory up from the partition's sysfs directory.
 */
static bool read_queue_attr(dev_t rdev, const char *attr, char *buf, size_t len)
{
	static const char *const layouts[] = { "/sys/dev/block/%u:%u/queue/%s",
					       "/sys/dev/block/%u:%u/../queue/%s" };
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), layouts[i], major(rdev), minor(rdev), attr);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		bool ok = fgets(buf, (int)len, f) != NULL;
		fclose(f);
		if (ok) {
			buf[strcspn(buf, "\n")] = '\0';
			return true;
		}
	}
	return false;
}

static uint64_t queue_attr_u64(dev_t rdev, const char *attr)
{
	char text[64];
	return read_queue_attr(rdev, attr, text, sizeof(text)) ? strtoull(text, NULL, 10) : 0;
}

static int durable_if_fua(int fd, const struct tg_io *io)
{
	if (io->fua && fdatasync(fd) != 0)
		return -errno;
	return 0;
}

/*
 * UNMAP promises zeroes afterwards (can_unmap). A punched hole on a block device is an
 * unmapping write-zeroes that the kernel never emulates by writing, so it frees and zeroes in
 * one step; can_unmap is only offered where the device has write-zeroes. Should the kernel
 * still refuse, a plain discard (which zeroes only on some hardware) is followed by an explicit
 * zero-out: the zeroes are kept, the freeing may not be (BLKZEROOUT asks not to unmap).
 */
static int block_unmap(struct tg_io *io, void *arg)
{
	struct block_store *store = arg;
	if (fallocate(store->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)io->offset,
		      (off_t)io->len) == 0)
		return durable_if_fua(store->fd, io);
	if (errno != EOPNOTSUPP)
		return -errno;
	uint64_t range[2] = { io->offset, io->len };
	if (ioctl(store->fd, BLKDISCARD, range) != 0 && errno != EOPNOTSUPP)
		return -errno;
	if (ioctl(store->fd, BLKZEROOUT, range) != 0)
		return -errno;
	return durable_if_fua(store->fd, io);
}

static int block_write_zeroes(struct tg_io *io, void *arg)
{
	struct block_store *store = arg;
	uint64_t range[2] = { io->offset, io->len };
	if (ioctl(store->fd, BLKZEROOUT, range) != 0)
		return -errno;
	return durable_if_fua(store->fd, io);
}

static int open_device(const char *path, const struct cfg_device *cfg, bool direct,
		       bool *read_only)
{
	int common = O_CLOEXEC | (direct ? O_DIRECT : 0);
	*read_only = cfg->read_only;
	if (cfg->read_only)
		return open(path, O_RDONLY | common);
	/* O_EXCL on a block device refuses one that is mounted or held by another driver. */
	int fd = open(path, O_RDWR | O_EXCL | common);
	if (fd < 0 && (errno == EROFS || errno == EACCES)) {
		int saved = errno;
		fd = open(path, O_RDONLY | common);
		if (fd >= 0) {
			tg_warn("dev-block", "%s refuses writes (%s): exporting it read-only", path,
				strerror(saved));
			*read_only = true;
		} else {
			errno = saved;
		}
	}
	return fd;
}

static int block_open(struct tg_device *dev, const struct cfg_device *cfg, char *err,
		      size_t errlen)
{
	const char *path = cfg->path;
	if (!path || !*path) {
		dev_errf(err, errlen, "no path given");
		return -1;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		dev_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISBLK(st.st_mode)) {
		dev_errf(err, errlen, "%s: not a block device%s", path,
			 S_ISREG(st.st_mode) ? " (use backend \"file\" for image files)" : "");
		return -1;
	}
	bool direct = cfg->direct_set ? cfg->direct : true;
	bool read_only;
	int fd = open_device(path, cfg, direct, &read_only);
	if (fd < 0) {
		int saved = errno;
		dev_errf(err, errlen, "%s: %s%s", path, strerror(saved),
			 saved == EBUSY ? " (mounted or in use by another driver?)" : "");
		return -1;
	}
	/* The path could have been replaced between stat() and open(). */
	if (fstat(fd, &st) != 0 || !S_ISBLK(st.st_mode)) {
		dev_errf(err, errlen, "%s: not a block device", path);
		goto fail;
	}
	uint64_t device_bytes = 0;
	int logical_block = 0;
	if (ioctl(fd, BLKGETSIZE64, &device_bytes) != 0 || ioctl(fd, BLKSSZGET, &logical_block) != 0 ||
	    logical_block <= 0) {
		dev_errf(err, errlen, "%s: cannot read the device geometry: %s", path,
			 strerror(errno));
		goto fail;
	}
	uint32_t block_size = cfg->block_size ? cfg->block_size : (uint32_t)logical_block;
	if (block_size % (uint32_t)logical_block || (block_size & (block_size - 1))) {
		dev_errf(err, errlen,
			 "%s: block_size %" PRIu32
			 " must be a power-of-two multiple of the device's logical block size %d",
			 path, block_size, logical_block);
		goto fail;
	}
	uint64_t size = device_bytes;
	if (cfg->size) {
		if (cfg->size > device_bytes) {
			dev_errf(err, errlen,
				 "%s: size %" PRIu64 " is larger than the device (%" PRIu64 " bytes)",
				 path, cfg->size, device_bytes);
			goto fail;
		}
		size = cfg->size;
	}
	if (size < block_size) {
		dev_errf(err, errlen, "%s: %" PRIu64 " bytes is less than one %" PRIu32 "-byte block",
			 path, size, block_size);
		goto fail;
	}
	int device_read_only = 0;
	if (ioctl(fd, BLKROGET, &device_read_only) == 0 && device_read_only)
		read_only = true;

	char cache_mode[32] = "";
	read_queue_attr(st.st_rdev, "write_cache", cache_mode, sizeof(cache_mode));
	bool can_discard = queue_attr_u64(st.st_rdev, "discard_max_bytes") > 0 &&
			   queue_attr_u64(st.st_rdev, "write_zeroes_max_bytes") > 0;

	struct block_store *store = calloc(1, sizeof(*store));
	if (!store) {
		dev_errf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	store->fd = fd;
	dev->backend = store;
	dev->peripheral_type = SCSI_TYPE_DISK;
	dev->block_size = block_size;
	dev->num_blocks = size / block_size;
	dev->backend_read_only = read_only;
	dev->write_cache = strcmp(cache_mode, "write back") == 0 || (!direct && !read_only);
	dev->rotational = queue_attr_u64(st.st_rdev, "rotational") != 0;
	dev->can_unmap = !read_only && can_discard;
	dev->can_write_zeroes = !read_only;
	tg_debug("dev-block", "%s: %" PRIu64 " blocks of %" PRIu32 "%s%s%s", path, dev->num_blocks,
		 block_size, direct ? ", direct" : "", read_only ? ", read-only" : "",
		 dev->can_unmap ? ", discard" : "");
	return 0;

fail:
	close(fd);
	return -1;
}

static void block_close(struct tg_device *dev)
{
	struct block_store *store = dev->backend;
	if (!store)
		return;
	close(store->fd);
	free(store);
	dev->backend = NULL;
}

static void block_submit(struct tg_device *dev, struct tg_io *io)
{
	struct block_store *store = dev->backend;
	if (dev_io_refuse(dev, io))
		return;
	switch (io->op) {
	case TG_IO_READ:
	case TG_IO_WRITE:
	case TG_IO_FLUSH:
		tg_ioengine_submit_fd(io->engine, store->fd, io);
		return;
	case TG_IO_UNMAP:
		if (dev->can_unmap) {
			tg_ioengine_submit_blocking(io->engine, io, block_unmap, store);
			return;
		}
		break;
	case TG_IO_WRITE_ZEROES:
		tg_ioengine_submit_blocking(io->engine, io, block_write_zeroes, store);
		return;
	}
	tg_ioengine_complete(io->engine, io, -EOPNOTSUPP);
}

const struct dev_backend_ops dev_block_ops = {
	.name = "block",
	.open = block_open,
	.close = block_close,
	.submit = block_submit,
};
