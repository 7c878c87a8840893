/* What the SBC command files share: the limits they enforce (and Block Limits advertises), I/O helpers, and the handlers in the opcode table. */
#ifndef TG_SBC_EXT_H
#define TG_SBC_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/device.h"
#include "core/sense.h"

struct tg_task;

/*
 * Limits. Each is enforced by the command it names and reported in the Block Limits VPD page
 * (tg_sbc_vpd_block_limits), so the two cannot drift apart.
 */
/* COMPARE AND WRITE: the NUMBER OF LOGICAL BLOCKS field is one byte. */
#define TG_SBC_MAX_COMPARE_AND_WRITE_BLOCKS 255u
/* UNMAP: descriptors per command, and blocks per command summed over its descriptors. */
#define TG_SBC_MAX_UNMAP_DESCRIPTORS 256u
#define TG_SBC_MAX_UNMAP_BLOCKS (1u << 20)
/*
 * WRITE SAME: blocks per command (done in TG_SBC_CHUNK_BYTES pieces when data is written).
 * What WRITE SAME(10) can express: a longer request is refused before any block is touched,
 * rather than left running for however long a large device takes to fill.
 */
#define TG_SBC_MAX_WRITE_SAME_BLOCKS 0xffffu
/* Largest buffer a command that walks a long range (WRITE SAME, VERIFY with BYTCHK 11b,
 * SANITIZE OVERWRITE, PRE-FETCH) allocates at once. */
#define TG_SBC_CHUNK_BYTES (1u << 20)
/* PRE-FETCH: how much the page cache is asked to hold for one command. */
#define TG_SBC_PREFETCH_CACHE_BYTES (8u << 20)

/*
 * WRITE ATOMIC(16): the largest atomic write, held under an exclusive range lock and done as
 * one backend write. At least 256 blocks of 512 bytes, and bounded so that one command does not
 * hold a range against other writers for long. Its LBA and length are whole physical blocks
 * (the page-sized units the backends write, tg_sbc_atomic_unit_blocks), so that an atomic
 * write never shares a page with a write to neighbouring blocks.
 */
#define TG_SBC_MAX_ATOMIC_BYTES (1u << 20)

/* ATOMIC ALIGNMENT and ATOMIC TRANSFER LENGTH GRANULARITY, in logical blocks. */
static inline uint32_t tg_sbc_atomic_unit_blocks(const struct tg_device *dev)
{
	return dev->block_size < TG_BUF_ALIGN ? TG_BUF_ALIGN / dev->block_size : 1;
}

/* MAXIMUM ATOMIC TRANSFER LENGTH in logical blocks: whole units, never zero. */
static inline uint32_t tg_sbc_max_atomic_blocks(const struct tg_device *dev)
{
	uint32_t unit = tg_sbc_atomic_unit_blocks(dev);
	uint32_t units = TG_SBC_MAX_ATOMIC_BYTES / dev->block_size / unit;
	return (units ? units : 1) * unit;
}

/* Logical block provisioning as the backend can honour it (READ CAPACITY(16), VPD B0/B2). */
static inline bool tg_sbc_thin(const struct tg_device *dev) { return dev->can_unmap; }

/* SANITIZE BLOCK ERASE is offered where the whole medium can be deallocated or zeroed. */
static inline bool tg_sbc_can_block_erase(const struct tg_device *dev)
{
	return dev->can_unmap || dev->can_write_zeroes;
}

/* Fails with reason, reporting lba in the INFORMATION field. */
/* Where the LBA and the length live in the 6/10/12/16/32-byte forms of READ, WRITE, VERIFY,
 * SYNCHRONIZE CACHE and their kin (length_byte: the CDB byte to point sense at for a bad
 * length). */
struct tg_sbc_lba_fields {
	uint64_t lba;
	uint32_t length;
	uint16_t length_byte;
};
struct tg_sbc_lba_fields tg_sbc_decode_lba_fields(const struct tg_task *task);

void tg_sbc_fail_at(struct tg_task *task, enum tg_sense_reason reason, uint64_t lba);

/* RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT (byte 1 bits 7..5) are refused: no LUN has PI yet. */
enum tg_sense_reason tg_sbc_check_protect(struct tg_task *task);

/*
 * Issues one backend request over blocks starting at lba, `len` bytes, from/into base (NULL for
 * requests without data); iov is the caller's storage for the one-element iovec and must live
 * until then(task, result) runs.
 */
void tg_sbc_issue(struct tg_task *task, struct iovec *iov, enum tg_io_op op, uint64_t lba,
		  uint64_t len, void *base, bool fua, void (*then)(struct tg_task *task, int result));

/* Offset of the first byte where a and b differ, or len when they are equal. */
size_t tg_sbc_first_difference(const uint8_t *a, const uint8_t *b, size_t len);

/* VPD page bodies (after the 4-byte header); return the body length. */
size_t tg_sbc_vpd_block_limits(const struct tg_task *task, uint8_t *body);
size_t tg_sbc_vpd_logical_block_provisioning(const struct tg_task *task, uint8_t *body);
/* Byte 14 of READ CAPACITY(16) data: LBPME and LBPRZ. */
uint8_t tg_sbc_read_capacity_provisioning_bits(const struct tg_device *dev);
/* WABEREQ for the Block Device Characteristics VPD page (byte 7, bits 7..6). */
uint8_t tg_sbc_wabereq(const struct tg_device *dev);

/* Handlers (core/sbc_provisioning.c). */
enum tg_sense_reason tg_sbc_parse_write_same(struct tg_task *task);
void tg_sbc_write_same(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_unmap(struct tg_task *task);
void tg_sbc_unmap(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_get_lba_status(struct tg_task *task);
void tg_sbc_get_lba_status(struct tg_task *task);

/* Handlers (core/sbc_compare.c). */
enum tg_sense_reason tg_sbc_parse_verify(struct tg_task *task);
void tg_sbc_verify(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_write_and_verify(struct tg_task *task);
void tg_sbc_write_and_verify(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_compare_and_write(struct tg_task *task);
void tg_sbc_compare_and_write(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_orwrite(struct tg_task *task);
void tg_sbc_orwrite(struct tg_task *task);

/* Handlers (core/sbc_prefetch.c, core/sbc_defect.c, core/sbc_sanitize.c). */
enum tg_sense_reason tg_sbc_parse_prefetch(struct tg_task *task);
void tg_sbc_prefetch(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_read_defect_data(struct tg_task *task);
void tg_sbc_read_defect_data(struct tg_task *task);
enum tg_sense_reason tg_sbc_parse_sanitize(struct tg_task *task);
void tg_sbc_sanitize(struct tg_task *task);

#endif
