/* Unit tests for core/mode.c: MODE SELECT against MODE SENSE, D_SENSE, SWP, WCE and the UA the other nexuses get. */
#include "fixture.h"

#include "core/mode.h"

/* LUN 0: disk0 with a write cache; LUN 1: disk1 without one; LUN 2: disk0 read-only. */
enum { LUN_CACHED = 0, LUN_UNCACHED = 1, LUN_RO = 2, BS = 512 };
enum { ONE = 0, TWO = 1 }; /* the initiators */

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:mode",
	.disks = { { "disk0", BS, 2048 }, { "disk1", BS, 2048 } },
	.luns = { { LUN_CACHED, 0, false }, { LUN_UNCACHED, 1, false }, { LUN_RO, 0, true } },
	.lun_count = 3,
	.initiators = { [ONE] = { "iqn.2026-11.test:one", NULL, false },
			[TWO] = { "iqn.2026-11.test:two", NULL, false } },
};

static int setup(void **state)
{
	struct fixture *f = fixture_new(&spec);
	f->dev[1].write_cache = false;
	*state = f;
	return 0;
}

static struct fake_response *mode_sense6(struct fixture *f, struct tg_nexus *nexus, uint64_t lun,
					 uint8_t pc, uint8_t page)
{
	uint8_t cdb[6] = { SCSI_MODE_SENSE_6, 0x08 /* DBD */, (uint8_t)(pc << 6 | page), 0, 255, 0 };
	return fake_submit(&f->cmd, nexus, lun, cdb, sizeof(cdb), TG_DIR_READ, 255);
}

/* The page as MODE SENSE(6) returns it (no block descriptor), copied into page. */
static void read_page(struct fixture *f, uint64_t lun, uint8_t pc, uint8_t code, uint8_t *page,
		      size_t len)
{
	struct fake_response *r = mode_sense6(f, f->nexus[ONE], lun, pc, code);
	assert_good(r);
	assert_int_equal(r->data[3], 0);
	assert_int_equal(r->data[4] & 0x3f, code);
	assert_int_equal(r->data[5] + 2u, len);
	memcpy(page, r->data + 4, len);
}

static struct fake_response *mode_select6(struct fixture *f, struct tg_nexus *nexus, uint64_t lun,
					  uint8_t byte1, const uint8_t *list, uint8_t len)
{
	uint8_t cdb[6] = { SCSI_MODE_SELECT_6, byte1, 0, 0, len, 0 };
	return fake_submit_write(&f->cmd, nexus, lun, cdb, sizeof(cdb), list, len);
}

/* A MODE SELECT(6) parameter list: 4-byte header without block descriptor, then one page. */
static uint8_t build_list(uint8_t *list, const uint8_t *page, size_t page_len)
{
	memset(list, 0, 4);
	memcpy(list + 4, page, page_len);
	return (uint8_t)(4 + page_len);
}

enum { CONTROL_LEN = 12, CACHING_LEN = 20 };

static void set_control_bits(struct fixture *f, struct tg_nexus *nexus, uint8_t byte, uint8_t bits,
			     bool on)
{
	uint8_t page[CONTROL_LEN], list[64];
	read_page(f, LUN_CACHED, 0, 0x0a, page, sizeof(page));
	page[byte] = on ? page[byte] | bits : page[byte] & (uint8_t)~bits;
	struct fake_response *r = mode_select6(f, nexus, LUN_CACHED, 0x10, list,
					       build_list(list, page, sizeof(page)));
	assert_good(r);
}

static struct fake_response *read10(struct fixture *f, uint64_t lun, uint32_t lba)
{
	uint8_t cdb[10] = { SCSI_READ_10 };
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, 1);
	return fake_submit(&f->cmd, f->nexus[ONE], lun, cdb, sizeof(cdb), TG_DIR_READ, BS);
}

static struct fake_response *write10(struct fixture *f, uint64_t lun, uint32_t lba,
				     const uint8_t *data)
{
	uint8_t cdb[10] = { SCSI_WRITE_10 };
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, 1);
	return fake_submit_write(&f->cmd, f->nexus[ONE], lun, cdb, sizeof(cdb), data, BS);
}

static struct fake_response *tur(struct fixture *f, struct tg_nexus *nexus, uint64_t lun)
{
	uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	return fake_submit(&f->cmd, nexus, lun, cdb, sizeof(cdb), TG_DIR_NONE, 0);
}

static void test_changeable_masks(void **state)
{
	struct fixture *f = *state;
	uint8_t page[CACHING_LEN];
	read_page(f, LUN_CACHED, 1, 0x08, page, sizeof(page));
	for (size_t i = 2; i < sizeof(page); i++)
		assert_int_equal(page[i], i == 2 ? 0x04 : 0); /* WCE */
	/* Without a write cache there is nothing to turn off. */
	read_page(f, LUN_UNCACHED, 1, 0x08, page, sizeof(page));
	for (size_t i = 2; i < sizeof(page); i++)
		assert_int_equal(page[i], 0);
	uint8_t control[CONTROL_LEN];
	read_page(f, LUN_CACHED, 1, 0x0a, control, sizeof(control));
	for (size_t i = 2; i < sizeof(control); i++)
		assert_int_equal(control[i], i == 2 ? 0x04 : i == 4 ? 0x08 : 0); /* D_SENSE, SWP */
	uint8_t ie[CONTROL_LEN];
	read_page(f, LUN_CACHED, 1, 0x1c, ie, sizeof(ie));
	for (size_t i = 2; i < sizeof(ie); i++)
		assert_int_equal(ie[i], 0);
}

/*
 * MODE SELECT accepts exactly what MODE SENSE calls changeable: every single bit of every
 * page, flipped from its current value, is taken if and only if its changeable bit is set.
 */
static void test_select_accepts_exactly_the_changeable_bits(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint8_t code, len;
	} pages[] = { { 0x08, CACHING_LEN }, { 0x0a, CONTROL_LEN }, { 0x1c, CONTROL_LEN } };
	for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
		uint8_t current[32], changeable[32], list[64];
		read_page(f, LUN_CACHED, 0, pages[p].code, current, pages[p].len);
		read_page(f, LUN_CACHED, 1, pages[p].code, changeable, pages[p].len);
		for (size_t byte = 2; byte < pages[p].len; byte++) {
			for (int bit = 0; bit < 8; bit++) {
				uint8_t page[32];
				memcpy(page, current, pages[p].len);
				page[byte] ^= (uint8_t)(1u << bit);
				uint8_t len = build_list(list, page, pages[p].len);
				struct fake_response *r =
					mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len);
				if (changeable[byte] & (1u << bit)) {
					assert_good(r);
					/* ...and put back. */
					len = build_list(list, current, pages[p].len);
					want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10,
							       list, len));
				} else {
					assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
					/* SKSV, C/D = 0 (parameter list), BPV, the bit, the byte. */
					assert_int_equal(r->sense[15], 0x80 | 0x08 | bit);
					assert_int_equal(get_be16(r->sense + 16), 4 + byte);
				}
			}
		}
	}
}

static void test_d_sense(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = read10(f, LUN_CACHED, 5000);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00); /* fixed format */
	set_control_bits(f, f->nexus[ONE], 2, 0x04, true);
	uint8_t page[CONTROL_LEN];
	read_page(f, LUN_CACHED, 0, 0x0a, page, sizeof(page));
	assert_int_equal(page[2] & 0x04, 0x04);
	assert_true(tg_mode_descriptor_sense(&f->dev[0]));
	r = read10(f, LUN_CACHED, 5000);
	assert_int_equal(r->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(r->sense[0], 0x72);
	assert_int_equal(r->sense[1], SCSI_SK_ILLEGAL_REQUEST);
	assert_int_equal(r->sense[2], 0x21);
	assert_int_equal(r->sense[3], 0x00);
	/* The other device keeps fixed-format sense. */
	r = read10(f, LUN_UNCACHED, 5000);
	assert_int_equal(r->sense[0], 0x70);
	set_control_bits(f, f->nexus[ONE], 2, 0x04, false);
	r = read10(f, LUN_CACHED, 5000);
	assert_int_equal(r->sense[0], 0x70);
}

static void test_swp(void **state)
{
	struct fixture *f = *state;
	uint8_t data[BS];
	memset(data, 0x5a, sizeof(data));
	set_control_bits(f, f->nexus[ONE], 4, 0x08, true);
	struct fake_response *r = write10(f, LUN_CACHED, 3, data);
	assert_check(r, SCSI_SK_DATA_PROTECT, 0x27, 0x02);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
	want_good(read10(f, LUN_CACHED, 3));
	/* MODE SENSE shows WP, and SWP in the control page. */
	r = mode_sense6(f, f->nexus[ONE], LUN_CACHED, 0, 0x0a);
	assert_int_equal(r->data[2] & 0x80, 0x80);
	assert_int_equal(r->data[4 + 4] & 0x08, 0x08);
	/* MODE SELECT still works, to clear it. */
	set_control_bits(f, f->nexus[ONE], 4, 0x08, false);
	want_good(write10(f, LUN_CACHED, 3, data));
	assert_memory_equal(f->disk[0].bytes + 3 * BS, data, BS);
	r = mode_sense6(f, f->nexus[ONE], LUN_CACHED, 0, 0x0a);
	assert_int_equal(r->data[2] & 0x80, 0);
}

static void test_parameters_changed_ua(void **state)
{
	struct fixture *f = *state;
	set_control_bits(f, f->nexus[ONE], 4, 0x08, true);
	/* The issuer hears nothing, every other nexus of the device does, once. */
	want_good(tur(f, f->nexus[ONE], LUN_CACHED));
	struct fake_response *r = tur(f, f->nexus[TWO], LUN_CACHED);
	assert_check(r, SCSI_SK_UNIT_ATTENTION, 0x2a, 0x01);
	r = tur(f, f->nexus[TWO], LUN_RO);
	assert_check(r, SCSI_SK_UNIT_ATTENTION, 0x2a, 0x01);
	want_good(tur(f, f->nexus[TWO], LUN_CACHED));
	/* The other device's LUN is untouched. */
	want_good(tur(f, f->nexus[TWO], LUN_UNCACHED));
	/* Sending the current values again changes nothing and announces nothing. */
	uint8_t page[CONTROL_LEN], list[64];
	read_page(f, LUN_CACHED, 0, 0x0a, page, sizeof(page));
	want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list,
				 build_list(list, page, sizeof(page))));
	want_good(tur(f, f->nexus[TWO], LUN_CACHED));
}

static void test_write_cache(void **state)
{
	struct fixture *f = *state;
	uint8_t data[BS], page[CACHING_LEN], list[64];
	memset(data, 1, sizeof(data));
	want_good(write10(f, LUN_CACHED, 1, data));
	assert_false(f->disk[0].last.fua);
	read_page(f, LUN_CACHED, 0, 0x08, page, sizeof(page));
	assert_int_equal(page[2] & 0x04, 0x04);
	page[2] &= (uint8_t)~0x04;
	want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list,
				 build_list(list, page, sizeof(page))));
	assert_false(tg_mode_write_cache_enabled(&f->dev[0]));
	read_page(f, LUN_CACHED, 0, 0x08, page, sizeof(page));
	assert_int_equal(page[2] & 0x04, 0);
	/* Default values still show the backend's cache. */
	uint8_t defaults[CACHING_LEN];
	read_page(f, LUN_CACHED, 2, 0x08, defaults, sizeof(defaults));
	assert_int_equal(defaults[2] & 0x04, 0x04);
	/* Write-through: every write is durable before its status. */
	want_good(write10(f, LUN_CACHED, 1, data));
	assert_true(f->disk[0].last.fua);
	page[2] |= 0x04;
	want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list,
				 build_list(list, page, sizeof(page))));
	want_good(write10(f, LUN_CACHED, 1, data));
	assert_false(f->disk[0].last.fua);
}

static void test_select_cdb_checks(void **state)
{
	struct fixture *f = *state;
	uint8_t page[CONTROL_LEN], list[64];
	read_page(f, LUN_CACHED, 0, 0x0a, page, sizeof(page));
	uint8_t len = build_list(list, page, sizeof(page));
	/* SP: nothing can be saved. */
	struct fake_response *r = mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x11, list, len);
	assert_invalid_field(r, 1, 0);
	/* PF = 0: vendor-specific pages, of which there are none. */
	r = mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x00, list, len);
	assert_invalid_field(r, 1, 4);
	/* An empty list is no error, with or without PF. */
	r = mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x00, list, 0);
	assert_good(r);
	/* MODE SELECT(10): 8-byte header. */
	uint8_t list10[64] = { 0 };
	memcpy(list10 + 8, page, sizeof(page));
	uint8_t cdb[10] = { SCSI_MODE_SELECT_10, 0x10 };
	put_be16(cdb + 7, 8 + sizeof(page));
	r = fake_submit_write(&f->cmd, f->nexus[ONE], LUN_CACHED, cdb, sizeof(cdb), list10,
			      8 + sizeof(page));
	assert_good(r);
}

static void assert_param_field(struct fake_response *r, uint16_t byte)
{
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(r->sense[15] & 0xc0, 0x80); /* SKSV, C/D = 0 */
	assert_int_equal(get_be16(r->sense + 16), byte);
}

static void test_select_list_checks(void **state)
{
	struct fixture *f = *state;
	uint8_t page[CONTROL_LEN], list[64];
	read_page(f, LUN_CACHED, 0, 0x0a, page, sizeof(page));
	uint8_t len = build_list(list, page, sizeof(page));
	/* Shorter than the header, and a page cut short: PARAMETER LIST LENGTH ERROR. */
	want_check(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, 3),
		   SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	want_check(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, (uint8_t)(len - 1)),
		     SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	want_check(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, 5),
		   SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* Unknown page, subpage format, wrong page length. */
	list[4] = 0x19;
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len), 4);
	list[4] = 0x4a;
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len), 4);
	list[4] = 0x0a;
	list[5] = 0x0b;
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len), 5);
	list[5] = 0x0a;
	/* PS is reserved in MODE SELECT and ignored. */
	list[4] = 0x8a;
	want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len));
	/* MEDIUM TYPE must be 0. */
	list[1] = 1;
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len), 1);
	list[1] = 0;
	/* A block descriptor: block length and capacity as they are, or the count 0. */
	uint8_t with_bd[64] = { 0, 0, 0, 8 };
	put_be32(with_bd + 4, 2048);
	put_be24(with_bd + 9, BS);
	memcpy(with_bd + 12, page, sizeof(page));
	uint8_t bd_len = (uint8_t)(12 + sizeof(page));
	want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, with_bd, bd_len));
	put_be32(with_bd + 4, 0);
	want_good(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, with_bd, bd_len));
	put_be24(with_bd + 9, 4096);
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, with_bd, bd_len), 9);
	put_be24(with_bd + 9, BS);
	put_be32(with_bd + 4, 1000);
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, with_bd, bd_len), 4);
	with_bd[3] = 4;
	assert_param_field(mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, with_bd, bd_len), 3);
}

/* An error anywhere in the list changes nothing, not even the pages before it. */
static void test_select_is_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t control[CONTROL_LEN], caching[CACHING_LEN], list[64];
	read_page(f, LUN_CACHED, 0, 0x0a, control, sizeof(control));
	read_page(f, LUN_CACHED, 0, 0x08, caching, sizeof(caching));
	control[2] |= 0x04;     /* D_SENSE: fine */
	caching[2] |= 0x01;     /* RCD: not changeable */
	memset(list, 0, 4);
	memcpy(list + 4, control, sizeof(control));
	memcpy(list + 4 + sizeof(control), caching, sizeof(caching));
	uint8_t len = (uint8_t)(4 + sizeof(control) + sizeof(caching));
	struct fake_response *r = mode_select6(f, f->nexus[ONE], LUN_CACHED, 0x10, list, len);
	assert_param_field(r, 4 + sizeof(control) + 2);
	assert_false(tg_mode_descriptor_sense(&f->dev[0]));
	want_good(tur(f, f->nexus[TWO], LUN_CACHED));
}

static void test_read_only_mapping_cannot_change(void **state)
{
	struct fixture *f = *state;
	uint8_t page[CONTROL_LEN], list[64];
	read_page(f, LUN_RO, 0, 0x0a, page, sizeof(page));
	uint8_t len = build_list(list, page, sizeof(page));
	want_good(mode_select6(f, f->nexus[ONE], LUN_RO, 0x10, list, len));
	list[4 + 4] |= 0x08;
	want_check(mode_select6(f, f->nexus[ONE], LUN_RO, 0x10, list, len), SCSI_SK_DATA_PROTECT,
		   0x27, 0x00);
	assert_int_equal(tg_mode_write_protection(NULL, &f->dev[0]), TG_SR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_changeable_masks),
		fixture_test(test_select_accepts_exactly_the_changeable_bits),
		fixture_test(test_d_sense),
		fixture_test(test_swp),
		fixture_test(test_parameters_changed_ua),
		fixture_test(test_write_cache),
		fixture_test(test_select_cdb_checks),
		fixture_test(test_select_list_checks),
		fixture_test(test_select_is_all_or_nothing),
		fixture_test(test_read_only_mapping_cannot_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
