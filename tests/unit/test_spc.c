/* Unit tests for core/spc.c, core/cmd.c and core/device.c: SPC commands driven through tg_task_submit. */
#include "fixture.h"

#include "config/config.h"

enum { LUN_DISK0 = 0, LUN_DISK1_RO = 1, LUN_FLAT = 300, LUN_UNMAPPED = 5 };

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:test",
	.disks = { { "disk0", 512, 2048 }, { "disk1", 4096, 100 } },
	.luns = { { LUN_DISK0, 0, false }, { LUN_DISK1_RO, 1, true }, { LUN_FLAT, 0, false } },
	.lun_count = 3,
	.initiators = { { "iqn.2026-11.test:init", NULL, false } },
};

static int setup(void **state)
{
	*state = fixture_new(&spec);
	return 0;
}

static struct fake_response *inquiry(struct fixture *f, uint64_t lun, bool evpd, uint8_t page,
				     uint16_t alloc, uint32_t exp_len)
{
	uint8_t cdb[6] = { SCSI_INQUIRY, evpd ? 1 : 0, page, 0, 0, 0 };
	put_be16(cdb + 3, alloc);
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_READ, exp_len);
}

static struct fake_response *tur(struct fixture *f, uint64_t lun)
{
	uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_NONE, 0);
}

static struct fake_response *report_luns_on(struct fake_cmd *cmd, struct tg_nexus *nexus,
					    uint64_t lun, uint8_t select, uint32_t alloc)
{
	uint8_t cdb[12] = { SCSI_REPORT_LUNS, 0, select };
	put_be32(cdb + 6, alloc);
	return fake_submit(cmd, nexus, lun, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

static struct fake_response *request_sense(struct fixture *f, uint64_t lun, bool desc,
					   uint8_t alloc)
{
	uint8_t cdb[6] = { SCSI_REQUEST_SENSE, desc ? 1 : 0, 0, 0, alloc, 0 };
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

static struct fake_response *mode_sense6(struct fixture *f, uint64_t lun, uint8_t byte1,
					 uint8_t byte2, uint8_t subpage, uint8_t alloc)
{
	uint8_t cdb[6] = { SCSI_MODE_SENSE_6, byte1, byte2, subpage, alloc, 0 };
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

static struct fake_response *mode_sense10(struct fixture *f, uint64_t lun, uint8_t byte1,
					  uint8_t byte2, uint16_t alloc)
{
	uint8_t cdb[10] = { SCSI_MODE_SENSE_10, byte1, byte2 };
	put_be16(cdb + 7, alloc);
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

/* ---- INQUIRY ---- */

static void test_inquiry_standard(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_DISK0, false, 0, 255, 255);
	assert_good(r);
	assert_int_equal(r->data_len, 96);
	const uint8_t *d = r->data;
	assert_int_equal(d[0], 0x00); /* qualifier 000b, direct access */
	assert_int_equal(d[2], 0x06); /* SPC-4 */
	assert_int_equal(d[3], 0x12); /* HISUP, format 2 */
	assert_int_equal(d[4], 96 - 5);
	assert_int_equal(d[7] & 0x02, 0x02); /* CMDQUE */
	assert_memory_equal(d + 8, "TARGE   ", 8);
	assert_memory_equal(d + 16, "disk0           ", 16);
	assert_memory_equal(d + 32, "0001", 4);
	assert_int_equal(get_be16(d + 58), 0x00a0); /* SAM-5 */
	assert_int_equal(get_be16(d + 60), 0x0960); /* iSCSI */
	assert_int_equal(get_be16(d + 62), 0x0460); /* SPC-4 */
	assert_int_equal(get_be16(d + 64), 0x04c0); /* SBC-3 */
	assert_true(r->underflow);
	assert_int_equal(r->residual, 255 - 96);
}

static void test_inquiry_product_default_and_sanitised(void **state)
{
	struct fixture *f = *state;
	f->dev[0].name = "";
	struct fake_response *r = inquiry(f, LUN_DISK0, false, 0, 96, 96);
	assert_good(r);
	assert_memory_equal(r->data + 16, "VIRTUAL-DISK    ", 16);
	f->dev[0].name = "a-very-long-device-name\x01";
	r = inquiry(f, LUN_DISK0, false, 0, 96, 96);
	assert_good(r);
	assert_memory_equal(r->data + 16, "a-very-long-devi", 16);
	f->dev[0].name = "x\ty";
	r = inquiry(f, LUN_DISK0, false, 0, 96, 96);
	assert_memory_equal(r->data + 16, "x_y             ", 16);
	f->dev[0].name = "disk0";
}

static void test_inquiry_allocation_and_residuals(void **state)
{
	struct fixture *f = *state;
	/* Allocation length cuts the data; no residual when initiator expects exactly that. */
	struct fake_response *r = inquiry(f, LUN_DISK0, false, 0, 36, 36);
	assert_good(r);
	assert_int_equal(r->data_len, 36);
	assert_false(r->overflow);
	assert_false(r->underflow);
	/* The initiator's buffer is smaller than what the device server sends: overflow by the
	 * part of the 96-byte response that did not fit. */
	r = inquiry(f, LUN_DISK0, false, 0, 255, 40);
	assert_good(r);
	assert_int_equal(r->data_len, 40);
	assert_true(r->overflow);
	assert_int_equal(r->residual, 96 - 40);
	/* Allocation length 0 transfers nothing and is no error. */
	r = inquiry(f, LUN_DISK0, false, 0, 0, 0);
	assert_good(r);
	assert_int_equal(r->data_len, 0);
}

static void test_inquiry_unmapped_lun(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_UNMAPPED, false, 0, 96, 96);
	assert_good(r);
	assert_int_equal(r->data[0], 0x7f); /* qualifier 011b, type 1Fh */
	r = inquiry(f, LUN_UNMAPPED, true, 0x00, 96, 96);
	assert_good(r);
	assert_int_equal(r->data[0], 0x7f);
	assert_int_equal(get_be16(r->data + 2), 1);
	assert_int_equal(r->data[4], 0x00);
	r = inquiry(f, LUN_UNMAPPED, true, 0x80, 96, 96);
	assert_invalid_field(r, 2, -1);
}

static void test_inquiry_invalid_fields(void **state)
{
	struct fixture *f = *state;
	uint8_t cmddt[6] = { SCSI_INQUIRY, 0x02, 0, 0, 96, 0 };
	struct fake_response *r =
		fake_submit(&f->cmd, f->nexus[0], LUN_DISK0, cmddt, 6, TG_DIR_READ, 96);
	assert_invalid_field(r, 1, 1);
	assert_int_equal(r->data_len, 0);

	r = inquiry(f, LUN_DISK0, false, 0x80, 96, 96); /* page code without EVPD */
	assert_invalid_field(r, 2, -1);
	r = inquiry(f, LUN_DISK0, true, 0x89, 96, 96); /* page we do not have */
	assert_invalid_field(r, 2, -1);

	uint8_t naca[6] = { SCSI_INQUIRY, 0, 0, 0, 96, 0x04 };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_DISK0, naca, 6, TG_DIR_READ, 96);
	assert_invalid_field(r, 5, 2);
}

static void test_vpd_supported_pages(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_DISK0, true, 0x00, 255, 255);
	assert_good(r);
	static const uint8_t expected[] = { 0x00, 0x00, 0x00, 8,    0x00, 0x80,
					    0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2 };
	assert_int_equal(r->data_len, sizeof(expected));
	assert_memory_equal(r->data, expected, sizeof(expected));
	/* Every listed page answers. */
	for (size_t i = 4; i < sizeof(expected); i++) {
		r = inquiry(f, LUN_DISK0, true, expected[i], 255, 255);
		assert_good(r);
		assert_int_equal(r->data[1], expected[i]);
		assert_int_equal(get_be16(r->data + 2) + 4, r->data_len);
	}
}

static void test_vpd_serial(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_DISK1_RO, true, 0x80, 255, 255);
	assert_good(r);
	assert_int_equal(r->data[1], 0x80);
	assert_int_equal(get_be16(r->data + 2), strlen("SER-disk1"));
	assert_memory_equal(r->data + 4, "SER-disk1", strlen("SER-disk1"));
}

static void test_vpd_device_identification(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_DISK0, true, 0x83, 255, 255);
	assert_good(r);
	const uint8_t *d = r->data + 4;
	/* NAA designator: binary, LU association, type 3, 16 bytes. */
	assert_int_equal(d[0], 0x01);
	assert_int_equal(d[1], 0x03);
	assert_int_equal(d[3], 16);
	assert_true(get_be64(d + 4) == f->dev[0].naa);
	assert_true(get_be64(d + 12) == f->dev[0].naa_ext);
	assert_int_equal(d[4] >> 4, 6);
	d += 20;
	/* T10 vendor ID designator: ASCII, type 1, vendor + device name. */
	assert_int_equal(d[0], 0x02);
	assert_int_equal(d[1], 0x01);
	assert_int_equal(d[3], 8 + 5);
	assert_memory_equal(d + 4, "TARGE   disk0", 13);
	assert_int_equal(get_be16(r->data + 2), 20 + 4 + 13);
}

static void test_vpd_block_limits(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_DISK0, true, 0xb0, 255, 255);
	assert_good(r);
	assert_int_equal(get_be16(r->data + 2), 0x3c);
	assert_int_equal(get_be16(r->data + 6), 4096 / 512);
	assert_int_equal(get_be32(r->data + 8), TG_MAX_TRANSFER_BYTES / 512);
	assert_int_equal(get_be32(r->data + 20), 0); /* no UNMAP yet */
	r = inquiry(f, LUN_DISK1_RO, true, 0xb0, 255, 255);
	assert_good(r);
	assert_int_equal(get_be16(r->data + 6), 1);
	assert_int_equal(get_be32(r->data + 8), TG_MAX_TRANSFER_BYTES / 4096);
}

static void test_vpd_block_characteristics(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = inquiry(f, LUN_DISK0, true, 0xb1, 255, 255);
	assert_good(r);
	assert_int_equal(get_be16(r->data + 2), 0x3c);
	assert_int_equal(get_be16(r->data + 4), 1); /* non-rotating */
	assert_int_equal(r->data[7] & 0x0f, 0);
	f->dev[0].rotational = true;
	r = inquiry(f, LUN_DISK0, true, 0xb1, 255, 255);
	assert_good(r);
	assert_int_equal(get_be16(r->data + 4), 0);
}

/* ---- REPORT LUNS ---- */

static void test_lun_encode(void **state)
{
	(void)state;
	uint8_t out[8];
	static const struct {
		uint64_t lun;
		uint8_t bytes[8];
	} cases[] = {
		{ 0, { 0x00, 0x00 } },
		{ 255, { 0x00, 0xff } },
		{ 256, { 0x41, 0x00 } },
		{ 300, { 0x41, 0x2c } },
		{ 16383, { 0x7f, 0xff } },
		{ 16384, { 0xd2, 0x00, 0x40, 0x00 } },
		{ 0xffffff, { 0xd2, 0xff, 0xff, 0xff } },
		{ 0x1000000, { 0xe2, 0x00, 0x01, 0x00, 0x00, 0x00 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xaa, sizeof(out));
		tg_lun_encode(cases[i].lun, out);
		assert_memory_equal(out, cases[i].bytes, 8);
	}
}

static void test_report_luns(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 0, 4096);
	assert_good(r);
	assert_int_equal(r->data_len, 8 + 24);
	assert_int_equal(get_be32(r->data), 24);
	static const uint8_t luns[24] = { 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
					  0x41, 0x2c, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(r->data + 8, luns, sizeof(luns));
	assert_true(r->underflow);
	assert_int_equal(r->residual, 4096 - 32);

	r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 2, 4096);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 24);
	/* Well-known LUs only: there are none. */
	r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 1, 4096);
	assert_good(r);
	assert_int_equal(r->data_len, 8);
	assert_int_equal(get_be32(r->data), 0);
	/* Addressed to an unmapped LUN it still answers. */
	r = report_luns_on(&f->cmd, f->nexus[0], LUN_UNMAPPED, 0, 4096);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 24);
}

static void test_report_luns_truncated_and_invalid(void **state)
{
	struct fixture *f = *state;
	/* The LUN LIST LENGTH still tells the whole list when the allocation cuts it. */
	struct fake_response *r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 0, 16);
	assert_good(r);
	assert_int_equal(r->data_len, 16);
	assert_int_equal(get_be32(r->data), 24);
	assert_false(r->overflow);

	r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 0, 15);
	assert_invalid_field(r, 6, -1);
	r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 3, 4096);
	assert_invalid_field(r, 2, -1);
	r = report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 0x10, 4096);
	assert_invalid_field(r, 2, -1);
}

static void test_report_luns_without_lun0(void **state)
{
	struct fixture *f = *state;
	struct tg_lun_entry entries[1] = { { 3, &f->dev[0], false } };
	struct tg_target target = { .name = "iqn.2026-11.org.targe:nolun0" };
	target.luns = (struct tg_lun_map){ 1, entries };
	struct tg_nexus *nexus =
		tg_nexus_create(&target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:init", NULL);
	assert_non_null(nexus);

	struct fake_response *r = report_luns_on(&f->cmd, nexus, 0, 0, 256);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 8);
	assert_int_equal(r->data[8], 0x00);
	assert_int_equal(r->data[9], 0x03);

	uint8_t inq[6] = { SCSI_INQUIRY, 0, 0, 0, 96, 0 };
	r = fake_submit(&f->cmd, nexus, 0, inq, 6, TG_DIR_READ, 96);
	assert_good(r);
	assert_int_equal(r->data[0], 0x7f);
	r = fake_submit(&f->cmd, nexus, 3, inq, 6, TG_DIR_READ, 96);
	assert_good(r);
	assert_int_equal(r->data[0], 0x00);

	uint8_t tur_cdb[6] = { SCSI_TEST_UNIT_READY };
	r = fake_submit(&f->cmd, nexus, 0, tur_cdb, 6, TG_DIR_NONE, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);

	/* A nexus with an empty view still answers REPORT LUNS with an empty list. */
	struct tg_lun_map empty = { 0, NULL };
	struct tg_nexus bare = { .map = &empty, .target = &target };
	r = report_luns_on(&f->cmd, &bare, 0, 0, 256);
	assert_good(r);
	assert_int_equal(r->data_len, 8);
	assert_int_equal(get_be32(r->data), 0);

	fake_cmd_reset(&f->cmd);
	tg_nexus_destroy(nexus);
}

/* ---- Unit attentions and the commands that do not report them ---- */

static void test_inquiry_and_report_luns_leave_ua_pending(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_POWER_ON_RESET);
	assert_good(inquiry(f, LUN_DISK0, false, 0, 96, 96));
	assert_good(report_luns_on(&f->cmd, f->nexus[0], LUN_DISK0, 0, 256));
	struct fake_response *r = tur(f, LUN_DISK0);
	assert_check(r, SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	assert_good(tur(f, LUN_DISK0));
}

static void test_report_luns_clears_reported_luns_changed(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_REPORTED_LUNS_CHANGED);
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_POWER_ON_RESET);
	tg_ua_establish(f->nexus[0], 1, TG_SR_UA_REPORTED_LUNS_CHANGED);
	assert_good(report_luns_on(&f->cmd, f->nexus[0], LUN_DISK1_RO, 0, 256));
	/* Cleared on every LUN of the nexus; other UAs stay. */
	struct fake_response *r = tur(f, LUN_DISK0);
	assert_check(r, SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	assert_good(tur(f, LUN_DISK0));
	assert_good(tur(f, LUN_DISK1_RO));
}

/* ---- REQUEST SENSE ---- */

static void test_request_sense_no_sense(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = request_sense(f, LUN_DISK0, false, 252);
	assert_good(r);
	assert_int_equal(r->data_len, 18);
	assert_int_equal(r->data[0], 0x70);
	assert_int_equal(r->data[2] & 0x0f, SCSI_SK_NO_SENSE);
	assert_int_equal(r->data[7], 10);
	assert_int_equal(r->data[12], 0);
	assert_int_equal(r->data[13], 0);

	r = request_sense(f, LUN_DISK0, true, 252);
	assert_good(r);
	assert_int_equal(r->data_len, 8);
	assert_int_equal(r->data[0], 0x72);
	assert_int_equal(r->data[1], SCSI_SK_NO_SENSE);
	assert_int_equal(r->data[7], 0);

	r = request_sense(f, LUN_DISK0, false, 8); /* truncated */
	assert_good(r);
	assert_int_equal(r->data_len, 8);
}

static void test_request_sense_reports_and_clears_ua(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_POWER_ON_RESET);
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_MODE_PARAMETERS_CHANGED);
	struct fake_response *r = request_sense(f, LUN_DISK0, false, 252);
	assert_good(r);
	assert_int_equal(r->data[2] & 0x0f, SCSI_SK_UNIT_ATTENTION);
	assert_int_equal(r->data[12], 0x29);
	r = request_sense(f, LUN_DISK0, true, 252);
	assert_good(r);
	assert_int_equal(r->data[0], 0x72);
	assert_int_equal(r->data[1], SCSI_SK_UNIT_ATTENTION);
	assert_int_equal(r->data[2], 0x2a);
	assert_int_equal(r->data[3], 0x01);
	assert_good(tur(f, LUN_DISK0));
}

static void test_request_sense_reported_luns_changed_clears_nexus(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[0], 0, TG_SR_UA_REPORTED_LUNS_CHANGED);
	tg_ua_establish(f->nexus[0], 1, TG_SR_UA_REPORTED_LUNS_CHANGED);
	struct fake_response *r = request_sense(f, LUN_DISK0, false, 252);
	assert_good(r);
	assert_int_equal(r->data[12], 0x3f);
	assert_int_equal(r->data[13], 0x0e);
	assert_good(tur(f, LUN_DISK1_RO));
}

static void test_request_sense_unmapped_lun(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = request_sense(f, LUN_UNMAPPED, false, 252);
	assert_good(r);
	assert_int_equal(r->data[0], 0x70);
	assert_int_equal(r->data[2] & 0x0f, SCSI_SK_ILLEGAL_REQUEST);
	assert_int_equal(r->data[12], 0x25);
	assert_int_equal(r->data[13], 0x00);
}

/* ---- TEST UNIT READY, unknown opcodes, unmapped LUNs ---- */

static void test_test_unit_ready(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = tur(f, LUN_DISK0);
	assert_good(r);
	assert_false(r->underflow);
	r = tur(f, LUN_UNMAPPED);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	uint8_t naca[6] = { SCSI_TEST_UNIT_READY, 0, 0, 0, 0, 0x04 };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_DISK0, naca, 6, TG_DIR_NONE, 0);
	assert_invalid_field(r, 5, 2);
}

static void test_unknown_opcode(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[16] = { 0xe7 };
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_DISK0, cdb, 16, TG_DIR_NONE, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	assert_field_pointer(r, 0, -1);
	/* Not yet supported SPC opcodes are unknown as well. */
	uint8_t log_sense[10] = { SCSI_LOG_SENSE };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_DISK0, log_sense, 10, TG_DIR_READ, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
}

static void test_cmd_lookup(void **state)
{
	(void)state;
	uint8_t cdb[16] = { SCSI_READ_16 };
	const struct tg_cmd_desc *desc = tg_cmd_lookup(SCSI_TYPE_DISK, cdb);
	assert_non_null(desc);
	assert_string_equal(desc->name, "READ(16)");
	assert_ptr_equal(tg_cmd_table(SCSI_TYPE_DISK), tg_sbc_cmds);
	assert_null(tg_cmd_lookup(SCSI_TYPE_TAPE, cdb));
	cdb[0] = 0xe7;
	assert_null(tg_cmd_lookup(SCSI_TYPE_DISK, cdb));
}

/* ---- MODE SENSE ---- */

static void test_mode_sense6_caching_page(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = mode_sense6(f, LUN_DISK0, 0, 0x08, 0, 255);
	assert_good(r);
	assert_int_equal(r->data_len, 4 + 8 + 20);
	assert_int_equal(r->data[0], 4 + 8 + 20 - 1);
	assert_int_equal(r->data[2], 0x10); /* DPOFUA, not write protected */
	assert_int_equal(r->data[3], 8);
	assert_int_equal(get_be32(r->data + 4), 2048);
	assert_int_equal(get_be24(r->data + 9), 512);
	const uint8_t *page = r->data + 12;
	assert_int_equal(page[0], 0x08);
	assert_int_equal(page[1], 0x12);
	assert_int_equal(page[2] & 0x04, 0x04); /* WCE */
	assert_int_equal(page[2] & 0x01, 0x00); /* RCD */

	f->dev[0].write_cache = false;
	r = mode_sense6(f, LUN_DISK0, 0, 0x08, 0, 255);
	assert_good(r);
	assert_int_equal(r->data[12 + 2] & 0x04, 0);
}

static void test_mode_sense_page_control(void **state)
{
	struct fixture *f = *state;
	/* Changeable values: WCE alone, the backend having a write cache (core/mode.c). */
	struct fake_response *r = mode_sense6(f, LUN_DISK0, 0x08, 0x40 | 0x08, 0, 255);
	assert_good(r);
	assert_int_equal(r->data_len, 4 + 20);
	assert_int_equal(r->data[4], 0x08);
	assert_int_equal(r->data[5], 0x12);
	for (size_t i = 6; i < r->data_len; i++)
		assert_int_equal(r->data[i], i == 6 ? 0x04 : 0);
	/* Default values equal the current ones. */
	r = mode_sense6(f, LUN_DISK0, 0x08, 0x80 | 0x08, 0, 255);
	assert_good(r);
	assert_int_equal(r->data[4 + 2] & 0x04, 0x04);
	/* Saved values cannot be had. */
	r = mode_sense6(f, LUN_DISK0, 0x08, 0xc0 | 0x08, 0, 255);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x39, 0x00);
	assert_field_pointer(r, 2, 7);
}

static void test_mode_sense_all_pages(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = mode_sense6(f, LUN_DISK0, 0x08, 0x3f, 0, 255);
	assert_good(r);
	assert_int_equal(r->data_len, 4 + 20 + 12 + 12);
	assert_int_equal(r->data[3], 0); /* DBD */
	assert_int_equal(r->data[4], 0x08);
	assert_int_equal(r->data[24], 0x0a);
	assert_int_equal(r->data[25], 0x0a);
	assert_int_equal(r->data[24 + 2] & 0x04, 0); /* D_SENSE 0: fixed sense */
	assert_int_equal(r->data[24 + 3] >> 4, 1);   /* unrestricted reordering */
	assert_int_equal(r->data[36], 0x1c);
	assert_int_equal(r->data[36 + 2] & 0x08, 0x08); /* DEXCPT */
	/* All subpages: the same pages, none has subpages. */
	struct fake_response *again = mode_sense6(f, LUN_DISK0, 0x08, 0x3f, 0xff, 255);
	assert_good(again);
	assert_int_equal(again->data_len, 4 + 20 + 12 + 12);
	/* The control page alone. */
	r = mode_sense6(f, LUN_DISK0, 0x08, 0x0a, 0, 255);
	assert_good(r);
	assert_int_equal(r->data_len, 4 + 12);
	/* The mode data length counts everything even when the allocation cuts it. */
	r = mode_sense6(f, LUN_DISK0, 0x08, 0x3f, 0, 10);
	assert_good(r);
	assert_int_equal(r->data_len, 10);
	assert_int_equal(r->data[0], 4 + 20 + 12 + 12 - 1);
}

static void test_mode_sense_invalid_fields(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = mode_sense6(f, LUN_DISK0, 0, 0x19, 0, 255);
	assert_invalid_field(r, 2, 5);
	r = mode_sense6(f, LUN_DISK0, 0, 0x08, 0x01, 255);
	assert_invalid_field(r, 3, -1);
	r = mode_sense10(f, LUN_DISK0, 0, 0x00, 255);
	assert_invalid_field(r, 2, 5);
	r = mode_sense6(f, LUN_UNMAPPED, 0, 0x08, 0, 255);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
}

static void test_mode_sense10_block_descriptors(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = mode_sense10(f, LUN_DISK0, 0, 0x0a, 512);
	assert_good(r);
	assert_int_equal(r->data_len, 8 + 8 + 12);
	assert_int_equal(get_be16(r->data), 8 + 8 + 12 - 2);
	assert_int_equal(r->data[3], 0x10);
	assert_int_equal(r->data[4], 0);
	assert_int_equal(get_be16(r->data + 6), 8);
	assert_int_equal(get_be32(r->data + 8), 2048);

	r = mode_sense10(f, LUN_DISK0, 0x10, 0x0a, 512); /* LLBAA */
	assert_good(r);
	assert_int_equal(r->data_len, 8 + 16 + 12);
	assert_int_equal(r->data[4] & 0x01, 0x01); /* LONGLBA */
	assert_int_equal(get_be16(r->data + 6), 16);
	assert_true(get_be64(r->data + 8) == 2048);
	assert_int_equal(get_be32(r->data + 8 + 12), 512);
	assert_int_equal(r->data[8 + 16], 0x0a);

	r = mode_sense10(f, LUN_DISK0, 0x18, 0x0a, 512); /* DBD wins over LLBAA */
	assert_good(r);
	assert_int_equal(r->data_len, 8 + 12);
	assert_int_equal(r->data[4], 0);
	assert_int_equal(get_be16(r->data + 6), 0);

	/* More blocks than a short descriptor can count. */
	f->dev[0].num_blocks = 0x100000000ull;
	r = mode_sense10(f, LUN_DISK0, 0, 0x0a, 512);
	assert_good(r);
	assert_int_equal(get_be32(r->data + 8), 0xffffffffu);
	f->dev[0].num_blocks = 2048;
}

static void test_mode_sense_write_protect(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = mode_sense6(f, LUN_DISK1_RO, 0x08, 0x08, 0, 255);
	assert_good(r);
	assert_int_equal(r->data[2] & 0x80, 0x80);
	assert_int_equal(r->data[2] & 0x10, 0x10);
	r = mode_sense10(f, LUN_DISK1_RO, 0x08, 0x08, 255);
	assert_good(r);
	assert_int_equal(r->data[3] & 0x80, 0x80);

	r = mode_sense6(f, LUN_DISK0, 0x08, 0x08, 0, 255);
	assert_int_equal(r->data[2] & 0x80, 0);
	f->dev[0].backend_read_only = true;
	r = mode_sense6(f, LUN_DISK0, 0x08, 0x08, 0, 255);
	assert_good(r);
	assert_int_equal(r->data[2] & 0x80, 0x80);
	f->dev[0].backend_read_only = false;
}

/* ---- tg_device_open ---- */

static int fake_open_result;

static int fake_open(struct tg_device *dev, const struct cfg_device *cfg, char *err, size_t errlen)
{
	if (fake_open_result != 0) {
		snprintf(err, errlen, "cannot open %s", cfg->path);
		return -1;
	}
	dev->block_size = cfg->block_size ? cfg->block_size : 512;
	dev->num_blocks = cfg->size / dev->block_size;
	return 0;
}

static unsigned fake_close_calls;
static void fake_close(struct tg_device *dev) { fake_close_calls++; }

static const struct dev_backend_ops openable_ops = {
	.name = "openable",
	.open = fake_open,
	.close = fake_close,
	.submit = fake_disk_submit,
};

/* Stub of devices/registry.c: this test opens devices over the openable fake backend only. */
const struct dev_backend_ops *dev_backend_find(const char *name)
{
	return name && strcmp(name, "openable") == 0 ? &openable_ops : NULL;
}

static struct tg_device *open_named(const char *name, const char *serial)
{
	char err[256] = "";
	struct cfg_device cfg = { .name = (char *)name, .backend = "openable", .path = "mem",
				  .size = 1 << 20, .block_size = 4096, .serial = (char *)serial };
	struct tg_device *dev = tg_device_open(&cfg, err, sizeof(err));
	assert_non_null(dev);
	assert_string_equal(err, "");
	return dev;
}

static void test_device_open_identity(void **state)
{
	(void)state;
	struct tg_device *a = open_named("disk0", NULL);
	struct tg_device *a2 = open_named("disk0", NULL);
	struct tg_device *b = open_named("disk1", NULL);
	struct tg_device *c = open_named("renamed", "disk0-serial");
	struct tg_device *c2 = open_named("other-name", "disk0-serial");

	assert_string_equal(a->name, "disk0");
	assert_int_equal(a->peripheral_type, SCSI_TYPE_DISK);
	assert_int_equal(a->block_size, 4096);
	assert_int_equal(a->num_blocks, 256);
	assert_ptr_equal(a->ops, &openable_ops);
	/* NAA 6 with the fixed company ID, stable for a name, distinct between names. */
	assert_int_equal(a->naa >> 60, 6);
	assert_int_equal((a->naa >> 36) & 0xffffff, 0x0a7467);
	assert_true(a->naa == a2->naa && a->naa_ext == a2->naa_ext);
	assert_string_equal(a->serial, a2->serial);
	assert_true(a->naa != b->naa);
	assert_true(a->naa_ext != b->naa_ext);
	assert_string_not_equal(a->serial, b->serial);
	assert_int_equal(strlen(a->serial), 16);
	/* A configured serial is used as is and carries the identity across names. */
	assert_string_equal(c->serial, "disk0-serial");
	assert_true(c->naa == c2->naa && c->naa_ext == c2->naa_ext);
	assert_true(c->naa != a->naa);

	fake_close_calls = 0;
	tg_device_close(a);
	tg_device_close(a2);
	tg_device_close(b);
	tg_device_close(c);
	tg_device_close(c2);
	assert_int_equal(fake_close_calls, 5);
}

static void test_device_open_failures(void **state)
{
	(void)state;
	char err[256] = "";
	struct cfg_device cfg = { .name = "d", .backend = "nonesuch", .path = "mem", .size = 1 << 20 };
	assert_null(tg_device_open(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "nonesuch"));

	cfg.backend = "openable";
	fake_open_result = -1;
	err[0] = 0;
	assert_null(tg_device_open(&cfg, err, sizeof(err)));
	assert_string_equal(err, "cannot open mem");
	fake_open_result = 0;

	/* A disk without blocks or with an odd block size is refused after open. */
	cfg.size = 100;
	fake_close_calls = 0;
	assert_null(tg_device_open(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "block"));
	assert_int_equal(fake_close_calls, 1);
	cfg.size = 1 << 20;
	cfg.block_size = 520;
	assert_null(tg_device_open(&cfg, err, sizeof(err)));
}

static void test_device_identity_in_vpd(void **state)
{
	struct fixture *f = *state;
	struct tg_device *dev = open_named("vpd-disk", NULL);
	struct fake_disk disk = { .size = 1 << 20 };
	disk.bytes = calloc(1, disk.size);
	dev->backend = &disk;
	struct tg_lun_entry entries[1] = { { 0, dev, false } };
	struct tg_target target = { .name = "iqn.2026-11.org.targe:vpd" };
	target.luns = (struct tg_lun_map){ 1, entries };
	struct tg_nexus *nexus =
		tg_nexus_create(&target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:init", NULL);

	uint8_t cdb[6] = { SCSI_INQUIRY, 1, 0x83, 0, 255, 0 };
	struct fake_response *r = fake_submit(&f->cmd, nexus, 0, cdb, 6, TG_DIR_READ, 255);
	assert_good(r);
	assert_true(get_be64(r->data + 8) == dev->naa);
	cdb[2] = 0x80;
	r = fake_submit(&f->cmd, nexus, 0, cdb, 6, TG_DIR_READ, 255);
	assert_good(r);
	assert_memory_equal(r->data + 4, dev->serial, strlen(dev->serial));

	fake_cmd_reset(&f->cmd);
	tg_nexus_destroy(nexus);
	free(disk.bytes);
	tg_device_close(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_inquiry_standard),
		fixture_test(test_inquiry_product_default_and_sanitised),
		fixture_test(test_inquiry_allocation_and_residuals),
		fixture_test(test_inquiry_unmapped_lun),
		fixture_test(test_inquiry_invalid_fields),
		fixture_test(test_vpd_supported_pages),
		fixture_test(test_vpd_serial),
		fixture_test(test_vpd_device_identification),
		fixture_test(test_vpd_block_limits),
		fixture_test(test_vpd_block_characteristics),
		cmocka_unit_test(test_lun_encode),
		fixture_test(test_report_luns),
		fixture_test(test_report_luns_truncated_and_invalid),
		fixture_test(test_report_luns_without_lun0),
		fixture_test(test_inquiry_and_report_luns_leave_ua_pending),
		fixture_test(test_report_luns_clears_reported_luns_changed),
		fixture_test(test_request_sense_no_sense),
		fixture_test(test_request_sense_reports_and_clears_ua),
		fixture_test(test_request_sense_reported_luns_changed_clears_nexus),
		fixture_test(test_request_sense_unmapped_lun),
		fixture_test(test_test_unit_ready),
		fixture_test(test_unknown_opcode),
		cmocka_unit_test(test_cmd_lookup),
		fixture_test(test_mode_sense6_caching_page),
		fixture_test(test_mode_sense_page_control),
		fixture_test(test_mode_sense_all_pages),
		fixture_test(test_mode_sense_invalid_fields),
		fixture_test(test_mode_sense10_block_descriptors),
		fixture_test(test_mode_sense_write_protect),
		cmocka_unit_test(test_device_open_identity),
		cmocka_unit_test(test_device_open_failures),
		fixture_test(test_device_identity_in_vpd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
