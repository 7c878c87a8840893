/* Unit tests for core/rsoc.c and the service-action dispatch of core/cmd.c: REPORT SUPPORTED OPERATION CODES against the opcode table. */
#include "fixture.h"

/* LUN 0: a plain disk. LUN 1: removable and thin (BLOCK ERASE, PREVENT ALLOW). */
enum { LUN_PLAIN = 0, LUN_REMOVABLE = 1 };

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:rsoc",
	.disks = { { "disk0", 512, 2048 }, { "disk1", 512, 2048 } },
	.luns = { { LUN_PLAIN, 0, false }, { LUN_REMOVABLE, 1, false } },
	.lun_count = 2,
	.initiators = { { "iqn.2026-11.test:init", NULL, false } },
};

static int setup(void **state)
{
	struct fixture *f = fixture_new(&spec);
	f->dev[1].removable = true;
	f->dev[1].can_unmap = true;
	*state = f;
	return 0;
}

static struct fake_response *rsoc(struct fixture *f, uint64_t lun, uint8_t options, bool rctd,
				  uint8_t opcode, uint16_t sa, uint32_t alloc)
{
	uint8_t cdb[12] = { SCSI_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES };
	cdb[2] = (uint8_t)(options | (rctd ? 0x80 : 0));
	cdb[3] = opcode;
	put_be16(cdb + 4, sa);
	put_be32(cdb + 6, alloc);
	return fake_submit(&f->cmd, f->nexus[0], lun, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

/* Descriptors of the all-commands form, each step bytes long. */
static const uint8_t *find_descriptor(const struct fake_response *r, size_t step, uint8_t opcode,
				      uint16_t sa, bool servactv)
{
	for (size_t at = 4; at + step <= r->data_len; at += step) {
		const uint8_t *d = r->data + at;
		if (d[0] == opcode && get_be16(d + 2) == sa && !!(d[5] & 0x01) == servactv)
			return d;
	}
	return NULL;
}

/* What the table offers a device: entries, with service-action tables expanded. */
static size_t offered(const struct tg_device *dev)
{
	size_t n = 0;
	for (unsigned op = 0; op < 256; op++) {
		const struct tg_cmd_desc *d = &tg_sbc_cmds[op];
		if (!d->name || !tg_cmd_supported(d, dev))
			continue;
		if (!d->service_actions) {
			n++;
			continue;
		}
		for (const struct tg_cmd_desc *sa = d->service_actions; sa->name; sa++)
			n += tg_cmd_supported(sa, dev);
	}
	return n;
}

static void test_all_commands(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = rsoc(f, LUN_PLAIN, 0, false, 0, 0, 65535);
	assert_good(r);
	size_t count = offered(&f->dev[0]);
	assert_true(count > 40);
	assert_int_equal(get_be32(r->data), 8 * count);
	assert_int_equal(r->data_len, 4 + 8 * count);
	/* A command without service actions: SERVACTV 0, SERVICE ACTION 0, its CDB length. */
	const uint8_t *d = find_descriptor(r, 8, SCSI_READ_10, 0, false);
	assert_non_null(d);
	assert_int_equal(get_be16(d + 6), 10);
	assert_int_equal(d[5] & 0x02, 0); /* CTDP */
	/* Service actions one by one, with SERVACTV. */
	assert_non_null(find_descriptor(r, 8, SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16, true));
	assert_non_null(find_descriptor(r, 8, SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_GET_LBA_STATUS, true));
	assert_non_null(find_descriptor(r, 8, SCSI_MAINTENANCE_IN, 0x0c, true));
	assert_non_null(find_descriptor(r, 8, SCSI_MAINTENANCE_IN, 0x0d, true));
	assert_non_null(find_descriptor(r, 8, SCSI_EXTENDED_COPY, 0x00, true));
	assert_non_null(find_descriptor(r, 8, SCSI_RECEIVE_COPY_RESULTS, 0x03, true));
	assert_non_null(find_descriptor(r, 8, SCSI_PERSISTENT_RESERVE_OUT, 0x07, true));
	assert_non_null(find_descriptor(r, 8, SCSI_SANITIZE, 0x01, true));
	/* The opcode entries themselves are not commands. */
	assert_null(find_descriptor(r, 8, SCSI_SERVICE_ACTION_IN_16, 0, false));
	/* What the plain disk lacks: BLOCK ERASE (nothing to deallocate), PREVENT ALLOW (fixed
	 * medium), the 32-byte CDBs (no type 2 protection). */
	assert_null(find_descriptor(r, 8, SCSI_SANITIZE, 0x02, true));
	assert_null(find_descriptor(r, 8, SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, false));
	assert_null(find_descriptor(r, 8, SCSI_VARIABLE_LENGTH_CDB, 0x0009, true));

	r = rsoc(f, LUN_REMOVABLE, 0, false, 0, 0, 65535);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 8 * offered(&f->dev[1]));
	assert_int_equal(offered(&f->dev[1]), count + 2);
	assert_non_null(find_descriptor(r, 8, SCSI_SANITIZE, 0x02, true));
	assert_non_null(find_descriptor(r, 8, SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, false));
}

static void test_all_commands_with_timeouts(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = rsoc(f, LUN_PLAIN, 0, true, 0, 0, 65535);
	assert_good(r);
	size_t count = offered(&f->dev[0]);
	assert_int_equal(r->data_len, 4 + 20 * count);
	for (size_t at = 4; at < r->data_len; at += 20) {
		const uint8_t *d = r->data + at;
		assert_int_equal(d[5] & 0x02, 0x02); /* CTDP */
		assert_int_equal(get_be16(d + 8), 0x0a);
		assert_true(get_be32(d + 8 + 8) > 0); /* a recommended timeout */
	}
	const uint8_t *d = find_descriptor(r, 20, SCSI_SANITIZE, 0x01, true);
	assert_non_null(d);
	assert_int_equal(get_be32(d + 16), 3600);
	d = find_descriptor(r, 20, SCSI_READ_16, 0, false);
	assert_int_equal(get_be32(d + 16), TG_CMD_DEFAULT_TIMEOUT);
	/* Cut at the allocation length. */
	r = rsoc(f, LUN_PLAIN, 0, true, 0, 0, 30);
	assert_good(r);
	assert_int_equal(r->data_len, 30);
	assert_int_equal(get_be32(r->data), 20 * count);
}

static void test_one_opcode(void **state)
{
	struct fixture *f = *state;
	/* READ(10): supported as the standard says, its usage bitmap with DPO and FUA. */
	struct fake_response *r = rsoc(f, LUN_PLAIN, 1, false, SCSI_READ_10, 0, 512);
	assert_good(r);
	assert_int_equal(r->data[1] & 0x07, 3);
	assert_int_equal(get_be16(r->data + 2), 10);
	assert_int_equal(r->data_len, 4 + 10);
	assert_memory_equal(r->data + 4, tg_sbc_cmds[SCSI_READ_10].usage, 10);
	assert_int_equal(r->data[4 + 1] & 0x18, 0x18);
	/* With the timeouts descriptor. */
	r = rsoc(f, LUN_PLAIN, 1, true, SCSI_READ_10, 0, 512);
	assert_good(r);
	assert_int_equal(r->data[1], 0x80 | 3);
	assert_int_equal(r->data_len, 4 + 10 + 12);
	assert_int_equal(get_be16(r->data + 14), 0x0a);
	/* An opcode the LUN lacks: SUPPORT 001b, no usage data. */
	r = rsoc(f, LUN_PLAIN, 1, false, 0xc5, 0, 512);
	assert_good(r);
	assert_int_equal(r->data[1] & 0x07, 1);
	assert_int_equal(r->data_len, 4);
	r = rsoc(f, LUN_PLAIN, 1, false, SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 512);
	assert_int_equal(r->data[1] & 0x07, 1);
	r = rsoc(f, LUN_REMOVABLE, 1, false, SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 512);
	assert_int_equal(r->data[1] & 0x07, 3);
	/* Reporting option 001b for an opcode with service actions is an error. */
	r = rsoc(f, LUN_PLAIN, 1, false, SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16, 512);
	assert_invalid_field(r, 2, 2);
}

static void test_one_service_action(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = rsoc(f, LUN_PLAIN, 2, false, SCSI_SERVICE_ACTION_IN_16,
				       SCSI_SAI_READ_CAPACITY_16, 512);
	assert_good(r);
	assert_int_equal(r->data[1] & 0x07, 3);
	assert_int_equal(get_be16(r->data + 2), 16);
	/* The SERVICE ACTION field of the usage data holds the service action. */
	assert_int_equal(r->data[4], SCSI_SERVICE_ACTION_IN_16);
	assert_int_equal(r->data[5], SCSI_SAI_READ_CAPACITY_16);
	assert_int_equal(r->data[4 + 14], 0x01); /* PMI */
	/* A service action the opcode lacks, and one the device does not offer. */
	r = rsoc(f, LUN_PLAIN, 2, false, SCSI_SERVICE_ACTION_IN_16, 0x11, 512);
	assert_good(r);
	assert_int_equal(r->data[1] & 0x07, 1);
	r = rsoc(f, LUN_PLAIN, 2, false, SCSI_SANITIZE, 0x02, 512);
	assert_int_equal(r->data[1] & 0x07, 1);
	r = rsoc(f, LUN_REMOVABLE, 2, false, SCSI_SANITIZE, 0x02, 512);
	assert_int_equal(r->data[1] & 0x07, 3);
	assert_int_equal(r->data[5] & 0x1f, 0x02);
	/* Reporting option 010b for an opcode without service actions is an error. */
	r = rsoc(f, LUN_PLAIN, 2, false, SCSI_READ_10, 0, 512);
	assert_invalid_field(r, 2, 2);
	/* 011b takes either. */
	r = rsoc(f, LUN_PLAIN, 3, false, SCSI_READ_10, 0, 512);
	assert_int_equal(r->data[1] & 0x07, 3);
	r = rsoc(f, LUN_PLAIN, 3, false, SCSI_READ_10, 1, 512);
	assert_int_equal(r->data[1] & 0x07, 1);
	r = rsoc(f, LUN_PLAIN, 3, false, SCSI_MAINTENANCE_IN, 0x0d, 512);
	assert_int_equal(r->data[1] & 0x07, 3);
	assert_int_equal(r->data[5], 0x0d);
}

static void test_invalid_reporting_options(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = rsoc(f, LUN_PLAIN, 4, false, 0, 0, 512);
	assert_invalid_field(r, 2, 2);
	uint8_t cdb[12] = { SCSI_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES, 0x40 };
	put_be32(cdb + 6, 512);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_PLAIN, cdb, sizeof(cdb), TG_DIR_READ, 512);
	assert_invalid_field(r, 2, 6);
}

/* Every command RSOC reports answers something other than INVALID COMMAND OPERATION CODE or
 * an unknown service action, and one it does not report answers just that. */
static void test_reported_commands_are_dispatched(void **state)
{
	struct fixture *f = *state;
	for (unsigned op = 0; op < 256; op++) {
		const struct tg_cmd_desc *d = &tg_sbc_cmds[op];
		uint8_t cdb[16] = { (uint8_t)op };
		if (!d->name) {
			assert_null(tg_cmd_find(&f->dev[0], SCSI_TYPE_DISK, cdb));
			continue;
		}
		if (!d->service_actions) {
			assert_ptr_equal(tg_cmd_find(&f->dev[1], SCSI_TYPE_DISK, cdb), d);
			continue;
		}
		for (const struct tg_cmd_desc *sa = d->service_actions; sa->name; sa++) {
			if (op == SCSI_VARIABLE_LENGTH_CDB)
				put_be16(cdb + 8, sa->service_action);
			else
				cdb[1] = (uint8_t)sa->service_action;
			assert_ptr_equal(tg_cmd_lookup(SCSI_TYPE_DISK, cdb), sa);
		}
	}
}

static void test_unknown_service_action(void **state)
{
	struct fixture *f = *state;
	uint8_t cdb[16] = { SCSI_SERVICE_ACTION_IN_16, 0x1e };
	put_be32(cdb + 10, 32);
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[0], LUN_PLAIN, cdb, 16, TG_DIR_READ, 32);
	assert_invalid_field(r, 1, 4);
	uint8_t mi[12] = { SCSI_MAINTENANCE_IN, 0x05 };
	put_be32(mi + 6, 32);
	r = fake_submit(&f->cmd, f->nexus[0], LUN_PLAIN, mi, 12, TG_DIR_READ, 32);
	assert_invalid_field(r, 1, 4);
	/* A service action the device does not offer answers the same way. */
	uint8_t sanitize[10] = { SCSI_SANITIZE, 0x02 };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_PLAIN, sanitize, 10, TG_DIR_NONE, 0);
	assert_invalid_field(r, 1, 4);
	/* An opcode the device does not offer is an unknown opcode. */
	uint8_t prevent[6] = { SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0 };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_PLAIN, prevent, 6, TG_DIR_NONE, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* The 32-byte CDBs, without type 2 protection. */
	uint8_t cdb32[32] = { SCSI_VARIABLE_LENGTH_CDB, 0, 0, 0, 0, 0, 0, 0x18, 0, 0x09 };
	r = fake_submit(&f->cmd, f->nexus[0], LUN_PLAIN, cdb32, 16, TG_DIR_READ, 512);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
}

static void test_table_check_catches_mistakes(void **state)
{
	(void)state;
	static struct tg_cmd_desc table[256];
	char err[200];
	memset(table, 0, sizeof(table));
	table[SCSI_READ_10] = tg_sbc_cmds[SCSI_READ_10];
	assert_int_equal(tg_cmd_check_table(table, err, sizeof(err)), 0);
	/* Byte 0 must be the opcode. */
	table[SCSI_READ_10].usage[0] = SCSI_READ_16;
	assert_int_equal(tg_cmd_check_table(table, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "opcode"));
	/* The CONTROL byte must be marked. */
	table[SCSI_READ_10] = tg_sbc_cmds[SCSI_READ_10];
	table[SCSI_READ_10].usage[9] = 0;
	assert_int_equal(tg_cmd_check_table(table, err, sizeof(err)), -1);
	/* Nothing past the CDB. */
	table[SCSI_READ_10] = tg_sbc_cmds[SCSI_READ_10];
	table[SCSI_READ_10].usage[10] = 0xff;
	assert_int_equal(tg_cmd_check_table(table, err, sizeof(err)), -1);
	/* A service action entry whose usage names another service action. */
	static struct tg_cmd_desc actions[2];
	actions[0] = tg_sbc_cmds[SCSI_SERVICE_ACTION_IN_16].service_actions[0];
	actions[0].usage[1] = 0x11;
	memset(&actions[1], 0, sizeof(actions[1]));
	table[SCSI_READ_10] = tg_sbc_cmds[SCSI_READ_10];
	table[SCSI_SERVICE_ACTION_IN_16] = tg_sbc_cmds[SCSI_SERVICE_ACTION_IN_16];
	table[SCSI_SERVICE_ACTION_IN_16].service_actions = actions;
	assert_int_equal(tg_cmd_check_table(table, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "service action"));
	actions[0].usage[1] = SCSI_SAI_READ_CAPACITY_16;
	assert_int_equal(tg_cmd_check_table(table, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_all_commands),
		fixture_test(test_all_commands_with_timeouts),
		fixture_test(test_one_opcode),
		fixture_test(test_one_service_action),
		fixture_test(test_invalid_reporting_options),
		fixture_test(test_reported_commands_are_dispatched),
		fixture_test(test_unknown_service_action),
		cmocka_unit_test(test_table_check_catches_mistakes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
