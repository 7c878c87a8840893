/* T10 protection information: PI profiles, tuple generation and checking per SBC, guard conversion, the wire interleave, and the SBC handlers that use them. */
#ifndef TG_PI_H
#define TG_PI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/device.h"
#include "core/scsi.h"
#include "core/sense.h"

struct tg_task;

#define TG_PI_TUPLE_BYTES 8u
/* An application tag of FFFFh (types 1, 2), or that and a reference tag of FFFFFFFFh (type 3),
 * turns off every check of its block (SBC "escape" values). */
#define TG_PI_APP_ESCAPE 0xffffu
#define TG_PI_REF_ESCAPE 0xffffffffu

/* One tuple, decoded; big-endian guard, application tag, reference tag on medium and wire. */
struct tg_pi_tuple {
	uint16_t guard;
	uint16_t app_tag;
	uint32_t ref_tag;
};

static inline struct tg_pi_tuple tg_pi_tuple_get(const uint8_t *p)
{
	struct tg_pi_tuple t = { get_be16(p), get_be16(p + 2), get_be32(p + 4) };
	return t;
}

static inline void tg_pi_tuple_put(uint8_t *p, struct tg_pi_tuple t)
{
	put_be16(p, t.guard);
	put_be16(p + 2, t.app_tag);
	put_be32(p + 4, t.ref_tag);
}

/*
 * A PI profile describes one way of protecting a protection interval: what the guard is and
 * how wide each field is. Profiles are looked up by name and carry their own guard function,
 * so adding a format means adding a table entry, not a code.
 */
struct tg_pi_profile {
	const char *name;       /* "t10dif-crc16", "ip-checksum" */
	const char *guard_name; /* the guard algorithm, for people and logs */
	uint16_t (*guard)(const uint8_t *data, size_t len);
	uint32_t tuple_bytes;    /* PI bytes per protection interval */
	uint32_t interval_bytes; /* 0: one interval per logical block (P_I_EXPONENT 0) */
	uint8_t guard_bits;
	uint8_t app_tag_bits;
	uint8_t ref_tag_bits;
	/* The guard SBC defines for types 1-3: what the medium keeps. A profile without it is
	 * a host-side guard (the DIX model), converted to and from this one at the target. */
	bool sbc_guard;
};

const struct tg_pi_profile *tg_pi_profile_find(const char *name);
size_t tg_pi_profile_count(void);
const struct tg_pi_profile *tg_pi_profile_at(size_t index);
/* The profile the medium keeps: t10dif-crc16. */
const struct tg_pi_profile *tg_pi_medium_profile(void);

/* CRC-16/T10-DIF (polynomial 8BB7h, initial value 0) through ISA-L. */
uint16_t tg_pi_crc16(const uint8_t *data, size_t len);
/* The Internet checksum (RFC 1071) of data taken as big-endian 16-bit words, complemented. */
uint16_t tg_pi_ip_checksum(const uint8_t *data, size_t len);

/* Whether the tuple's escape values turn off all checking of its block for this type. */
static inline bool tg_pi_escaped(int type, struct tg_pi_tuple t)
{
	if (t.app_tag != TG_PI_APP_ESCAPE)
		return false;
	return type != 3 || t.ref_tag == TG_PI_REF_ESCAPE;
}

/* How a command uses its protect field (SBC's RDPROTECT, WRPROTECT and VRPROTECT tables). */
enum tg_pi_use {
	TG_PI_USE_READ,           /* RDPROTECT: checks on the medium's PI */
	TG_PI_USE_WRITE,          /* WRPROTECT: checks on the PI received */
	TG_PI_USE_VERIFY_MEDIUM,  /* VRPROTECT with BYTCHK 00b: checks on the medium, no transfer */
	TG_PI_USE_VERIFY_COMPARE, /* VRPROTECT with BYTCHK 01b: checks on the medium's PI */
};

/* What one command does with protection information, decoded from its CDB and the format. */
struct tg_pi_cmd {
	int type;         /* 1..3 */
	uint8_t protect;  /* the CDB's protect field */
	bool on_wire;     /* PI travels interleaved with the data (protect != 0, data moves) */
	bool check_guard;
	bool check_app;   /* only where the application tag is known: a 32-byte CDB (ATO = 1) */
	bool check_ref;   /* type 1: the LBA; type 2: a 32-byte CDB's expected tag; type 3: never */
	uint64_t lba;     /* of the command's first block */
	uint32_t ref_tag; /* reference tag expected of (or generated for) the first block */
	uint16_t app_tag; /* expected application tag; generated one for WRPROTECT 000b */
	uint16_t app_mask;
	const struct tg_pi_profile *host; /* the guard on the wire */
};

/*
 * Fills c for a command on a device formatted with `type`. cdb32 is the 32-byte CDB (for its
 * expected tags) or NULL for 10/12/16-byte CDBs. Returns false for a reserved protect value.
 */
bool tg_pi_cmd_init(struct tg_pi_cmd *c, int type, uint8_t protect, enum tg_pi_use use,
		    uint64_t lba, const uint8_t *cdb32, const struct tg_pi_profile *host);

/* The reference tag block `index` of the command must carry (types 1 and 2 count up). */
static inline uint32_t tg_pi_expected_ref(const struct tg_pi_cmd *c, uint64_t index)
{
	return c->type == 3 ? c->ref_tag : (uint32_t)(c->ref_tag + index);
}

/*
 * Checks n tuples (pi) against their blocks (data, bs bytes each), which are blocks first ..
 * first + n - 1 of the command, with the guard computed by `guard`. Escaped tuples pass.
 * Returns TG_SR_OK, or GUARD/APP_TAG/REF_TAG_CHECK_FAILED with *bad = the failing block's
 * index within these n.
 */
enum tg_sense_reason tg_pi_check(const struct tg_pi_cmd *c, const struct tg_pi_profile *guard,
				 const uint8_t *data, const uint8_t *pi, uint32_t bs, uint32_t n,
				 uint64_t first, uint32_t *bad);

/* Generates n tuples for blocks first .. first + n - 1 of the command: medium guard,
 * c->app_tag, reference tags as tg_pi_expected_ref. */
void tg_pi_generate(const struct tg_pi_cmd *c, const uint8_t *data, uint8_t *pi, uint32_t bs,
		    uint32_t n, uint64_t first);

/* What a target generates for a write that brought no PI (WRPROTECT 000b and every other
 * writing command): CRC guard, application tag 0, reference tag = the LBA's low 32 bits for
 * types 1 and 2, FFFFFFFFh for type 3 (whose tag is the application client's). */
void tg_pi_generate_plain(int type, uint64_t lba, const uint8_t *data, uint8_t *pi, uint32_t bs,
			  uint32_t n);

/*
 * Rewrites each tuple's guard from profile `from` to profile `to`, keeping its verdict: a
 * guard that matched its block under `from` matches under `to`, one that did not gets the
 * complement of the right value, so an error nobody checked yet is still caught later.
 * Escaped tuples keep their guard.
 */
void tg_pi_convert(int type, const struct tg_pi_profile *from, const struct tg_pi_profile *to,
		   const uint8_t *data, uint8_t *pi, uint32_t bs, uint32_t n);

/*
 * The wire carries each block followed by its 8 PI bytes. split: buf holds n such
 * (bs + 8)-byte units; the data is compacted in place to n * bs bytes and the PI copied to pi.
 * interleave: the reverse, in place, into a buf with room for n * (bs + 8) bytes. Both count
 * the bytes they move with tg_stats_count_copy.
 */
void tg_pi_split(uint8_t *buf, uint8_t *pi, uint32_t bs, uint32_t n);
void tg_pi_interleave(uint8_t *buf, const uint8_t *pi, uint32_t bs, uint32_t n);

/* Device-level view. */
static inline bool tg_pi_enabled(const struct tg_device *dev)
{
	return dev && dev->pi_capable && dev->protection_type >= 1 && dev->protection_type <= 3;
}
const struct tg_pi_profile *tg_pi_host_profile(const struct tg_device *dev);
/* One line describing the device's PI format, e.g. for the start-up log. */
void tg_pi_describe(const struct tg_device *dev, char *buf, size_t len);

/* Advertising (called from core/spc.c and core/sbc.c). */
/* Byte 12 of READ CAPACITY(16) data: P_TYPE and PROT_EN (P_I_EXPONENT in byte 13 stays 0). */
uint8_t tg_pi_read_capacity_byte12(const struct tg_device *dev);
/* Extended INQUIRY Data VPD page (86h) body after the 4-byte header; returns its length. */
size_t tg_pi_vpd_extended_inquiry(const struct tg_task *task, uint8_t *body);

/*
 * SBC handlers (core/sbc_pi.c). The protect-field check of READ/WRITE(10/12/16) and the
 * protected read and write paths sbc.c hands over to; VERIFY and WRITE AND VERIFY wrappers
 * that take protected devices and pass the rest to core/sbc_compare.c; the 32-byte CDBs of
 * type 2; FORMAT UNIT.
 */
enum tg_sense_reason tg_pi_check_protect(struct tg_task *task, uint8_t protect);
void tg_pi_read(struct tg_task *task);
void tg_pi_write(struct tg_task *task);
enum tg_sense_reason tg_pi_parse_verify(struct tg_task *task);
void tg_pi_verify(struct tg_task *task);
enum tg_sense_reason tg_pi_parse_write_and_verify(struct tg_task *task);
void tg_pi_write_and_verify(struct tg_task *task);
enum tg_sense_reason tg_pi_parse_variable_length(struct tg_task *task);
void tg_pi_variable_length(struct tg_task *task);
enum tg_sense_reason tg_pi_parse_format_unit(struct tg_task *task);
void tg_pi_format_unit(struct tg_task *task);

#endif
