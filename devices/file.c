/* The "file" backend: a plain, sparse image file whose bytes are the device's blocks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/scsi.h"
#include "core/pi.h"
#include "devices/backend_util.h"
#include "devices/pi_store.h"

struct file_store {
	int fd;
	/* tmpfs/ramfs without O_DIRECT: every transfer is a memory copy that never blocks. */
	bool memory_backed;
	/* Cleared by a worker the first time the filesystem refuses FALLOC_FL_ZERO_RANGE. */
	atomic_bool zero_range_works;
	/* The sidecar PI of a protected device (devices/pi_store.c), NULL otherwise. */
	struct dev_pi_store *pi;
};

/* Source of the write-zeroes fallback: never written, page-aligned for O_DIRECT. */
static uint8_t zero_chunk[64 * 1024] __attribute__((aligned(TG_BUF_ALIGN)));

static int durable_if_fua(int fd, const struct tg_io *io)
{
	if (io->fua && fdatasync(fd) != 0)
		return -errno;
	return 0;
}

static int write_zero_chunks(int fd, uint64_t offset, uint64_t len)
{
	while (len) {
		size_t n = len < sizeof(zero_chunk) ? (size_t)len : sizeof(zero_chunk);
		ssize_t written = pwrite(fd, zero_chunk, n, (off_t)offset);
		if (written < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (written == 0)
			return -EIO;
		offset += (uint64_t)written;
		len -= (uint64_t)written;
	}
	return 0;
}

/* Runs on a worker: fallocate can wait on the journal and has no async form before 5.6. */
static int punch_hole(struct tg_io *io, void *arg)
{
	struct file_store *store = arg;
	if (fallocate(store->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)io->offset,
		      (off_t)io->len) != 0)
		return -errno;
	return durable_if_fua(store->fd, io);
}

static int zero_range(struct tg_io *io, void *arg)
{
	struct file_store *store = arg;
	if (atomic_load(&store->zero_range_works)) {
		if (fallocate(store->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)io->offset,
			      (off_t)io->len) == 0)
			return durable_if_fua(store->fd, io);
		if (errno != EOPNOTSUPP)
			return -errno;
		atomic_store(&store->zero_range_works, false);
	}
	int rc = write_zero_chunks(store->fd, io->offset, io->len);
	return rc ? rc : durable_if_fua(store->fd, io);
}

/*
 * O_DIRECT needs offsets and lengths aligned to what the filesystem asks for; every transfer is
 * whole blocks, so the block size must be a multiple of it. Buffers are TG_BUF_ALIGN-aligned.
 */
static int check_direct_alignment(int fd, const char *path, uint32_t block_size, char *err,
				  size_t errlen)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_offset_align == 0) {
			dev_errf(err, errlen, "%s: the filesystem does not support direct I/O", path);
			return -1;
		}
		if (block_size % stx.stx_dio_offset_align) {
			dev_errf(err, errlen,
				 "%s: block_size %" PRIu32 " is not a multiple of the filesystem's "
				 "direct I/O alignment %" PRIu32,
				 path, block_size, stx.stx_dio_offset_align);
			return -1;
		}
		if (stx.stx_dio_mem_align > TG_BUF_ALIGN) {
			dev_errf(err, errlen, "%s: direct I/O wants %" PRIu32 "-byte aligned memory",
				 path, stx.stx_dio_mem_align);
			return -1;
		}
		return 0;
	}
	/* No alignment report from this kernel or filesystem: try one block. */
	void *probe = NULL;
	if (posix_memalign(&probe, TG_BUF_ALIGN, block_size) != 0) {
		dev_errf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	ssize_t n = pread(fd, probe, block_size, 0);
	int saved = errno;
	free(probe);
	if (n < 0) {
		dev_errf(err, errlen,
			 "%s: a %" PRIu32 "-byte direct read fails (%s); is block_size below the "
			 "filesystem's logical block size?",
			 path, block_size, strerror(saved));
		return -1;
	}
	return 0;
}

/* Punching at end-of-file with KEEP_SIZE changes nothing, but says whether punching works. */
static bool punch_hole_supported(int fd, uint64_t file_size, uint32_t block_size)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)file_size,
			 block_size) == 0;
}

/* The sidecar: protection.pi_path, else PATH.pi beside the image (contract). */
static int open_pi(struct tg_device *dev, struct file_store *store, const struct cfg_device *cfg,
		   uint64_t num_blocks, char *err, size_t errlen)
{
	char *default_path = NULL;
	if (!cfg->pi_path && asprintf(&default_path, "%s.pi", cfg->path) < 0) {
		dev_errf(err, errlen, "%s: out of memory", cfg->path);
		return -1;
	}
	struct dev_pi_store_params params = {
		.name = dev->name ? dev->name : cfg->name,
		.pi_path = cfg->pi_path ? cfg->pi_path : default_path,
		.data_fd = store->fd,
		.data_direct = cfg->direct,
		.block_size = cfg->block_size ? cfg->block_size : 512,
		.num_blocks = num_blocks,
		.config_type = cfg->protection_type,
		.read_only = cfg->read_only,
	};
	store->pi = dev_pi_store_open(&params, err, errlen);
	if (store->pi) {
		dev->pi_capable = true;
		dev->protection_type = dev_pi_store_type(store->pi);
		tg_info("dev-file", "%s: protection information in %s", params.name,
			params.pi_path);
	}
	free(default_path);
	return store->pi ? 0 : -1;
}

static int file_open(struct tg_device *dev, const struct cfg_device *cfg, char *err, size_t errlen)
{
	const char *path = cfg->path;
	if (!path || !*path) {
		dev_errf(err, errlen, "no path given");
		return -1;
	}
	uint32_t block_size = cfg->block_size ? cfg->block_size : 512;
	if (block_size < 512 || (block_size & (block_size - 1))) {
		dev_errf(err, errlen, "%s: block_size %" PRIu32 " is not a power of two >= 512", path,
			 block_size);
		return -1;
	}
	int flags = (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (cfg->direct ? O_DIRECT : 0);
	bool created = false;
	int fd = open(path, flags);
	if (fd < 0 && errno == ENOENT) {
		if (!cfg->size) {
			dev_errf(err, errlen, "%s: file does not exist and no size given", path);
			return -1;
		}
		if (cfg->read_only) {
			dev_errf(err, errlen, "%s: file does not exist and the device is read-only",
				 path);
			return -1;
		}
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(path, flags);
	}
	if (fd < 0) {
		int saved = errno;
		dev_errf(err, errlen, "%s: %s%s", path, strerror(saved),
			 saved == EINVAL && cfg->direct ? " (direct I/O unsupported here?)" : "");
		return -1;
	}

	struct stat st;
	if (fstat(fd, &st) != 0) {
		dev_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		dev_errf(err, errlen, "%s: not a regular file%s", path,
			 S_ISBLK(st.st_mode) ? " (use backend \"block\" for block devices)" : "");
		goto fail;
	}
	uint64_t file_size = (uint64_t)st.st_size;
	uint64_t size = cfg->size ? cfg->size : file_size;
	if (size == 0) {
		dev_errf(err, errlen, "%s: file is empty and no size given", path);
		goto fail;
	}
	if (size < block_size) {
		dev_errf(err, errlen, "%s: %" PRIu64 " bytes is less than one %" PRIu32 "-byte block",
			 path, size, block_size);
		goto fail;
	}
	if (file_size < size) {
		if (cfg->read_only) {
			dev_errf(err, errlen,
				 "%s: file has %" PRIu64 " bytes, fewer than size %" PRIu64
				 ", and the device is read-only",
				 path, file_size, size);
			goto fail;
		}
		/* Extending leaves a hole: no blocks are allocated until written. */
		if (ftruncate(fd, (off_t)size) != 0) {
			dev_errf(err, errlen, "%s: cannot extend to %" PRIu64 " bytes: %s", path, size,
				 strerror(errno));
			goto fail;
		}
		file_size = size;
	}
	if (cfg->direct && check_direct_alignment(fd, path, block_size, err, errlen) != 0)
		goto fail;
	if (size % block_size)
		tg_warn("dev-file", "%s: last %" PRIu64 " bytes are not a whole block and stay unused",
			path, size % block_size);

	struct file_store *store = calloc(1, sizeof(*store));
	if (!store) {
		dev_errf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	store->fd = fd;
	struct statfs fs;
	store->memory_backed = !cfg->direct && fstatfs(fd, &fs) == 0 &&
			       (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
	atomic_init(&store->zero_range_works, true);
	if (cfg->protection_type && open_pi(dev, store, cfg, size / block_size, err, errlen) != 0) {
		free(store);
		goto fail;
	}
	dev->backend = store;
	dev->peripheral_type = SCSI_TYPE_DISK;
	dev->block_size = block_size;
	dev->num_blocks = size / block_size;
	dev->backend_read_only = cfg->read_only;
	/* Buffered writes sit in the page cache until FUA or FLUSH; direct ones do not. */
	dev->write_cache = !cfg->direct;
	dev->rotational = false;
	dev->can_unmap = !cfg->read_only && punch_hole_supported(fd, file_size, block_size);
	dev->can_write_zeroes = !cfg->read_only;
	tg_debug("dev-file", "%s: %" PRIu64 " blocks of %" PRIu32 "%s%s%s", path, dev->num_blocks,
		 block_size, cfg->direct ? ", direct" : "", cfg->read_only ? ", read-only" : "",
		 created ? ", created" : "");
	return 0;

fail:
	close(fd);
	if (created)
		unlink(path);
	return -1;
}

static void file_close(struct tg_device *dev)
{
	struct file_store *store = dev->backend;
	if (!store)
		return;
	dev_pi_store_close(store->pi);
	close(store->fd);
	free(store);
	dev->backend = NULL;
}

/* Protected devices: data and PI move together on a worker (devices/pi_store.c). */
static int pi_read(struct tg_io *io, void *arg)
{
	return dev_pi_store_read(((struct file_store *)arg)->pi, io);
}

static int pi_write(struct tg_io *io, void *arg)
{
	return dev_pi_store_write(((struct file_store *)arg)->pi, io);
}

static int pi_flush(struct tg_io *io, void *arg)
{
	return dev_pi_store_flush(((struct file_store *)arg)->pi);
}

static int pi_unmap(struct tg_io *io, void *arg)
{
	return dev_pi_store_change(((struct file_store *)arg)->pi, io, punch_hole, arg, true);
}

static int pi_write_zeroes(struct tg_io *io, void *arg)
{
	return dev_pi_store_change(((struct file_store *)arg)->pi, io, zero_range, arg, false);
}

/* io->offset carries the type from file_format_pi: the request has no range of its own. */
static int pi_format(struct tg_io *io, void *arg)
{
	return dev_pi_store_format(((struct file_store *)arg)->pi, (int)io->offset);
}

static void file_format_pi(struct tg_device *dev, struct tg_io *io, int type)
{
	struct file_store *store = dev->backend;
	if (!store->pi) {
		tg_ioengine_complete(io->engine, io, -EOPNOTSUPP);
		return;
	}
	io->offset = (uint64_t)type;
	tg_ioengine_submit_blocking(io->engine, io, pi_format, store);
}

/* Returns true when the protected path took io. PI-less reads keep the direct path. */
static bool submit_protected(struct tg_device *dev, struct file_store *store, struct tg_io *io)
{
	if (!store->pi || dev_pi_store_type(store->pi) == 0)
		return false;
	int (*fn)(struct tg_io *, void *) = NULL;
	switch (io->op) {
	case TG_IO_READ:
		fn = io->pi_iov ? pi_read : NULL;
		break;
	case TG_IO_WRITE:
		fn = pi_write;
		break;
	case TG_IO_FLUSH:
		fn = pi_flush;
		break;
	case TG_IO_UNMAP:
		fn = dev->can_unmap ? pi_unmap : NULL;
		break;
	case TG_IO_WRITE_ZEROES:
		fn = pi_write_zeroes;
		break;
	}
	if (!fn)
		return false;
	tg_ioengine_submit_blocking(io->engine, io, fn, store);
	return true;
}

static void file_submit(struct tg_device *dev, struct tg_io *io)
{
	struct file_store *store = dev->backend;
	if (dev_io_refuse(dev, io))
		return;
	if (submit_protected(dev, store, io))
		return;
	switch (io->op) {
	case TG_IO_READ:
	case TG_IO_WRITE:
	case TG_IO_FLUSH:
		if (store->memory_backed)
			tg_ioengine_submit_fd_in_place(io->engine, store->fd, io);
		else
			tg_ioengine_submit_fd(io->engine, store->fd, io);
		return;
	case TG_IO_UNMAP:
		if (dev->can_unmap) {
			tg_ioengine_submit_blocking(io->engine, io, punch_hole, store);
			return;
		}
		break;
	case TG_IO_WRITE_ZEROES:
		tg_ioengine_submit_blocking(io->engine, io, zero_range, store);
		return;
	}
	tg_ioengine_complete(io->engine, io, -EOPNOTSUPP);
}

/*
 * Holes are found with SEEK_DATA/SEEK_HOLE. A block that is only partly backed (filesystem
 * blocks smaller than the device's) counts as mapped.
 */
static int file_lba_status(struct tg_device *dev, uint64_t lba, uint64_t *run_blocks, bool *mapped)
{
	struct file_store *store = dev->backend;
	if (lba >= dev->num_blocks)
		return -EINVAL;
	uint64_t bs = dev->block_size;
	uint64_t start = lba * bs;
	uint64_t end = dev->num_blocks * bs;
	off_t data = lseek(store->fd, (off_t)start, SEEK_DATA);
	if (data < 0 && errno != ENXIO)
		return -errno;
	if (data < 0 || (uint64_t)data >= end) {
		*mapped = false;
		*run_blocks = dev->num_blocks - lba;
		return 0;
	}
	if ((uint64_t)data >= start + bs) {
		*mapped = false;
		*run_blocks = (uint64_t)data / bs - lba;
		return 0;
	}
	off_t hole = lseek(store->fd, data, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	uint64_t mapped_end = (uint64_t)hole < end ? (uint64_t)hole : end;
	*mapped = true;
	*run_blocks = (mapped_end + bs - 1) / bs - lba;
	return 0;
}

const struct dev_backend_ops dev_file_ops = {
	.name = "file",
	.open = file_open,
	.close = file_close,
	.submit = file_submit,
	.lba_status = file_lba_status,
	.format_pi = file_format_pi,
};
