/* Unit tests for core/medium.c: eject and load with START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL per nexus, NOT READY without a medium. */
#include "fixture.h"

#include "core/medium.h"

/* LUN 0: removable. LUN 1: a fixed disk. */
enum { LUN_REMOVABLE = 0, LUN_FIXED = 1, BS = 512 };
enum { ONE = 0, TWO = 1 }; /* the initiators */

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:medium",
	.disks = { { "disk0", BS, 1024 }, { "disk1", BS, 1024 } },
	.luns = { { LUN_REMOVABLE, 0, false }, { LUN_FIXED, 1, false } },
	.lun_count = 2,
	.initiators = { [ONE] = { "iqn.2026-11.test:one", NULL, false },
			[TWO] = { "iqn.2026-11.test:two", NULL, false } },
};

static int setup(void **state)
{
	struct fixture *f = fixture_new(&spec);
	f->dev[0].removable = true;
	*state = f;
	return 0;
}

static struct fake_response *cmd6(struct fixture *f, struct tg_nexus *nexus, uint64_t lun,
				  uint8_t opcode, uint8_t byte4, uint32_t alloc)
{
	uint8_t cdb[6] = { opcode, 0, 0, 0, byte4, 0 };
	return fake_submit(&f->cmd, nexus, lun, cdb, sizeof(cdb),
			   alloc ? TG_DIR_READ : TG_DIR_NONE, alloc);
}

enum { LOEJ = 0x02, START = 0x01 };

static struct fake_response *eject(struct fixture *f, struct tg_nexus *n, uint64_t lun)
{
	return cmd6(f, n, lun, SCSI_START_STOP_UNIT, LOEJ, 0);
}
static struct fake_response *load(struct fixture *f, struct tg_nexus *n, uint64_t lun)
{
	return cmd6(f, n, lun, SCSI_START_STOP_UNIT, LOEJ | START, 0);
}
static struct fake_response *prevent(struct fixture *f, struct tg_nexus *n, uint8_t value)
{
	return cmd6(f, n, LUN_REMOVABLE, SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, value, 0);
}
static struct fake_response *tur(struct fixture *f, struct tg_nexus *n, uint64_t lun)
{
	return cmd6(f, n, lun, SCSI_TEST_UNIT_READY, 0, 0);
}

static struct fake_response *read10(struct fixture *f, struct tg_nexus *n)
{
	uint8_t cdb[10] = { SCSI_READ_10, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	return fake_submit(&f->cmd, n, LUN_REMOVABLE, cdb, sizeof(cdb), TG_DIR_READ, BS);
}

static void test_rmb(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = cmd6(f, f->nexus[ONE], LUN_REMOVABLE, SCSI_INQUIRY, 96, 96);
	assert_good(r);
	assert_int_equal(r->data[1], 0x80);
	r = cmd6(f, f->nexus[ONE], LUN_FIXED, SCSI_INQUIRY, 96, 96);
	assert_int_equal(r->data[1], 0x00);
}

static void test_eject_and_load(void **state)
{
	struct fixture *f = *state;
	want_good(eject(f, f->nexus[ONE], LUN_REMOVABLE));
	assert_false(tg_medium_present(&f->dev[0]));
	want_check(tur(f, f->nexus[ONE], LUN_REMOVABLE), SCSI_SK_NOT_READY, 0x3a, 0x00);
	want_check(read10(f, f->nexus[ONE]), SCSI_SK_NOT_READY, 0x3a, 0x00);
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 0);
	uint8_t rc10[10] = { SCSI_READ_CAPACITY_10 };
	want_check(fake_submit(&f->cmd, f->nexus[ONE], LUN_REMOVABLE, rc10, 10, TG_DIR_READ, 8),
		   SCSI_SK_NOT_READY, 0x3a, 0x00);
	/* What needs no medium still answers. */
	want_good(cmd6(f, f->nexus[ONE], LUN_REMOVABLE, SCSI_INQUIRY, 96, 96));
	uint8_t ms[6] = { SCSI_MODE_SENSE_6, 0, 0x3f, 0, 255, 0 };
	want_good(fake_submit(&f->cmd, f->nexus[ONE], LUN_REMOVABLE, ms, 6, TG_DIR_READ, 255));
	uint8_t rl[12] = { SCSI_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	want_good(fake_submit(&f->cmd, f->nexus[ONE], LUN_REMOVABLE, rl, 12, TG_DIR_READ, 256));
	/* Ejecting what is out already is no error. */
	want_good(eject(f, f->nexus[ONE], LUN_REMOVABLE));
	/* The other nexus sees it gone too; the fixed disk is not affected. */
	want_check(tur(f, f->nexus[TWO], LUN_REMOVABLE), SCSI_SK_NOT_READY, 0x3a, 0x00);
	want_good(tur(f, f->nexus[TWO], LUN_FIXED));

	want_good(load(f, f->nexus[ONE], LUN_REMOVABLE));
	want_good(tur(f, f->nexus[ONE], LUN_REMOVABLE));
	want_good(read10(f, f->nexus[ONE]));
	/* The loader knows; the others are told the medium may have changed. */
	want_check(tur(f, f->nexus[TWO], LUN_REMOVABLE), SCSI_SK_UNIT_ATTENTION, 0x28, 0x00);
	want_good(tur(f, f->nexus[TWO], LUN_REMOVABLE));
}

static void test_prevent(void **state)
{
	struct fixture *f = *state;
	want_good(prevent(f, f->nexus[ONE], 1));
	want_check(eject(f, f->nexus[ONE], LUN_REMOVABLE), SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	want_check(eject(f, f->nexus[TWO], LUN_REMOVABLE), SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	assert_true(tg_medium_present(&f->dev[0]));
	/* Both nexuses prevent: one allowing is not enough. */
	want_good(prevent(f, f->nexus[TWO], 1));
	want_good(prevent(f, f->nexus[ONE], 1)); /* twice from one nexus counts once */
	want_good(prevent(f, f->nexus[ONE], 0));
	want_check(eject(f, f->nexus[ONE], LUN_REMOVABLE), SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	want_good(prevent(f, f->nexus[TWO], 0));
	want_good(eject(f, f->nexus[ONE], LUN_REMOVABLE));
	/* Loading is held back by a prevention too. */
	want_good(prevent(f, f->nexus[ONE], 1));
	want_check(load(f, f->nexus[ONE], LUN_REMOVABLE), SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	want_good(prevent(f, f->nexus[ONE], 0));
	want_good(load(f, f->nexus[ONE], LUN_REMOVABLE));
	/* PREVENT 10b and 11b are for medium changers. */
	struct fake_response *r = prevent(f, f->nexus[ONE], 2);
	assert_invalid_field(r, 4, 1);
}

static void test_nexus_loss_and_reset_end_prevention(void **state)
{
	struct fixture *f = *state;
	want_good(prevent(f, f->nexus[ONE], 1));
	tg_nexus_destroy(f->nexus[ONE]);
	f->nexus[ONE] = NULL;
	want_good(eject(f, f->nexus[TWO], LUN_REMOVABLE));
	want_good(load(f, f->nexus[TWO], LUN_REMOVABLE));

	want_good(prevent(f, f->nexus[TWO], 1));
	tg_medium_lun_reset(&f->dev[0]);
	want_good(eject(f, f->nexus[TWO], LUN_REMOVABLE));
	want_good(load(f, f->nexus[TWO], LUN_REMOVABLE));
}

static void test_fixed_medium(void **state)
{
	struct fixture *f = *state;
	/* LOEJ means nothing to a fixed disk, and PREVENT ALLOW is not offered. */
	want_good(eject(f, f->nexus[ONE], LUN_FIXED));
	want_good(tur(f, f->nexus[ONE], LUN_FIXED));
	want_check(cmd6(f, f->nexus[ONE], LUN_FIXED, SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 1, 0),
		   SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* A power condition makes START and LOEJ ignored. */
	want_good(cmd6(f, f->nexus[ONE], LUN_REMOVABLE, SCSI_START_STOP_UNIT, 0x30 | LOEJ, 0));
	assert_true(tg_medium_present(&f->dev[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_rmb),
		fixture_test(test_eject_and_load),
		fixture_test(test_prevent),
		fixture_test(test_nexus_loss_and_reset_end_prevention),
		fixture_test(test_fixed_medium),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
