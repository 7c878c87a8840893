/* Unit tests of the iSCSI CRC32C digest against the RFC 3720 B.4 / RFC 7143 examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transports/iscsi/digest.h"

static void test_rfc_vector_zeros(void **state)
{
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	assert_int_equal(iscsi_crc32c(buf, sizeof(buf)), 0x8a9136aau);
}

static void test_rfc_vector_ones(void **state)
{
	uint8_t buf[32];
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(iscsi_crc32c(buf, sizeof(buf)), 0x62a8ab43u);
}

static void test_rfc_vector_incrementing(void **state)
{
	uint8_t buf[32];
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(iscsi_crc32c(buf, sizeof(buf)), 0x46dd794eu);
}

static void test_rfc_vector_decrementing(void **state)
{
	uint8_t buf[32];
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(iscsi_crc32c(buf, sizeof(buf)), 0x113fdb5cu);
}

/* The RFC's SCSI Read (10) command BHS, whose digest is listed as bytes 56 3a 96 d9. */
static const uint8_t read10_bhs[48] = {
	0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void test_rfc_vector_read10_pdu_wire_bytes(void **state)
{
	uint8_t wire[4];
	iscsi_digest_put(wire, iscsi_crc32c(read10_bhs, sizeof(read10_bhs)));
	const uint8_t expected[4] = { 0x56, 0x3a, 0x96, 0xd9 };
	assert_memory_equal(wire, expected, 4);
	assert_int_equal(iscsi_digest_get(wire), 0xd9963a56u);
}

static void test_wire_order_is_least_significant_first(void **state)
{
	uint8_t zeros[32] = { 0 };
	uint8_t wire[4];
	iscsi_digest_put(wire, iscsi_crc32c(zeros, sizeof(zeros)));
	/* RFC 7143's example lists the zero-buffer CRC as "aa 36 91 8a" in wire order. */
	const uint8_t expected[4] = { 0xaa, 0x36, 0x91, 0x8a };
	assert_memory_equal(wire, expected, 4);
	assert_int_equal(iscsi_digest_get(expected), 0x8a9136aau);
}

static void test_incremental_equals_whole(void **state)
{
	uint8_t buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t whole = iscsi_crc32c(buf, sizeof(buf));
	for (size_t split = 0; split <= sizeof(buf); split += 37) {
		uint32_t crc = iscsi_crc32c(buf, split);
		crc = iscsi_crc32c_update(crc, buf + split, sizeof(buf) - split);
		assert_int_equal(crc, whole);
	}
	/* byte by byte */
	uint32_t crc = 0;
	for (size_t i = 0; i < sizeof(buf); i++)
		crc = iscsi_crc32c_update(crc, buf + i, 1);
	assert_int_equal(crc, whole);
}

static void test_empty_is_zero(void **state)
{
	assert_int_equal(iscsi_crc32c(NULL, 0), 0);
	assert_int_equal(iscsi_crc32c_update(0x12345678u, NULL, 0), 0x12345678u);
}

static void test_data_digest_covers_padding(void **state)
{
	uint8_t padded[8] = { 'a', 'b', 'c', 'd', 'e', 0, 0, 0 };
	assert_int_equal(iscsi_data_digest(padded, 5), iscsi_crc32c(padded, 8));
	assert_int_not_equal(iscsi_data_digest(padded, 5), iscsi_crc32c(padded, 5));
	/* aligned lengths get no padding */
	assert_int_equal(iscsi_data_digest(padded, 4), iscsi_crc32c(padded, 4));
	/* the 32-zero vector is aligned, so its data digest is the plain CRC */
	uint8_t zeros[32] = { 0 };
	assert_int_equal(iscsi_data_digest(zeros, 32), 0x8a9136aau);
}

static void test_detects_single_bit_flip(void **state)
{
	uint8_t buf[48];
	memcpy(buf, read10_bhs, sizeof(buf));
	uint32_t good = iscsi_crc32c(buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(iscsi_crc32c(buf, sizeof(buf)), good);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_vector_zeros),
		cmocka_unit_test(test_rfc_vector_ones),
		cmocka_unit_test(test_rfc_vector_incrementing),
		cmocka_unit_test(test_rfc_vector_decrementing),
		cmocka_unit_test(test_rfc_vector_read10_pdu_wire_bytes),
		cmocka_unit_test(test_wire_order_is_least_significant_first),
		cmocka_unit_test(test_incremental_equals_whole),
		cmocka_unit_test(test_empty_is_zero),
		cmocka_unit_test(test_data_digest_covers_padding),
		cmocka_unit_test(test_detects_single_bit_flip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
