/* Mode pages: MODE SENSE reports them and MODE SELECT changes them, from one table of pages with their current, default and changeable values. */
#include "core/mode.h"

#include <string.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/nexus.h"
#include "core/pi.h"
#include "core/scsi.h"
#include "core/target.h"
#include "core/task.h"

enum {
	MODE_PAGE_CACHING = 0x08,
	MODE_PAGE_CONTROL = 0x0a,
	MODE_PAGE_INFO_EXCEPTIONS = 0x1c,
	MODE_PAGE_ALL = 0x3f,
	MODE_SUBPAGE_ALL = 0xff,
	MODE_PAGE_SPF = 0x40,
	MODE_PAGE_CODE = 0x3f,
};

enum { MODE_PC_CURRENT = 0, MODE_PC_CHANGEABLE = 1, MODE_PC_DEFAULT = 2, MODE_PC_SAVED = 3 };

enum {
	MODE_DBD = 0x08,
	MODE_LLBAA = 0x10,
	MODE_DSP_WP = 0x80,
	MODE_DSP_DPOFUA = 0x10,
	MODE_LONGLBA = 0x01,
	MODE_SELECT_PF = 0x10,
	MODE_SELECT_SP = 0x01,
	SHORT_BLOCK_DESCRIPTOR_LEN = 8,
	LONG_BLOCK_DESCRIPTOR_LEN = 16,
};

/* The bits MODE SELECT may change. */
enum {
	CACHING_WCE = 0x04,    /* byte 2 */
	CONTROL_D_SENSE = 0x04, /* byte 2 */
	CONTROL_SWP = 0x08,     /* byte 4 */
};

bool tg_mode_write_cache_enabled(const struct tg_device *dev)
{
	return dev->write_cache && !atomic_load_explicit(&dev->mode.write_cache_disabled,
							 memory_order_relaxed);
}

bool tg_mode_descriptor_sense(const struct tg_device *dev)
{
	return atomic_load_explicit(&dev->mode.descriptor_sense, memory_order_relaxed);
}

enum tg_sense_reason tg_mode_write_protection(const struct tg_lun_entry *entry,
					      const struct tg_device *dev)
{
	if ((entry && entry->read_only) || dev->backend_read_only)
		return TG_SR_WRITE_PROTECTED;
	if (atomic_load_explicit(&dev->mode.software_write_protect, memory_order_relaxed))
		return TG_SR_SOFTWARE_WRITE_PROTECTED;
	return TG_SR_OK;
}

void tg_mode_apply_write_cache(const struct tg_device *dev, struct tg_io *io)
{
	bool changes_data = io->op == TG_IO_WRITE || io->op == TG_IO_WRITE_ZEROES ||
			    io->op == TG_IO_UNMAP;
	if (changes_data && dev->write_cache && !tg_mode_write_cache_enabled(dev))
		io->fua = true;
}

/*
 * A page in one of its three forms: page points at the page code byte, the header is already
 * written, and fill sets the values of the PC asked for (the buffer is zeroed).
 */
struct mode_page {
	uint8_t code;
	uint8_t length; /* PAGE LENGTH: bytes after the 2-byte header */
	void (*fill)(const struct tg_device *dev, uint8_t pc, uint8_t *page);
	/* Takes the changeable bits from a validated page; true when a value changed. Called
	 * under dev->lock. NULL: nothing is changeable. */
	bool (*apply)(struct tg_device *dev, const uint8_t *page);
};

static bool store(atomic_bool *field, bool value)
{
	return atomic_exchange_explicit(field, value, memory_order_relaxed) != value;
}

static void fill_caching(const struct tg_device *dev, uint8_t pc, uint8_t *page)
{
	/* RCD stays 0: reads use the cache. WCE is changeable where the backend has a write
	 * cache to turn off; one without can only be write-through. */
	bool wce = pc == MODE_PC_CURRENT ? tg_mode_write_cache_enabled(dev) : dev->write_cache;
	if (wce)
		page[2] |= CACHING_WCE;
}

static bool apply_caching(struct tg_device *dev, const uint8_t *page)
{
	if (!dev->write_cache)
		return false;
	return store(&dev->mode.write_cache_disabled, !(page[2] & CACHING_WCE));
}

static void fill_control(const struct tg_device *dev, uint8_t pc, uint8_t *page)
{
	if (pc == MODE_PC_CHANGEABLE) {
		page[2] = CONTROL_D_SENSE;
		page[4] = CONTROL_SWP;
		return;
	}
	bool current = pc == MODE_PC_CURRENT;
	/* TST 000b: one task set for every I_T nexus (CLEAR TASK SET clears them all, see
	 * core/tmf.h). GLTSD 1: no log parameters are saved. */
	page[2] = 0x02;
	if (current && tg_mode_descriptor_sense(dev))
		page[2] |= CONTROL_D_SENSE;
	/* QUEUE ALGORITHM MODIFIER 1: commands run concurrently on the backend, so SIMPLE tasks
	 * may complete in any order. QErr 00b: a CHECK CONDITION leaves the other tasks be. */
	page[3] = 0x10;
	if (current && atomic_load_explicit(&dev->mode.software_write_protect, memory_order_relaxed))
		page[4] |= CONTROL_SWP;
	/* TAS 0: a task aborted by another nexus's TMF ends without a response (task.h). ATO 1
	 * on a protected unit: the application tag is the application client's, never changed
	 * by us, and checked where a 32-byte CDB says what it must be. */
	if (tg_pi_enabled(dev))
		page[5] |= 0x80;
}

static bool apply_control(struct tg_device *dev, const uint8_t *page)
{
	bool changed = store(&dev->mode.descriptor_sense, page[2] & CONTROL_D_SENSE);
	changed |= store(&dev->mode.software_write_protect, page[4] & CONTROL_SWP);
	return changed;
}

static void fill_info_exceptions(const struct tg_device *dev, uint8_t pc, uint8_t *page)
{
	if (pc != MODE_PC_CHANGEABLE)
		page[2] = 0x08; /* DEXCPT: no informational exception reporting */
}

static const struct mode_page mode_pages[] = {
	{ MODE_PAGE_CACHING, 0x12, fill_caching, apply_caching },
	{ MODE_PAGE_CONTROL, 0x0a, fill_control, apply_control },
	{ MODE_PAGE_INFO_EXCEPTIONS, 0x0a, fill_info_exceptions, NULL },
};

enum { MODE_PAGE_MAX = 2 + 0x12 };

static const struct mode_page *mode_page_find(uint8_t code)
{
	for (size_t i = 0; i < sizeof(mode_pages) / sizeof(mode_pages[0]); i++)
		if (mode_pages[i].code == code)
			return &mode_pages[i];
	return NULL;
}

/* Writes the page, header included, as MODE SENSE with PC = pc returns it. */
static size_t build_page(const struct mode_page *mp, const struct tg_device *dev, uint8_t pc,
			 uint8_t *page)
{
	memset(page, 0, 2u + mp->length);
	page[0] = mp->code; /* PS 0: parameters cannot be saved */
	page[1] = mp->length;
	mp->fill(dev, pc, page);
	return 2u + mp->length;
}

/* WP in the device-specific parameter: any reason writes are refused. */
static bool write_protected(const struct tg_task *task)
{
	return tg_mode_write_protection(task->lun_entry, task->dev) != TG_SR_OK;
}

enum tg_sense_reason tg_spc_parse_mode_sense(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	bool ten = cdb[0] == SCSI_MODE_SENSE_10;
	task->dir = TG_DIR_READ;
	task->scsi_len = ten ? get_be16(cdb + 7) : cdb[4];
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	uint8_t pc = cdb[2] >> 6, page = cdb[2] & 0x3f, subpage = cdb[3];
	if (pc == MODE_PC_SAVED) {
		tg_cmd_invalid_field(task, 2, 7);
		return TG_SR_SAVING_PARAMS_UNSUPPORTED;
	}
	if (page != MODE_PAGE_ALL && !mode_page_find(page))
		return tg_cmd_invalid_field(task, 2, 5);
	/* No page has subpages: subpage 0 and "all subpages" both mean the page_0 form. */
	if (subpage != 0 && subpage != MODE_SUBPAGE_ALL)
		return tg_cmd_invalid_field(task, 3, -1);
	return TG_SR_OK;
}

void tg_spc_mode_sense(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	const struct tg_device *dev = task->dev;
	bool ten = cdb[0] == SCSI_MODE_SENSE_10;
	uint8_t pc = cdb[2] >> 6, page_code = cdb[2] & 0x3f;
	size_t header = ten ? 8 : 4;
	size_t bd_len = (cdb[1] & MODE_DBD) ? 0
			: ten && (cdb[1] & MODE_LLBAA) ? LONG_BLOCK_DESCRIPTOR_LEN
						       : SHORT_BLOCK_DESCRIPTOR_LEN;
	uint8_t buf[256];
	memset(buf, 0, sizeof(buf));

	uint8_t *bd = buf + header;
	if (bd_len == SHORT_BLOCK_DESCRIPTOR_LEN) {
		put_be32(bd, dev->num_blocks > 0xffffffffu ? 0xffffffffu : (uint32_t)dev->num_blocks);
		put_be24(bd + 5, dev->block_size);
	} else if (bd_len == LONG_BLOCK_DESCRIPTOR_LEN) {
		put_be64(bd, dev->num_blocks);
		put_be32(bd + 12, dev->block_size);
	}
	size_t off = header + bd_len;
	for (size_t i = 0; i < sizeof(mode_pages) / sizeof(mode_pages[0]); i++) {
		const struct mode_page *mp = &mode_pages[i];
		if (page_code == MODE_PAGE_ALL || page_code == mp->code)
			off += build_page(mp, dev, pc, buf + off);
	}

	uint8_t dsp = MODE_DSP_DPOFUA | (write_protected(task) ? MODE_DSP_WP : 0);
	if (ten) {
		put_be16(buf, (uint16_t)(off - 2));
		buf[3] = dsp;
		buf[4] = bd_len == LONG_BLOCK_DESCRIPTOR_LEN ? MODE_LONGLBA : 0;
		put_be16(buf + 6, (uint16_t)bd_len);
	} else {
		buf[0] = (uint8_t)(off - 1);
		buf[2] = dsp;
		buf[3] = (uint8_t)bd_len;
	}
	tg_task_reply(task, buf, off, ten ? get_be16(cdb + 7) : cdb[4]);
}

enum tg_sense_reason tg_spc_parse_mode_select(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	bool ten = cdb[0] == SCSI_MODE_SELECT_10;
	task->scsi_len = ten ? get_be16(cdb + 7) : cdb[4];
	task->dir = task->scsi_len ? TG_DIR_WRITE : TG_DIR_NONE;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* Nothing is saveable (MODE SENSE reports PS = 0). */
	if (cdb[1] & MODE_SELECT_SP)
		return tg_cmd_invalid_field(task, 1, 0);
	/* PF = 0 would mean vendor-specific pages, and there are none. */
	if (task->scsi_len && !(cdb[1] & MODE_SELECT_PF))
		return tg_cmd_invalid_field(task, 1, 4);
	return TG_SR_OK;
}

static enum tg_sense_reason invalid_param(struct tg_task *task, size_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = false;
	task->sense_info.field_byte = (uint16_t)byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_PARAM_LIST;
}

static int8_t highest_bit(uint8_t bits)
{
	int8_t bit = 7;
	while (bit > 0 && !(bits & (1u << bit)))
		bit--;
	return bit;
}

/*
 * The mode parameter header and block descriptor: nothing in them is changeable, so they
 * must describe the medium as it is. Sets *pages to the offset of the first page.
 */
static enum tg_sense_reason check_header(struct tg_task *task, const uint8_t *p, size_t len,
					 size_t *pages)
{
	const struct tg_device *dev = task->dev;
	bool ten = task->cdb[0] == SCSI_MODE_SELECT_10;
	size_t header = ten ? 8 : 4;
	if (len < header)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	/* MODE DATA LENGTH and the device-specific parameter (WP, DPOFUA) are reserved in MODE
	 * SELECT; the medium type of a disk is 00h. */
	size_t medium_type = ten ? 2 : 1;
	if (p[medium_type])
		return invalid_param(task, medium_type, -1);
	bool longlba = ten && (p[4] & MODE_LONGLBA);
	size_t bd_len = ten ? get_be16(p + 6) : p[3];
	size_t bd_len_at = ten ? 6 : 3;
	size_t expected = longlba ? LONG_BLOCK_DESCRIPTOR_LEN : SHORT_BLOCK_DESCRIPTOR_LEN;
	if (bd_len != 0 && bd_len != expected)
		return invalid_param(task, bd_len_at, -1);
	if (header + bd_len > len)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	if (bd_len) {
		/* NUMBER OF LOGICAL BLOCKS 0 keeps the capacity; the current capacity may be
		 * repeated. The block length cannot change. */
		const uint8_t *bd = p + header;
		uint64_t blocks = longlba ? get_be64(bd) : get_be32(bd);
		uint64_t current = longlba || dev->num_blocks <= 0xffffffffu ? dev->num_blocks
									    : 0xffffffffu;
		if (blocks != 0 && blocks != current)
			return invalid_param(task, header, -1);
		size_t length_at = longlba ? 12 : 5;
		uint32_t block_len = longlba ? get_be32(bd + 12) : get_be24(bd + 5);
		if (block_len != dev->block_size)
			return invalid_param(task, header + length_at, -1);
		if (!longlba && bd[4])
			return invalid_param(task, header + 4, -1); /* DENSITY CODE */
	}
	*pages = header + bd_len;
	return TG_SR_OK;
}

/* One page of the list: known, complete, and equal to the current values wherever its bits
 * are not changeable. */
static enum tg_sense_reason check_page(struct tg_task *task, const uint8_t *p, size_t len,
				       size_t off, const struct mode_page **found)
{
	if (len - off < 2)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	/* PS is reserved in MODE SELECT and ignored: a page read back with MODE SENSE is sent
	 * as it is. */
	if (p[off] & MODE_PAGE_SPF)
		return invalid_param(task, off, 6);
	const struct mode_page *mp = mode_page_find(p[off] & MODE_PAGE_CODE);
	if (!mp)
		return invalid_param(task, off, 5);
	if (p[off + 1] != mp->length)
		return invalid_param(task, off + 1, -1);
	if (off + 2u + mp->length > len)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	uint8_t current[MODE_PAGE_MAX], changeable[MODE_PAGE_MAX];
	build_page(mp, task->dev, MODE_PC_CURRENT, current);
	build_page(mp, task->dev, MODE_PC_CHANGEABLE, changeable);
	for (size_t i = 2; i < 2u + mp->length; i++) {
		uint8_t fixed = (uint8_t)((p[off + i] ^ current[i]) & ~changeable[i]);
		if (fixed)
			return invalid_param(task, off + i, highest_bit(fixed));
	}
	*found = mp;
	return TG_SR_OK;
}

/*
 * Validates the whole parameter list, then applies it: a list with any error changes
 * nothing. Runs under dev->lock so that two MODE SELECTs cannot interleave.
 */
static enum tg_sense_reason select_locked(struct tg_task *task, bool *changed)
{
	const uint8_t *p = task->data.base;
	size_t len = task->data.len;
	size_t off;
	enum tg_sense_reason reason = check_header(task, p, len, &off);
	if (reason != TG_SR_OK)
		return reason;
	for (size_t at = off; at < len;) {
		const struct mode_page *mp;
		reason = check_page(task, p, len, at, &mp);
		if (reason != TG_SR_OK)
			return reason;
		at += 2u + mp->length;
	}
	/* Through a read-only mapping the device-wide parameters stay as they are: one
	 * initiator allowed to read may not write-protect (or cache) the medium of others. */
	for (size_t at = off; at < len;) {
		const struct mode_page *mp = mode_page_find(p[at] & MODE_PAGE_CODE);
		uint8_t current[MODE_PAGE_MAX];
		build_page(mp, task->dev, MODE_PC_CURRENT, current);
		if (memcmp(current + 2, p + at + 2, mp->length) != 0 && task->lun_entry->read_only)
			return TG_SR_WRITE_PROTECTED;
		at += 2u + mp->length;
	}
	for (size_t at = off; at < len;) {
		const struct mode_page *mp = mode_page_find(p[at] & MODE_PAGE_CODE);
		if (mp->apply && mp->apply(task->dev, p + at))
			*changed = true;
		at += 2u + mp->length;
	}
	return TG_SR_OK;
}

void tg_spc_mode_select(struct tg_task *task)
{
	if (task->data.len == 0) {
		tg_task_complete(task, TG_SR_OK);
		return;
	}
	bool changed = false;
	pthread_mutex_lock(&task->dev->lock);
	enum tg_sense_reason reason = select_locked(task, &changed);
	pthread_mutex_unlock(&task->dev->lock);
	/* SPC-4 7.5.1: parameters shared by several I_T nexuses that one of them changed are
	 * announced to the others. */
	if (changed)
		tg_ua_establish_device(task->dev, TG_SR_UA_MODE_PARAMETERS_CHANGED, task->nexus);
	tg_task_complete(task, reason);
}
