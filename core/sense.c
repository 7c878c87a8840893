/* The one place where sense-reason codes become fixed- or descriptor-format sense data. */
#include "core/sense.h"

#include <string.h>

#include "core/scsi.h"

struct reason_entry {
	const char *name;
	uint8_t status, key, asc, ascq;
};

static const struct reason_entry reasons[TG_SR__COUNT] = {
#define TG_SR_ENTRY(nm, st, k, a, q) [TG_SR_##nm] = { #nm, st, k, a, q },
	TG_SENSE_REASONS(TG_SR_ENTRY)
#undef TG_SR_ENTRY
};

const char *tg_sense_reason_name(enum tg_sense_reason reason)
{
	return reason < TG_SR__COUNT ? reasons[reason].name : "UNKNOWN";
}

uint8_t tg_sense_reason_status(enum tg_sense_reason reason)
{
	return reason < TG_SR__COUNT ? reasons[reason].status : SCSI_STATUS_CHECK_CONDITION;
}

uint8_t tg_sense_reason_key(enum tg_sense_reason reason)
{
	return reason < TG_SR__COUNT ? reasons[reason].key : SCSI_SK_HARDWARE_ERROR;
}

static void field_pointer_bytes(uint8_t sks[3], const struct tg_sense_info *info)
{
	sks[0] = 0x80; /* SKSV */
	if (info->field_in_cdb)
		sks[0] |= 0x40;
	if (info->field_bit >= 0)
		sks[0] |= 0x08 | (uint8_t)(info->field_bit & 7);
	put_be16(sks + 1, info->field_byte);
}

size_t tg_sense_build(uint8_t *buf, size_t cap, enum tg_sense_reason reason,
		      const struct tg_sense_info *info, bool descriptor)
{
	if (reason >= TG_SR__COUNT)
		reason = TG_SR_INTERNAL_TARGET_FAILURE;
	const struct reason_entry *r = &reasons[reason];
	if (r->status != SCSI_STATUS_CHECK_CONDITION || cap < 18)
		return 0;
	memset(buf, 0, cap < TG_SENSE_MAX ? cap : TG_SENSE_MAX);
	if (!descriptor) {
		buf[0] = 0x70;
		buf[2] = r->key;
		buf[7] = 10; /* additional sense length */
		buf[12] = r->asc;
		buf[13] = r->ascq;
		/* Fixed format has 4 bytes of INFORMATION; a larger value cannot be reported
		 * there, and SPC-4 then requires VALID = 0 (descriptor format carries it). */
		if (info && info->has_information && info->information <= UINT32_MAX) {
			buf[0] |= 0x80; /* VALID */
			put_be32(buf + 3, (uint32_t)info->information);
		}
		if (info && info->has_field_pointer)
			field_pointer_bytes(buf + 15, info);
		return 18;
	}
	size_t len = 8;
	buf[0] = 0x72;
	buf[1] = r->key;
	buf[2] = r->asc;
	buf[3] = r->ascq;
	if (info && info->has_information && cap >= len + 12) {
		uint8_t *d = buf + len;
		d[0] = 0x00; /* information descriptor */
		d[1] = 0x0a;
		d[2] = 0x80;
		put_be64(d + 4, info->information);
		len += 12;
	}
	if (info && info->has_field_pointer && cap >= len + 8) {
		uint8_t *d = buf + len;
		d[0] = 0x02; /* sense key specific descriptor */
		d[1] = 0x06;
		field_pointer_bytes(d + 4, info);
		len += 8;
	}
	buf[7] = (uint8_t)(len - 8);
	return len;
}
