/* Unit tests for protection information: core/pi.c arithmetic, core/sbc_pi.c commands through the core, and the file backend's sidecar (devices/pi_store.c). */
#include "fixture.h"

#include <ev.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/ioengine.h"
#include "core/pi.h"

#define BS 512
#define BLOCKS 64
#define UNIT (BS + 8)

/* ---- arithmetic ---- */

static void test_crc16_known_vectors(void **state)
{
	(void)state;
	/* The CRC-16/T10-DIF check value. */
	assert_int_equal(tg_pi_crc16((const uint8_t *)"123456789", 9), 0xd0db);
	uint8_t zero[BS] = { 0 };
	assert_int_equal(tg_pi_crc16(zero, sizeof(zero)), 0x0000);
	uint8_t ones[BS];
	memset(ones, 0xff, sizeof(ones));
	assert_int_not_equal(tg_pi_crc16(ones, sizeof(ones)), 0);
}

/* The textbook form: big-endian 16-bit words, end-around carry, complement. */
static uint16_t ip_reference(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < len; i += 2) {
		sum += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
		sum = (sum & 0xffff) + (sum >> 16);
	}
	return (uint16_t)~sum;
}

static void test_ip_checksum(void **state)
{
	(void)state;
	/* RFC 1071's worked example: the sum of these words is DDF2h. */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	assert_int_equal(tg_pi_ip_checksum(rfc, sizeof(rfc)), (uint16_t)~0xddf2);
	uint8_t buf[4099];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7));
	static const size_t lens[] = { 0, 1, 2, 3, 7, 8, 9, 511, 512, 4096, 4099 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		assert_int_equal(tg_pi_ip_checksum(buf, lens[i]), ip_reference(buf, lens[i]));
}

static void test_profiles(void **state)
{
	(void)state;
	assert_true(tg_pi_profile_count() >= 2);
	const struct tg_pi_profile *crc = tg_pi_profile_find("t10dif-crc16");
	const struct tg_pi_profile *ip = tg_pi_profile_find("ip-checksum");
	assert_non_null(crc);
	assert_non_null(ip);
	assert_null(tg_pi_profile_find("crc64"));
	assert_null(tg_pi_profile_find(NULL));
	assert_ptr_equal(tg_pi_medium_profile(), crc);
	assert_true(crc->sbc_guard);
	assert_false(ip->sbc_guard);
	for (size_t i = 0; i < tg_pi_profile_count(); i++) {
		const struct tg_pi_profile *p = tg_pi_profile_at(i);
		assert_ptr_equal(tg_pi_profile_find(p->name), p);
		assert_int_equal(p->tuple_bytes, 8);
		assert_int_equal(p->guard_bits + p->app_tag_bits + p->ref_tag_bits, 64);
	}
	assert_null(tg_pi_profile_at(tg_pi_profile_count()));
	uint8_t block[BS];
	memset(block, 0x5a, sizeof(block));
	assert_int_equal(crc->guard(block, BS), tg_pi_crc16(block, BS));
	assert_int_equal(ip->guard(block, BS), tg_pi_ip_checksum(block, BS));
}

/* SBC's tables: which fields each protect value checks, per use. */
static void test_protect_tables(void **state)
{
	(void)state;
	struct row {
		uint8_t protect;
		bool read_g, read_r, write_g, write_r, wire;
	} rows[] = {
		{ 0, true, true, false, false, false }, { 1, true, true, true, true, true },
		{ 2, false, true, false, true, true },  { 3, false, false, false, false, true },
		{ 4, true, false, true, false, true },  { 5, true, true, true, true, true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tg_pi_cmd c;
		assert_true(tg_pi_cmd_init(&c, 1, rows[i].protect, TG_PI_USE_READ, 7, NULL, NULL));
		assert_int_equal(c.check_guard, rows[i].read_g);
		assert_int_equal(c.check_ref, rows[i].read_r);
		assert_false(c.check_app); /* no expected tag without a 32-byte CDB */
		assert_int_equal(c.on_wire, rows[i].wire);
		assert_int_equal(c.ref_tag, 7);
		assert_true(tg_pi_cmd_init(&c, 1, rows[i].protect, TG_PI_USE_WRITE, 7, NULL, NULL));
		assert_int_equal(c.check_guard, rows[i].write_g);
		assert_int_equal(c.check_ref, rows[i].write_r);
		assert_int_equal(c.on_wire, rows[i].wire);
		assert_true(tg_pi_cmd_init(&c, 1, rows[i].protect, TG_PI_USE_VERIFY_MEDIUM, 7, NULL,
					   NULL));
		assert_int_equal(c.check_guard, rows[i].read_g);
		assert_false(c.on_wire);
		/* BYTCHK 01b: the medium is checked only for VRPROTECT 000b. */
		assert_true(tg_pi_cmd_init(&c, 1, rows[i].protect, TG_PI_USE_VERIFY_COMPARE, 7,
					   NULL, NULL));
		assert_int_equal(c.check_guard, rows[i].protect == 0);
	}
	struct tg_pi_cmd c;
	assert_false(tg_pi_cmd_init(&c, 1, 6, TG_PI_USE_READ, 0, NULL, NULL));
	assert_false(tg_pi_cmd_init(&c, 1, 7, TG_PI_USE_WRITE, 0, NULL, NULL));
	/* Type 2 checks the reference tag only with a 32-byte CDB; type 3 never. */
	assert_true(tg_pi_cmd_init(&c, 2, 1, TG_PI_USE_READ, 7, NULL, NULL));
	assert_false(c.check_ref);
	uint8_t cdb32[32] = { SCSI_VARIABLE_LENGTH_CDB };
	put_be32(cdb32 + 20, 1000);
	put_be16(cdb32 + 24, 0xabcd);
	put_be16(cdb32 + 26, 0xff00);
	assert_true(tg_pi_cmd_init(&c, 2, 1, TG_PI_USE_READ, 7, cdb32, NULL));
	assert_true(c.check_ref);
	assert_true(c.check_app);
	assert_int_equal(c.ref_tag, 1000);
	assert_int_equal(tg_pi_expected_ref(&c, 3), 1003);
	assert_true(tg_pi_cmd_init(&c, 3, 1, TG_PI_USE_READ, 7, NULL, NULL));
	assert_false(c.check_ref);
	assert_true(c.check_guard);
}

static void fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 29 + (i >> 9) * 3);
}

static void test_generate_per_type(void **state)
{
	(void)state;
	uint8_t data[4 * BS], pi[4 * 8];
	fill_pattern(data, sizeof(data), 1);
	tg_pi_generate_plain(1, 0x1234567800000010ull, data, pi, BS, 4);
	for (int i = 0; i < 4; i++) {
		struct tg_pi_tuple t = tg_pi_tuple_get(pi + 8 * i);
		assert_int_equal(t.guard, tg_pi_crc16(data + i * BS, BS));
		assert_int_equal(t.app_tag, 0);
		assert_int_equal(t.ref_tag, 0x10 + i); /* the LBA's low 32 bits */
	}
	tg_pi_generate_plain(2, 0x20, data, pi, BS, 4);
	assert_int_equal(tg_pi_tuple_get(pi + 24).ref_tag, 0x23);
	tg_pi_generate_plain(3, 0x20, data, pi, BS, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tg_pi_tuple_get(pi + 8 * i).ref_tag, 0xffffffffu);
	/* Type 2 with a 32-byte CDB: the expected initial tag counts up, the expected
	 * application tag is what the target writes. */
	uint8_t cdb32[32] = { SCSI_VARIABLE_LENGTH_CDB };
	put_be32(cdb32 + 20, 0xfffffffe);
	put_be16(cdb32 + 24, 0x4242);
	struct tg_pi_cmd c;
	tg_pi_cmd_init(&c, 2, 0, TG_PI_USE_WRITE, 0x20, cdb32, NULL);
	tg_pi_generate(&c, data, pi, BS, 4, 0);
	assert_int_equal(tg_pi_tuple_get(pi).ref_tag, 0xfffffffe);
	assert_int_equal(tg_pi_tuple_get(pi + 16).ref_tag, 0); /* wraps */
	assert_int_equal(tg_pi_tuple_get(pi + 8).app_tag, 0x4242);
}

static void test_check_failures_and_escapes(void **state)
{
	(void)state;
	uint8_t data[4 * BS], pi[4 * 8];
	fill_pattern(data, sizeof(data), 2);
	tg_pi_generate_plain(1, 100, data, pi, BS, 4);
	struct tg_pi_cmd c;
	tg_pi_cmd_init(&c, 1, 1, TG_PI_USE_READ, 100, NULL, NULL);
	const struct tg_pi_profile *crc = tg_pi_medium_profile();
	uint32_t bad = 99;
	assert_int_equal(tg_pi_check(&c, crc, data, pi, BS, 4, 0, &bad), TG_SR_OK);
	data[2 * BS + 17] ^= 0x10;
	assert_int_equal(tg_pi_check(&c, crc, data, pi, BS, 4, 0, &bad), TG_SR_GUARD_CHECK_FAILED);
	assert_int_equal(bad, 2);
	/* An application tag of FFFFh turns every check of the block off (types 1, 2). */
	put_be16(pi + 2 * 8 + 2, TG_PI_APP_ESCAPE);
	assert_int_equal(tg_pi_check(&c, crc, data, pi, BS, 4, 0, &bad), TG_SR_OK);
	/* Type 3 needs the reference tag escaped too. */
	struct tg_pi_cmd c3;
	tg_pi_cmd_init(&c3, 3, 1, TG_PI_USE_READ, 100, NULL, NULL);
	assert_int_equal(tg_pi_check(&c3, crc, data, pi, BS, 4, 0, &bad), TG_SR_GUARD_CHECK_FAILED);
	put_be32(pi + 2 * 8 + 4, TG_PI_REF_ESCAPE);
	assert_int_equal(tg_pi_check(&c3, crc, data, pi, BS, 4, 0, &bad), TG_SR_OK);
	/* Reference tag: block 3 of a command starting at 100 must say 103; the chunk offset
	 * `first` counts. */
	put_be32(pi + 3 * 8 + 4, 7);
	assert_int_equal(tg_pi_check(&c, crc, data, pi, BS, 4, 0, &bad), TG_SR_REF_TAG_CHECK_FAILED);
	assert_int_equal(bad, 3);
	tg_pi_generate_plain(1, 100, data, pi, BS, 4);
	assert_int_equal(tg_pi_check(&c, crc, data + BS, pi + 8, BS, 3, 1, &bad), TG_SR_OK);
	assert_int_equal(tg_pi_check(&c, crc, data + BS, pi + 8, BS, 3, 0, &bad),
			 TG_SR_REF_TAG_CHECK_FAILED);
	/* Application tag under a mask from a 32-byte CDB. */
	uint8_t cdb32[32] = { SCSI_VARIABLE_LENGTH_CDB };
	put_be32(cdb32 + 20, 100);
	put_be16(cdb32 + 24, 0x1200);
	put_be16(cdb32 + 26, 0xff00);
	struct tg_pi_cmd c2;
	tg_pi_cmd_init(&c2, 2, 1, TG_PI_USE_READ, 100, cdb32, NULL);
	for (int i = 0; i < 4; i++) /* differ only where the mask is 0 */
		put_be16(pi + 8 * i + 2, (uint16_t)(0x12a0 + i));
	assert_int_equal(tg_pi_check(&c2, crc, data, pi, BS, 4, 0, &bad), TG_SR_OK);
	put_be16(pi + 8 + 2, 0x13ab);
	assert_int_equal(tg_pi_check(&c2, crc, data, pi, BS, 4, 0, &bad), TG_SR_APP_TAG_CHECK_FAILED);
	assert_int_equal(bad, 1);
}

static void test_ip_checksum_conversion(void **state)
{
	(void)state;
	const struct tg_pi_profile *crc = tg_pi_profile_find("t10dif-crc16");
	const struct tg_pi_profile *ip = tg_pi_profile_find("ip-checksum");
	uint8_t data[3 * BS], pi[3 * 8], host[3 * 8];
	fill_pattern(data, sizeof(data), 3);
	tg_pi_generate_plain(1, 0, data, pi, BS, 3);
	memcpy(host, pi, sizeof(pi));
	put_be16(host + 8, 0x0bad); /* block 1's CRC guard is wrong */
	put_be16(host + 16 + 2, TG_PI_APP_ESCAPE); /* block 2 escaped: left alone */
	put_be16(host + 16, 0x1111);
	tg_pi_convert(1, crc, ip, data, host, BS, 3);
	assert_int_equal(get_be16(host), tg_pi_ip_checksum(data, BS));
	assert_int_equal(get_be16(host + 8), (uint16_t)~tg_pi_ip_checksum(data + BS, BS));
	assert_int_equal(get_be16(host + 16), 0x1111);
	assert_memory_equal(host + 2, pi + 2, 6); /* tags untouched */
	/* And back: the valid guard becomes the CRC again, the invalid one stays invalid. */
	tg_pi_convert(1, ip, crc, data, host, BS, 3);
	assert_int_equal(get_be16(host), tg_pi_crc16(data, BS));
	assert_int_not_equal(get_be16(host + 8), tg_pi_crc16(data + BS, BS));
	struct tg_pi_cmd c;
	tg_pi_cmd_init(&c, 1, 1, TG_PI_USE_READ, 0, NULL, NULL);
	uint32_t bad = 0;
	assert_int_equal(tg_pi_check(&c, crc, data, host, BS, 3, 0, &bad), TG_SR_GUARD_CHECK_FAILED);
	assert_int_equal(bad, 1);
}

static void test_split_and_interleave(void **state)
{
	(void)state;
	enum { N = 5 };
	uint8_t data[N * BS], pi[N * 8], wire[N * UNIT], buf[N * UNIT], pi_out[N * 8];
	fill_pattern(data, sizeof(data), 4);
	fill_pattern(pi, sizeof(pi), 200);
	for (int i = 0; i < N; i++) {
		memcpy(wire + i * UNIT, data + i * BS, BS);
		memcpy(wire + i * UNIT + BS, pi + i * 8, 8);
	}
	memcpy(buf, wire, sizeof(wire));
	uint64_t before = tg_stats_copied_bytes();
	tg_pi_split(buf, pi_out, BS, N);
	assert_memory_equal(buf, data, sizeof(data));
	assert_memory_equal(pi_out, pi, sizeof(pi));
	/* A copy, and counted as one: every PI byte and every block but the first moved. */
	assert_int_equal(tg_stats_copied_bytes() - before, N * 8 + (N - 1) * BS);
	before = tg_stats_copied_bytes();
	tg_pi_interleave(buf, pi_out, BS, N);
	assert_memory_equal(buf, wire, sizeof(wire));
	assert_int_equal(tg_stats_copied_bytes() - before, N * 8 + (N - 1) * BS);
}

/* ---- commands through the core, on an in-memory disk that keeps PI ---- */

struct pi_disk {
	struct fake_disk disk; /* first: fake_disk_submit finds it through dev->backend */
	uint8_t *pi;
	unsigned formats;
	int format_type;
	int format_result;
};

static void pi_disk_submit(struct tg_device *dev, struct tg_io *io)
{
	struct pi_disk *d = dev->backend;
	uint64_t lba = io->offset / dev->block_size, n = io->len / dev->block_size;
	if (io->op == TG_IO_READ && io->pi_iov)
		memcpy(io->pi_iov[0].iov_base, d->pi + lba * 8, n * 8);
	if (io->op == TG_IO_WRITE && io->pi_iov)
		memcpy(d->pi + lba * 8, io->pi_iov[0].iov_base, n * 8);
	else if (io->op == TG_IO_WRITE && tg_pi_enabled(dev))
		tg_pi_generate_plain(dev->protection_type, lba, io->iov[0].iov_base, d->pi + lba * 8,
				     dev->block_size, (uint32_t)n);
	fake_disk_submit(dev, io);
}

static void pi_disk_format(struct tg_device *dev, struct tg_io *io, int type)
{
	struct pi_disk *d = dev->backend;
	d->formats++;
	d->format_type = type;
	memset(d->pi, 0xff, dev->num_blocks * 8);
	io->result = d->format_result;
	io->done(io);
}

static const struct dev_backend_ops pi_disk_ops = {
	.name = "fake-pi",
	.submit = pi_disk_submit,
	.lba_status = fake_disk_lba_status,
	.format_pi = pi_disk_format,
};

enum { LUN_T1 = 0, LUN_T2 = 1, LUN_T3 = 2, LUN_PLAIN = 3, LUN_IP = 4, LUN_T1_RO = 5, NDEV = 5 };

struct pi_fixture {
	struct pi_disk disks[NDEV];
	struct tg_device devs[NDEV];
	struct tg_lun_entry entries[NDEV + 1];
	struct tg_target target;
	struct tg_nexus *nexus;
	struct fake_cmd cmd;
};

static void pi_device_init(struct pi_fixture *f, int i, const char *name, int type,
			   const char *host)
{
	struct pi_disk *d = &f->disks[i];
	struct tg_device *dev = &f->devs[i];
	fake_device_init(dev, &d->disk, name, BS, BLOCKS);
	d->pi = calloc(BLOCKS, 8);
	assert_non_null(d->pi);
	dev->backend = d;
	if (type) {
		dev->ops = &pi_disk_ops;
		dev->pi_capable = true;
		dev->protection_type = type;
		dev->pi_host_profile = tg_pi_profile_find(host);
		tg_pi_generate_plain(type, 0, d->disk.bytes, d->pi, BS, BLOCKS);
	}
}

static int setup(void **state)
{
	struct pi_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pi_device_init(f, LUN_T1, "t1", 1, NULL);
	pi_device_init(f, LUN_T2, "t2", 2, NULL);
	pi_device_init(f, LUN_T3, "t3", 3, NULL);
	pi_device_init(f, LUN_PLAIN, "plain", 0, NULL);
	pi_device_init(f, LUN_IP, "ip", 1, "ip-checksum");
	for (int i = 0; i < NDEV; i++)
		f->entries[i] = (struct tg_lun_entry){ (uint64_t)i, &f->devs[i], false };
	f->entries[NDEV] = (struct tg_lun_entry){ LUN_T1_RO, &f->devs[LUN_T1], true };
	fixture_target_init(&f->target, "iqn.2026-11.org.targe:pi", f->entries, NDEV + 1);
	f->nexus = fixture_nexus(&f->target, "iqn.2026-11.test:pi", NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct pi_fixture *f = *state;
	fake_cmd_reset(&f->cmd);
	tg_nexus_destroy(f->nexus);
	for (int i = 0; i < NDEV; i++) {
		fake_device_fini(&f->disks[i].disk);
		free(f->disks[i].pi);
	}
	free(f);
	return 0;
}

/* An LBA CDB whose RDPROTECT, WRPROTECT or VRPROTECT field is protect. */
static size_t rw_cdb(uint8_t *cdb, uint8_t opcode, uint8_t protect, uint64_t lba, uint32_t n)
{
	return lba_cdb(cdb, opcode, (uint8_t)(protect << 5), lba, n);
}

/* Submits any CDB (32-byte ones too) with an optional Data-Out payload; engine may be NULL. */
static void submit_cdb(struct fake_cmd *cmd, struct tg_nexus *nexus, struct tg_ioengine *engine,
		       uint64_t lun, const uint8_t *cdb, uint16_t cdb_len, enum tg_data_dir dir,
		       uint32_t exp_len, const void *payload)
{
	fake_cmd_reset(cmd);
	cmd->payload = payload;
	cmd->payload_len = payload ? exp_len : 0;
	tg_task_init(&cmd->task, nexus, &fake_transport_ops, engine);
	cmd->task.lun = lun;
	memcpy(cmd->task.cdb, cdb, cdb_len);
	cmd->task.cdb_len = cdb_len < 16 ? 16 : cdb_len;
	cmd->task.exp_dir = dir;
	cmd->task.exp_len = exp_len;
	tg_task_submit(&cmd->task);
}

static struct fake_response *submit(struct pi_fixture *f, uint64_t lun, const uint8_t *cdb,
				    uint16_t cdb_len, enum tg_data_dir dir, uint32_t exp_len,
				    const void *payload)
{
	submit_cdb(&f->cmd, f->nexus, NULL, lun, cdb, cdb_len, dir, exp_len, payload);
	return &f->cmd.rsp;
}

static struct fake_response *read_pi(struct pi_fixture *f, uint64_t lun, uint8_t opcode,
				     uint8_t protect, uint64_t lba, uint32_t n)
{
	uint8_t cdb[16];
	size_t len = rw_cdb(cdb, opcode, protect, lba, n);
	return submit(f, lun, cdb, (uint16_t)len, TG_DIR_READ, n * (protect ? UNIT : BS), NULL);
}

static struct fake_response *write_pi(struct pi_fixture *f, uint64_t lun, uint8_t opcode,
				      uint8_t protect, uint64_t lba, uint32_t n, const uint8_t *wire)
{
	uint8_t cdb[16];
	size_t len = rw_cdb(cdb, opcode, protect, lba, n);
	return submit(f, lun, cdb, (uint16_t)len, TG_DIR_WRITE, n * (protect ? UNIT : BS), wire);
}

/* Interleaves n blocks of data with their PI, as the wire carries them. */
static uint8_t *make_wire(const uint8_t *data, const uint8_t *pi, uint32_t n)
{
	uint8_t *wire = malloc((size_t)n * UNIT);
	assert_non_null(wire);
	for (uint32_t i = 0; i < n; i++) {
		memcpy(wire + i * UNIT, data + i * BS, BS);
		memcpy(wire + i * UNIT + BS, pi + i * 8, 8);
	}
	return wire;
}

static uint32_t sense_information(const struct fake_response *r)
{
	assert_true(r->sense[0] & 0x80); /* VALID */
	return get_be32(r->sense + 3);
}

/* Like fixture.h's want_good: take a response once, so a command written inside the call is
 * sent once. */
static void want_invalid_field(const struct fake_response *r, int byte, int bit)
{
	assert_invalid_field(r, byte, bit);
}

/* A PI check failure (10/ascq) reporting `lba` in INFORMATION, with no data sent. */
static void want_pi_failure(const struct fake_response *r, uint8_t key, uint8_t ascq,
			      uint32_t lba)
{
	assert_check(r, key, 0x10, ascq);
	assert_int_equal(sense_information(r), lba);
	assert_int_equal(r->data_len, 0);
}

static uint8_t *disk_block(struct pi_fixture *f, int dev, uint64_t lba)
{
	return f->disks[dev].disk.bytes + lba * BS;
}

static uint8_t *disk_pi(struct pi_fixture *f, int dev, uint64_t lba)
{
	return f->disks[dev].pi + lba * 8;
}

static void test_write_then_read_with_pi_round_trip(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 4, LBA = 10 };
	uint8_t data[N * BS], pi[N * 8];
	fill_pattern(data, sizeof(data), 9);
	tg_pi_generate_plain(1, LBA, data, pi, BS, N);
	for (int i = 0; i < N; i++)
		put_be16(pi + 8 * i + 2, (uint16_t)(0x100 + i)); /* the application's own tags */
	uint8_t *wire = make_wire(data, pi, N);
	static const uint8_t writes[] = { SCSI_WRITE_10, SCSI_WRITE_12, SCSI_WRITE_16 };
	static const uint8_t reads[] = { SCSI_READ_10, SCSI_READ_12, SCSI_READ_16 };
	for (int k = 0; k < 3; k++) {
		memset(disk_pi(f, LUN_T1, LBA), 0, N * 8);
		struct fake_response *r = write_pi(f, LUN_T1, writes[k], 1, LBA, N, wire);
		want_good(r);
		assert_memory_equal(disk_block(f, LUN_T1, LBA), data, sizeof(data));
		assert_memory_equal(disk_pi(f, LUN_T1, LBA), pi, sizeof(pi)); /* stored apart */
		r = read_pi(f, LUN_T1, reads[k], 1, LBA, N);
		want_good(r);
		assert_int_equal(r->data_len, N * UNIT);
		assert_memory_equal(r->data, wire, N * UNIT);
	}
	free(wire);
}

static void test_plain_write_generates_pi(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 3, LBA = 20 };
	uint8_t data[N * BS];
	fill_pattern(data, sizeof(data), 11);
	struct fake_response *r = write_pi(f, LUN_T1, SCSI_WRITE_16, 0, LBA, N, data);
	want_good(r);
	for (int i = 0; i < N; i++) {
		struct tg_pi_tuple t = tg_pi_tuple_get(disk_pi(f, LUN_T1, LBA + i));
		assert_int_equal(t.guard, tg_pi_crc16(data + i * BS, BS));
		assert_int_equal(t.app_tag, 0);
		assert_int_equal(t.ref_tag, LBA + i);
	}
	/* Read back with PI: valid as the initiator checks it. */
	r = read_pi(f, LUN_T1, SCSI_READ_16, 1, LBA, N);
	want_good(r);
	for (int i = 0; i < N; i++) {
		struct tg_pi_tuple t = tg_pi_tuple_get(r->data + i * UNIT + BS);
		assert_int_equal(t.guard, tg_pi_crc16(r->data + i * UNIT, BS));
		assert_int_equal(t.ref_tag, LBA + i);
	}
}

/* WRPROTECT 1..5 against a bad guard and a bad reference tag (SBC's WRPROTECT table). */
static void test_wrprotect_table(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 3, LBA = 30 };
	static const struct {
		uint8_t protect;
		bool guard_checked, ref_checked;
	} rows[] = { { 1, true, true }, { 2, false, true }, { 3, false, false },
		     { 4, true, false }, { 5, true, true } };
	uint8_t data[N * BS], pi[N * 8];
	fill_pattern(data, sizeof(data), 12);
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		for (int fault = 0; fault < 2; fault++) {
			tg_pi_generate_plain(1, LBA, data, pi, BS, N);
			if (fault == 0)
				put_be16(pi + 8, 0xbeef); /* block 1: bad guard */
			else
				put_be32(pi + 16 + 4, 12345); /* block 2: bad reference tag */
			uint8_t *wire = make_wire(data, pi, N);
			memset(disk_pi(f, LUN_T1, LBA), 0, N * 8);
			struct fake_response *r =
				write_pi(f, LUN_T1, SCSI_WRITE_16, rows[k].protect, LBA, N, wire);
			bool checked = fault == 0 ? rows[k].guard_checked : rows[k].ref_checked;
			if (checked) {
				want_pi_failure(r, SCSI_SK_ABORTED_COMMAND, fault == 0 ? 1 : 3,
						  LBA + 1 + fault);
				/* Nothing was written. */
				assert_int_equal(get_be32(disk_pi(f, LUN_T1, LBA) + 4), 0);
			} else {
				want_good(r);
				assert_memory_equal(disk_pi(f, LUN_T1, LBA), pi, sizeof(pi));
				/* What was not checked on the way in is caught on the way out. */
				r = read_pi(f, LUN_T1, SCSI_READ_16, 0, LBA, N);
				want_pi_failure(r, SCSI_SK_ABORTED_COMMAND, fault == 0 ? 1 : 3,
						  LBA + 1 + fault);
			}
			free(wire);
		}
	}
	/* Restore the blocks for the tests that follow. */
	want_good(write_pi(f, LUN_T1, SCSI_WRITE_16, 0, LBA, N, data));
}

/* WRITE ATOMIC(16) takes the WRITE path: PI checked as WRPROTECT says, stored with the data
 * in the same single backend write, or generated. */
static struct fake_response *write_atomic_pi(struct pi_fixture *f, uint64_t lun, uint8_t protect,
					     uint64_t lba, uint16_t n, const uint8_t *wire)
{
	uint8_t cdb[16] = { SCSI_WRITE_ATOMIC_16, (uint8_t)(protect << 5) };
	put_be64(cdb + 2, lba);
	put_be16(cdb + 12, n);
	return submit(f, lun, cdb, 16, TG_DIR_WRITE, n * (protect ? UNIT : BS), wire);
}

static void test_write_atomic_protected(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 4096 / BS, LBA = 16 };
	uint8_t data[N * BS], pi[N * 8];
	fill_pattern(data, sizeof(data), 14);
	tg_pi_generate_plain(1, LBA, data, pi, BS, N);
	put_be16(pi + 2, 0x77); /* an application tag of the initiator's */
	uint8_t *wire = make_wire(data, pi, N);
	unsigned writes = f->disks[LUN_T1].disk.submitted[TG_IO_WRITE];
	want_good(write_atomic_pi(f, LUN_T1, 1, LBA, N, wire));
	assert_int_equal(f->disks[LUN_T1].disk.submitted[TG_IO_WRITE], writes + 1);
	assert_non_null(f->disks[LUN_T1].disk.last.pi_iov);
	assert_memory_equal(disk_block(f, LUN_T1, LBA), data, sizeof(data));
	assert_memory_equal(disk_pi(f, LUN_T1, LBA), pi, sizeof(pi));

	/* A bad guard in the last block: checked before anything is written. */
	put_be16(pi + (N - 1) * 8, 0xbeef);
	free(wire);
	wire = make_wire(data, pi, N);
	memset(disk_pi(f, LUN_T1, LBA), 0, N * 8);
	want_pi_failure(write_atomic_pi(f, LUN_T1, 1, LBA, N, wire), SCSI_SK_ABORTED_COMMAND, 1,
			LBA + N - 1);
	assert_int_equal(f->disks[LUN_T1].disk.submitted[TG_IO_WRITE], writes + 1);
	assert_int_equal(get_be32(disk_pi(f, LUN_T1, LBA) + 4), 0);

	/* WRPROTECT 0: the target generates the PI. */
	want_good(write_atomic_pi(f, LUN_T1, 0, LBA, N, data));
	struct tg_pi_tuple t = tg_pi_tuple_get(disk_pi(f, LUN_T1, LBA + N - 1));
	assert_int_equal(t.guard, tg_pi_crc16(data + (N - 1) * BS, BS));
	assert_int_equal(t.ref_tag, LBA + N - 1);

	/* Type 2 moves PI only with 32-byte CDBs, and there is no 32-byte WRITE ATOMIC. */
	want_invalid_field(write_atomic_pi(f, LUN_T2, 1, LBA, N, wire), 1, 7);
	free(wire);
}

/* RDPROTECT 0..5 over a stored bad guard and a stored bad reference tag. */
static void test_rdprotect_table(void **state)
{
	struct pi_fixture *f = *state;
	static const struct {
		uint8_t protect;
		bool guard_checked, ref_checked;
	} rows[] = { { 0, true, true }, { 1, true, true }, { 2, false, true },
		     { 3, false, false }, { 4, true, false }, { 5, true, true } };
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		for (int fault = 0; fault < 2; fault++) {
			uint8_t saved[8];
			memcpy(saved, disk_pi(f, LUN_T1, 41), 8);
			if (fault == 0)
				disk_block(f, LUN_T1, 41)[100] ^= 1; /* the data rotted */
			else
				put_be32(disk_pi(f, LUN_T1, 41) + 4, 9999);
			struct fake_response *r =
				read_pi(f, LUN_T1, SCSI_READ_10, rows[k].protect, 40, 3);
			bool checked = fault == 0 ? rows[k].guard_checked : rows[k].ref_checked;
			if (checked) {
				want_pi_failure(r, SCSI_SK_ABORTED_COMMAND, fault == 0 ? 1 : 3, 41);
			} else {
				want_good(r);
				assert_int_equal(r->data_len, 3 * UNIT);
			}
			if (fault == 0)
				disk_block(f, LUN_T1, 41)[100] ^= 1;
			memcpy(disk_pi(f, LUN_T1, 41), saved, 8);
		}
	}
	/* Reserved values. */
	for (uint8_t p = 6; p < 8; p++)
		want_invalid_field(read_pi(f, LUN_T1, SCSI_READ_16, p, 0, 1), 1, 7);
	/* The neighbours of a bad block read fine. */
	disk_block(f, LUN_T1, 41)[0] ^= 0x80;
	want_good(read_pi(f, LUN_T1, SCSI_READ_16, 0, 40, 1));
	want_good(read_pi(f, LUN_T1, SCSI_READ_16, 0, 42, 1));
	want_pi_failure(read_pi(f, LUN_T1, SCSI_READ_16, 0, 40, 3), SCSI_SK_ABORTED_COMMAND,
			  1, 41);
	disk_block(f, LUN_T1, 41)[0] ^= 0x80;
}

/* With D_SENSE = 1 the failing LBA travels in a descriptor: all 64 bits of it. */
static void test_descriptor_sense(void **state)
{
	struct pi_fixture *f = *state;
	atomic_store(&f->devs[LUN_T1].mode.descriptor_sense, true);
	disk_block(f, LUN_T1, 44)[3] ^= 0x40;
	struct fake_response *r = read_pi(f, LUN_T1, SCSI_READ_16, 0, 40, 8);
	assert_int_equal(r->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(r->sense[0], 0x72);
	assert_int_equal(r->sense[1], SCSI_SK_ABORTED_COMMAND);
	assert_int_equal(r->sense[2], 0x10);
	assert_int_equal(r->sense[3], 0x01);
	assert_int_equal(r->sense[8], 0x00); /* information descriptor */
	assert_int_equal(r->sense[10] & 0x80, 0x80);
	assert_int_equal(get_be64(r->sense + 12), 44);
	disk_block(f, LUN_T1, 44)[3] ^= 0x40;
	atomic_store(&f->devs[LUN_T1].mode.descriptor_sense, false);
}

static void test_escape_values(void **state)
{
	struct pi_fixture *f = *state;
	/* Type 1: an application tag of FFFFh hides a bad guard and a bad reference tag. */
	uint8_t saved[8];
	memcpy(saved, disk_pi(f, LUN_T1, 50), 8);
	tg_pi_tuple_put(disk_pi(f, LUN_T1, 50), (struct tg_pi_tuple){ 0x1234, 0xffff, 77 });
	struct fake_response *r = read_pi(f, LUN_T1, SCSI_READ_16, 1, 50, 1);
	want_good(r);
	assert_int_equal(get_be16(r->data + BS + 2), 0xffff);
	memcpy(disk_pi(f, LUN_T1, 50), saved, 8);
	/* Type 3: the application tag alone is not enough... */
	memcpy(saved, disk_pi(f, LUN_T3, 50), 8);
	tg_pi_tuple_put(disk_pi(f, LUN_T3, 50), (struct tg_pi_tuple){ 0x1234, 0xffff, 77 });
	want_pi_failure(read_pi(f, LUN_T3, SCSI_READ_16, 1, 50, 1), SCSI_SK_ABORTED_COMMAND, 1,
			  50);
	/* ...both tags all ones are. */
	tg_pi_tuple_put(disk_pi(f, LUN_T3, 50), (struct tg_pi_tuple){ 0x1234, 0xffff, 0xffffffff });
	want_good(read_pi(f, LUN_T3, SCSI_READ_16, 1, 50, 1));
	memcpy(disk_pi(f, LUN_T3, 50), saved, 8);
	/* Type 3 does not check the reference tag: it is the application client's. */
	put_be32(disk_pi(f, LUN_T3, 51) + 4, 424242);
	want_good(read_pi(f, LUN_T3, SCSI_READ_16, 1, 51, 1));
}

static void test_unprotected_and_type2_refusals(void **state)
{
	struct pi_fixture *f = *state;
	/* No PI on the unit: every nonzero protect value is an invalid field. */
	for (uint8_t p = 1; p < 8; p++) {
		want_invalid_field(read_pi(f, LUN_PLAIN, SCSI_READ_10, p, 0, 1), 1, 7);
		uint8_t data[UNIT] = { 0 };
		want_invalid_field(write_pi(f, LUN_PLAIN, SCSI_WRITE_16, p, 0, 1, data), 1, 7);
	}
	want_good(read_pi(f, LUN_PLAIN, SCSI_READ_10, 0, 0, 1));
	/* Type 2 moves PI only with 32-byte CDBs; plain 10/12/16-byte reads are fine. */
	want_invalid_field(read_pi(f, LUN_T2, SCSI_READ_16, 1, 0, 1), 1, 7);
	want_good(read_pi(f, LUN_T2, SCSI_READ_16, 0, 0, 1));
	/* 32-byte CDBs only on type 2. */
	uint8_t cdb[32] = { SCSI_VARIABLE_LENGTH_CDB, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x09 };
	put_be32(cdb + 28, 1);
	struct fake_response *r = submit(f, LUN_T1, cdb, 32, TG_DIR_READ, BS, NULL);
	want_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	r = submit(f, LUN_PLAIN, cdb, 32, TG_DIR_READ, BS, NULL);
	want_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	cdb[9] = 0x0d; /* WRITE SAME(32): not offered */
	want_invalid_field(submit(f, LUN_T2, cdb, 32, TG_DIR_WRITE, BS, NULL), 8, -1);
	cdb[9] = 0x09;
	cdb[7] = 0x10; /* wrong ADDITIONAL CDB LENGTH */
	want_invalid_field(submit(f, LUN_T2, cdb, 32, TG_DIR_READ, BS, NULL), 7, -1);
}

static size_t cdb32(uint8_t *cdb, uint16_t sa, uint8_t protect, uint64_t lba, uint32_t n,
		    uint32_t ref, uint16_t app, uint16_t mask)
{
	memset(cdb, 0, 32);
	cdb[0] = SCSI_VARIABLE_LENGTH_CDB;
	cdb[7] = 0x18;
	put_be16(cdb + 8, sa);
	cdb[10] = (uint8_t)(protect << 5);
	put_be64(cdb + 12, lba);
	put_be32(cdb + 20, ref);
	put_be16(cdb + 24, app);
	put_be16(cdb + 26, mask);
	put_be32(cdb + 28, n);
	return 32;
}

static void test_type2_32_byte_cdbs(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 3, LBA = 8, REF = 0x7000 };
	uint8_t data[N * BS], pi[N * 8], cdb[32];
	fill_pattern(data, sizeof(data), 13);
	/* WRITE(32) with PI whose reference tags start at the CDB's expected initial tag. */
	for (int i = 0; i < N; i++)
		tg_pi_tuple_put(pi + 8 * i, (struct tg_pi_tuple){ tg_pi_crc16(data + i * BS, BS),
								 0x5a00, REF + i });
	uint8_t *wire = make_wire(data, pi, N);
	cdb32(cdb, 0x000b, 1, LBA, N, REF, 0x5a00, 0xffff);
	want_good(submit(f, LUN_T2, cdb, 32, TG_DIR_WRITE, N * UNIT, wire));
	assert_memory_equal(disk_pi(f, LUN_T2, LBA), pi, sizeof(pi));
	/* READ(32) checks against its own expectations. */
	cdb32(cdb, 0x0009, 1, LBA, N, REF, 0x5a00, 0xffff);
	struct fake_response *r = submit(f, LUN_T2, cdb, 32, TG_DIR_READ, N * UNIT, NULL);
	want_good(r);
	assert_memory_equal(r->data, wire, N * UNIT);
	cdb32(cdb, 0x0009, 1, LBA, N, REF + 1, 0x5a00, 0xffff);
	want_pi_failure(submit(f, LUN_T2, cdb, 32, TG_DIR_READ, N * UNIT, NULL),
			  SCSI_SK_ABORTED_COMMAND, 3, LBA);
	cdb32(cdb, 0x0009, 1, LBA, N, REF, 0x5b00, 0xff00);
	want_pi_failure(submit(f, LUN_T2, cdb, 32, TG_DIR_READ, N * UNIT, NULL),
			  SCSI_SK_ABORTED_COMMAND, 2, LBA);
	cdb32(cdb, 0x0009, 1, LBA, N, REF, 0x5b00, 0x00ff); /* masked off */
	want_good(submit(f, LUN_T2, cdb, 32, TG_DIR_READ, N * UNIT, NULL));
	/* A write whose application tag disagrees with the CDB's. */
	cdb32(cdb, 0x000b, 1, LBA, N, REF, 0x5a01, 0xffff);
	want_pi_failure(submit(f, LUN_T2, cdb, 32, TG_DIR_WRITE, N * UNIT, wire),
			  SCSI_SK_ABORTED_COMMAND, 2, LBA);
	/* WRITE(32) without PI: generated from the CDB's tags. */
	cdb32(cdb, 0x000b, 0, LBA, N, 0x900, 0x77, 0);
	want_good(submit(f, LUN_T2, cdb, 32, TG_DIR_WRITE, N * BS, data));
	assert_int_equal(get_be32(disk_pi(f, LUN_T2, LBA + 2) + 4), 0x902);
	assert_int_equal(get_be16(disk_pi(f, LUN_T2, LBA + 2) + 2), 0x77);
	/* VERIFY(32) BYTCHK 00b: the medium against the expected tags. */
	cdb32(cdb, 0x000a, 0, LBA, N, 0x900, 0, 0);
	want_good(submit(f, LUN_T2, cdb, 32, TG_DIR_NONE, 0, NULL));
	cdb32(cdb, 0x000a, 0, LBA, N, 0x901, 0, 0);
	want_pi_failure(submit(f, LUN_T2, cdb, 32, TG_DIR_NONE, 0, NULL),
			  SCSI_SK_ABORTED_COMMAND, 3, LBA);
	/* WRITE AND VERIFY(32). */
	cdb32(cdb, 0x000c, 1, LBA, N, REF, 0x5a00, 0xffff);
	want_good(submit(f, LUN_T2, cdb, 32, TG_DIR_WRITE, N * UNIT, wire));
	assert_memory_equal(disk_pi(f, LUN_T2, LBA), pi, sizeof(pi));
	/* Writes are refused on a read-only mapping like any write-class opcode. */
	f->entries[LUN_T2].read_only = true;
	cdb32(cdb, 0x000b, 0, LBA, N, 0, 0, 0);
	want_check(submit(f, LUN_T2, cdb, 32, TG_DIR_WRITE, N * BS, data), SCSI_SK_DATA_PROTECT,
		     0x27, 0x00);
	cdb32(cdb, 0x0009, 0, LBA, N, REF, 0, 0);
	want_good(submit(f, LUN_T2, cdb, 32, TG_DIR_READ, N * BS, NULL));
	f->entries[LUN_T2].read_only = false;
	free(wire);
}

static void test_verify_vrprotect(void **state)
{
	struct pi_fixture *f = *state;
	uint8_t cdb[16];
	/* BYTCHK 00b: the medium's PI, as RDPROTECT would check it. */
	rw_cdb(cdb, SCSI_VERIFY_16, 0, 0, BLOCKS);
	want_good(submit(f, LUN_T1, cdb, 16, TG_DIR_NONE, 0, NULL));
	disk_block(f, LUN_T1, 33)[5] ^= 4;
	want_pi_failure(submit(f, LUN_T1, cdb, 16, TG_DIR_NONE, 0, NULL), SCSI_SK_ABORTED_COMMAND,
			  1, 33);
	rw_cdb(cdb, SCSI_VERIFY_10, 3, 0, BLOCKS); /* VRPROTECT 011b: no checks */
	want_good(submit(f, LUN_T1, cdb, 10, TG_DIR_NONE, 0, NULL));
	disk_block(f, LUN_T1, 33)[5] ^= 4;
	/* BYTCHK 01b with VRPROTECT 001b: data and PI sent, compared with the medium's. */
	enum { N = 2, LBA = 60 };
	uint8_t data[N * BS], pi[N * 8];
	memcpy(data, disk_block(f, LUN_T1, LBA), sizeof(data));
	memcpy(pi, disk_pi(f, LUN_T1, LBA), sizeof(pi));
	uint8_t *wire = make_wire(data, pi, N);
	rw_cdb(cdb, SCSI_VERIFY_12, 1, LBA, N);
	cdb[1] |= 0x02; /* BYTCHK 01b */
	want_good(submit(f, LUN_T1, cdb, 12, TG_DIR_WRITE, N * UNIT, wire));
	/* A reference tag that passes the sent-PI check (it matches the LBA) but not the
	 * medium's: MISCOMPARE, 10/03. */
	put_be32(disk_pi(f, LUN_T1, LBA + 1) + 4, 5);
	want_pi_failure(submit(f, LUN_T1, cdb, 12, TG_DIR_WRITE, N * UNIT, wire),
			  SCSI_SK_MISCOMPARE, 3, LBA + 1);
	memcpy(disk_pi(f, LUN_T1, LBA), pi, sizeof(pi));
	/* A data byte differing: offset counted in the Data-Out buffer, PI included. */
	wire[UNIT + 10] ^= 1;
	put_be16(wire + UNIT + BS, tg_pi_crc16(wire + UNIT, BS)); /* still valid as sent */
	struct fake_response *r = submit(f, LUN_T1, cdb, 12, TG_DIR_WRITE, N * UNIT, wire);
	want_check(r, SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(sense_information(r), UNIT + 10);
	/* The sent PI is checked as WRPROTECT would: a bad guard is 10/01, ABORTED COMMAND. */
	put_be16(wire + UNIT + BS, 0);
	want_pi_failure(submit(f, LUN_T1, cdb, 12, TG_DIR_WRITE, N * UNIT, wire),
			  SCSI_SK_ABORTED_COMMAND, 1, LBA + 1);
	/* One block for all with PI has no single reference tag: refused. */
	cdb[1] = (1 << 5) | 0x06;
	want_invalid_field(submit(f, LUN_T1, cdb, 12, TG_DIR_WRITE, UNIT, wire), 1, 7);
	free(wire);
}

static void test_write_and_verify_protected(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 2, LBA = 12 };
	uint8_t data[N * BS], pi[N * 8], cdb[16];
	fill_pattern(data, sizeof(data), 14);
	tg_pi_generate_plain(1, LBA, data, pi, BS, N);
	uint8_t *wire = make_wire(data, pi, N);
	rw_cdb(cdb, SCSI_WRITE_VERIFY_16, 1, LBA, N);
	cdb[1] |= 0x02;
	want_good(submit(f, LUN_T1, cdb, 16, TG_DIR_WRITE, N * UNIT, wire));
	assert_memory_equal(disk_block(f, LUN_T1, LBA), data, sizeof(data));
	assert_memory_equal(disk_pi(f, LUN_T1, LBA), pi, sizeof(pi));
	assert_true(f->disks[LUN_T1].disk.last.fua || f->disks[LUN_T1].disk.last.op == TG_IO_READ);
	put_be32(wire + BS + 4, 3); /* bad reference tag in block 0 */
	want_pi_failure(submit(f, LUN_T1, cdb, 16, TG_DIR_WRITE, N * UNIT, wire),
			  SCSI_SK_ABORTED_COMMAND, 3, LBA);
	/* A plain WRITE AND VERIFY generates PI like a plain write. */
	rw_cdb(cdb, SCSI_WRITE_VERIFY_10, 0, LBA, N);
	want_good(submit(f, LUN_T1, cdb, 10, TG_DIR_WRITE, N * BS, data));
	assert_memory_equal(disk_pi(f, LUN_T1, LBA), pi, sizeof(pi));
	free(wire);
}

static void test_ip_checksum_host_profile(void **state)
{
	struct pi_fixture *f = *state;
	enum { N = 2, LBA = 5 };
	uint8_t data[N * BS], pi[N * 8];
	fill_pattern(data, sizeof(data), 15);
	for (int i = 0; i < N; i++)
		tg_pi_tuple_put(pi + 8 * i, (struct tg_pi_tuple){
						    tg_pi_ip_checksum(data + i * BS, BS), 0, LBA + i });
	uint8_t *wire = make_wire(data, pi, N);
	want_good(write_pi(f, LUN_IP, SCSI_WRITE_16, 1, LBA, N, wire));
	/* The medium keeps the CRC... */
	for (int i = 0; i < N; i++)
		assert_int_equal(get_be16(disk_pi(f, LUN_IP, LBA + i)),
				 tg_pi_crc16(data + i * BS, BS));
	/* ...and the host gets its checksum back. */
	struct fake_response *r = read_pi(f, LUN_IP, SCSI_READ_16, 1, LBA, N);
	want_good(r);
	assert_memory_equal(r->data, wire, N * UNIT);
	/* A CRC where the host should send its checksum is a guard error. */
	uint8_t crc_pi[N * 8];
	tg_pi_generate_plain(1, LBA, data, crc_pi, BS, N);
	uint8_t *crc_wire = make_wire(data, crc_pi, N);
	want_pi_failure(write_pi(f, LUN_IP, SCSI_WRITE_16, 1, LBA, N, crc_wire),
			  SCSI_SK_ABORTED_COMMAND, 1, LBA);
	/* An unchecked bad checksum (WRPROTECT 011b) is stored as a bad CRC and caught when
	 * read. */
	want_good(write_pi(f, LUN_IP, SCSI_WRITE_16, 3, LBA, N, crc_wire));
	want_pi_failure(read_pi(f, LUN_IP, SCSI_READ_16, 0, LBA, N), SCSI_SK_ABORTED_COMMAND, 1,
			  LBA);
	want_good(write_pi(f, LUN_IP, SCSI_WRITE_16, 0, LBA, N, data));
	free(wire);
	free(crc_wire);
}

static void test_advertising(void **state)
{
	struct pi_fixture *f = *state;
	uint8_t inq[6] = { SCSI_INQUIRY, 0, 0, 0, 96, 0 };
	struct fake_response *r = submit(f, LUN_T1, inq, 6, TG_DIR_READ, 96, NULL);
	want_good(r);
	assert_int_equal(r->data[5] & 0x01, 1); /* PROTECT */
	r = submit(f, LUN_PLAIN, inq, 6, TG_DIR_READ, 96, NULL);
	assert_int_equal(r->data[5] & 0x01, 0);
	uint8_t vpd[6] = { SCSI_INQUIRY, 1, 0x86, 0, 64, 0 };
	r = submit(f, LUN_T3, vpd, 6, TG_DIR_READ, 64, NULL);
	want_good(r);
	assert_int_equal(r->data[1], 0x86);
	assert_int_equal(get_be16(r->data + 2), 0x3c);
	assert_int_equal(r->data[4], 0x7 << 3 | 0x7); /* SPT 111b, GRD_CHK, APP_CHK, REF_CHK */
	r = submit(f, LUN_PLAIN, vpd, 6, TG_DIR_READ, 64, NULL);
	want_good(r);
	assert_int_equal(r->data[4], 0);
	uint8_t rc16[16] = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16 };
	put_be32(rc16 + 10, 32);
	static const struct {
		int lun;
		uint8_t byte12;
	} caps[] = { { LUN_T1, 0x01 }, { LUN_T2, 0x03 }, { LUN_T3, 0x05 }, { LUN_PLAIN, 0 } };
	for (size_t i = 0; i < 4; i++) {
		r = submit(f, caps[i].lun, rc16, 16, TG_DIR_READ, 32, NULL);
		want_good(r);
		assert_int_equal(r->data[12], caps[i].byte12); /* P_TYPE, PROT_EN */
		assert_int_equal(r->data[13] >> 4, 0);          /* P_I_EXPONENT */
	}
	uint8_t ms[6] = { SCSI_MODE_SENSE_6, 0x08, 0x0a, 0, 64, 0 };
	r = submit(f, LUN_T1, ms, 6, TG_DIR_READ, 64, NULL);
	want_good(r);
	assert_int_equal(r->data[4], 0x0a);
	assert_int_equal(r->data[4 + 5] & 0x80, 0x80); /* ATO */
	r = submit(f, LUN_PLAIN, ms, 6, TG_DIR_READ, 64, NULL);
	assert_int_equal(r->data[4 + 5] & 0x80, 0);
}

static void test_format_unit(void **state)
{
	struct pi_fixture *f = *state;
	struct pi_disk *d = &f->disks[LUN_T1];
	/* FMTPINFO 11b, PROTECTION FIELD USAGE 001b in a short header: type 3. */
	uint8_t cdb[6] = { SCSI_FORMAT_UNIT, 0xc0 | 0x10, 0, 0, 0, 0 };
	uint8_t header[4] = { 0x01, 0, 0, 0 };
	struct fake_response *r = submit(f, LUN_T1, cdb, 6, TG_DIR_WRITE, 4, header);
	want_good(r);
	assert_int_equal(d->format_type, 3);
	assert_int_equal(f->devs[LUN_T1].protection_type, 3);
	assert_int_equal(tg_pi_tuple_get(disk_pi(f, LUN_T1, 0)).app_tag, 0xffff); /* escapes */
	/* The other nexuses hear that the capacity data (PROT_EN, P_TYPE) changed; this one
	 * does not. */
	uint8_t rc16[16] = { SCSI_SERVICE_ACTION_IN_16, SCSI_SAI_READ_CAPACITY_16 };
	put_be32(rc16 + 10, 32);
	r = submit(f, LUN_T1, rc16, 16, TG_DIR_READ, 32, NULL);
	want_good(r);
	assert_int_equal(r->data[12], 0x05);
	/* Escaped blocks read with any RDPROTECT, whatever their data. */
	want_good(read_pi(f, LUN_T1, SCSI_READ_16, 1, 0, 4));
	/* FMTPINFO 10b without a parameter list: type 1. */
	cdb[1] = 0x80;
	want_good(submit(f, LUN_T1, cdb, 6, TG_DIR_NONE, 0, NULL));
	assert_int_equal(f->devs[LUN_T1].protection_type, 1);
	/* FMTPINFO 00b: no protection; the unit stays PI capable. */
	cdb[1] = 0x00;
	want_good(submit(f, LUN_T1, cdb, 6, TG_DIR_NONE, 0, NULL));
	assert_int_equal(f->devs[LUN_T1].protection_type, 0);
	want_invalid_field(read_pi(f, LUN_T1, SCSI_READ_16, 1, 0, 1), 1, 7);
	r = submit(f, LUN_T1, rc16, 16, TG_DIR_READ, 32, NULL);
	assert_int_equal(r->data[12], 0);
	/* Invalid combinations. */
	cdb[1] = 0x40; /* FMTPINFO 01b */
	want_invalid_field(submit(f, LUN_T1, cdb, 6, TG_DIR_NONE, 0, NULL), 1, 7);
	cdb[1] = 0x80 | 0x10; /* type 1 with PFU 001b */
	r = submit(f, LUN_T1, cdb, 6, TG_DIR_WRITE, 4, header);
	want_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	uint8_t defects[4] = { 0, 0, 0, 8 };
	cdb[1] = 0x80 | 0x10;
	r = submit(f, LUN_T1, cdb, 6, TG_DIR_WRITE, 4, defects);
	want_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(f->devs[LUN_T1].protection_type, 0);
	cdb[1] = 0x80; /* no PI on an unprotected unit */
	want_invalid_field(submit(f, LUN_PLAIN, cdb, 6, TG_DIR_NONE, 0, NULL), 1, 7);
	cdb[1] = 0x00;
	want_good(submit(f, LUN_PLAIN, cdb, 6, TG_DIR_NONE, 0, NULL));
	/* Read-only mapping. */
	want_check(submit(f, LUN_T1_RO, cdb, 6, TG_DIR_NONE, 0, NULL), SCSI_SK_DATA_PROTECT, 0x27,
		     0);
	/* Back to type 1 with a long header; a failing format is reported. */
	uint8_t cdb_long[6] = { SCSI_FORMAT_UNIT, 0x80 | 0x20 | 0x10, 0, 0, 0, 0 };
	uint8_t long_header[8] = { 0 };
	want_good(submit(f, LUN_T1, cdb_long, 6, TG_DIR_WRITE, 8, long_header));
	assert_int_equal(f->devs[LUN_T1].protection_type, 1);
	d->format_result = -EIO;
	r = submit(f, LUN_T1, cdb_long, 6, TG_DIR_WRITE, 8, long_header);
	want_check(r, SCSI_SK_MEDIUM_ERROR, 0x31, 0x01);
	d->format_result = 0;
	tg_pi_generate_plain(1, 0, d->disk.bytes, d->pi, BS, BLOCKS);
}

/* ---- the file backend's sidecar, through the core with a real I/O engine ---- */

struct file_fixture {
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	char dir[256];
	char path[300];
	char pi_path[320];
	char state_path[340];
	struct tg_device *dev;
	struct tg_lun_entry entry;
	struct tg_target target;
	struct tg_nexus *nexus;
	struct fake_cmd cmd;
};

static int file_setup(void **state)
{
	struct file_fixture *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->loop = ev_loop_new(EVFLAG_AUTO);
	x->engine = tg_ioengine_create(x->loop);
	assert_non_null(x->engine);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(x->dir, sizeof(x->dir), "%s/targe-test-pi-XXXXXX", tmp);
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/pi0.img", x->dir);
	snprintf(x->pi_path, sizeof(x->pi_path), "%s.pi", x->path);
	snprintf(x->state_path, sizeof(x->state_path), "%s.state", x->pi_path);
	*state = x;
	return 0;
}

static void file_close_dev(struct file_fixture *x)
{
	if (x->nexus)
		tg_nexus_destroy(x->nexus);
	x->nexus = NULL;
	fake_cmd_reset(&x->cmd);
	tg_device_close(x->dev);
	x->dev = NULL;
}

static void file_open_dev(struct file_fixture *x, int type, const char *host_guard)
{
	struct cfg_device cfg = { .name = "pi0", .backend = "file", .path = x->path,
				  .size = BLOCKS * BS, .block_size = BS, .protection_type = type,
				  .pi_host_guard = (char *)host_guard };
	char err[512] = "";
	x->dev = tg_device_open(&cfg, err, sizeof(err));
	if (!x->dev)
		fail_msg("open: %s", err);
	x->entry = (struct tg_lun_entry){ 0, x->dev, false };
	fixture_target_init(&x->target, "iqn.2026-11.org.targe:pifile", &x->entry, 1);
	x->nexus = fixture_nexus(&x->target, "iqn.2026-11.test:pif", NULL);
}

static int file_teardown(void **state)
{
	struct file_fixture *x = *state;
	file_close_dev(x);
	tg_ioengine_destroy(x->engine);
	ev_loop_destroy(x->loop);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

static struct fake_response *file_submit(struct file_fixture *x, const uint8_t *cdb,
					 uint16_t cdb_len, enum tg_data_dir dir, uint32_t exp_len,
					 const void *payload)
{
	struct fake_cmd *cmd = &x->cmd;
	submit_cdb(cmd, x->nexus, x->engine, 0, cdb, cdb_len, dir, exp_len, payload);
	for (int spins = 0; !cmd->rsp.done && spins < 100000; spins++)
		ev_run(x->loop, EVRUN_ONCE);
	assert_true(cmd->rsp.done);
	return &cmd->rsp;
}

static struct fake_response *file_rw(struct file_fixture *x, uint8_t opcode, uint8_t protect,
				     uint64_t lba, uint32_t n, const void *payload)
{
	uint8_t cdb[16];
	size_t len = rw_cdb(cdb, opcode, protect, lba, n);
	bool write = opcode == SCSI_WRITE_16 || opcode == SCSI_WRITE_10;
	return file_submit(x, cdb, (uint16_t)len, write ? TG_DIR_WRITE : TG_DIR_READ,
			   n * (protect ? UNIT : BS), payload);
}

static void read_file_at(const char *path, void *buf, size_t len, off_t offset)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, offset), (ssize_t)len);
	close(fd);
}

static void write_file_at(const char *path, const void *buf, size_t len, off_t offset)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, offset), (ssize_t)len);
	close(fd);
}

static void test_file_sidecar_persists(void **state)
{
	struct file_fixture *x = *state;
	file_open_dev(x, 1, NULL);
	assert_true(x->dev->pi_capable);
	assert_int_equal(x->dev->protection_type, 1);
	struct stat st;
	assert_int_equal(stat(x->pi_path, &st), 0);
	assert_int_equal(st.st_size, BLOCKS * 8);
	/* A fresh store is all escapes: readable with PI before anything was written. */
	struct fake_response *r = file_rw(x, SCSI_READ_16, 1, 0, 2, NULL);
	want_good(r);
	assert_int_equal(get_be16(r->data + BS + 2), 0xffff);

	enum { N = 3, LBA = 7 };
	uint8_t data[N * BS], pi[N * 8];
	fill_pattern(data, sizeof(data), 21);
	tg_pi_generate_plain(1, LBA, data, pi, BS, N);
	put_be16(pi + 2, 0xa1a1);
	uint8_t *wire = make_wire(data, pi, N);
	want_good(file_rw(x, SCSI_WRITE_16, 1, LBA, N, wire));
	want_good(file_rw(x, SCSI_WRITE_16, 0, 20, N, data)); /* generated PI */
	file_close_dev(x);

	/* The data file is a plain image; PATH.pi holds block N's tuple at 8 * N. */
	uint8_t back[N * BS], back_pi[N * 8];
	read_file_at(x->path, back, sizeof(back), LBA * BS);
	assert_memory_equal(back, data, sizeof(data));
	read_file_at(x->pi_path, back_pi, sizeof(back_pi), LBA * 8);
	assert_memory_equal(back_pi, pi, sizeof(pi));
	read_file_at(x->pi_path, back_pi, 8, 21 * 8);
	struct tg_pi_tuple t = tg_pi_tuple_get(back_pi);
	assert_int_equal(t.guard, tg_pi_crc16(data + BS, BS));
	assert_int_equal(t.ref_tag, 21);
	/* A clean stop leaves no region marked. */
	uint8_t map[BLOCKS * BS / (1 << 20) + 1];
	read_file_at(x->state_path, map, sizeof(map), 4096);
	for (size_t i = 0; i < sizeof(map); i++)
		assert_int_equal(map[i], 0);

	file_open_dev(x, 1, NULL);
	r = file_rw(x, SCSI_READ_16, 1, LBA, N, NULL);
	want_good(r);
	assert_memory_equal(r->data, wire, N * UNIT);
	free(wire);
}

/* Opens a type 1 device and writes blocks blocks of pattern seed at lba, kept in data. */
static void file_open_and_write(struct file_fixture *x, uint8_t *data, uint32_t blocks,
				uint64_t lba, uint8_t seed)
{
	file_open_dev(x, 1, NULL);
	fill_pattern(data, (size_t)blocks * BS, seed);
	want_good(file_rw(x, SCSI_WRITE_16, 0, lba, blocks, data));
}

static void test_file_corruption_detected(void **state)
{
	struct file_fixture *x = *state;
	uint8_t data[8 * BS];
	file_open_and_write(x, data, 8, 8, 22);
	file_close_dev(x);
	/* One bit of block 11 flips behind the daemon's back. */
	uint8_t byte;
	read_file_at(x->path, &byte, 1, 11 * BS + 300);
	byte ^= 0x08;
	write_file_at(x->path, &byte, 1, 11 * BS + 300);
	file_open_dev(x, 1, NULL);
	struct fake_response *r = file_rw(x, SCSI_READ_16, 0, 8, 8, NULL);
	want_pi_failure(r, SCSI_SK_ABORTED_COMMAND, 1, 11);
	want_good(file_rw(x, SCSI_READ_16, 0, 10, 1, NULL));
	want_good(file_rw(x, SCSI_READ_16, 1, 12, 1, NULL));
	/* A stale PI file (tags of another block) is a reference tag error. */
	uint8_t tuple[8];
	read_file_at(x->pi_path, tuple, 8, 13 * 8);
	write_file_at(x->pi_path, tuple, 8, 14 * 8);
	r = file_rw(x, SCSI_READ_16, 1, 14, 1, NULL);
	want_check(r, SCSI_SK_ABORTED_COMMAND, 0x10, 0x01); /* data differs too: guard first */
	uint8_t same[BS];
	read_file_at(x->path, same, BS, 13 * BS);
	write_file_at(x->path, same, BS, 14 * BS);
	r = file_rw(x, SCSI_READ_16, 1, 14, 1, NULL);
	want_pi_failure(r, SCSI_SK_ABORTED_COMMAND, 3, 14);
	/* Rewriting the block makes it whole again. */
	want_good(file_rw(x, SCSI_WRITE_16, 0, 11, 1, data));
	want_good(file_rw(x, SCSI_READ_16, 0, 8, 4, NULL));
}

/* An unclean stop leaves a region marked; the next open rewrites the guards there only. */
static void test_file_crash_repair(void **state)
{
	struct file_fixture *x = *state;
	uint8_t data[4 * BS];
	file_open_and_write(x, data, 4, 0, 23);
	file_close_dev(x);
	/* What a crash between the data and the PI write leaves: block 2 has new data, old PI.
	 * The region (all 64 blocks: one region) was recorded dirty before the write began. */
	uint8_t newer[BS];
	fill_pattern(newer, sizeof(newer), 99);
	write_file_at(x->path, newer, BS, 2 * BS);
	uint8_t one = 1;
	write_file_at(x->state_path, &one, 1, 4096);
	file_open_dev(x, 1, NULL);
	struct fake_response *r = file_rw(x, SCSI_READ_16, 1, 0, 4, NULL);
	want_good(r);
	assert_memory_equal(r->data + 2 * UNIT, newer, BS);
	struct tg_pi_tuple t = tg_pi_tuple_get(r->data + 2 * UNIT + BS);
	assert_int_equal(t.guard, tg_pi_crc16(newer, BS));
	assert_int_equal(t.ref_tag, 2); /* tags kept */
	uint8_t map0;
	read_file_at(x->state_path, &map0, 1, 4096);
	assert_int_equal(map0, 0);
	file_close_dev(x);
	/* Without the dirty record, the same damage is corruption, and reported. */
	fill_pattern(newer, sizeof(newer), 100);
	write_file_at(x->path, newer, BS, 3 * BS);
	file_open_dev(x, 1, NULL);
	want_pi_failure(file_rw(x, SCSI_READ_16, 0, 0, 4, NULL), SCSI_SK_ABORTED_COMMAND, 1, 3);
	file_close_dev(x);
	/* A torn or missing state file: every region is checked. */
	unlink(x->state_path);
	file_open_dev(x, 1, NULL);
	want_good(file_rw(x, SCSI_READ_16, 0, 0, 4, NULL));
}

static void test_file_format_and_unmap(void **state)
{
	struct file_fixture *x = *state;
	uint8_t data[2 * BS];
	file_open_and_write(x, data, 2, 30, 24);
	/* UNMAP: the blocks read zeroes with all-FFh PI. */
	if (x->dev->can_unmap) {
		uint8_t cdb[10] = { SCSI_UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0 };
		uint8_t list[24] = { 0, 22, 0, 16 };
		put_be64(list + 8, 30);
		put_be32(list + 16, 2);
		want_good(file_submit(x, cdb, 10, TG_DIR_WRITE, 24, list));
		struct fake_response *r = file_rw(x, SCSI_READ_16, 1, 30, 2, NULL);
		want_good(r);
		uint8_t ff[8];
		memset(ff, 0xff, sizeof(ff));
		assert_memory_equal(r->data + BS, ff, 8);
		assert_int_equal(r->data[0], 0);
	}
	/* FORMAT UNIT to type 3 persists across a restart; the config's type is unchanged, so
	 * the medium's format wins. */
	uint8_t cdb[6] = { SCSI_FORMAT_UNIT, 0xc0 | 0x10, 0, 0, 0, 0 };
	uint8_t header[4] = { 0x01, 0, 0, 0 };
	want_good(file_submit(x, cdb, 6, TG_DIR_WRITE, 4, header));
	assert_int_equal(x->dev->protection_type, 3);
	file_close_dev(x);
	file_open_dev(x, 1, NULL);
	assert_int_equal(x->dev->protection_type, 3);
	want_good(file_rw(x, SCSI_WRITE_16, 0, 0, 2, data));
	uint8_t tuple[8];
	file_close_dev(x);
	read_file_at(x->pi_path, tuple, 8, 8);
	assert_int_equal(tg_pi_tuple_get(tuple).ref_tag, 0xffffffffu); /* type 3's generated tag */
	/* A changed protection.type in the config re-formats. */
	file_open_dev(x, 2, NULL);
	assert_int_equal(x->dev->protection_type, 2);
	read_file_at(x->pi_path, tuple, 8, 8);
	assert_int_equal(tg_pi_tuple_get(tuple).app_tag, 0xffff);
}

static void test_file_ip_checksum_profile(void **state)
{
	struct file_fixture *x = *state;
	file_open_dev(x, 1, "ip-checksum");
	assert_ptr_equal(x->dev->pi_host_profile, tg_pi_profile_find("ip-checksum"));
	uint8_t data[BS], pi[8];
	fill_pattern(data, sizeof(data), 25);
	tg_pi_tuple_put(pi, (struct tg_pi_tuple){ tg_pi_ip_checksum(data, BS), 7, 3 });
	uint8_t *wire = make_wire(data, pi, 1);
	want_good(file_rw(x, SCSI_WRITE_16, 1, 3, 1, wire));
	file_close_dev(x);
	uint8_t stored[8];
	read_file_at(x->pi_path, stored, 8, 3 * 8);
	assert_int_equal(get_be16(stored), tg_pi_crc16(data, BS)); /* the medium keeps the CRC */
	file_open_dev(x, 1, "ip-checksum");
	struct fake_response *r = file_rw(x, SCSI_READ_16, 1, 3, 1, NULL);
	want_good(r);
	assert_memory_equal(r->data, wire, UNIT);
	free(wire);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc16_known_vectors),
		cmocka_unit_test(test_ip_checksum),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_protect_tables),
		cmocka_unit_test(test_generate_per_type),
		cmocka_unit_test(test_check_failures_and_escapes),
		cmocka_unit_test(test_ip_checksum_conversion),
		cmocka_unit_test(test_split_and_interleave),
		cmocka_unit_test_setup_teardown(test_write_then_read_with_pi_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_plain_write_generates_pi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrprotect_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_protected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdprotect_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unprotected_and_type2_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type2_32_byte_cdbs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_vrprotect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_and_verify_protected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_checksum_host_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_advertising, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_unit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_sidecar_persists, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_file_corruption_detected, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_file_crash_repair, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_file_format_and_unmap, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_file_ip_checksum_profile, file_setup,
						file_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
