/* Integration client: protection information over iSCSI with libiscsi — advertising, WRPROTECT/RDPROTECT round trips, guard and reference tag refusals, corruption found on read. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INITIATOR "iqn.2026-11.org.targe:picheck"
#define PI_BYTES 8

static unsigned failures;
static struct iscsi_context *iscsi;
static int lun;
static uint32_t block_size;

static void fail(const char *fmt, ...)
{
	va_list ap;
	failures++;
	fputs("picheck: FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void note(const char *fmt, ...)
{
	va_list ap;
	fputs("picheck: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* CRC-16/T10-DIF bit by bit: written independently of the target's (ISA-L) on purpose. */
static uint16_t crc16_t10dif_bitwise(const uint8_t *p, size_t len)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x8bb7) : (uint16_t)(crc << 1);
	}
	return crc;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* READ(16)/WRITE(16) with RDPROTECT/WRPROTECT; the transfer counts 8 more bytes per block
 * whenever PI travels with the data. */
static struct scsi_task *rw16(bool write, uint8_t protect, uint64_t lba, uint32_t blocks,
			      uint8_t *wire)
{
	uint8_t cdb[16] = { write ? 0x8a : 0x88, (uint8_t)(protect << 5) };
	for (int i = 0; i < 8; i++)
		cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	put32(cdb + 10, blocks);
	uint32_t len = blocks * (block_size + (protect ? PI_BYTES : 0));
	struct scsi_task *task =
		scsi_create_task(16, cdb, write ? SCSI_XFER_WRITE : SCSI_XFER_READ, (int)len);
	if (!task)
		return NULL;
	struct iscsi_data data = { .size = len, .data = wire };
	if (!iscsi_scsi_command_sync(iscsi, lun, task, write ? &data : NULL)) {
		fail("%s(16) at %" PRIu64 ": transport error %s", write ? "WRITE" : "READ", lba,
		     iscsi_get_error(iscsi));
		scsi_free_scsi_task(task);
		return NULL;
	}
	return task;
}

static bool expect_good(struct scsi_task *task, const char *what)
{
	if (!task)
		return false;
	if (task->status != SCSI_STATUS_GOOD) {
		fail("%s: status %d, sense %s/%s", what, task->status,
		     scsi_sense_key_str(task->sense.key), scsi_sense_ascq_str(task->sense.ascq));
		return false;
	}
	return true;
}

/* CHECK CONDITION, ABORTED COMMAND, 10h/ascq, INFORMATION = lba (fixed-format sense). */
static void expect_pi_error(struct scsi_task *task, uint8_t ascq, uint64_t lba, const char *what)
{
	if (!task)
		return;
	const uint8_t *sense = task->datain.size > 2 + 7 ? task->datain.data + 2 : NULL;
	if (task->status != SCSI_STATUS_CHECK_CONDITION ||
	    task->sense.key != SCSI_SENSE_COMMAND_ABORTED || task->sense.ascq != (0x1000 | ascq)) {
		fail("%s: want ABORTED COMMAND 10/%02x, got status %d %s/%s", what, ascq,
		     task->status, scsi_sense_key_str(task->sense.key),
		     scsi_sense_ascq_str(task->sense.ascq));
	} else if (!sense || (sense[0] & 0x7f) != 0x70 || !(sense[0] & 0x80) ||
		   get32(sense + 3) != lba) {
		fail("%s: sense INFORMATION is not LBA %" PRIu64, what, lba);
	} else {
		note("%s: refused with 10/%02x at LBA %" PRIu64, what, ascq, lba);
	}
	scsi_free_scsi_task(task);
}

static void fill_block(uint8_t *p, uint64_t lba, uint32_t seed)
{
	for (uint32_t i = 0; i < block_size; i++)
		p[i] = (uint8_t)(lba * 7 + i * 13 + seed + (i >> 8));
}

/* n blocks from lba, each followed by valid PI (application tag app + i). */
static uint8_t *build_wire(uint64_t lba, uint32_t n, uint32_t seed, uint16_t app)
{
	uint32_t unit = block_size + PI_BYTES;
	uint8_t *wire = malloc((size_t)n * unit);
	if (!wire)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *b = wire + (size_t)i * unit;
		fill_block(b, lba + i, seed);
		put16(b + block_size, crc16_t10dif_bitwise(b, block_size));
		put16(b + block_size + 2, (uint16_t)(app + i));
		put32(b + block_size + 4, (uint32_t)(lba + i));
	}
	return wire;
}

static void advertise(int type)
{
	struct scsi_task *t = iscsi_inquiry_sync(iscsi, lun, 0, 0, 96);
	if (expect_good(t, "INQUIRY")) {
		if (!(t->datain.data[5] & 0x01))
			fail("INQUIRY PROTECT is 0");
		else
			note("INQUIRY PROTECT = 1");
	}
	scsi_free_scsi_task(t);
	t = iscsi_readcapacity16_sync(iscsi, lun);
	if (expect_good(t, "READ CAPACITY(16)")) {
		uint8_t b12 = t->datain.data[12];
		if (!(b12 & 1) || ((b12 >> 1) & 7) != type - 1 || t->datain.data[13] >> 4)
			fail("READ CAPACITY(16) byte 12 %#x byte 13 %#x: want PROT_EN, P_TYPE %d",
			     b12, t->datain.data[13], type - 1);
		else
			note("READ CAPACITY(16): PROT_EN 1, P_TYPE %d, P_I_EXPONENT 0", type - 1);
	}
	scsi_free_scsi_task(t);
	t = iscsi_inquiry_sync(iscsi, lun, 1, 0x86, 64);
	if (expect_good(t, "INQUIRY VPD 86h")) {
		uint8_t b4 = t->datain.data[4];
		if (t->datain.data[1] != 0x86 || (b4 & 0x07) != 0x07 || !(b4 >> 3))
			fail("Extended INQUIRY byte 4 %#x: want SPT and GRD/APP/REF_CHK", b4);
		else
			note("Extended INQUIRY: SPT %u, GRD_CHK APP_CHK REF_CHK", b4 >> 3 & 7);
	}
	scsi_free_scsi_task(t);
	t = iscsi_modesense6_sync(iscsi, lun, 1, SCSI_MODESENSE_PC_CURRENT, 0x0a, 0, 64);
	if (expect_good(t, "MODE SENSE control page")) {
		const uint8_t *page = t->datain.data + 4;
		if (page[0] != 0x0a || !(page[5] & 0x80))
			fail("control mode page: ATO not set");
		else
			note("control mode page: ATO = 1");
	}
	scsi_free_scsi_task(t);
}

static void roundtrip(uint64_t lba)
{
	enum { N = 8 };
	uint32_t unit = block_size + PI_BYTES;
	uint8_t *wire = build_wire(lba, N, 1, 0x4000);
	if (!wire) {
		fail("out of memory");
		return;
	}
	struct scsi_task *t = rw16(true, 1, lba, N, wire);
	if (expect_good(t, "WRITE(16) WRPROTECT=1"))
		note("WRITE(16) WRPROTECT=1 of %d blocks with valid PI: GOOD", N);
	scsi_free_scsi_task(t);
	t = rw16(false, 1, lba, N, NULL);
	if (expect_good(t, "READ(16) RDPROTECT=1")) {
		if (t->datain.size != (int)(N * unit) || memcmp(t->datain.data, wire, N * unit))
			fail("READ(16) RDPROTECT=1 returned other bytes (%d of %u)", t->datain.size,
			     N * unit);
		else
			note("READ(16) RDPROTECT=1: the same %u bytes, data and PI", N * unit);
	}
	scsi_free_scsi_task(t);
	t = rw16(false, 0, lba, N, NULL);
	if (expect_good(t, "READ(16) RDPROTECT=0")) {
		for (uint32_t i = 0; i < N; i++)
			if (memcmp(t->datain.data + i * block_size, wire + i * unit, block_size))
				fail("READ(16) RDPROTECT=0: block %u differs", i);
	}
	scsi_free_scsi_task(t);

	/* A corrupted guard in block 3, then a wrong reference tag in block 5: refused, and
	 * nothing of the command written. */
	uint8_t *bad = build_wire(lba, N, 2, 0x4000);
	bad[3 * unit + block_size] ^= 0x01;
	expect_pi_error(rw16(true, 1, lba, N, bad), 0x01, lba + 3, "WRITE(16) with a bad guard");
	bad[3 * unit + block_size] ^= 0x01;
	put32(bad + 5 * unit + block_size + 4, (uint32_t)(lba + 99));
	expect_pi_error(rw16(true, 1, lba, N, bad), 0x03, lba + 5,
			"WRITE(16) with a wrong reference tag");
	t = rw16(false, 1, lba, N, NULL);
	if (expect_good(t, "READ(16) after refused writes") &&
	    memcmp(t->datain.data, wire, N * unit))
		fail("a refused write changed the blocks");
	scsi_free_scsi_task(t);
	free(bad);
	free(wire);
}

static void write_plain(uint64_t lba, uint32_t n, uint32_t seed)
{
	uint32_t unit = block_size + PI_BYTES;
	uint8_t *data = malloc((size_t)n * block_size);
	if (!data) {
		fail("out of memory");
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		fill_block(data + (size_t)i * block_size, lba + i, seed);
	struct scsi_task *t = rw16(true, 0, lba, n, data);
	expect_good(t, "WRITE(16) WRPROTECT=0");
	scsi_free_scsi_task(t);
	t = rw16(false, 1, lba, n, NULL);
	if (expect_good(t, "READ(16) RDPROTECT=1 of a plain write")) {
		unsigned bad = 0;
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *b = t->datain.data + (size_t)i * unit;
			if (memcmp(b, data + (size_t)i * block_size, block_size) ||
			    get16(b + block_size) != crc16_t10dif_bitwise(b, block_size) ||
			    get32(b + block_size + 4) != (uint32_t)(lba + i))
				bad++;
		}
		if (bad)
			fail("%u of %u plainly written blocks came back without valid PI", bad, n);
		else
			note("plain write of %u blocks: PI generated (CRC guard, reference tag = LBA)",
			     n);
	}
	scsi_free_scsi_task(t);
	free(data);
}

static void read_fails(uint64_t lba, uint32_t n, uint64_t bad)
{
	expect_pi_error(rw16(false, 0, lba, n, NULL), 0x01, bad, "READ(16) over the flipped bit");
	expect_pi_error(rw16(false, 1, bad, 1, NULL), 0x01, bad, "READ(16) RDPROTECT=1 of it");
	for (uint64_t b = lba; b < lba + n; b++) {
		if (b == bad)
			continue;
		struct scsi_task *t = rw16(false, 0, b, 1, NULL);
		expect_good(t, "READ(16) of a neighbour");
		scsi_free_scsi_task(t);
	}
	note("neighbours of LBA %" PRIu64 " read fine", bad);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: picheck URL advertise TYPE | roundtrip LBA | write-plain LBA N SEED"
			" | read-fails LBA N BAD_LBA\n");
		return 2;
	}
	iscsi = iscsi_create_context(INITIATOR);
	struct iscsi_url *url = iscsi ? iscsi_parse_full_url(iscsi, argv[1]) : NULL;
	if (!url) {
		fprintf(stderr, "picheck: bad URL %s\n", argv[1]);
		return 2;
	}
	iscsi_set_timeout(iscsi, 30);
	iscsi_set_targetname(iscsi, url->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	lun = url->lun;
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "picheck: login failed: %s\n", iscsi_get_error(iscsi));
		return 1;
	}
	iscsi_destroy_url(url);
	struct scsi_task *t = iscsi_readcapacity16_sync(iscsi, lun);
	if (!expect_good(t, "READ CAPACITY(16)"))
		return 1;
	block_size = get32(t->datain.data + 8);
	scsi_free_scsi_task(t);

	const char *cmd = argv[2];
	if (!strcmp(cmd, "advertise") && argc == 4)
		advertise(atoi(argv[3]));
	else if (!strcmp(cmd, "roundtrip") && argc == 4)
		roundtrip(strtoull(argv[3], NULL, 0));
	else if (!strcmp(cmd, "write-plain") && argc == 6)
		write_plain(strtoull(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0),
			    (uint32_t)strtoul(argv[5], NULL, 0));
	else if (!strcmp(cmd, "read-fails") && argc == 6)
		read_fails(strtoull(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0),
			   strtoull(argv[5], NULL, 0));
	else {
		fprintf(stderr, "picheck: bad arguments for %s\n", cmd);
		return 2;
	}
	iscsi_logout_sync(iscsi);
	iscsi_destroy_context(iscsi);
	if (failures) {
		printf("picheck: %u failure(s)\n", failures);
		return 1;
	}
	return 0;
}
