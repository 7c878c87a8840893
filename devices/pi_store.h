/* The sidecar protection-information store: PI beside a plain data image, kept consistent with it across crashes by a write-intent map. */
#ifndef DEV_PI_STORE_H
#define DEV_PI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dev_pi_store;
struct tg_io;

struct dev_pi_store_params {
	const char *name;    /* the device's name, for logs */
	const char *pi_path; /* 8 bytes per block, block N at offset 8 * N; beside it
			      * pi_path + ".state": format record and write-intent map */
	int data_fd;         /* the data image, read back to repair after a crash */
	bool data_direct;    /* data_fd is O_DIRECT: aligned buffers for the repair reads */
	uint32_t block_size;
	uint64_t num_blocks;
	int config_type;     /* protection.type of the config: 1..3 */
	bool read_only;
};

/*
 * Opens the store: creates and formats it (every tuple an escape) when missing or when the
 * config's type changed, finishes an interrupted FORMAT UNIT, and after an unclean stop makes
 * the regions that were being written consistent again (docs/pi.md). NULL with err filled.
 */
struct dev_pi_store *dev_pi_store_open(const struct dev_pi_store_params *params, char *err,
				       size_t errlen);
/* A clean stop: data and PI durable, every region recorded consistent. */
void dev_pi_store_close(struct dev_pi_store *store);
/* The protection type the store is formatted with: 0 (none) .. 3. */
int dev_pi_store_type(const struct dev_pi_store *store);

/*
 * Blocking operations, for the I/O engine's workers; each returns 0 or -errno. A read fills
 * io->pi_iov when given; a write stores io->pi_iov, or PI generated for the data when the
 * request brings none (tg_pi_generate_plain).
 */
int dev_pi_store_read(struct dev_pi_store *store, struct tg_io *io);
int dev_pi_store_write(struct dev_pi_store *store, struct tg_io *io);
/* fdatasync of data and PI; regions no write touched meanwhile are recorded consistent. */
int dev_pi_store_flush(struct dev_pi_store *store);
/* Changes the data with change(io, arg) — punches a hole or zeroes a range — and sets the
 * range's PI to escapes (deallocated: SBC's all-FFh PI of an unmapped block) or to the PI
 * generated for zeroes. */
int dev_pi_store_change(struct dev_pi_store *store, struct tg_io *io,
			int (*change)(struct tg_io *io, void *arg), void *arg, bool deallocated);
/* FORMAT UNIT: records `type` (0..3) and sets every tuple to escapes. */
int dev_pi_store_format(struct dev_pi_store *store, int type);

#endif
