/* Unit tests for core/sense.c: fixed and descriptor sense built from sense-reason codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/scsi.h"
#include "core/sense.h"

static void test_reason_table(void **state)
{
	assert_int_equal(tg_sense_reason_status(TG_SR_OK), SCSI_STATUS_GOOD);
	assert_int_equal(tg_sense_reason_status(TG_SR_RESERVATION_CONFLICT),
			 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(tg_sense_reason_status(TG_SR_LBA_OUT_OF_RANGE),
			 SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(tg_sense_reason_key(TG_SR_WRITE_PROTECTED), SCSI_SK_DATA_PROTECT);
	assert_string_equal(tg_sense_reason_name(TG_SR_GUARD_CHECK_FAILED), "GUARD_CHECK_FAILED");
	/* Out-of-range codes never index past the table. */
	assert_string_equal(tg_sense_reason_name((enum tg_sense_reason)9999), "UNKNOWN");
}

static void test_fixed_format_basic(void **state)
{
	uint8_t buf[TG_SENSE_MAX];
	size_t len = tg_sense_build(buf, sizeof(buf), TG_SR_LBA_OUT_OF_RANGE, NULL, false);
	assert_int_equal(len, 18);
	assert_int_equal(buf[0], 0x70);            /* current error, fixed, VALID clear */
	assert_int_equal(buf[2], SCSI_SK_ILLEGAL_REQUEST);
	assert_int_equal(buf[7], 10);              /* additional sense length */
	assert_int_equal(buf[12], 0x21);
	assert_int_equal(buf[13], 0x00);
	assert_int_equal(buf[15], 0);              /* no SKSV */
}

static void test_fixed_format_field_pointer(void **state)
{
	uint8_t buf[TG_SENSE_MAX];
	struct tg_sense_info info = { .has_field_pointer = true, .field_in_cdb = true,
				      .field_byte = 9, .field_bit = 2 };
	size_t len = tg_sense_build(buf, sizeof(buf), TG_SR_INVALID_FIELD_IN_CDB, &info, false);
	assert_int_equal(len, 18);
	assert_int_equal(buf[12], 0x24);
	assert_int_equal(buf[15], 0x80 | 0x40 | 0x08 | 2); /* SKSV, C/D, BPV, bit 2 */
	assert_int_equal(get_be16(buf + 16), 9);
	info.field_in_cdb = false;
	info.field_bit = -1;
	tg_sense_build(buf, sizeof(buf), TG_SR_INVALID_FIELD_IN_PARAM_LIST, &info, false);
	assert_int_equal(buf[15], 0x80);           /* parameter list, no bit pointer */
}

static void test_fixed_format_information(void **state)
{
	uint8_t buf[TG_SENSE_MAX];
	struct tg_sense_info info = { .has_information = true, .information = 0x12345678 };
	tg_sense_build(buf, sizeof(buf), TG_SR_MISCOMPARE_DURING_VERIFY, &info, false);
	assert_int_equal(buf[0], 0xf0);            /* VALID set */
	assert_int_equal(buf[2], SCSI_SK_MISCOMPARE);
	assert_int_equal(get_be32(buf + 3), 0x12345678);
	info.information = 0x100000000ull; /* does not fit: VALID must be clear */
	tg_sense_build(buf, sizeof(buf), TG_SR_UNRECOVERED_READ_ERROR, &info, false);
	assert_int_equal(buf[0], 0x70);
}

static void test_descriptor_format(void **state)
{
	uint8_t buf[TG_SENSE_MAX];
	struct tg_sense_info info = { .has_information = true, .information = 0x123456789aull,
				      .has_field_pointer = true, .field_in_cdb = true,
				      .field_byte = 1, .field_bit = -1 };
	size_t len = tg_sense_build(buf, sizeof(buf), TG_SR_GUARD_CHECK_FAILED, &info, true);
	assert_int_equal(buf[0], 0x72);
	assert_int_equal(buf[1], SCSI_SK_ABORTED_COMMAND);
	assert_int_equal(buf[2], 0x10);
	assert_int_equal(buf[3], 0x01);
	assert_int_equal(len, 8 + 12 + 8);
	assert_int_equal(buf[7], len - 8);
	/* Information descriptor carries all 64 bits. */
	assert_int_equal(buf[8], 0x00);
	assert_int_equal(buf[9], 0x0a);
	assert_int_equal(buf[10], 0x80);
	assert_true(get_be64(buf + 12) == 0x123456789aull);
	/* Sense-key-specific descriptor. */
	assert_int_equal(buf[20], 0x02);
	assert_int_equal(buf[21], 0x06);
	assert_int_equal(buf[24], 0x80 | 0x40);
	assert_int_equal(get_be16(buf + 25), 1);
}

static void test_no_sense_for_non_check_condition(void **state)
{
	uint8_t buf[TG_SENSE_MAX];
	assert_int_equal(tg_sense_build(buf, sizeof(buf), TG_SR_OK, NULL, false), 0);
	assert_int_equal(tg_sense_build(buf, sizeof(buf), TG_SR_RESERVATION_CONFLICT, NULL, false), 0);
	assert_int_equal(tg_sense_build(buf, sizeof(buf), TG_SR_TASK_SET_FULL, NULL, true), 0);
	/* Too small a buffer gets nothing rather than a truncated sense. */
	assert_int_equal(tg_sense_build(buf, 10, TG_SR_LBA_OUT_OF_RANGE, NULL, false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_table),
		cmocka_unit_test(test_fixed_format_basic),
		cmocka_unit_test(test_fixed_format_field_pointer),
		cmocka_unit_test(test_fixed_format_information),
		cmocka_unit_test(test_descriptor_format),
		cmocka_unit_test(test_no_sense_for_non_check_condition),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
