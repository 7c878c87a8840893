/* Integration client for LUN masking, read-only mappings and CHAP: one libiscsi login per call, printing what the target let this initiator see and do. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define DEFAULT_INITIATOR "iqn.2026-11.org.targe:accesscheck"
#define UA_RETRIES 16 /* a fresh nexus may hold several unit attentions per LUN */

static const char *initiator = DEFAULT_INITIATOR;

static void usage(void)
{
	fprintf(stderr,
		"usage: accesscheck [-i INITIATOR] COMMAND ARGS\n"
		"  login URL                  log in and out (exit 1 with libiscsi's reason if refused)\n"
		"  luns URL                   REPORT LUNS: the LUN numbers, ascending, one line\n"
		"  naa URL                    VPD 0x83: the NAA designator of the logical unit, hex\n"
		"  wp URL                     MODE SENSE(6)/(10): \"wp6=N wp10=N\"\n"
		"  write URL LBA TEXT         WRITE(10) of one block starting with TEXT, zero-filled\n"
		"  read URL LBA               READ(10) of one block: its text up to the first NUL\n"
		"  refuse-writes URL LBA PROBE_INITIATOR PROBE_URL PROBE_LBA\n"
		"                             every write-class command to URL must fail with DATA\n"
		"                             PROTECT/WRITE PROTECTED; a command the target does not\n"
		"                             implement at all (checked as PROBE_INITIATOR on\n"
		"                             PROBE_URL, a read-write mapping, at PROBE_LBA) may fail\n"
		"                             with INVALID OPCODE\n"
		"  discover PORTAL_URL        SendTargets=All in a discovery session: one target a line\n"
		"URLs are libiscsi's: iscsi://[USER%%SECRET@]HOST:PORT/TARGET/LUN"
		"[?target_user=U&target_password=P]\n");
}

/* Applies the CHAP credentials a parsed URL carries to the context. */
static int apply_chap(struct iscsi_context *iscsi, const struct iscsi_url *url)
{
	if (!url->user[0])
		return 0;
	if (iscsi_set_initiator_username_pwd(iscsi, url->user, url->passwd) != 0)
		return -1;
	if (url->target_user[0] &&
	    iscsi_set_target_username_pwd(iscsi, url->target_user, url->target_passwd) != 0)
		return -1;
	return 0;
}

struct session {
	struct iscsi_context *iscsi;
	int lun;
};

static int session_open(const char *name, const char *text, struct session *s)
{
	s->iscsi = iscsi_create_context(name);
	if (!s->iscsi) {
		fprintf(stderr, "accesscheck: cannot create a libiscsi context\n");
		return -1;
	}
	/* A target that stops answering must fail the test, not hang it. */
	iscsi_set_timeout(s->iscsi, 20);
	struct iscsi_url *url = iscsi_parse_full_url(s->iscsi, text);
	if (!url) {
		fprintf(stderr, "accesscheck: bad URL %s: %s\n", text, iscsi_get_error(s->iscsi));
		return -1;
	}
	iscsi_set_targetname(s->iscsi, url->target);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	s->lun = url->lun;
	int rc = apply_chap(s->iscsi, url);
	if (rc == 0 && iscsi_full_connect_sync(s->iscsi, url->portal, url->lun) != 0)
		rc = -1;
	iscsi_destroy_url(url);
	if (rc != 0) {
		/* Tests match on this line, e.g. "Status: Authorization failure(514)". */
		printf("login failed: %s\n", iscsi_get_error(s->iscsi));
		iscsi_destroy_context(s->iscsi);
		s->iscsi = NULL;
	}
	return rc;
}

static void session_close(struct session *s)
{
	if (!s->iscsi)
		return;
	iscsi_logout_sync(s->iscsi);
	iscsi_destroy_context(s->iscsi);
	s->iscsi = NULL;
}

/* Status as the tests compare it: "GOOD", "K/AA/QQ" for CHECK CONDITION (sense key, ASC,
 * ASCQ in hex), or "STATUS 0xNN". */
static void describe(const struct scsi_task *task, char *out, size_t cap)
{
	if (task->status == SCSI_STATUS_GOOD)
		snprintf(out, cap, "GOOD");
	else if (task->status == SCSI_STATUS_CHECK_CONDITION)
		snprintf(out, cap, "%x/%02x/%02x", (unsigned)task->sense.key,
			 (unsigned)(task->sense.ascq >> 8), (unsigned)(task->sense.ascq & 0xff));
	else
		snprintf(out, cap, "STATUS 0x%02x", (unsigned)task->status);
}

/*
 * Runs one CDB, repeating it while the target reports a unit attention (those belong to the
 * nexus, not to the command under test). Returns the final task (caller frees) or NULL when
 * the transport failed.
 */
static struct scsi_task *run(struct session *s, const uint8_t *cdb, int cdb_len, int dir,
			     const uint8_t *out, size_t out_len, int in_len)
{
	for (int attempt = 0; attempt < UA_RETRIES; attempt++) {
		struct scsi_task *task = scsi_create_task(cdb_len, (unsigned char *)cdb, dir,
							  dir == SCSI_XFER_WRITE ? (int)out_len
										 : in_len);
		if (!task) {
			fprintf(stderr, "accesscheck: out of memory\n");
			return NULL;
		}
		struct iscsi_data data = { .size = out_len, .data = (unsigned char *)out };
		if (!iscsi_scsi_command_sync(s->iscsi, s->lun, task,
					     dir == SCSI_XFER_WRITE ? &data : NULL)) {
			fprintf(stderr, "accesscheck: command %02Xh failed on the transport: %s\n",
				cdb[0], iscsi_get_error(s->iscsi));
			scsi_free_scsi_task(task);
			return NULL;
		}
		if (task->status == SCSI_STATUS_CHECK_CONDITION &&
		    task->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
			scsi_free_scsi_task(task);
			continue;
		}
		return task;
	}
	fprintf(stderr, "accesscheck: command %02Xh kept reporting unit attentions\n", cdb[0]);
	return NULL;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int block_size(struct session *s, uint32_t *bs)
{
	uint8_t cdb[10] = { 0x25 }; /* READ CAPACITY(10) */
	struct scsi_task *task = run(s, cdb, sizeof(cdb), SCSI_XFER_READ, NULL, 0, 8);
	if (!task)
		return -1;
	char what[32];
	describe(task, what, sizeof(what));
	int rc = -1;
	if (task->status == SCSI_STATUS_GOOD && task->datain.size >= 8) {
		*bs = get_be32(task->datain.data + 4);
		rc = *bs ? 0 : -1;
	} else {
		fprintf(stderr, "accesscheck: READ CAPACITY(10): %s\n", what);
	}
	scsi_free_scsi_task(task);
	return rc;
}

static int cmd_login(struct session *s)
{
	printf("logged in\n");
	return 0;
}

static int cmd_luns(struct session *s)
{
	uint8_t cdb[12] = { 0xa0 }; /* REPORT LUNS, SELECT REPORT 0 */
	put_be32(cdb + 6, 4096);
	struct scsi_task *task = run(s, cdb, sizeof(cdb), SCSI_XFER_READ, NULL, 0, 4096);
	if (!task)
		return 1;
	char what[32];
	describe(task, what, sizeof(what));
	if (task->status != SCSI_STATUS_GOOD || task->datain.size < 8) {
		fprintf(stderr, "accesscheck: REPORT LUNS: %s\n", what);
		scsi_free_scsi_task(task);
		return 1;
	}
	uint32_t list_len = get_be32(task->datain.data);
	int rc = 0;
	if (list_len % 8 || 8 + (size_t)list_len > (size_t)task->datain.size) {
		fprintf(stderr, "accesscheck: REPORT LUNS: list length %" PRIu32 " with %d bytes\n",
			list_len, task->datain.size);
		rc = 1;
	}
	for (uint32_t off = 0; rc == 0 && off < list_len; off += 8) {
		const uint8_t *l = task->datain.data + 8 + off;
		unsigned method = l[0] >> 6;
		uint64_t lun;
		if (method == 0 && l[0] == 0) /* peripheral device addressing */
			lun = l[1];
		else if (method == 1) /* flat space */
			lun = (uint64_t)(l[0] & 0x3f) << 8 | l[1];
		else {
			fprintf(stderr, "accesscheck: REPORT LUNS: LUN %02x%02x... not decoded\n", l[0],
				l[1]);
			rc = 1;
			break;
		}
		printf(off ? " %" PRIu64 : "%" PRIu64, lun);
	}
	printf("\n");
	scsi_free_scsi_task(task);
	return rc;
}

static int cmd_naa(struct session *s)
{
	uint8_t cdb[6] = { 0x12, 0x01, 0x83 }; /* INQUIRY, EVPD, page 0x83 */
	put_be16(cdb + 3, 1024);
	struct scsi_task *task = run(s, cdb, sizeof(cdb), SCSI_XFER_READ, NULL, 0, 1024);
	if (!task)
		return 1;
	char what[32];
	describe(task, what, sizeof(what));
	if (task->status != SCSI_STATUS_GOOD || task->datain.size < 4 ||
	    task->datain.data[1] != 0x83) {
		fprintf(stderr, "accesscheck: INQUIRY VPD 0x83: %s\n", what);
		scsi_free_scsi_task(task);
		return 1;
	}
	const uint8_t *page = task->datain.data;
	size_t end = 4 + ((size_t)page[2] << 8 | page[3]);
	if (end > (size_t)task->datain.size)
		end = (size_t)task->datain.size;
	int found = 0;
	for (size_t off = 4; off + 4 <= end;) {
		const uint8_t *d = page + off;
		size_t len = d[3];
		unsigned association = (d[1] >> 4) & 3, type = d[1] & 0x0f;
		if (off + 4 + len > end)
			break;
		if (association == 0 && type == 3 && !found) { /* the LU's NAA designator */
			for (size_t i = 0; i < len; i++)
				printf("%02x", d[4 + i]);
			printf("\n");
			found = 1;
		}
		off += 4 + len;
	}
	scsi_free_scsi_task(task);
	if (!found)
		fprintf(stderr, "accesscheck: VPD 0x83 has no NAA designator for the LU\n");
	return found ? 0 : 1;
}

static int cmd_wp(struct session *s)
{
	/* Header only (DBD, page 0x3f): the device-specific parameter's bit 7 is WP. */
	uint8_t cdb6[6] = { 0x1a, 0x08, 0x3f, 0, 255 };
	uint8_t cdb10[10] = { 0x5a, 0x08, 0x3f };
	put_be16(cdb10 + 7, 255);
	struct scsi_task *t6 = run(s, cdb6, sizeof(cdb6), SCSI_XFER_READ, NULL, 0, 255);
	struct scsi_task *t10 = run(s, cdb10, sizeof(cdb10), SCSI_XFER_READ, NULL, 0, 255);
	int rc = 1;
	if (t6 && t10 && t6->status == SCSI_STATUS_GOOD && t10->status == SCSI_STATUS_GOOD &&
	    t6->datain.size >= 4 && t10->datain.size >= 8) {
		printf("wp6=%d wp10=%d\n", t6->datain.data[2] >> 7, t10->datain.data[3] >> 7);
		rc = 0;
	} else {
		fprintf(stderr, "accesscheck: MODE SENSE failed\n");
	}
	if (t6)
		scsi_free_scsi_task(t6);
	if (t10)
		scsi_free_scsi_task(t10);
	return rc;
}

static int cmd_write(struct session *s, uint32_t lba, const char *text)
{
	uint32_t bs;
	if (block_size(s, &bs) != 0)
		return 1;
	uint8_t *block = calloc(1, bs);
	if (!block)
		return 1;
	size_t n = strlen(text) < bs ? strlen(text) : bs;
	memcpy(block, text, n);
	uint8_t cdb[10] = { 0x2a };
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, 1);
	struct scsi_task *task = run(s, cdb, sizeof(cdb), SCSI_XFER_WRITE, block, bs, 0);
	free(block);
	if (!task)
		return 1;
	char what[32];
	describe(task, what, sizeof(what));
	printf("WRITE(10): %s\n", what);
	int rc = task->status == SCSI_STATUS_GOOD ? 0 : 1;
	scsi_free_scsi_task(task);
	return rc;
}

static int cmd_read(struct session *s, uint32_t lba)
{
	uint32_t bs;
	if (block_size(s, &bs) != 0)
		return 1;
	uint8_t cdb[10] = { 0x28 };
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, 1);
	struct scsi_task *task = run(s, cdb, sizeof(cdb), SCSI_XFER_READ, NULL, 0, (int)bs);
	if (!task)
		return 1;
	char what[32];
	describe(task, what, sizeof(what));
	int rc = 1;
	if (task->status == SCSI_STATUS_GOOD && task->datain.size == (int)bs) {
		printf("%.*s\n", (int)strnlen((const char *)task->datain.data, 64),
		       (const char *)task->datain.data);
		rc = 0;
	} else {
		fprintf(stderr, "accesscheck: READ(10): %s, %d bytes\n", what, task->datain.size);
	}
	scsi_free_scsi_task(task);
	return rc;
}

/* ---- refuse-writes ---- */

enum probe_kind {
	MUST_REFUSE,  /* the target implements it today: DATA PROTECT and nothing else */
	PROBE_RW,     /* INVALID OPCODE is fine only if the read-write mapping says so too */
	NOT_PROBED,   /* destructive on a read-write mapping: INVALID OPCODE is taken as is */
};

struct write_cmd {
	const char *name;
	enum probe_kind kind;
	int cdb_len;
	/* Fills cdb for LBA lba, one block of bs bytes; returns the data-out length and fills
	 * data (room for two blocks). */
	size_t (*build)(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data);
	uint8_t opcode;
	uint8_t byte1;
};

static const struct write_cmd *current;

static size_t build_lba10(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	put_be32(cdb + 2, (uint32_t)lba);
	put_be16(cdb + 7, 1);
	return bs;
}

static size_t build_lba12(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	put_be32(cdb + 2, (uint32_t)lba);
	put_be32(cdb + 6, 1);
	return bs;
}

static size_t build_lba16(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, 1);
	return bs;
}

static size_t build_write6(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
	put_be16(cdb + 2, (uint16_t)lba);
	cdb[4] = 1;
	return bs;
}

static size_t build_write_atomic16(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	put_be64(cdb + 2, lba);
	put_be16(cdb + 12, 1); /* bytes 10-11: atomic boundary 0 */
	return bs;
}

static size_t build_compare_and_write(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	put_be64(cdb + 2, lba);
	cdb[13] = 1;
	return 2 * (size_t)bs; /* the verify block, then the write block */
}

static size_t build_unmap(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	put_be16(cdb + 7, 24);
	memset(data, 0, 24);
	put_be16(data, 22);
	put_be16(data + 2, 16);
	put_be64(data + 8, lba);
	put_be32(data + 16, 1);
	return 24;
}

static size_t build_no_data(uint8_t *cdb, uint64_t lba, uint32_t bs, uint8_t *data)
{
	return 0;
}

static const struct write_cmd write_cmds[] = {
	{ "WRITE(6)", MUST_REFUSE, 6, build_write6, 0x0a, 0 },
	{ "WRITE(10)", MUST_REFUSE, 10, build_lba10, 0x2a, 0 },
	{ "WRITE(12)", MUST_REFUSE, 12, build_lba12, 0xaa, 0 },
	{ "WRITE(16)", MUST_REFUSE, 16, build_lba16, 0x8a, 0 },
	{ "WRITE AND VERIFY(10)", PROBE_RW, 10, build_lba10, 0x2e, 0 },
	{ "WRITE AND VERIFY(12)", PROBE_RW, 12, build_lba12, 0xae, 0 },
	{ "WRITE AND VERIFY(16)", PROBE_RW, 16, build_lba16, 0x8e, 0 },
	{ "WRITE SAME(10)", PROBE_RW, 10, build_lba10, 0x41, 0 },
	{ "WRITE SAME(16)", PROBE_RW, 16, build_lba16, 0x93, 0 },
	{ "WRITE SAME(16) UNMAP", PROBE_RW, 16, build_lba16, 0x93, 0x08 },
	{ "UNMAP", PROBE_RW, 10, build_unmap, 0x42, 0 },
	{ "COMPARE AND WRITE", PROBE_RW, 16, build_compare_and_write, 0x89, 0 },
	{ "ORWRITE(16)", PROBE_RW, 16, build_lba16, 0x8b, 0 },
	{ "WRITE ATOMIC(16)", PROBE_RW, 16, build_write_atomic16, 0x9c, 0 },
	{ "FORMAT UNIT", NOT_PROBED, 6, build_no_data, 0x04, 0 },
	{ "SANITIZE BLOCK ERASE", NOT_PROBED, 10, build_no_data, 0x48, 0x02 },
};

/* Sends the current command to s at lba; writes its outcome as describe() does. */
static int send_write_cmd(struct session *s, uint64_t lba, uint32_t bs, char *what, size_t cap)
{
	uint8_t cdb[16] = { 0 };
	uint8_t *data = calloc(2, bs > 24 ? bs : 24);
	if (!data)
		return -1;
	/* Recognisable if it ever reaches the medium. */
	memset(data, 'X', 2 * (size_t)(bs > 24 ? bs : 24));
	cdb[0] = current->opcode;
	cdb[1] = current->byte1;
	size_t len = current->build(cdb, lba, bs, data);
	struct scsi_task *task = run(s, cdb, current->cdb_len,
				     len ? SCSI_XFER_WRITE : SCSI_XFER_NONE, data, len, 0);
	free(data);
	if (!task)
		return -1;
	describe(task, what, cap);
	scsi_free_scsi_task(task);
	return 0;
}

static int cmd_refuse_writes(struct session *ro, uint64_t lba, const char *probe_initiator,
			     const char *probe_url, uint64_t probe_lba)
{
	struct session rw = { 0 };
	uint32_t bs;
	if (block_size(ro, &bs) != 0 || session_open(probe_initiator, probe_url, &rw) != 0)
		return 1;
	unsigned failures = 0, refused = 0;
	for (size_t i = 0; i < sizeof(write_cmds) / sizeof(write_cmds[0]); i++) {
		current = &write_cmds[i];
		char what[32], probe[32] = "";
		if (send_write_cmd(ro, lba, bs, what, sizeof(what)) != 0) {
			failures++;
			break;
		}
		if (strcmp(what, "7/27/00") == 0) {
			printf("%s: refused %s\n", current->name, what);
			refused++;
			continue;
		}
		bool unsupported = strcmp(what, "5/20/00") == 0;
		if (unsupported && current->kind == NOT_PROBED) {
			printf("%s: not implemented by the target (%s; not probed: destructive)\n",
			       current->name, what);
			continue;
		}
		if (unsupported && current->kind == PROBE_RW) {
			if (send_write_cmd(&rw, probe_lba, bs, probe, sizeof(probe)) != 0) {
				failures++;
				break;
			}
			if (strcmp(probe, "5/20/00") == 0) {
				printf("%s: not implemented by the target (%s on both mappings)\n",
				       current->name, what);
				continue;
			}
		}
		printf("%s: FAIL: %s on the read-only mapping%s%s%s, expected 7/27/00\n",
		       current->name, what, probe[0] ? " (" : "", probe,
		       probe[0] ? " on the read-write one)" : "");
		failures++;
	}
	session_close(&rw);
	printf("%u refused, %u failure(s)\n", refused, failures);
	return failures ? 1 : 0;
}

static int cmd_discover(const char *text)
{
	struct iscsi_context *iscsi = iscsi_create_context(initiator);
	if (!iscsi)
		return 1;
	iscsi_set_timeout(iscsi, 20);
	struct iscsi_url *url = iscsi_parse_portal_url(iscsi, text);
	if (!url) {
		fprintf(stderr, "accesscheck: bad portal URL %s: %s\n", text, iscsi_get_error(iscsi));
		iscsi_destroy_context(iscsi);
		return 1;
	}
	iscsi_set_session_type(iscsi, ISCSI_SESSION_DISCOVERY);
	int rc = apply_chap(iscsi, url);
	if (rc == 0 && (iscsi_connect_sync(iscsi, url->portal) != 0 || iscsi_login_sync(iscsi) != 0))
		rc = -1;
	iscsi_destroy_url(url);
	if (rc != 0) {
		printf("login failed: %s\n", iscsi_get_error(iscsi));
		iscsi_destroy_context(iscsi);
		return 1;
	}
	struct iscsi_discovery_address *found = iscsi_discovery_sync(iscsi);
	if (!found && iscsi_get_error(iscsi)[0]) {
		/* An empty answer is a NULL list too; only a set error means failure. */
		fprintf(stderr, "accesscheck: SendTargets: %s\n", iscsi_get_error(iscsi));
	}
	for (struct iscsi_discovery_address *a = found; a; a = a->next)
		printf("%s\n", a->target_name);
	if (found)
		iscsi_free_discovery_data(iscsi, found);
	iscsi_logout_sync(iscsi);
	iscsi_destroy_context(iscsi);
	return 0;
}

int main(int argc, char **argv)
{
	int opt;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "i:h")) != -1) {
		switch (opt) {
		case 'i':
			initiator = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind < 2) {
		usage();
		return 2;
	}
	const char *command = argv[optind], *url = argv[optind + 1];
	char **args = argv + optind + 2;
	int nargs = argc - optind - 2;
	if (strcmp(command, "discover") == 0)
		return cmd_discover(url);

	static const struct {
		const char *name;
		int nargs;
	} arity[] = {
		{ "login", 0 }, { "luns", 0 }, { "naa", 0 }, { "wp", 0 },
		{ "write", 2 }, { "read", 1 }, { "refuse-writes", 4 },
	};
	int want = -1;
	for (size_t i = 0; i < sizeof(arity) / sizeof(arity[0]); i++)
		if (strcmp(command, arity[i].name) == 0)
			want = arity[i].nargs;
	if (want < 0 || nargs != want) {
		usage();
		return 2;
	}
	struct session s = { 0 };
	if (session_open(initiator, url, &s) != 0)
		return 1;
	int rc;
	if (strcmp(command, "login") == 0)
		rc = cmd_login(&s);
	else if (strcmp(command, "luns") == 0)
		rc = cmd_luns(&s);
	else if (strcmp(command, "naa") == 0)
		rc = cmd_naa(&s);
	else if (strcmp(command, "wp") == 0)
		rc = cmd_wp(&s);
	else if (strcmp(command, "write") == 0)
		rc = cmd_write(&s, (uint32_t)strtoul(args[0], NULL, 0), args[1]);
	else if (strcmp(command, "read") == 0)
		rc = cmd_read(&s, (uint32_t)strtoul(args[0], NULL, 0));
	else
		rc = cmd_refuse_writes(&s, strtoull(args[0], NULL, 0), args[1], args[2],
				       strtoull(args[3], NULL, 0));
	session_close(&s);
	return rc;
}
