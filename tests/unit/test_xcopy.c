/* Unit tests for core/xcopy.c: EXTENDED COPY (LID1) between LUNs, its parameter checks, and RECEIVE COPY RESULTS. */
#include "fixture.h"

#include "core/xcopy.h"

/* LUN 0: 512-byte blocks, 4 MiB. LUN 1: 4096-byte blocks. LUN 2: LUN 0's device, read-only.
 * Disk HIDDEN is a device of this daemon no LUN of the target maps. */
enum { LUN0 = 0, LUN1 = 1, LUN_RO = 2, BS0 = 512, BLOCKS0 = 8192, BS1 = 4096, BLOCKS1 = 1024 };
enum { HIDDEN = 2 };
enum { ONE = 0, TWO = 1 }; /* the initiators */

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:xcopy",
	.disks = { { "disk0", BS0, BLOCKS0 },
		   { "disk1", BS1, BLOCKS1 },
		   [HIDDEN] = { "hidden", BS0, 64 } },
	.luns = { { LUN0, 0, false }, { LUN1, 1, false }, { LUN_RO, 0, true } },
	.lun_count = 3,
	.initiators = { [ONE] = { "iqn.2026-11.test:one", NULL, false },
			[TWO] = { "iqn.2026-11.test:two", NULL, false } },
};

static int setup(void **state)
{
	struct fixture *f = fixture_new(&spec);
	f->dev[0].naa_ext = 0x1000;
	f->dev[1].naa_ext = 0x2000;
	f->dev[HIDDEN].naa_ext = 0x3000;
	*state = f;
	return 0;
}

/* A parameter list under construction. */
struct plist {
	uint8_t bytes[4096];
	size_t targets, segments; /* bytes of each list */
};

static void plist_init(struct plist *p, uint8_t list_id, uint8_t usage)
{
	memset(p, 0, sizeof(*p));
	p->bytes[0] = list_id;
	p->bytes[1] = (uint8_t)(usage << 3);
}

static size_t plist_len(struct plist *p)
{
	put_be16(p->bytes + 2, (uint16_t)p->targets);
	put_be32(p->bytes + 8, (uint32_t)p->segments);
	return 16 + p->targets + p->segments;
}

/* An identification (E4h) target descriptor naming dev by its NAA designator. */
static void add_target(struct plist *p, const struct tg_device *dev, uint8_t type)
{
	assert_int_equal(p->segments, 0);
	uint8_t *d = p->bytes + 16 + p->targets;
	d[0] = type;
	d[1] = dev->peripheral_type;
	d[4] = 0x01; /* binary */
	d[5] = 0x03; /* LU association, NAA */
	d[7] = 16;
	put_be64(d + 8, dev->naa);
	put_be64(d + 16, dev->naa_ext);
	put_be24(d + 29, dev->block_size);
	p->targets += 32;
}

static void add_segment(struct plist *p, uint8_t type, uint16_t src, uint16_t dst, uint16_t blocks,
			uint64_t src_lba, uint64_t dst_lba)
{
	uint8_t *d = p->bytes + 16 + p->targets + p->segments;
	d[0] = type;
	put_be16(d + 2, 0x18);
	put_be16(d + 4, src);
	put_be16(d + 6, dst);
	put_be16(d + 10, blocks);
	put_be64(d + 12, src_lba);
	put_be64(d + 20, dst_lba);
	p->segments += 28;
}

/* List 1 with one target descriptor, of type, identifying dev; segments to follow. */
static void list_of_one(struct plist *p, const struct tg_device *dev, uint8_t type)
{
	plist_init(p, 1, 0);
	add_target(p, dev, type);
}

static struct fake_response *xcopy_len(struct fixture *f, struct fake_cmd *cmd, uint64_t lun,
				       struct plist *p, size_t len)
{
	size_t used = plist_len(p);
	(void)used;
	uint8_t cdb[16] = { SCSI_EXTENDED_COPY, 0x00 };
	put_be32(cdb + 10, (uint32_t)len);
	return fake_submit_write(cmd, f->nexus[ONE], lun, cdb, sizeof(cdb), p->bytes,
				 (uint32_t)len);
}

static struct fake_response *xcopy(struct fixture *f, uint64_t lun, struct plist *p)
{
	return xcopy_len(f, &f->cmd, lun, p, plist_len(p));
}

static struct fake_response *rcr(struct fixture *f, struct fake_cmd *cmd, struct tg_nexus *nexus,
				 uint8_t sa, uint8_t list_id)
{
	uint8_t cdb[16] = { SCSI_RECEIVE_COPY_RESULTS, sa, list_id };
	put_be32(cdb + 10, 1024);
	return fake_submit(cmd, nexus, LUN0, cdb, sizeof(cdb), TG_DIR_READ, 1024);
}

static void test_copy_within_a_lun(void **state)
{
	struct fixture *f = *state;
	uint8_t *expect = malloc(16 * BS0);
	memcpy(expect, f->disk[0].bytes, 16 * BS0);
	struct plist p;
	plist_init(&p, 1, 3);
	add_target(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 0, 16, 0, 5000);
	want_good(xcopy(f, LUN0, &p));
	assert_memory_equal(f->disk[0].bytes + 5000 * BS0, expect, 16 * BS0);
	free(expect);
}

/* Larger than a chunk, across devices with different block sizes, two segments. */
static void test_copy_between_luns(void **state)
{
	struct fixture *f = *state;
	uint32_t bytes = 3u << 20; /* 3 chunks */
	uint8_t *expect = malloc(bytes);
	memcpy(expect, f->disk[0].bytes + 100 * BS0, bytes);
	struct plist p;
	plist_init(&p, 7, 0);
	add_target(&p, &f->dev[0], 0xe4);
	add_target(&p, &f->dev[1], 0xe4);
	add_segment(&p, 0x02, 0, 1, (uint16_t)(bytes / BS0), 100, 0);
	/* DC = 1: the count is in destination blocks (16 of 512 bytes: 2 source blocks). */
	add_segment(&p, 0x02, 1, 0, 16, 0, 7000);
	p.bytes[16 + 64 + 28 + 1] = 0x02;
	unsigned writes0 = f->disk[0].submitted[TG_IO_WRITE];
	want_good(xcopy(f, LUN0, &p));
	assert_memory_equal(f->disk[1].bytes, expect, bytes);
	assert_memory_equal(f->disk[0].bytes + 7000 * BS0, expect, 2 * BS1);
	assert_int_equal(f->disk[1].submitted[TG_IO_WRITE], 3);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE] - writes0, 1);
	/* Held: COPY STATUS reports both segments and the bytes moved. */
	struct fake_response *r = rcr(f, &f->cmd2, f->nexus[ONE], 0x00, 7);
	assert_good(r);
	assert_int_equal(get_be32(r->data), 8);
	assert_int_equal(r->data[4], 0x01); /* completed, no errors */
	assert_int_equal(get_be16(r->data + 5), 2);
	assert_int_equal(r->data[7], 0); /* bytes */
	assert_int_equal(get_be32(r->data + 8), bytes + 2 * BS1);
	free(expect);
	/* Nothing failed. */
	r = rcr(f, &f->cmd2, f->nexus[ONE], 0x04, 7);
	assert_good(r);
	assert_int_equal(r->data_len, 4);
	assert_int_equal(get_be32(r->data), 0);
	/* List identifiers belong to the I_T nexus. */
	r = rcr(f, &f->cmd2, f->nexus[TWO], 0x00, 7);
	assert_invalid_field(r, 2, -1);
}

/* Source and destination overlap with the destination above: the result is the source as it
 * was before the copy, however many chunks it takes. */
static void test_overlapping_copy(void **state)
{
	struct fixture *f = *state;
	uint32_t blocks = 5000, shift = 700;
	uint8_t *expect = malloc((size_t)blocks * BS0);
	memcpy(expect, f->disk[0].bytes, (size_t)blocks * BS0);
	struct plist p;
	plist_init(&p, 1, 3);
	add_target(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 0, (uint16_t)blocks, 0, shift);
	want_good(xcopy(f, LUN0, &p));
	assert_memory_equal(f->disk[0].bytes + (size_t)shift * BS0, expect, (size_t)blocks * BS0);
	/* And downwards. */
	memcpy(expect, f->disk[0].bytes + (size_t)shift * BS0, (size_t)blocks * BS0);
	plist_init(&p, 1, 3);
	add_target(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 0, (uint16_t)blocks, shift, 0);
	want_good(xcopy(f, LUN0, &p));
	assert_memory_equal(f->disk[0].bytes, expect, (size_t)blocks * BS0);
	free(expect);
}

static void test_parameter_list_checks(void **state)
{
	struct fixture *f = *state;
	struct plist p;
	/* No list: nothing to do. */
	plist_init(&p, 1, 0);
	want_good(xcopy_len(f, &f->cmd, LUN0, &p, 0));
	/* Shorter than the header; shorter than the lists it announces. */
	want_check(xcopy_len(f, &f->cmd, LUN0, &p, 8), SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	add_target(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	size_t len = plist_len(&p);
	want_check(xcopy_len(f, &f->cmd, LUN0, &p, len - 1), SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	want_check(xcopy_len(f, &f->cmd, LUN0, &p, 16 + 31), SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* Longer than any list we take: refused before the data comes. */
	want_check(xcopy_len(f, &f->cmd, LUN0, &p, 16 + TG_XCOPY_MAX_DESCRIPTOR_LIST + 1),
		     SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	assert_int_equal(f->cmd.write_pending_calls, 0);
	/* LIST ID USAGE 01b is reserved. */
	p.bytes[1] = 1 << 3;
	struct fake_response *r = xcopy(f, LUN0, &p);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(get_be16(r->sense + 16), 1);
	p.bytes[1] = 0;
	/* Inline data is not taken (MAXIMUM INLINE DATA LENGTH 0). */
	put_be32(p.bytes + 12, 4);
	want_check(xcopy_len(f, &f->cmd, LUN0, &p, len + 4), SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x0b);
	put_be32(p.bytes + 12, 0);

	/* One target descriptor too many, with room for all of them. */
	plist_init(&p, 1, 0);
	for (unsigned i = 0; i <= TG_XCOPY_MAX_TARGET_DESCRIPTORS; i++)
		add_target(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x06);
	/* One segment descriptor too many. */
	list_of_one(&p, &f->dev[0], 0xe4);
	for (unsigned i = 0; i <= TG_XCOPY_MAX_SEGMENT_DESCRIPTORS; i++)
		add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x08);
	/* Descriptor lists together longer than MAXIMUM DESCRIPTOR LIST LENGTH. */
	list_of_one(&p, &f->dev[0], 0xe4);
	for (unsigned i = 0; i < 73; i++)
		add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	assert_true(p.targets + p.segments > TG_XCOPY_MAX_DESCRIPTOR_LIST);
	plist_len(&p);
	want_check(xcopy_len(f, &f->cmd, LUN0, &p, 16 + TG_XCOPY_MAX_DESCRIPTOR_LIST),
		     SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* Descriptor types other than identification and block to block. */
	list_of_one(&p, &f->dev[0], 0xe0);
	add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x07);
	list_of_one(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x03, 0, 0, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x09);
	/* Nothing of it was written. */
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
}

static void test_copy_targets(void **state)
{
	struct fixture *f = *state;
	struct plist p;
	/* A device of this daemon that no LUN of this nexus maps is out of reach. */
	list_of_one(&p, &f->dev[HIDDEN], 0xe4);
	add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_COPY_ABORTED, 0x0d, 0x02);
	/* A segment naming a target descriptor that is not there. */
	list_of_one(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 1, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_COPY_ABORTED, 0x0d, 0x02);
	/* The wrong block length for the device. */
	list_of_one(&p, &f->dev[0], 0xe4);
	put_be24(p.bytes + 16 + 29, 4096);
	add_segment(&p, 0x02, 0, 0, 1, 0, 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_COPY_ABORTED, 0x0d, 0x03);
	/* Past the end of the destination: the copy is aborted and nothing is written. */
	list_of_one(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 0, 16, 0, BLOCKS0 - 1);
	want_check(xcopy(f, LUN0, &p), SCSI_SK_COPY_ABORTED, 0x00, 0x00);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
	/* Held results of a failed copy: FAILED SEGMENT DETAILS has its status and sense. */
	struct fake_response *r = rcr(f, &f->cmd2, f->nexus[ONE], 0x00, 1);
	assert_good(r);
	assert_int_equal(r->data[4], 0x02); /* completed with errors */
	assert_int_equal(get_be16(r->data + 5), 0);
	r = rcr(f, &f->cmd2, f->nexus[ONE], 0x04, 1);
	assert_good(r);
	assert_int_equal(r->data[56], SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(get_be16(r->data + 58), 18);
	assert_int_equal(r->data[60], 0x70);
	assert_int_equal(r->data[60 + 2] & 0x0f, SCSI_SK_COPY_ABORTED);
}

static void test_write_protected_destination(void **state)
{
	struct fixture *f = *state;
	struct plist p;
	/* The destination's identification matches the read-only mapping's device... */
	plist_init(&p, 1, 0);
	add_target(&p, &f->dev[1], 0xe4);
	add_target(&p, &f->dev[0], 0xe4);
	add_segment(&p, 0x02, 0, 1, 8, 0, 0);
	f->entries[0].read_only = true; /* LUN 0 read-only too: dev0 has only read-only maps */
	want_check(xcopy(f, LUN1, &p), SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
	f->entries[0].read_only = false;
	/* ...and SWP protects the medium whatever the mapping. */
	atomic_store(&f->dev[0].mode.software_write_protect, true);
	want_check(xcopy(f, LUN1, &p), SCSI_SK_DATA_PROTECT, 0x27, 0x02);
	atomic_store(&f->dev[0].mode.software_write_protect, false);
	want_good(xcopy(f, LUN1, &p));
	assert_memory_equal(f->disk[0].bytes, f->disk[1].bytes, 8 * BS0);
}

static void run_deferred(struct fake_disk *disk)
{
	while (disk->pending_count)
		fake_disk_complete_all(disk);
}

/* Starts a 4096-block copy within LUN 0 under list_id; it waits for the backend's completions. */
static struct fake_response *start_held_copy(struct fixture *f, struct plist *p, uint8_t list_id)
{
	plist_init(p, list_id, 0);
	add_target(p, &f->dev[0], 0xe4);
	add_segment(p, 0x02, 0, 0, 4096, 0, 4096);
	f->disk[0].deferred = true;
	struct fake_response *r = xcopy(f, LUN0, p);
	assert_false(r->done);
	return r;
}

static void test_copy_in_progress(void **state)
{
	struct fixture *f = *state;
	struct plist p;
	struct fake_response *r = start_held_copy(f, &p, 9);
	/* COPY STATUS while it runs. */
	struct fake_response *s = rcr(f, &f->cmd2, f->nexus[ONE], 0x00, 9);
	assert_good(s);
	assert_int_equal(s->data[4], 0x00);
	/* FAILED SEGMENT DETAILS has nothing yet. */
	s = rcr(f, &f->cmd2, f->nexus[ONE], 0x04, 9);
	assert_int_equal(get_be32(s->data), 0);
	/* The same list identifier from the same nexus is refused while the copy runs. */
	uint8_t cdb[16] = { SCSI_EXTENDED_COPY };
	size_t len = plist_len(&p);
	put_be32(cdb + 10, (uint32_t)len);
	s = fake_submit_write(&f->cmd2, f->nexus[ONE], LUN0, cdb, sizeof(cdb), p.bytes,
			      (uint32_t)len);
	assert_check(s, SCSI_SK_ILLEGAL_REQUEST, 0x00, 0x16);
	fake_disk_complete_all(&f->disk[0]); /* the first read */
	fake_disk_complete_all(&f->disk[0]); /* its write */
	s = rcr(f, &f->cmd2, f->nexus[ONE], 0x00, 9);
	assert_int_equal(s->data[4], 0x00);
	assert_int_equal(get_be32(s->data + 8), 1u << 20); /* one chunk so far */
	run_deferred(&f->disk[0]);
	assert_good(r);
	s = rcr(f, &f->cmd2, f->nexus[ONE], 0x00, 9);
	assert_int_equal(s->data[4], 0x01);
	assert_int_equal(get_be32(s->data + 8), 4096u * BS0);
}

static void test_abort_stops_the_copy(void **state)
{
	struct fixture *f = *state;
	struct plist p;
	struct fake_response *r = start_held_copy(f, &p, 3);
	tg_task_abort(&f->cmd.task);
	run_deferred(&f->disk[0]);
	assert_true(r->done);
	assert_int_equal(r->status, SCSI_STATUS_TASK_ABORTED);
	/* It stopped after the chunk in flight: one read, no write. */
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 1);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
}

static void test_operating_parameters_and_vpd(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = rcr(f, &f->cmd, f->nexus[ONE], 0x03, 0);
	assert_good(r);
	assert_int_equal(get_be32(r->data) + 4, r->data_len);
	assert_int_equal(get_be16(r->data + 8), TG_XCOPY_MAX_TARGET_DESCRIPTORS);
	assert_int_equal(get_be16(r->data + 10), TG_XCOPY_MAX_SEGMENT_DESCRIPTORS);
	assert_int_equal(get_be32(r->data + 12), TG_XCOPY_MAX_DESCRIPTOR_LIST);
	assert_int_equal(get_be32(r->data + 16), TG_XCOPY_MAX_SEGMENT_BYTES);
	assert_int_equal(get_be32(r->data + 20), 0); /* inline data */
	assert_int_equal(r->data[43], 2);
	assert_int_equal(r->data[44], 0x02);
	assert_int_equal(r->data[45], 0xe4);
	/* No copy under that list identifier. */
	r = rcr(f, &f->cmd, f->nexus[ONE], 0x00, 200);
	assert_invalid_field(r, 2, -1);

	uint8_t inq[6] = { SCSI_INQUIRY, 0, 0, 0, 96, 0 };
	r = fake_submit(&f->cmd, f->nexus[ONE], LUN0, inq, 6, TG_DIR_READ, 96);
	assert_int_equal(r->data[5] & 0x08, 0x08); /* 3PC */
	uint8_t vpd[6] = { SCSI_INQUIRY, 1, 0x8f, 0x01, 0, 0 };
	r = fake_submit(&f->cmd, f->nexus[ONE], LUN0, vpd, 6, TG_DIR_READ, 256);
	assert_good(r);
	assert_int_equal(r->data[1], 0x8f);
	assert_int_equal(get_be16(r->data + 2) + 4, r->data_len);
	/* Walk the descriptors: each type once, lengths multiples of 4, the limits again. */
	bool seen_commands = false, seen_params = false, seen_general = false;
	for (size_t at = 4; at < r->data_len; at += 4 + get_be16(r->data + at + 2)) {
		const uint8_t *d = r->data + at;
		uint16_t type = get_be16(d), len = get_be16(d + 2);
		assert_int_equal(len % 4, 0);
		if (type == 0x0001) {
			seen_commands = true;
			static const uint8_t list[] = { 0x83, 1, 0x00, 0x84, 3, 0x00, 0x03, 0x04 };
			assert_int_equal(d[4], sizeof(list));
			assert_memory_equal(d + 5, list, sizeof(list));
		} else if (type == 0x0004) {
			seen_params = true;
			assert_int_equal(get_be16(d + 8), TG_XCOPY_MAX_TARGET_DESCRIPTORS);
			assert_int_equal(get_be16(d + 10), TG_XCOPY_MAX_SEGMENT_DESCRIPTORS);
			assert_int_equal(get_be32(d + 12), TG_XCOPY_MAX_DESCRIPTOR_LIST);
		} else if (type == 0x8001) {
			seen_general = true;
			assert_int_equal(get_be32(d + 12), TG_XCOPY_MAX_SEGMENT_BYTES);
		}
	}
	assert_true(seen_commands && seen_params && seen_general);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_copy_within_a_lun),
		fixture_test(test_copy_between_luns),
		fixture_test(test_overlapping_copy),
		fixture_test(test_parameter_list_checks),
		fixture_test(test_copy_targets),
		fixture_test(test_write_protected_destination),
		fixture_test(test_copy_in_progress),
		fixture_test(test_abort_stops_the_copy),
		fixture_test(test_operating_parameters_and_vpd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
