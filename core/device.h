/* A logical unit's device: geometry, identity, shared state, and the backend ops table. */
#ifndef TG_DEVICE_H
#define TG_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/iostats.h"
#include "core/lba_lock.h"
#include "core/medium.h"
#include "core/mode.h"

struct tg_device;
struct tg_ioengine;
struct cfg_device;
struct tg_pi_profile;

enum tg_io_op {
	TG_IO_READ,
	TG_IO_WRITE,
	TG_IO_FLUSH,        /* make everything written so far durable */
	TG_IO_UNMAP,        /* deallocate [offset, offset+len); reads back zeroes afterwards */
	TG_IO_WRITE_ZEROES, /* write zeroes over [offset, offset+len) */
};

/*
 * One asynchronous backend request. The submitter owns the memory; `done` is called
 * exactly once, on the event loop of `engine`, with `result` = 0 or -errno.
 */
struct tg_io {
	enum tg_io_op op;
	uint64_t offset; /* bytes */
	uint64_t len;    /* bytes */
	const struct iovec *iov;
	int iovcnt;
	/* Protection information for the same blocks, 8 bytes per block, kept apart (DIX). */
	const struct iovec *pi_iov;
	int pi_iovcnt;
	bool fua; /* the data must be durable before done() */
	int result;
	struct tg_ioengine *engine;
	void (*done)(struct tg_io *io);
	void *priv;
};

/* What every backend (devices/) implements; one instance per device. */
struct dev_backend_ops {
	const char *name;
	/* Opens the backing store named by cfg and fills dev geometry (block_size, num_blocks,
	 * capabilities). Returns 0, or -1 with a message in err. */
	int (*open)(struct tg_device *dev, const struct cfg_device *cfg, char *err, size_t errlen);
	void (*close)(struct tg_device *dev);
	void (*submit)(struct tg_device *dev, struct tg_io *io);
	/* Optional: provisioning status of the run starting at lba (for GET LBA STATUS). */
	int (*lba_status)(struct tg_device *dev, uint64_t lba, uint64_t *run_blocks, bool *mapped);
	/* Optional, for backends with pi_capable: formats the protection information for
	 * protection `type` (0 = none) as FORMAT UNIT asks; io (op and range unused) completes
	 * like a submitted request. The backend records the new format before completing. */
	void (*format_pi)(struct tg_device *dev, struct tg_io *io, int type);
};

const struct dev_backend_ops *dev_backend_find(const char *name);

struct tg_device {
	char *name;
	const struct dev_backend_ops *ops;
	void *backend; /* the backend's private state */

	uint8_t peripheral_type; /* SCSI_TYPE_* */
	uint32_t block_size;
	uint64_t num_blocks;
	bool backend_read_only;  /* the store itself refuses writes */
	bool can_unmap;          /* TG_IO_UNMAP frees space and reads back zeroes */
	bool can_write_zeroes;
	bool write_cache;        /* WCE: writes may sit in a volatile cache until FLUSH */
	bool rotational;
	bool removable;          /* RMB: the medium can be ejected and loaded (core/medium.c) */

	/* Identity, derived from the name so it is stable across restarts. */
	uint64_t naa;            /* NAA type 6 high 64 bits (low 64 in naa_ext) */
	uint64_t naa_ext;
	char serial[33];

	int protection_type;     /* 0 = none, 1..3 = T10 DIF type */
	char *pi_path;
	/* The backend keeps protection information (core/pi.c): INQUIRY PROTECT = 1, and FORMAT
	 * UNIT may change protection_type, to 0 too. Set by the backend's open. */
	bool pi_capable;
	/* The guard the initiator puts on the wire (t10dif-crc16 unless configured otherwise);
	 * the medium always keeps the CRC. */
	const struct tg_pi_profile *pi_host_profile;

	/* State shared by every nexus reaching this device (reservations, UAs) sits behind lock. */
	pthread_mutex_t lock;
	void *shared; /* core-owned: struct tg_device_shared (reservations, registrants) */
	/* LBA ranges held by writers and read-compare-write commands (core/lba_lock.c). */
	struct tg_lba_lock_state lba_locks;
	/* Mode parameters MODE SELECT changes (core/mode.c), one set for every nexus. */
	struct tg_mode_state mode;
	/* Loaded or ejected, and who prevents removal, when `removable` (core/medium.c). */
	struct tg_medium_state medium;
	/* Completed reads and writes (core/iostats.c), for the control socket's stats. */
	struct tg_io_counters io_counters;
};

/* Creates and opens a device from its config entry; NULL with err filled on failure. */
struct tg_device *tg_device_open(const struct cfg_device *cfg, char *err, size_t errlen);
void tg_device_close(struct tg_device *dev);

/* Submits io to the device's backend; completion as described for struct tg_io. */
static inline void tg_device_submit(struct tg_device *dev, struct tg_io *io)
{
	dev->ops->submit(dev, io);
}

#endif
