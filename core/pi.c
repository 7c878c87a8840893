/* Protection information arithmetic: profiles, guards (ISA-L CRC16 T10-DIF, IP checksum), SBC's check tables, generation, conversion, wire interleave. */
#include "core/pi.h"

#include <isa-l/crc.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/task.h"

uint16_t tg_pi_crc16(const uint8_t *data, size_t len) { return crc16_t10dif(0, data, len); }

/*
 * The ones'-complement sum does not depend on the byte order it is taken in, up to one final
 * byte swap (RFC 1071 2(B)), so it is summed in native 32-bit halves of 64-bit loads, with the
 * carries kept in the upper half of 64-bit accumulators and folded in at the end.
 */
uint16_t tg_pi_ip_checksum(const uint8_t *data, size_t len)
{
	uint64_t sum = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	/* Four independent sums keep the adds from waiting on each other. */
	for (; i + 32 <= len; i += 32) {
		uint64_t w[4];
		memcpy(w, data + i, 32);
		sum += (uint32_t)w[0] + (w[0] >> 32);
		s1 += (uint32_t)w[1] + (w[1] >> 32);
		s2 += (uint32_t)w[2] + (w[2] >> 32);
		s3 += (uint32_t)w[3] + (w[3] >> 32);
	}
	/* Each term is below 2^33 and there are fewer than 2^29 of them per sum: no overflow
	 * for any length below 2^34 bytes, far beyond one protection interval. */
	sum = (sum & 0xffffffff) + (sum >> 32) + (s1 & 0xffffffff) + (s1 >> 32) +
	      (s2 & 0xffffffff) + (s2 >> 32) + (s3 & 0xffffffff) + (s3 >> 32);
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, data + i, 8);
		sum += (uint32_t)w;
		sum += w >> 32;
	}
	for (; i + 2 <= len; i += 2) {
		uint16_t h;
		memcpy(&h, data + i, 2);
		sum += h;
	}
	if (i < len) {
		uint16_t h = 0;
		memcpy(&h, data + i, 1); /* the odd byte is padded with a zero after it */
		sum += h;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t folded = (uint16_t)sum;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	folded = __builtin_bswap16(folded);
#endif
	return (uint16_t)~folded;
}

static const struct tg_pi_profile profiles[] = {
	{
		.name = "t10dif-crc16",
		.guard_name = "CRC-16/T10-DIF (polynomial 8BB7h, initial value 0)",
		.guard = tg_pi_crc16,
		.tuple_bytes = TG_PI_TUPLE_BYTES,
		.interval_bytes = 0,
		.guard_bits = 16,
		.app_tag_bits = 16,
		.ref_tag_bits = 32,
		.sbc_guard = true,
	},
	{
		.name = "ip-checksum",
		.guard_name = "Internet checksum (RFC 1071) of the interval, complemented",
		.guard = tg_pi_ip_checksum,
		.tuple_bytes = TG_PI_TUPLE_BYTES,
		.interval_bytes = 0,
		.guard_bits = 16,
		.app_tag_bits = 16,
		.ref_tag_bits = 32,
		.sbc_guard = false,
	},
};

size_t tg_pi_profile_count(void) { return sizeof(profiles) / sizeof(profiles[0]); }

const struct tg_pi_profile *tg_pi_profile_at(size_t index)
{
	return index < tg_pi_profile_count() ? &profiles[index] : NULL;
}

const struct tg_pi_profile *tg_pi_profile_find(const char *name)
{
	for (size_t i = 0; name && i < tg_pi_profile_count(); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const struct tg_pi_profile *tg_pi_medium_profile(void) { return &profiles[0]; }

const struct tg_pi_profile *tg_pi_host_profile(const struct tg_device *dev)
{
	return dev && dev->pi_host_profile ? dev->pi_host_profile : tg_pi_medium_profile();
}

bool tg_pi_cmd_init(struct tg_pi_cmd *c, int type, uint8_t protect, enum tg_pi_use use,
		    uint64_t lba, const uint8_t *cdb32, const struct tg_pi_profile *host)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->protect = protect;
	c->lba = lba;
	c->host = host ? host : tg_pi_medium_profile();
	bool guard = false, app = false, ref = false;
	switch (protect) {
	case 0: /* a write brings no PI to check; reads and verifies check the medium's */
		guard = app = ref = use != TG_PI_USE_WRITE;
		break;
	case 1:
	case 5:
		guard = app = ref = true;
		break;
	case 2:
		app = ref = true;
		break;
	case 3:
		break;
	case 4:
		guard = true;
		break;
	default:
		return false;
	}
	/* BYTCHK 01b with VRPROTECT != 0: the medium is not checked, the Data-Out PI is (as a
	 * write's) and then compared with the medium's. */
	if (use == TG_PI_USE_VERIFY_COMPARE && protect != 0)
		guard = app = ref = false;
	c->on_wire = protect != 0 && (use == TG_PI_USE_READ || use == TG_PI_USE_WRITE);
	if (cdb32) {
		c->ref_tag = get_be32(cdb32 + 20);
		c->app_tag = get_be16(cdb32 + 24);
		c->app_mask = get_be16(cdb32 + 26);
	} else {
		c->ref_tag = type == 3 ? TG_PI_REF_ESCAPE : (uint32_t)lba;
	}
	c->check_guard = guard;
	/* ATO = 1: the application client owns the tag, and only a 32-byte CDB tells us what it
	 * should be (there is no Application Tag mode page). */
	c->check_app = app && cdb32 && c->app_mask;
	c->check_ref = ref && (type == 1 || (type == 2 && cdb32));
	return true;
}

enum tg_sense_reason tg_pi_check(const struct tg_pi_cmd *c, const struct tg_pi_profile *guard,
				 const uint8_t *data, const uint8_t *pi, uint32_t bs, uint32_t n,
				 uint64_t first, uint32_t *bad)
{
	if (!c->check_guard && !c->check_app && !c->check_ref)
		return TG_SR_OK;
	for (uint32_t i = 0; i < n; i++) {
		struct tg_pi_tuple t = tg_pi_tuple_get(pi + (size_t)i * TG_PI_TUPLE_BYTES);
		if (tg_pi_escaped(c->type, t))
			continue;
		enum tg_sense_reason reason = TG_SR_OK;
		if (c->check_guard && t.guard != guard->guard(data + (size_t)i * bs, bs))
			reason = TG_SR_GUARD_CHECK_FAILED;
		else if (c->check_app && ((t.app_tag ^ c->app_tag) & c->app_mask))
			reason = TG_SR_APP_TAG_CHECK_FAILED;
		else if (c->check_ref && t.ref_tag != tg_pi_expected_ref(c, first + i))
			reason = TG_SR_REF_TAG_CHECK_FAILED;
		if (reason != TG_SR_OK) {
			*bad = i;
			return reason;
		}
	}
	return TG_SR_OK;
}

void tg_pi_generate(const struct tg_pi_cmd *c, const uint8_t *data, uint8_t *pi, uint32_t bs,
		    uint32_t n, uint64_t first)
{
	for (uint32_t i = 0; i < n; i++) {
		struct tg_pi_tuple t = { tg_pi_crc16(data + (size_t)i * bs, bs), c->app_tag,
					 tg_pi_expected_ref(c, first + i) };
		tg_pi_tuple_put(pi + (size_t)i * TG_PI_TUPLE_BYTES, t);
	}
}

void tg_pi_generate_plain(int type, uint64_t lba, const uint8_t *data, uint8_t *pi, uint32_t bs,
			  uint32_t n)
{
	struct tg_pi_cmd c;
	tg_pi_cmd_init(&c, type, 0, TG_PI_USE_WRITE, lba, NULL, NULL);
	tg_pi_generate(&c, data, pi, bs, n, 0);
}

void tg_pi_convert(int type, const struct tg_pi_profile *from, const struct tg_pi_profile *to,
		   const uint8_t *data, uint8_t *pi, uint32_t bs, uint32_t n)
{
	if (from == to)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *p = pi + (size_t)i * TG_PI_TUPLE_BYTES;
		struct tg_pi_tuple t = tg_pi_tuple_get(p);
		if (tg_pi_escaped(type, t))
			continue;
		const uint8_t *block = data + (size_t)i * bs;
		bool valid = t.guard == from->guard(block, bs);
		uint16_t guard = to->guard(block, bs);
		put_be16(p, valid ? guard : (uint16_t)~guard);
	}
}

void tg_pi_split(uint8_t *buf, uint8_t *pi, uint32_t bs, uint32_t n)
{
	size_t unit = (size_t)bs + TG_PI_TUPLE_BYTES;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *src = buf + i * unit;
		memcpy(pi + (size_t)i * TG_PI_TUPLE_BYTES, src + bs, TG_PI_TUPLE_BYTES);
		/* Forward order: block i moves down by 8 * i bytes, never onto a later block. */
		if (i)
			memmove(buf + (size_t)i * bs, src, bs);
	}
	if (n)
		tg_stats_count_copy((size_t)n * TG_PI_TUPLE_BYTES + (size_t)(n - 1) * bs);
}

void tg_pi_interleave(uint8_t *buf, const uint8_t *pi, uint32_t bs, uint32_t n)
{
	size_t unit = (size_t)bs + TG_PI_TUPLE_BYTES;
	/* Backward order: block i moves up onto room that later blocks have already left. */
	for (uint32_t i = n; i-- > 0;) {
		uint8_t *dst = buf + i * unit;
		if (i)
			memmove(dst, buf + (size_t)i * bs, bs);
		memcpy(dst + bs, pi + (size_t)i * TG_PI_TUPLE_BYTES, TG_PI_TUPLE_BYTES);
	}
	if (n)
		tg_stats_count_copy((size_t)n * TG_PI_TUPLE_BYTES + (size_t)(n - 1) * bs);
}

void tg_pi_describe(const struct tg_device *dev, char *buf, size_t len)
{
	if (!dev->pi_capable) {
		snprintf(buf, len, "no protection information");
		return;
	}
	const struct tg_pi_profile *medium = tg_pi_medium_profile();
	const struct tg_pi_profile *host = tg_pi_host_profile(dev);
	if (!tg_pi_enabled(dev)) {
		snprintf(buf, len, "protection capable, formatted without protection information");
		return;
	}
	snprintf(buf, len,
		 "protection type %d, %u+%u bytes per block, PI profile %s on the medium, %s "
		 "on the wire",
		 dev->protection_type, dev->block_size, medium->tuple_bytes, medium->name,
		 host->name);
}

uint8_t tg_pi_read_capacity_byte12(const struct tg_device *dev)
{
	if (!tg_pi_enabled(dev))
		return 0;
	return (uint8_t)(((dev->protection_type - 1) << 1) | 0x01); /* P_TYPE, PROT_EN */
}

enum {
	XINQ_SPT_TYPES_1_2_3 = 0x7 << 3,
	XINQ_GRD_CHK = 0x04,
	XINQ_APP_CHK = 0x02,
	XINQ_REF_CHK = 0x01,
	XINQ_SIMPSUP = 0x01,
	XINQ_V_SUP = 0x01,
	XINQ_LUICLR = 0x01,
	XINQ_PAGE_LENGTH = 0x3c,
};

size_t tg_pi_vpd_extended_inquiry(const struct tg_task *task, uint8_t *body)
{
	const struct tg_device *dev = task->dev;
	memset(body, 0, XINQ_PAGE_LENGTH);
	/* FORMAT UNIT offers every type, and every check is made where SBC asks for it. */
	if (dev->pi_capable)
		body[4 - 4] = XINQ_SPT_TYPES_1_2_3 | XINQ_GRD_CHK | XINQ_APP_CHK | XINQ_REF_CHK;
	/* SIMPLE tasks only: ORDERED and HEAD OF QUEUE are not given their ordering. */
	body[5 - 4] = XINQ_SIMPSUP;
	if (dev->write_cache)
		body[6 - 4] = XINQ_V_SUP;
	body[7 - 4] = XINQ_LUICLR;
	return XINQ_PAGE_LENGTH;
}
