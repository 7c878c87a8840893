/* SPC commands every device type shares: INQUIRY and VPD pages, REPORT LUNS, REQUEST SENSE (mode pages are core/mode.c). */
#include <stdlib.h>
#include <string.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/nexus.h"
#include "core/pi.h"
#include "core/sbc_ext.h"
#include "core/scsi.h"
#include "core/task.h"
#include "core/xcopy.h"

#define TG_T10_VENDOR "TARGE   "
#define TG_PRODUCT_REVISION "0001"

/* Peripheral qualifier 011b, type 1Fh: no logical unit can exist at this LUN (SPC-4 6.6.2). */
#define PERIPHERAL_NO_LUN ((0x3 << 5) | SCSI_TYPE_NO_LUN)

enum {
	INQ_EVPD = 0x01,
	INQ_CMDDT = 0x02,
	INQ_STANDARD_LEN = 96,
};

/* Version descriptors, "no version claimed" variants (SPC-4 table 148). */
enum {
	VD_SAM5 = 0x00a0,
	VD_SPC4 = 0x0460,
	VD_SBC3 = 0x04c0,
	VD_SRP = 0x0940,
	VD_ISCSI = 0x0960,
};

enum {
	VPD_SUPPORTED = 0x00,
	VPD_SERIAL = 0x80,
	VPD_DEVICE_ID = 0x83,
	VPD_BLOCK_LIMITS = 0xb0,
	VPD_BLOCK_CHARACTERISTICS = 0xb1,
	VPD_LOGICAL_BLOCK_PROVISIONING = 0xb2,
	VPD_EXTENDED_INQUIRY = 0x86,
	VPD_THIRD_PARTY_COPY = 0x8f,
};

static uint8_t peripheral_byte(const struct tg_task *task)
{
	return task->dev ? task->dev->peripheral_type : PERIPHERAL_NO_LUN;
}

/* Copies src into an ASCII field of n bytes, space padded, with non-printable bytes replaced. */
static void put_ascii(uint8_t *dst, size_t n, const char *src)
{
	memset(dst, ' ', n);
	for (size_t i = 0; i < n && src && src[i]; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c >= 0x20 && c < 0x7f ? c : '_';
	}
}

static size_t standard_inquiry(const struct tg_task *task, uint8_t *buf)
{
	buf[0] = peripheral_byte(task);
	if (task->dev && task->dev->removable)
		buf[1] = 0x80; /* RMB (core/medium.c) */
	buf[2] = 0x06; /* VERSION: SPC-4 */
	buf[3] = 0x10 | 0x02; /* HISUP, RESPONSE DATA FORMAT 2 */
	buf[4] = INQ_STANDARD_LEN - 5;
	if (task->dev && task->dev->pi_capable)
		buf[5] |= 0x01; /* PROTECT: Extended INQUIRY and READ CAPACITY(16) say how */
	if (task->dev && task->dev->peripheral_type == SCSI_TYPE_DISK)
		buf[5] |= 0x08; /* 3PC: EXTENDED COPY between this daemon's LUNs (core/xcopy.c) */
	buf[7] = 0x02; /* CMDQUE */
	put_ascii(buf + 8, 8, TG_T10_VENDOR);
	const char *product = task->dev && task->dev->name && task->dev->name[0] ? task->dev->name
										   : "VIRTUAL-DISK";
	put_ascii(buf + 16, 16, product);
	put_ascii(buf + 32, 4, TG_PRODUCT_REVISION);

	uint16_t transport = task->nexus && task->nexus->transport == TG_TRANSPORT_SRP ? VD_SRP
										       : VD_ISCSI;
	uint16_t descriptors[] = { VD_SAM5, transport, VD_SPC4, VD_SBC3 };
	size_t count = sizeof(descriptors) / sizeof(descriptors[0]);
	if (task->dev && task->dev->peripheral_type != SCSI_TYPE_DISK)
		count--; /* SBC-3 only describes disks */
	for (size_t i = 0; i < count; i++)
		put_be16(buf + 58 + 2 * i, descriptors[i]);
	return INQ_STANDARD_LEN;
}

/* Each VPD page builder writes the page body (after the 4-byte header) and returns its length. */
static size_t vpd_supported(const struct tg_task *task, uint8_t *body);

static size_t vpd_serial(const struct tg_task *task, uint8_t *body)
{
	size_t n = strnlen(task->dev->serial, sizeof(task->dev->serial));
	memcpy(body, task->dev->serial, n);
	return n;
}

static size_t vpd_device_id(const struct tg_task *task, uint8_t *body)
{
	const struct tg_device *dev = task->dev;
	uint8_t *d = body;

	d[0] = 0x01; /* protocol identifier 0, code set binary */
	d[1] = 0x03; /* association: logical unit, designator type NAA */
	d[3] = 16;
	put_be64(d + 4, dev->naa);
	put_be64(d + 12, dev->naa_ext);
	d += 4 + 16;

	/* T10 vendor ID designator: vendor then a vendor-specific part, here the device name. */
	size_t name_len = dev->name ? strlen(dev->name) : 0;
	if (name_len > 255 - 8)
		name_len = 255 - 8;
	d[0] = 0x02; /* code set ASCII */
	d[1] = 0x01; /* association: logical unit, designator type T10 vendor ID */
	d[3] = (uint8_t)(8 + name_len);
	memcpy(d + 4, TG_T10_VENDOR, 8);
	put_ascii(d + 12, name_len, dev->name);
	d += 4 + 8 + name_len;
	return (size_t)(d - body);
}

static size_t vpd_block_characteristics(const struct tg_task *task, uint8_t *body)
{
	/* MEDIUM ROTATION RATE: 1 = non-rotating; 0 = not reported (we do not know the rpm). */
	put_be16(body + 4 - 4, task->dev->rotational ? 0 : 1);
	body[7 - 4] = (uint8_t)(tg_sbc_wabereq(task->dev) << 6);
	return 0x3c;
}

struct vpd_page {
	uint8_t code;
	bool disk_only;
	bool needs_lun;
	size_t (*build)(const struct tg_task *task, uint8_t *body);
};

static const struct vpd_page vpd_pages[] = {
	{ VPD_SUPPORTED, false, false, vpd_supported },
	{ VPD_SERIAL, false, true, vpd_serial },
	{ VPD_DEVICE_ID, false, true, vpd_device_id },
	/* Protection types and checks, task attributes (core/pi.c). */
	{ VPD_EXTENDED_INQUIRY, true, true, tg_pi_vpd_extended_inquiry },
	/* The copy manager's commands and limits (core/xcopy.c). */
	{ VPD_THIRD_PARTY_COPY, true, true, tg_xcopy_vpd_third_party_copy },
	/* Block Limits and provisioning are SBC's (core/sbc_provisioning.c): the limits sit
	 * beside the commands that enforce them. */
	{ VPD_BLOCK_LIMITS, true, true, tg_sbc_vpd_block_limits },
	{ VPD_BLOCK_CHARACTERISTICS, true, true, vpd_block_characteristics },
	{ VPD_LOGICAL_BLOCK_PROVISIONING, true, true, tg_sbc_vpd_logical_block_provisioning },
};

static bool vpd_page_available(const struct tg_task *task, const struct vpd_page *page)
{
	if (page->needs_lun && !task->dev)
		return false;
	return !page->disk_only || (task->dev && task->dev->peripheral_type == SCSI_TYPE_DISK);
}

static const struct vpd_page *vpd_find(const struct tg_task *task, uint8_t code)
{
	for (size_t i = 0; i < sizeof(vpd_pages) / sizeof(vpd_pages[0]); i++)
		if (vpd_pages[i].code == code && vpd_page_available(task, &vpd_pages[i]))
			return &vpd_pages[i];
	return NULL;
}

static size_t vpd_supported(const struct tg_task *task, uint8_t *body)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(vpd_pages) / sizeof(vpd_pages[0]); i++)
		if (vpd_page_available(task, &vpd_pages[i]))
			body[n++] = vpd_pages[i].code;
	return n;
}

enum tg_sense_reason tg_spc_parse_inquiry(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be16(cdb + 3);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if (cdb[1] & INQ_CMDDT)
		return tg_cmd_invalid_field(task, 1, 1);
	if (!(cdb[1] & INQ_EVPD) && cdb[2])
		return tg_cmd_invalid_field(task, 2, -1);
	if ((cdb[1] & INQ_EVPD) && !vpd_find(task, cdb[2]))
		return tg_cmd_invalid_field(task, 2, -1);
	return TG_SR_OK;
}

void tg_spc_inquiry(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	uint8_t buf[512];
	size_t len;
	memset(buf, 0, sizeof(buf));
	if (!(cdb[1] & INQ_EVPD)) {
		len = standard_inquiry(task, buf);
	} else {
		const struct vpd_page *page = vpd_find(task, cdb[2]);
		buf[0] = peripheral_byte(task);
		buf[1] = page->code;
		size_t body = page->build(task, buf + 4);
		put_be16(buf + 2, (uint16_t)body);
		len = 4 + body;
	}
	tg_task_reply(task, buf, len, get_be16(cdb + 3));
}

void tg_lun_encode(uint64_t lun, uint8_t out[8])
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun; /* peripheral device addressing, bus 0 */
	} else if (lun < 0x4000) {
		out[0] = (uint8_t)(0x40 | (lun >> 8)); /* flat space addressing */
		out[1] = (uint8_t)lun;
	} else if (lun < (1u << 24)) {
		out[0] = 0xd2; /* extended flat space, 3-byte address */
		put_be24(out + 1, (uint32_t)lun);
	} else {
		out[0] = 0xe2; /* long extended flat space, 5-byte address */
		out[1] = (uint8_t)(lun >> 32);
		put_be32(out + 2, (uint32_t)lun);
	}
}

/*
 * SAM-5 with LUICLR = 1: REPORTED LUNS DATA HAS CHANGED belongs to the I_T nexus, so once it is
 * reported on one LUN (or REPORT LUNS has been answered) no LUN of that nexus reports it again.
 */
static void clear_reported_luns_changed(struct tg_nexus *nexus)
{
	if (nexus->map && nexus->ua)
		tg_ua_clear(nexus, TG_SR_UA_REPORTED_LUNS_CHANGED);
}

enum {
	REPORT_LUNS_ALL_LOGICAL = 0x00,
	REPORT_LUNS_WELL_KNOWN = 0x01,
	REPORT_LUNS_ALL = 0x02,
	REPORT_LUNS_MIN_ALLOC = 16,
};

enum tg_sense_reason tg_spc_parse_report_luns(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be32(cdb + 6);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if (cdb[2] > REPORT_LUNS_ALL)
		return tg_cmd_invalid_field(task, 2, -1);
	if (task->scsi_len < REPORT_LUNS_MIN_ALLOC)
		return tg_cmd_invalid_field(task, 6, -1);
	return TG_SR_OK;
}

void tg_spc_report_luns(struct tg_task *task)
{
	const struct tg_lun_map *map = task->nexus->map;
	/* No well-known logical units exist, so SELECT REPORT 01h lists nothing. */
	size_t count = map && task->cdb[2] != REPORT_LUNS_WELL_KNOWN ? map->count : 0;
	size_t len = 8 + 8 * count;
	uint8_t *buf = calloc(1, len);
	if (!buf) {
		tg_task_complete(task, TG_SR_INTERNAL_TARGET_FAILURE);
		return;
	}
	put_be32(buf, (uint32_t)(8 * count));
	for (size_t i = 0; i < count; i++)
		tg_lun_encode(map->entries[i].lun, buf + 8 + 8 * i);
	clear_reported_luns_changed(task->nexus);
	tg_task_reply(task, buf, len, get_be32(task->cdb + 6));
	free(buf);
}

void tg_spc_test_unit_ready(struct tg_task *task) { tg_task_complete(task, TG_SR_OK); }

enum { REQUEST_SENSE_DESC = 0x01 };

enum tg_sense_reason tg_spc_parse_request_sense(struct tg_task *task)
{
	task->dir = TG_DIR_READ;
	task->scsi_len = task->cdb[4];
	return tg_cmd_check_control(task);
}

static size_t no_sense_data(uint8_t *buf, bool descriptor)
{
	if (descriptor) {
		buf[0] = 0x72;
		return 8;
	}
	buf[0] = 0x70;
	buf[7] = 10;
	return 18;
}

/*
 * Sense is always delivered with the status (autosense), so what REQUEST SENSE has to report is
 * a pending unit attention (SAM-5: reporting it here clears it) or, for a LUN that does not
 * exist, LOGICAL UNIT NOT SUPPORTED as parameter data with GOOD status (SPC-4 6.39).
 */
void tg_spc_request_sense(struct tg_task *task)
{
	bool descriptor = task->cdb[1] & REQUEST_SENSE_DESC;
	enum tg_sense_reason reason = TG_SR_LUN_NOT_SUPPORTED;
	if (task->lun_entry) {
		size_t index = (size_t)(task->lun_entry - task->nexus->map->entries);
		reason = tg_ua_take(task->nexus, index);
		if (reason == TG_SR_UA_REPORTED_LUNS_CHANGED)
			clear_reported_luns_changed(task->nexus);
	}
	uint8_t buf[TG_SENSE_MAX];
	memset(buf, 0, sizeof(buf));
	size_t len = reason == TG_SR_OK ? no_sense_data(buf, descriptor)
					: tg_sense_build(buf, sizeof(buf), reason, NULL, descriptor);
	tg_task_reply(task, buf, len, task->cdb[4]);
}
