/* Test doubles for driving whole commands through the core: a recording transport and an in-memory disk backend. */
#ifndef TG_TEST_FAKE_TRANSPORT_H
#define TG_TEST_FAKE_TRANSPORT_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/nexus.h"
#include "core/scsi.h"
#include "core/target.h"
#include "core/task.h"

#define FAKE_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* What queue_response saw. */
struct fake_response {
	bool done;
	uint8_t status;
	uint8_t sense[TG_SENSE_MAX];
	uint16_t sense_len;
	uint8_t *data; /* copy of task->data, data_len bytes */
	size_t data_len;
	bool overflow;
	bool underflow;
	uint32_t residual;
};

/* A transport command embedding the task, as a real transport does. */
struct fake_cmd {
	struct tg_task task;
	const void *payload; /* the write data the "initiator" sends */
	size_t payload_len;
	unsigned write_pending_calls;
	struct fake_response rsp;
};

/* The initiator's write data arrives: as much of payload as the buffer takes, zeroes after. */
static inline void fake_send_data(struct tg_task *task, const void *payload, size_t payload_len)
{
	size_t n = payload_len < task->data.len ? payload_len : task->data.len;
	memset(task->data.base, 0, task->data.len);
	if (n)
		memcpy(task->data.base, payload, n);
	tg_task_data_ready(task, TG_SR_OK);
}

static inline void fake_write_pending(struct tg_task *task)
{
	struct fake_cmd *cmd = FAKE_CONTAINER_OF(task, struct fake_cmd, task);
	cmd->write_pending_calls++;
	fake_send_data(task, cmd->payload, cmd->payload_len);
}

static inline void fake_queue_response(struct tg_task *task)
{
	struct fake_cmd *cmd = FAKE_CONTAINER_OF(task, struct fake_cmd, task);
	struct fake_response *rsp = &cmd->rsp;
	assert_false(rsp->done); /* exactly one response per command */
	rsp->done = true;
	rsp->status = task->status;
	rsp->sense_len = task->sense_len;
	memcpy(rsp->sense, task->sense, sizeof(rsp->sense));
	rsp->overflow = task->residual_overflow;
	rsp->underflow = task->residual_underflow;
	rsp->residual = task->residual;
	rsp->data_len = task->dir == TG_DIR_READ ? task->data.len : 0;
	if (rsp->data_len) {
		rsp->data = malloc(rsp->data_len);
		assert_non_null(rsp->data);
		memcpy(rsp->data, task->data.base, rsp->data_len);
	}
	tg_task_release(task);
}

static const struct tg_transport_ops fake_transport_ops = {
	.name = "fake",
	.write_pending = fake_write_pending,
	.queue_response = fake_queue_response,
};

static inline void fake_cmd_reset(struct fake_cmd *cmd)
{
	free(cmd->rsp.data);
	memset(cmd, 0, sizeof(*cmd));
}

/* Readies task as a transport does with a command it received; submitting is the caller's. */
static inline void fake_task_prepare(struct tg_task *task, const struct tg_transport_ops *ops,
				     struct tg_nexus *nexus, uint64_t lun, const uint8_t *cdb,
				     size_t cdb_len, enum tg_data_dir dir, uint32_t exp_len)
{
	tg_task_init(task, nexus, ops, NULL);
	task->lun = lun;
	memcpy(task->cdb, cdb, cdb_len);
	task->cdb_len = 16; /* iSCSI always carries a 16-byte CDB field */
	task->exp_dir = dir;
	task->exp_len = exp_len;
}

/* Submits cdb to lun through the core; the response is in cmd->rsp once the core answers. */
static inline struct fake_response *fake_submit(struct fake_cmd *cmd, struct tg_nexus *nexus,
						uint64_t lun, const uint8_t *cdb, size_t cdb_len,
						enum tg_data_dir dir, uint32_t exp_len)
{
	fake_cmd_reset(cmd);
	fake_task_prepare(&cmd->task, &fake_transport_ops, nexus, lun, cdb, cdb_len, dir, exp_len);
	tg_task_submit(&cmd->task);
	return &cmd->rsp;
}

static inline struct fake_response *fake_submit_write(struct fake_cmd *cmd, struct tg_nexus *nexus,
						      uint64_t lun, const uint8_t *cdb,
						      size_t cdb_len, const void *payload,
						      uint32_t payload_len)
{
	fake_cmd_reset(cmd);
	cmd->payload = payload;
	cmd->payload_len = payload_len;
	fake_task_prepare(&cmd->task, &fake_transport_ops, nexus, lun, cdb, cdb_len, TG_DIR_WRITE,
			  payload_len);
	tg_task_submit(&cmd->task);
	return &cmd->rsp;
}

/* Fixed-format sense accessors. */
static inline uint8_t sense_key(const struct fake_response *r) { return r->sense[2] & 0x0f; }
static inline uint8_t sense_asc(const struct fake_response *r) { return r->sense[12]; }
static inline uint8_t sense_ascq(const struct fake_response *r) { return r->sense[13]; }

#define assert_good(r)                                                                     \
	do {                                                                               \
		assert_true((r)->done);                                                    \
		assert_int_equal((r)->status, SCSI_STATUS_GOOD);                           \
		assert_int_equal((r)->sense_len, 0);                                       \
	} while (0)

#define assert_check(r, key, asc, ascq)                                                    \
	do {                                                                               \
		assert_true((r)->done);                                                    \
		assert_int_equal((r)->status, SCSI_STATUS_CHECK_CONDITION);                \
		assert_int_equal((r)->sense_len, 18);                                      \
		assert_int_equal(sense_key(r), (key));                                     \
		assert_int_equal(sense_asc(r), (asc));                                     \
		assert_int_equal(sense_ascq(r), (ascq));                                   \
	} while (0)

/* INVALID FIELD IN CDB whose sense-key-specific bytes point at byte/bit (bit -1: none). */
#define assert_invalid_field(r, byte, bit)                                                 \
	do {                                                                               \
		assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x24, 0x00);                      \
		assert_field_pointer(r, byte, bit);                                        \
	} while (0)

#define assert_field_pointer(r, byte, bit)                                                 \
	do {                                                                               \
		int bit_ = (bit);                                                          \
		uint8_t sks0_ = (uint8_t)(0x80 | 0x40 | (bit_ >= 0 ? 0x08 | bit_ : 0));    \
		assert_int_equal((r)->sense[15], sks0_);                                   \
		assert_int_equal(get_be16((r)->sense + 16), (byte));                       \
	} while (0)

/*
 * An in-memory disk. Requests complete inside submit unless `deferred`, in which case they wait
 * for fake_disk_complete_all; `fail_ops` makes requests of those ops fail with -EIO. UNMAP and
 * WRITE_ZEROES zero their range; UNMAP also marks its blocks deallocated (`deallocated`, one
 * byte per block, reported by lba_status) until they are written again.
 */
struct fake_disk {
	uint8_t *bytes;
	uint64_t size;
	uint32_t block_size;
	uint8_t *deallocated;
	bool deferred;
	struct tg_io *pending[16];
	unsigned pending_count;
	unsigned fail_ops; /* bit mask of 1u << enum tg_io_op */
	unsigned submitted[8]; /* per op */
	struct tg_io last;    /* copy of the last request (iov pointers valid only during it) */
};

static inline void fake_disk_mark(struct fake_disk *disk, const struct tg_io *io, bool deallocated)
{
	uint64_t first = io->offset / disk->block_size;
	uint64_t end = (io->offset + io->len + disk->block_size - 1) / disk->block_size;
	for (uint64_t b = first; b < end; b++)
		disk->deallocated[b] = deallocated;
}

static inline void fake_disk_perform(struct fake_disk *disk, struct tg_io *io)
{
	if (disk->fail_ops & (1u << io->op)) {
		io->result = -EIO;
	} else if (io->op != TG_IO_FLUSH &&
		   (io->offset > disk->size || io->len > disk->size - io->offset)) {
		io->result = -EINVAL;
	} else if (io->op == TG_IO_UNMAP || io->op == TG_IO_WRITE_ZEROES) {
		io->result = 0;
		memset(disk->bytes + io->offset, 0, io->len);
		fake_disk_mark(disk, io, io->op == TG_IO_UNMAP);
	} else {
		if (io->op == TG_IO_WRITE)
			fake_disk_mark(disk, io, false);
		io->result = 0;
		uint64_t at = io->offset;
		for (int i = 0; i < io->iovcnt && (io->op == TG_IO_READ || io->op == TG_IO_WRITE);
		     i++) {
			const struct iovec *v = &io->iov[i];
			if (io->op == TG_IO_READ)
				memcpy(v->iov_base, disk->bytes + at, v->iov_len);
			else
				memcpy(disk->bytes + at, v->iov_base, v->iov_len);
			at += v->iov_len;
		}
	}
	io->done(io);
}

static inline void fake_disk_submit(struct tg_device *dev, struct tg_io *io)
{
	struct fake_disk *disk = dev->backend;
	disk->submitted[io->op]++;
	disk->last = *io;
	if (disk->deferred) {
		assert_true(disk->pending_count < 16);
		disk->pending[disk->pending_count++] = io;
		return;
	}
	fake_disk_perform(disk, io);
}

static inline void fake_disk_complete_all(struct fake_disk *disk)
{
	unsigned n = disk->pending_count;
	disk->pending_count = 0;
	for (unsigned i = 0; i < n; i++)
		fake_disk_perform(disk, disk->pending[i]);
}

/* Runs of blocks in the same state, as the file backend reports holes. */
static inline int fake_disk_lba_status(struct tg_device *dev, uint64_t lba, uint64_t *run_blocks,
				       bool *mapped)
{
	struct fake_disk *disk = dev->backend;
	if (lba >= dev->num_blocks)
		return -EINVAL;
	uint64_t end = lba + 1;
	while (end < dev->num_blocks && disk->deallocated[end] == disk->deallocated[lba])
		end++;
	*run_blocks = end - lba;
	*mapped = !disk->deallocated[lba];
	return 0;
}

static const struct dev_backend_ops fake_disk_ops = {
	.name = "fake",
	.submit = fake_disk_submit,
	.lba_status = fake_disk_lba_status,
};

/* A disk device over a fake_disk, filled with a pattern that differs per block and byte. */
static inline void fake_device_init(struct tg_device *dev, struct fake_disk *disk, const char *name,
				    uint32_t block_size, uint64_t num_blocks)
{
	memset(dev, 0, sizeof(*dev));
	memset(disk, 0, sizeof(*disk));
	disk->size = (uint64_t)block_size * num_blocks;
	disk->block_size = block_size;
	disk->bytes = malloc(disk->size);
	assert_non_null(disk->bytes);
	disk->deallocated = calloc(num_blocks, 1);
	assert_non_null(disk->deallocated);
	for (uint64_t i = 0; i < disk->size; i++)
		disk->bytes[i] = (uint8_t)(i * 7 + i / block_size);
	dev->name = (char *)name;
	dev->ops = &fake_disk_ops;
	dev->backend = disk;
	dev->peripheral_type = SCSI_TYPE_DISK;
	dev->block_size = block_size;
	dev->num_blocks = num_blocks;
	dev->write_cache = true;
	dev->naa = 0x60a7467123456789ull;
	dev->naa_ext = 0x0123456789abcdefull;
	snprintf(dev->serial, sizeof(dev->serial), "SER-%s", name);
}

static inline void fake_device_fini(struct fake_disk *disk)
{
	free(disk->bytes);
	disk->bytes = NULL;
	free(disk->deallocated);
	disk->deallocated = NULL;
}

#endif
