/* Integration client: writes seeded random extents to an iSCSI LUN with libiscsi, reads them back and checks range errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define DEFAULT_INITIATOR "iqn.2026-11.org.targe:rwcheck"
#define BLOCK_TAG_BYTES 16 /* seed and LBA stamped at the start of every block */

struct options {
	const char *url;
	const char *image;
	uint32_t image_block_size;
	const char *initiator;
	uint64_t seed;
	bool seed_given;
	bool verify_only;
	unsigned count;
	unsigned max_blocks;
	uint64_t range_first;
	uint64_t range_blocks; /* 0 = to the end of the LUN */
	bool eol_checks;
	uint64_t expect_blocks;
	uint32_t expect_block_size;
	const char *barrier_dir;
	const char *barrier_id;
	unsigned barrier_peers;
	bool peer_given;
	uint64_t peer_seed;
	uint64_t peer_first;
	uint64_t peer_blocks;
	unsigned barrier_timeout;
};

struct lun {
	struct iscsi_context *iscsi;
	int image_fd; /* --image: read the backing file instead of the LUN */
	int lun;
	uint64_t blocks;
	uint32_t block_size;
};

struct extent {
	uint64_t lba;
	uint32_t blocks;
};

static unsigned failures;

static void fail(const char *fmt, ...)
{
	va_list ap;

	failures++;
	fputs("rwcheck: FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void note(const char *fmt, ...)
{
	va_list ap;

	fputs("rwcheck: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* splitmix64: tiny, seedable, and the same on every platform, so --verify-only can replay a run. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Every block is self-describing so a mismatch can say whose data landed where. */
static void fill_block(unsigned char *block, uint32_t block_size, uint64_t seed, uint64_t lba)
{
	uint64_t state = seed ^ (lba * 0xd6e8feb86659fd93ULL);

	put_le64(block, seed);
	put_le64(block + 8, lba);
	for (uint32_t off = BLOCK_TAG_BYTES; off < block_size; off += 8) {
		uint64_t r = next_random(&state);
		uint32_t n = block_size - off < 8 ? block_size - off : 8;

		memcpy(block + off, &r, n);
	}
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void describe_mismatch(const char *what, const unsigned char *got, const unsigned char *want,
			      uint32_t block_size, uint64_t lba)
{
	size_t first = 0;

	while (first < block_size && got[first] == want[first])
		first++;
	if (all_zero(got, block_size))
		fail("%s: LBA %" PRIu64 " reads back as zeros (write lost?)", what, lba);
	else
		fail("%s: LBA %" PRIu64 " differs from byte %zu on; block is stamped seed=%" PRIu64
		     " lba=%" PRIu64 ", expected seed=%" PRIu64 " lba=%" PRIu64,
		     what, lba, first, get_le64(got), get_le64(got + 8), get_le64(want), lba);
}

static const char *status_text(struct scsi_task *task, char *buf, size_t len)
{
	if (task->status == SCSI_STATUS_CHECK_CONDITION)
		snprintf(buf, len, "CHECK CONDITION %s/%s", scsi_sense_key_str(task->sense.key),
			 scsi_sense_ascq_str(task->sense.ascq));
	else
		snprintf(buf, len, "status 0x%x", task->status);
	return buf;
}

/* The Nth extent's CDB family rotates so READ/WRITE(10), (12) and (16) all carry data. */
static struct scsi_task *write_extent(struct lun *lun, unsigned variant, uint64_t lba, unsigned char *data,
				      uint32_t len)
{
	switch (variant % 3) {
	case 0:
		return iscsi_write10_sync(lun->iscsi, lun->lun, (uint32_t)lba, data, len, (int)lun->block_size, 0, 0,
					  0, 0, 0);
	case 1:
		return iscsi_write12_sync(lun->iscsi, lun->lun, (uint32_t)lba, data, len, (int)lun->block_size, 0, 0,
					  0, 0, 0);
	default:
		return iscsi_write16_sync(lun->iscsi, lun->lun, lba, data, len, (int)lun->block_size, 0, 0, 0, 0, 0);
	}
}

static struct scsi_task *read_extent(struct lun *lun, unsigned variant, uint64_t lba, uint32_t len)
{
	switch (variant % 3) {
	case 0:
		return iscsi_read10_sync(lun->iscsi, lun->lun, (uint32_t)lba, len, (int)lun->block_size, 0, 0, 0, 0, 0);
	case 1:
		return iscsi_read12_sync(lun->iscsi, lun->lun, (uint32_t)lba, len, (int)lun->block_size, 0, 0, 0, 0, 0);
	default:
		return iscsi_read16_sync(lun->iscsi, lun->lun, lba, len, (int)lun->block_size, 0, 0, 0, 0, 0);
	}
}

/*
 * Extents never overlap: the range is cut into `count` equal slots and each extent lies inside
 * its slot, so every extent must read back exactly as written. Extent 0 is as long as allowed,
 * so at least one transfer spans several PDUs and R2Ts.
 */
static struct extent *plan_extents(uint64_t seed, unsigned count, unsigned max_blocks, uint64_t first,
				   uint64_t blocks)
{
	struct extent *extents = calloc(count, sizeof(*extents));
	uint64_t state = seed;
	uint64_t slot = blocks / count;

	if (!extents)
		return NULL;
	for (unsigned i = 0; i < count; i++) {
		uint64_t slot_start = first + i * slot;
		uint64_t offset = next_random(&state) % slot;
		uint64_t room = slot - offset;
		uint64_t longest = room < max_blocks ? room : max_blocks;

		if (i == 0) {
			offset = 0;
			longest = slot < max_blocks ? slot : max_blocks;
			extents[i].blocks = (uint32_t)longest;
		} else {
			extents[i].blocks = (uint32_t)(1 + next_random(&state) % longest);
		}
		extents[i].lba = slot_start + offset;
	}
	return extents;
}

static int write_pattern(struct lun *lun, uint64_t seed, const struct extent *extents, unsigned count)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < count; i++) {
		uint32_t len = extents[i].blocks * lun->block_size;
		unsigned char *data = malloc(len);
		struct scsi_task *task;
		char why[160];

		if (!data)
			return -1;
		for (uint32_t b = 0; b < extents[i].blocks; b++)
			fill_block(data + (size_t)b * lun->block_size, lun->block_size, seed, extents[i].lba + b);
		task = write_extent(lun, i, extents[i].lba, data, len);
		free(data);
		if (!task) {
			fail("write of %u blocks at LBA %" PRIu64 " failed on the transport: %s", extents[i].blocks,
			     extents[i].lba, iscsi_get_error(lun->iscsi));
			return -1;
		}
		if (task->status != SCSI_STATUS_GOOD)
			fail("write of %u blocks at LBA %" PRIu64 ": %s", extents[i].blocks, extents[i].lba,
			     status_text(task, why, sizeof(why)));
		bytes += len;
		scsi_free_scsi_task(task);
	}
	note("wrote %u extents, %" PRIu64 " bytes (seed %" PRIu64 ")", count, bytes, seed);
	return 0;
}

/* Reads an extent over iSCSI, or straight from the backing image with --image. Returns a malloc'd buffer. */
static unsigned char *read_blocks(struct lun *lun, unsigned variant, uint64_t lba, uint32_t blocks, const char *what)
{
	uint32_t len = blocks * lun->block_size;
	unsigned char *data;
	struct scsi_task *task;
	char why[160];

	if (lun->image_fd >= 0) {
		ssize_t got;

		data = malloc(len);
		if (!data)
			return NULL;
		got = pread(lun->image_fd, data, len, (off_t)(lba * lun->block_size));
		if (got != (ssize_t)len) {
			fail("%s: reading %u bytes of the image at offset %" PRIu64 " got %zd", what, len,
			     lba * lun->block_size, got);
			free(data);
			return NULL;
		}
		return data;
	}
	/* Read with a different CDB size than the write used. */
	task = read_extent(lun, variant + 1, lba, len);
	if (!task) {
		fail("%s: read of %u blocks at LBA %" PRIu64 " failed on the transport: %s", what, blocks, lba,
		     iscsi_get_error(lun->iscsi));
		return NULL;
	}
	data = NULL;
	if (task->status != SCSI_STATUS_GOOD)
		fail("%s: read of %u blocks at LBA %" PRIu64 ": %s", what, blocks, lba,
		     status_text(task, why, sizeof(why)));
	else if ((uint32_t)task->datain.size != len)
		fail("%s: read of %u blocks at LBA %" PRIu64 " returned %d bytes, expected %u", what, blocks, lba,
		     task->datain.size, len);
	else if ((data = malloc(len)) != NULL)
		memcpy(data, task->datain.data, len);
	scsi_free_scsi_task(task);
	return data;
}

static int verify_pattern(struct lun *lun, const char *what, uint64_t seed, const struct extent *extents,
			  unsigned count)
{
	unsigned char *want = malloc(lun->block_size);
	unsigned bad_before = failures;
	uint64_t bytes = 0;

	if (!want)
		return -1;
	for (unsigned i = 0; i < count; i++) {
		unsigned char *data = read_blocks(lun, i, extents[i].lba, extents[i].blocks, what);
		unsigned reported = 0;

		if (!data) {
			if (lun->iscsi && !iscsi_is_logged_in(lun->iscsi)) {
				free(want);
				return -1;
			}
			continue;
		}
		for (uint32_t b = 0; b < extents[i].blocks; b++) {
			const unsigned char *got = data + (size_t)b * lun->block_size;

			fill_block(want, lun->block_size, seed, extents[i].lba + b);
			if (memcmp(got, want, lun->block_size) != 0 && reported++ < 3)
				describe_mismatch(what, got, want, lun->block_size, extents[i].lba + b);
		}
		if (reported > 3)
			fail("%s: ... %u mismatching blocks in the extent at LBA %" PRIu64, what, reported,
			     extents[i].lba);
		bytes += (uint64_t)extents[i].blocks * lun->block_size;
		free(data);
	}
	free(want);
	if (failures == bad_before)
		note("%s: %u extents, %" PRIu64 " bytes read back intact (seed %" PRIu64 ")", what, count, bytes,
		     seed);
	return 0;
}

static bool is_lba_out_of_range(struct scsi_task *task)
{
	return task->status == SCSI_STATUS_CHECK_CONDITION && task->sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
	       task->sense.ascq == SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE;
}

static void expect_out_of_range(struct lun *lun, struct scsi_task *task, const char *what)
{
	char why[160];

	if (!task) {
		fail("%s: transport error instead of LBA OUT OF RANGE: %s", what, iscsi_get_error(lun->iscsi));
		return;
	}
	if (!is_lba_out_of_range(task))
		fail("%s: got %s, expected CHECK CONDITION ILLEGAL REQUEST / LBA OUT OF RANGE", what,
		     task->status == SCSI_STATUS_GOOD ? "GOOD" : status_text(task, why, sizeof(why)));
	scsi_free_scsi_task(task);
}

/* Commands touching LBAs past the end must fail whole: no data, no partial write of the last block. */
static void check_end_of_lun(struct lun *lun)
{
	uint64_t last = lun->blocks - 1;
	uint32_t bs = lun->block_size;
	unsigned char *before = NULL, *junk = malloc(2 * (size_t)bs);
	struct scsi_task *task;
	char why[160];
	unsigned bad_before = failures;

	if (!junk) {
		fail("out of memory");
		return;
	}
	memset(junk, 0xa5, 2 * (size_t)bs);

	task = iscsi_read16_sync(lun->iscsi, lun->lun, last, bs, (int)bs, 0, 0, 0, 0, 0);
	if (!task || task->status != SCSI_STATUS_GOOD || (uint32_t)task->datain.size != bs) {
		fail("READ(16) of the last LBA %" PRIu64 " failed: %s", last,
		     task ? status_text(task, why, sizeof(why)) : iscsi_get_error(lun->iscsi));
	} else {
		before = malloc(bs);
		if (before)
			memcpy(before, task->datain.data, bs);
	}
	if (task)
		scsi_free_scsi_task(task);

	expect_out_of_range(lun, iscsi_read16_sync(lun->iscsi, lun->lun, lun->blocks, bs, (int)bs, 0, 0, 0, 0, 0),
			    "READ(16) of the LBA after the last");
	expect_out_of_range(lun, iscsi_read16_sync(lun->iscsi, lun->lun, last, 2 * bs, (int)bs, 0, 0, 0, 0, 0),
			    "READ(16) of 2 blocks from the last LBA");
	expect_out_of_range(lun, iscsi_read16_sync(lun->iscsi, lun->lun, UINT64_MAX, bs, (int)bs, 0, 0, 0, 0, 0),
			    "READ(16) at LBA 2^64-1 (LBA + length wraps)");
	if (lun->blocks <= UINT32_MAX)
		expect_out_of_range(lun,
				    iscsi_read10_sync(lun->iscsi, lun->lun, (uint32_t)lun->blocks, bs, (int)bs, 0, 0, 0,
						      0, 0),
				    "READ(10) of the LBA after the last");
	expect_out_of_range(lun,
			    iscsi_write16_sync(lun->iscsi, lun->lun, lun->blocks, junk, bs, (int)bs, 0, 0, 0, 0, 0),
			    "WRITE(16) of the LBA after the last");
	if (last <= UINT32_MAX)
		expect_out_of_range(lun,
				    iscsi_write10_sync(lun->iscsi, lun->lun, (uint32_t)last, junk, 2 * bs, (int)bs, 0,
						       0, 0, 0, 0),
				    "WRITE(10) of 2 blocks from the last LBA");

	if (before) {
		task = iscsi_read16_sync(lun->iscsi, lun->lun, last, bs, (int)bs, 0, 0, 0, 0, 0);
		if (!task || task->status != SCSI_STATUS_GOOD || (uint32_t)task->datain.size != bs)
			fail("re-reading the last LBA failed");
		else if (memcmp(task->datain.data, before, bs) != 0)
			fail("the rejected WRITE(10) across the end still changed the last LBA %" PRIu64, last);
		if (task)
			scsi_free_scsi_task(task);
	}
	if (failures == bad_before)
		note("end of LUN: out-of-range READ/WRITE rejected with LBA OUT OF RANGE, last block untouched");
	free(before);
	free(junk);
}

static int read_capacity(struct lun *lun)
{
	struct scsi_task *task = iscsi_readcapacity16_sync(lun->iscsi, lun->lun);
	struct scsi_readcapacity16 *rc16;
	char why[160];

	if (!task || task->status != SCSI_STATUS_GOOD) {
		fail("READ CAPACITY(16) failed: %s",
		     task ? status_text(task, why, sizeof(why)) : iscsi_get_error(lun->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		return -1;
	}
	rc16 = scsi_datain_unmarshall(task);
	if (!rc16) {
		fail("READ CAPACITY(16) data could not be parsed");
		scsi_free_scsi_task(task);
		return -1;
	}
	lun->blocks = rc16->returned_lba + 1;
	lun->block_size = rc16->block_length;
	scsi_free_scsi_task(task);
	note("capacity: %" PRIu64 " blocks of %u bytes", lun->blocks, lun->block_size);
	if (lun->block_size < BLOCK_TAG_BYTES || lun->block_size > 1024 * 1024) {
		fail("implausible block size %u", lun->block_size);
		return -1;
	}
	return 0;
}

/* File-based rendezvous so separate processes are provably logged in and busy at the same time. */
static int barrier(const struct options *opt, const char *phase)
{
	char path[4096];
	FILE *f;
	time_t deadline = time(NULL) + opt->barrier_timeout;

	snprintf(path, sizeof(path), "%s/%s.%s", opt->barrier_dir, phase, opt->barrier_id);
	f = fopen(path, "w");
	if (!f) {
		fail("barrier: cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	fclose(f);
	for (;;) {
		unsigned arrived = 0;
		char peer[4096];

		for (unsigned i = 0; i < opt->barrier_peers; i++) {
			struct stat st;

			snprintf(peer, sizeof(peer), "%s/%s.%u", opt->barrier_dir, phase, i);
			if (stat(peer, &st) == 0)
				arrived++;
		}
		if (arrived == opt->barrier_peers)
			break;
		if (time(NULL) > deadline) {
			fail("barrier '%s': only %u of %u peers arrived within %u s", phase, arrived,
			     opt->barrier_peers, opt->barrier_timeout);
			return -1;
		}
		usleep(10000);
	}
	note("barrier '%s': all %u peers arrived", phase, opt->barrier_peers);
	return 0;
}

static int parse_range(const char *text, uint64_t *first, uint64_t *blocks)
{
	char *end;

	*first = strtoull(text, &end, 0);
	if (*end != ':')
		return -1;
	*blocks = strtoull(end + 1, &end, 0);
	return *end == '\0' && *blocks > 0 ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rwcheck [options] iscsi://HOST:PORT/TARGET/LUN[?header_digest=crc32c]\n"
		"       rwcheck --image FILE [--block-size N] --verify-only SEED [options]\n"
		"  --seed N                 pattern seed (default: random, printed)\n"
		"  --verify-only SEED       write nothing; check what a run with SEED (same --count/--range) wrote\n"
		"  --count N                number of extents (default 64)\n"
		"  --max-blocks N           longest extent in blocks (default 1024)\n"
		"  --range FIRST:BLOCKS     keep extents inside these LBAs (default: the whole LUN)\n"
		"  --no-eol-checks          skip the beyond-the-last-LBA checks\n"
		"  --initiator IQN          initiator name (default " DEFAULT_INITIATOR ")\n"
		"  --expect-blocks N        fail unless the LUN has N blocks\n"
		"  --expect-block-size N    fail unless the block size is N\n"
		"  --barrier DIR:ID:PEERS   wait for PEERS processes (ids 0..PEERS-1) after login and after writing\n"
		"  --peer SEED:FIRST:BLOCKS after the barrier, also verify what peer SEED wrote in that range\n"
		"  --image FILE             check the backing image file itself (with --verify-only)\n"
		"  --block-size N           block size of --image (default 512)\n");
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "verify-only", required_argument, NULL, 'v' },
		{ "count", required_argument, NULL, 'n' },
		{ "max-blocks", required_argument, NULL, 'm' },
		{ "range", required_argument, NULL, 'r' },
		{ "no-eol-checks", no_argument, NULL, 'E' },
		{ "initiator", required_argument, NULL, 'i' },
		{ "expect-blocks", required_argument, NULL, 'B' },
		{ "expect-block-size", required_argument, NULL, 'S' },
		{ "barrier", required_argument, NULL, 'b' },
		{ "peer", required_argument, NULL, 'p' },
		{ "image", required_argument, NULL, 'I' },
		{ "block-size", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->initiator = DEFAULT_INITIATOR;
	opt->count = 64;
	opt->max_blocks = 1024;
	opt->eol_checks = true;
	opt->barrier_timeout = 30;
	opt->image_block_size = 512;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt->seed = strtoull(optarg, NULL, 0);
			opt->seed_given = true;
			break;
		case 'v':
			opt->seed = strtoull(optarg, NULL, 0);
			opt->seed_given = true;
			opt->verify_only = true;
			break;
		case 'n':
			opt->count = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			opt->max_blocks = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			if (parse_range(optarg, &opt->range_first, &opt->range_blocks) != 0) {
				fprintf(stderr, "rwcheck: bad --range '%s'\n", optarg);
				return -1;
			}
			break;
		case 'E':
			opt->eol_checks = false;
			break;
		case 'I':
			opt->image = optarg;
			break;
		case 'z':
			opt->image_block_size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'i':
			opt->initiator = optarg;
			break;
		case 'B':
			opt->expect_blocks = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			opt->expect_block_size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'b': {
			char *dir = strdup(optarg), *id, *peers;

			id = dir ? strchr(dir, ':') : NULL;
			peers = id ? strchr(id + 1, ':') : NULL;
			if (!peers) {
				fprintf(stderr, "rwcheck: bad --barrier '%s'\n", optarg);
				free(dir);
				return -1;
			}
			*id++ = '\0';
			*peers++ = '\0';
			opt->barrier_dir = dir;
			opt->barrier_id = id;
			opt->barrier_peers = (unsigned)strtoul(peers, NULL, 0);
			break;
		}
		case 'p': {
			char *end;

			opt->peer_seed = strtoull(optarg, &end, 0);
			if (*end != ':' || parse_range(end + 1, &opt->peer_first, &opt->peer_blocks) != 0) {
				fprintf(stderr, "rwcheck: bad --peer '%s'\n", optarg);
				return -1;
			}
			opt->peer_given = true;
			break;
		}
		default:
			usage();
			return -1;
		}
	}
	if (opt->count == 0 || opt->max_blocks == 0 || optind != argc - (opt->image ? 0 : 1)) {
		usage();
		return -1;
	}
	if (opt->image) {
		if (!opt->verify_only || opt->barrier_dir || opt->image_block_size < BLOCK_TAG_BYTES) {
			fprintf(stderr, "rwcheck: --image needs --verify-only, a block size >= %d and no --barrier\n",
				BLOCK_TAG_BYTES);
			return -1;
		}
		opt->url = opt->image;
		opt->eol_checks = false;
	} else {
		opt->url = argv[optind];
	}
	if (opt->peer_given && !opt->barrier_dir) {
		fprintf(stderr, "rwcheck: --peer needs --barrier\n");
		return -1;
	}
	return 0;
}

static int connect_lun(const struct options *opt, struct lun *lun)
{
	struct iscsi_url *url;

	lun->iscsi = iscsi_create_context(opt->initiator);
	if (!lun->iscsi) {
		fail("cannot create libiscsi context");
		return -1;
	}
	/* A target that stops answering must fail the run, not hang it. */
	iscsi_set_timeout(lun->iscsi, 30);
	url = iscsi_parse_full_url(lun->iscsi, opt->url);
	if (!url) {
		fail("bad URL %s: %s", opt->url, iscsi_get_error(lun->iscsi));
		return -1;
	}
	iscsi_set_targetname(lun->iscsi, url->target);
	iscsi_set_session_type(lun->iscsi, ISCSI_SESSION_NORMAL);
	lun->lun = url->lun;
	if (iscsi_full_connect_sync(lun->iscsi, url->portal, url->lun) != 0) {
		fail("login to %s as %s failed: %s", opt->url, opt->initiator, iscsi_get_error(lun->iscsi));
		iscsi_destroy_url(url);
		return -1;
	}
	iscsi_destroy_url(url);
	note("logged in to %s as %s", opt->url, opt->initiator);
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct lun lun = { .image_fd = -1 };
	struct extent *extents = NULL;
	uint64_t range_blocks;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_options(argc, argv, &opt) != 0)
		return 2;
	if (!opt.seed_given) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt.seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32)) % 1000000000;
	}
	if (opt.image) {
		struct stat st;

		lun.image_fd = open(opt.image, O_RDONLY);
		if (lun.image_fd < 0 || fstat(lun.image_fd, &st) != 0) {
			fail("cannot open image %s: %s", opt.image, strerror(errno));
			goto out;
		}
		lun.block_size = opt.image_block_size;
		lun.blocks = (uint64_t)st.st_size / lun.block_size;
		note("image %s: %" PRIu64 " blocks of %u bytes", opt.image, lun.blocks, lun.block_size);
	} else if (connect_lun(&opt, &lun) != 0 || read_capacity(&lun) != 0) {
		goto out;
	}

	if (opt.expect_blocks && lun.blocks != opt.expect_blocks)
		fail("LUN has %" PRIu64 " blocks, expected %" PRIu64, lun.blocks, opt.expect_blocks);
	if (opt.expect_block_size && lun.block_size != opt.expect_block_size)
		fail("block size is %u, expected %u", lun.block_size, opt.expect_block_size);

	range_blocks = opt.range_blocks ? opt.range_blocks : lun.blocks - opt.range_first;
	if (opt.range_first + range_blocks > lun.blocks || range_blocks < opt.count) {
		fail("range %" PRIu64 ":%" PRIu64 " does not fit %u extents in a LUN of %" PRIu64 " blocks",
		     opt.range_first, range_blocks, opt.count, lun.blocks);
		goto out;
	}
	note("%s seed=%" PRIu64 " count=%u max-blocks=%u range=%" PRIu64 ":%" PRIu64,
	     opt.verify_only ? "verifying" : "writing", opt.seed, opt.count, opt.max_blocks, opt.range_first,
	     range_blocks);
	extents = plan_extents(opt.seed, opt.count, opt.max_blocks, opt.range_first, range_blocks);
	if (!extents) {
		fail("out of memory");
		goto out;
	}

	if (opt.barrier_dir && barrier(&opt, "login") != 0)
		goto out;
	if (!opt.verify_only && write_pattern(&lun, opt.seed, extents, opt.count) != 0)
		goto out;
	if (verify_pattern(&lun, opt.verify_only ? "verify-only" : "read-back", opt.seed, extents, opt.count) != 0)
		goto out;
	if (opt.barrier_dir && barrier(&opt, "written") != 0)
		goto out;
	if (opt.peer_given) {
		struct extent *peer = plan_extents(opt.peer_seed, opt.count, opt.max_blocks, opt.peer_first,
						   opt.peer_blocks);

		if (!peer) {
			fail("out of memory");
			goto out;
		}
		verify_pattern(&lun, "peer's data", opt.peer_seed, peer, opt.count);
		free(peer);
	}
	if (opt.eol_checks)
		check_end_of_lun(&lun);
	if (opt.barrier_dir)
		barrier(&opt, "done");

out:
	free(extents);
	if (lun.image_fd >= 0)
		close(lun.image_fd);
	if (lun.iscsi) {
		if (iscsi_is_logged_in(lun.iscsi) && iscsi_logout_sync(lun.iscsi) != 0)
			fail("logout failed: %s", iscsi_get_error(lun.iscsi));
		iscsi_destroy_context(lun.iscsi);
	}
	if (failures) {
		printf("rwcheck: %u check(s) FAILED (seed %" PRIu64 ")\n", failures, opt.seed);
		return 1;
	}
	printf("rwcheck: all checks passed (seed %" PRIu64 ")\n", opt.seed);
	return 0;
}
