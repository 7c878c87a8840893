/* Private helpers shared by the file-descriptor backends (file, block): messages and request checks. */
#ifndef DEV_BACKEND_UTIL_H
#define DEV_BACKEND_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/device.h"
#include "core/ioengine.h"

__attribute__((format(printf, 3, 4))) static inline void dev_errf(char *err, size_t errlen,
								 const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static inline bool dev_io_modifies(enum tg_io_op op)
{
	return op == TG_IO_WRITE || op == TG_IO_UNMAP || op == TG_IO_WRITE_ZEROES;
}

static inline uint64_t dev_size_bytes(const struct tg_device *dev)
{
	return dev->num_blocks * dev->block_size;
}

/*
 * Answers, on the loop, a request the store must not see: a change to a read-only store
 * (-EROFS) or a range outside the device (-EINVAL; the core checks LBAs first, so this guards
 * the store, e.g. against writing past a block device's configured size). FLUSH carries no
 * range that matters: it always covers the whole store. Returns true when io was answered.
 */
static inline bool dev_io_refuse(struct tg_device *dev, struct tg_io *io)
{
	int result = 0;
	uint64_t size = dev_size_bytes(dev);
	if (dev_io_modifies(io->op) && dev->backend_read_only)
		result = -EROFS;
	else if (io->op != TG_IO_FLUSH && (io->offset > size || io->len > size - io->offset))
		result = -EINVAL;
	if (result == 0)
		return false;
	tg_ioengine_complete(io->engine, io, result);
	return true;
}

#endif
