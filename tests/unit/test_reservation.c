/* Unit tests for core/reservation.c and core/pr_store.c: SPC-2 and persistent reservations driven through tg_task_submit. */
#include "held_transport.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/reservation.h"

#define BS 512

enum { TYPE_WE = 1, TYPE_EA = 3, TYPE_WE_RO = 5, TYPE_EA_RO = 6, TYPE_WE_AR = 7, TYPE_EA_AR = 8 };

#define PORT_A "iqn.2026-11.test:a,i,0x000000000001"
#define PORT_B "iqn.2026-11.test:b,i,0x000000000002"
#define PORT_C "iqn.2026-11.test:c,i,0x000000000003"

struct fixture {
	struct fake_disk disk;
	struct tg_device dev;
	struct tg_lun_entry entries[1];
	struct tg_target target;
	struct tg_nexus *a, *b, *c; /* a and b register in most tests, c seldom does */
	struct tg_nexus *q;         /* only asks PERSISTENT RESERVE IN questions: never gets a UA */
	struct fake_cmd cmd;
	uint8_t block[BS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_device_init(&f->dev, &f->disk, "disk0", BS, 256);
	f->entries[0] = (struct tg_lun_entry){ 0, &f->dev, false };
	f->target.name = "iqn.2026-11.org.targe:pr";
	f->target.tpgt = 1;
	f->target.luns = (struct tg_lun_map){ 1, f->entries };
	f->a = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:a", PORT_A);
	f->b = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:b", PORT_B);
	f->c = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:c", PORT_C);
	f->q = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:q",
			       "iqn.2026-11.test:q,i,0x00000000000f");
	assert_true(f->a && f->b && f->c && f->q);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fake_cmd_reset(&f->cmd);
	if (f->a)
		tg_nexus_destroy(f->a);
	tg_nexus_destroy(f->b);
	tg_nexus_destroy(f->c);
	tg_nexus_destroy(f->q);
	tg_pr_detach(&f->dev);
	fake_device_fini(&f->disk);
	free(f);
	return 0;
}

/* ---- command helpers ---- */

static struct fake_response *prout_full(struct fixture *f, struct tg_nexus *n, uint8_t sa,
					uint8_t type, uint64_t key, uint64_t sark, uint8_t byte20,
					const uint8_t *extra, size_t extra_len)
{
	static uint8_t params[512];
	memset(params, 0, sizeof(params));
	put_be64(params, key);
	put_be64(params + 8, sark);
	params[20] = byte20;
	if (extra_len)
		memcpy(params + 24, extra, extra_len);
	uint32_t len = (uint32_t)(24 + extra_len);
	uint8_t cdb[10] = { SCSI_PERSISTENT_RESERVE_OUT, sa, type };
	put_be32(cdb + 5, len);
	return fake_submit_write(&f->cmd, n, 0, cdb, sizeof(cdb), params, len);
}

static struct fake_response *prout(struct fixture *f, struct tg_nexus *n, uint8_t sa,
				   uint8_t type, uint64_t key, uint64_t sark)
{
	return prout_full(f, n, sa, type, key, sark, 0, NULL, 0);
}

static struct fake_response *prin(struct fixture *f, struct tg_nexus *n, uint8_t sa,
				  uint16_t alloc)
{
	uint8_t cdb[10] = { SCSI_PERSISTENT_RESERVE_IN, sa };
	put_be16(cdb + 7, alloc);
	return fake_submit(&f->cmd, n, 0, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

static struct fake_response *simple(struct fixture *f, struct tg_nexus *n, uint8_t opcode)
{
	uint8_t cdb[10] = { opcode };
	if (opcode == SCSI_INQUIRY)
		cdb[4] = 36;
	if (opcode == SCSI_MODE_SENSE_6)
		cdb[2] = 0x3f, cdb[4] = 0xff;
	uint32_t len = opcode == SCSI_INQUIRY ? 36
		       : opcode == SCSI_MODE_SENSE_6 ? 0xff
		       : opcode == SCSI_READ_CAPACITY_10 ? 8 : 0;
	return fake_submit(&f->cmd, n, 0, cdb, opcode < 0x20 ? 6 : 10,
			   len ? TG_DIR_READ : TG_DIR_NONE, len);
}

static struct fake_response *read10(struct fixture *f, struct tg_nexus *n)
{
	uint8_t cdb[10] = { SCSI_READ_10, 0, 0, 0, 0, 0, 0, 0, 1 };
	return fake_submit(&f->cmd, n, 0, cdb, sizeof(cdb), TG_DIR_READ, BS);
}

static struct fake_response *write10(struct fixture *f, struct tg_nexus *n)
{
	uint8_t cdb[10] = { SCSI_WRITE_10, 0, 0, 0, 0, 0, 0, 0, 1 };
	return fake_submit_write(&f->cmd, n, 0, cdb, sizeof(cdb), f->block, BS);
}

static bool is_conflict(const struct fake_response *r)
{
	assert_true(r->done);
	return r->status == SCSI_STATUS_RESERVATION_CONFLICT;
}

#define assert_conflict(r) assert_true(is_conflict(r))
#define assert_passes(r)                                                                   \
	do {                                                                               \
		const struct fake_response *r__ = (r);                                     \
		assert_true(r__->done);                                                    \
		assert_int_equal(r__->status, SCSI_STATUS_GOOD);                           \
	} while (0)

/* The next command of n on LUN 0 reports this unit attention (and clears it). */
static void expect_ua(struct fixture *f, struct tg_nexus *n, uint8_t asc, uint8_t ascq)
{
	struct fake_response *r = simple(f, n, SCSI_TEST_UNIT_READY);
	assert_check(r, SCSI_SK_UNIT_ATTENTION, asc, ascq);
}

static void expect_no_ua(struct fixture *f, struct tg_nexus *n)
{
	assert_false(tg_ua_pending(n, 0));
	(void)f;
}

static uint32_t generation(struct fixture *f)
{
	struct fake_response *r = prin(f, f->q, TG_PR_READ_KEYS, 8);
	assert_passes(r);
	return get_be32(r->data);
}

/* Reservation key and type READ RESERVATION reports; type 0 when there is none. */
static uint8_t reservation(struct fixture *f, uint64_t *key)
{
	struct fake_response *r = prin(f, f->q, TG_PR_READ_RESERVATION, 64);
	assert_passes(r);
	if (get_be32(r->data + 4) == 0)
		return 0;
	assert_int_equal(get_be32(r->data + 4), 16);
	if (key)
		*key = get_be64(r->data + 8);
	return r->data[8 + 13] & 0x0f;
}

static size_t key_count(struct fixture *f)
{
	struct fake_response *r = prin(f, f->q, TG_PR_READ_KEYS, 1024);
	assert_passes(r);
	return get_be32(r->data + 4) / 8;
}

static void register_ab(struct fixture *f)
{
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0, 0xaa));
	assert_passes(prout(f, f->b, TG_PR_REGISTER, 0, 0, 0xbb));
}

/* ---- the access table: every type x command class x kind of nexus ---- */

/*
 * SPC-4 table 63 / SBC-3 table 13 written out (not derived from the code): what a registrant
 * that is not the holder and a nexus that is not registered may do.
 */
static const struct {
	uint8_t type;
	bool registrant_read, registrant_write, other_read, other_write;
} access_table[] = {
	{ TYPE_WE, true, false, true, false },
	{ TYPE_EA, false, false, false, false },
	{ TYPE_WE_RO, true, true, true, false },
	{ TYPE_EA_RO, true, true, false, false },
	{ TYPE_WE_AR, true, true, true, false },
	{ TYPE_EA_AR, true, true, false, false },
};

static void check_access(struct fixture *f, struct tg_nexus *n, bool read_ok, bool write_ok)
{
	assert_int_equal(is_conflict(read10(f, n)), !read_ok);
	/* MODE SENSE is in the read class (ALLOW COMMANDS 011b), SYNCHRONIZE CACHE a write. */
	assert_int_equal(is_conflict(simple(f, n, SCSI_MODE_SENSE_6)), !read_ok);
	assert_int_equal(is_conflict(write10(f, n)), !write_ok);
	assert_int_equal(is_conflict(simple(f, n, SCSI_SYNCHRONIZE_CACHE_10)), !write_ok);
	/* Commands that describe the unit pass every reservation. */
	assert_passes(simple(f, n, SCSI_TEST_UNIT_READY));
	assert_passes(simple(f, n, SCSI_INQUIRY));
	assert_passes(simple(f, n, SCSI_READ_CAPACITY_10));
	assert_passes(prin(f, n, TG_PR_READ_KEYS, 64));
}

static void test_access_every_type(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < sizeof(access_table) / sizeof(access_table[0]); i++) {
		uint8_t type = access_table[i].type;
		register_ab(f);
		assert_passes(prout(f, f->a, TG_PR_RESERVE, type, 0xaa, 0));
		uint64_t key = 1;
		assert_int_equal(reservation(f, &key), type);
		/* All-registrants reservations report key 0 (SPC-4 6.15.3). */
		assert_int_equal(key, type == TYPE_WE_AR || type == TYPE_EA_AR ? 0 : 0xaa);

		check_access(f, f->a, true, true);
		check_access(f, f->b, access_table[i].registrant_read,
			     access_table[i].registrant_write);
		check_access(f, f->c, access_table[i].other_read, access_table[i].other_write);

		assert_passes(prout(f, f->a, TG_PR_CLEAR, 0, 0xaa, 0));
		assert_int_equal(reservation(f, NULL), 0);
		assert_int_equal(key_count(f), 0);
		/* CLEAR told b; let it hear that before the next round. */
		expect_ua(f, f->b, 0x2a, 0x03);
		check_access(f, f->c, true, true);
	}
}

static void test_table_classes(void **state)
{
	(void)state;
	const uint8_t reads[] = { SCSI_READ_6, SCSI_READ_10, SCSI_READ_12, SCSI_READ_16,
				  SCSI_VERIFY_10, SCSI_VERIFY_12, SCSI_VERIFY_16,
				  SCSI_MODE_SENSE_6, SCSI_MODE_SENSE_10 };
	for (size_t i = 0; i < sizeof(reads); i++)
		assert_true(tg_sbc_cmds[reads[i]].flags & TG_CMD_PR_READ);
	const uint8_t self[] = { SCSI_RESERVE_6, SCSI_RELEASE_6, SCSI_RESERVE_10, SCSI_RELEASE_10,
				 SCSI_PERSISTENT_RESERVE_IN, SCSI_PERSISTENT_RESERVE_OUT };
	for (size_t i = 0; i < sizeof(self); i++)
		assert_true(tg_sbc_cmds[self[i]].flags & TG_CMD_PR_SELF);
	/* Every medium-changing command counts as a write: no read or free-pass flag. */
	for (unsigned op = 0; op < 256; op++)
		if (tg_sbc_cmds[op].name && (tg_sbc_cmds[op].flags & TG_CMD_WRITE_CLASS))
			assert_false(tg_sbc_cmds[op].flags &
				     (TG_CMD_PR_READ | TG_CMD_CONFLICT_FREE | TG_CMD_PR_SELF));
}

/* ---- REGISTER / REGISTER AND IGNORE EXISTING KEY ---- */

static void test_register_flows(void **state)
{
	struct fixture *f = *state;
	uint32_t gen = generation(f);
	/* Not registered: a nonzero RESERVATION KEY conflicts, SARK 0 does nothing. */
	assert_conflict(prout(f, f->a, TG_PR_REGISTER, 0, 0x11, 0xaa));
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0, 0));
	assert_int_equal(generation(f), gen);
	assert_int_equal(key_count(f), 0);

	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0, 0xaa));
	assert_int_equal(generation(f), gen + 1);
	/* Registered: the key must be named right to change it. */
	assert_conflict(prout(f, f->a, TG_PR_REGISTER, 0, 0xab, 0xac));
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0xaa, 0xac));
	assert_int_equal(generation(f), gen + 2);
	struct fake_response *r = prin(f, f->c, TG_PR_READ_KEYS, 64);
	assert_passes(r);
	assert_int_equal(get_be32(r->data + 4), 8);
	assert_int_equal(get_be64(r->data + 8), 0xac);

	/* REGISTER AND IGNORE EXISTING KEY takes any RESERVATION KEY. */
	assert_passes(prout(f, f->a, TG_PR_REGISTER_AND_IGNORE, 0, 0x999, 0xad));
	assert_passes(prout(f, f->b, TG_PR_REGISTER_AND_IGNORE, 0, 0x999, 0xbb));
	assert_int_equal(key_count(f), 2);
	/* SARK 0 unregisters. */
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0xad, 0));
	assert_passes(prout(f, f->b, TG_PR_REGISTER_AND_IGNORE, 0, 0, 0));
	assert_int_equal(key_count(f), 0);
	assert_int_equal(generation(f), gen + 6);

	/* Truncated READ KEYS keeps the full ADDITIONAL LENGTH. */
	register_ab(f);
	r = prin(f, f->c, TG_PR_READ_KEYS, 12);
	assert_passes(r);
	assert_int_equal(r->data_len, 12);
	assert_int_equal(get_be32(r->data + 4), 16);
}

static void test_register_parameter_errors(void **state)
{
	struct fixture *f = *state;
	/* PARAMETER LIST LENGTH must be 24 without SPEC_I_PT. */
	uint8_t cdb[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_REGISTER };
	put_be32(cdb + 5, 20);
	struct fake_response *r = fake_submit_write(&f->cmd, f->a, 0, cdb, sizeof(cdb), f->block, 20);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	cdb[1] = TG_PR_RESERVE;
	cdb[2] = TYPE_WE;
	put_be32(cdb + 5, 28);
	r = fake_submit_write(&f->cmd, f->a, 0, cdb, sizeof(cdb), f->block, 28);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* Unknown service action, bad type, bad scope. */
	r = prout(f, f->a, 0x1f, 0, 0, 0);
	assert_invalid_field(r, 1, 4);
	r = prout(f, f->a, TG_PR_RESERVE, 2, 0, 0);
	assert_invalid_field(r, 2, 3);
	r = prout(f, f->a, TG_PR_RESERVE, 0x10 | TYPE_WE, 0, 0);
	assert_invalid_field(r, 2, 7);
	/* SPEC_I_PT with REGISTER AND IGNORE: parameter list field. */
	r = prout_full(f, f->a, TG_PR_REGISTER_AND_IGNORE, 0, 0, 0xaa, 0x08, NULL, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	/* PR IN service action out of range. */
	r = prin(f, f->a, 4, 64);
	assert_invalid_field(r, 1, 4);
	/* APTPL on a device that cannot persist (no data path): refused. */
	r = prout_full(f, f->a, TG_PR_REGISTER, 0, 0, 0xaa, 0x01, NULL, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(key_count(f), 0);
}

/* ---- RESERVE / RELEASE ---- */

static void test_reserve_release_flows(void **state)
{
	struct fixture *f = *state;
	/* Unregistered nexuses cannot reserve. */
	assert_conflict(prout(f, f->a, TG_PR_RESERVE, TYPE_WE, 0, 0));
	register_ab(f);
	assert_conflict(prout(f, f->a, TG_PR_RESERVE, TYPE_WE, 0xbb, 0)); /* wrong key */
	uint32_t gen = generation(f);
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE_RO, 0xaa, 0));
	assert_int_equal(generation(f), gen); /* RESERVE does not count */
	/* The holder may repeat it, not change the type; nobody else may reserve. */
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE_RO, 0xaa, 0));
	assert_conflict(prout(f, f->a, TG_PR_RESERVE, TYPE_EA, 0xaa, 0));
	assert_conflict(prout(f, f->b, TG_PR_RESERVE, TYPE_WE_RO, 0xbb, 0));
	/* RELEASE by a registrant that does not hold it: GOOD, nothing happens. */
	assert_passes(prout(f, f->b, TG_PR_RELEASE, TYPE_WE_RO, 0xbb, 0));
	assert_int_equal(reservation(f, NULL), TYPE_WE_RO);
	/* The holder naming another type: INVALID RELEASE OF PERSISTENT RESERVATION. */
	struct fake_response *r = prout(f, f->a, TG_PR_RELEASE, TYPE_WE, 0xaa, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x04);
	assert_passes(prout(f, f->a, TG_PR_RELEASE, TYPE_WE_RO, 0xaa, 0));
	assert_int_equal(reservation(f, NULL), 0);
	/* A registrants-only release is announced to the other registrants only. */
	expect_ua(f, f->b, 0x2a, 0x04);
	expect_no_ua(f, f->a);
	expect_no_ua(f, f->c);

	/* Write Exclusive / Exclusive Access releases are silent. */
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_EA, 0xaa, 0));
	assert_passes(prout(f, f->a, TG_PR_RELEASE, TYPE_EA, 0xaa, 0));
	expect_no_ua(f, f->b);
	/* RELEASE without a reservation is GOOD. */
	assert_passes(prout(f, f->b, TG_PR_RELEASE, TYPE_EA, 0xbb, 0));
}

static void test_holder_unregisters(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_EA_RO, 0xaa, 0));
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0xaa, 0));
	assert_int_equal(reservation(f, NULL), 0);
	expect_ua(f, f->b, 0x2a, 0x04);

	/* All registrants: the reservation stays until the last registrant leaves. */
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0, 0xaa));
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE_AR, 0xaa, 0));
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0xaa, 0));
	assert_int_equal(reservation(f, NULL), TYPE_WE_AR);
	assert_conflict(write10(f, f->a)); /* no longer registered */
	assert_passes(write10(f, f->b));
	assert_passes(prout(f, f->b, TG_PR_REGISTER, 0, 0xbb, 0));
	assert_int_equal(reservation(f, NULL), 0);
	assert_passes(write10(f, f->c));
}

/* ---- CLEAR, PREEMPT ---- */

static void test_clear(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	assert_passes(prout(f, f->b, TG_PR_RESERVE, TYPE_EA, 0xbb, 0));
	uint32_t gen = generation(f);
	assert_conflict(prout(f, f->c, TG_PR_CLEAR, 0, 0, 0)); /* not registered */
	assert_conflict(prout(f, f->a, TG_PR_CLEAR, 0, 0xbb, 0)); /* not its key */
	assert_passes(prout(f, f->a, TG_PR_CLEAR, 0, 0xaa, 0));
	assert_int_equal(generation(f), gen + 1);
	assert_int_equal(key_count(f), 0);
	assert_int_equal(reservation(f, NULL), 0);
	expect_ua(f, f->b, 0x2a, 0x03);
	expect_no_ua(f, f->a);
	expect_no_ua(f, f->c);
}

static void test_preempt_takes_reservation(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE, 0xaa, 0));
	uint32_t gen = generation(f);
	/* Preempting a key nobody has: conflict; SARK 0 against a plain type: bad parameter. */
	assert_conflict(prout(f, f->b, TG_PR_PREEMPT, TYPE_EA, 0xbb, 0x1234));
	struct fake_response *r = prout(f, f->b, TG_PR_PREEMPT, TYPE_EA, 0xbb, 0);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_conflict(prout(f, f->c, TG_PR_PREEMPT, TYPE_EA, 0, 0xaa));

	assert_passes(prout(f, f->b, TG_PR_PREEMPT, TYPE_EA, 0xbb, 0xaa));
	assert_int_equal(generation(f), gen + 1);
	uint64_t key = 0;
	assert_int_equal(reservation(f, &key), TYPE_EA);
	assert_int_equal(key, 0xbb);
	assert_int_equal(key_count(f), 1);
	expect_ua(f, f->a, 0x2a, 0x05);
	assert_conflict(read10(f, f->a));
	assert_passes(read10(f, f->b));
}

static void test_preempt_registrations_only(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	assert_passes(prout(f, f->c, TG_PR_REGISTER, 0, 0, 0xcc));
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE_RO, 0xaa, 0));
	/* SARK names a registrant that is not the holder: only its registration goes. */
	assert_passes(prout(f, f->a, TG_PR_PREEMPT, TYPE_WE_RO, 0xaa, 0xcc));
	assert_int_equal(reservation(f, NULL), TYPE_WE_RO);
	assert_int_equal(key_count(f), 2);
	expect_ua(f, f->c, 0x2a, 0x05);
	expect_no_ua(f, f->b);
	/* Without any reservation PREEMPT removes registrations (libiscsi ProutPreempt). */
	assert_passes(prout(f, f->a, TG_PR_RELEASE, TYPE_WE_RO, 0xaa, 0));
	expect_ua(f, f->b, 0x2a, 0x04);
	assert_passes(prout(f, f->b, TG_PR_PREEMPT, TYPE_EA, 0xbb, 0xaa));
	assert_int_equal(key_count(f), 1);
	assert_int_equal(reservation(f, NULL), 0);
	expect_ua(f, f->a, 0x2a, 0x05);
}

static void test_preempt_all_registrants(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	assert_passes(prout(f, f->c, TG_PR_REGISTER, 0, 0, 0xcc));
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_EA_AR, 0xaa, 0));
	/* SARK 0: every other registration goes and the preempter holds the new type. */
	assert_passes(prout(f, f->b, TG_PR_PREEMPT, TYPE_WE, 0xbb, 0));
	assert_int_equal(key_count(f), 1);
	uint64_t key = 0;
	assert_int_equal(reservation(f, &key), TYPE_WE);
	assert_int_equal(key, 0xbb);
	expect_ua(f, f->a, 0x2a, 0x05);
	expect_ua(f, f->c, 0x2a, 0x05);
}

/* PREEMPT AND ABORT: the preempted nexus's task is aborted, and the PROUT answers only after
 * that task has come back from the backend. */
static void test_preempt_and_abort_waits(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE, 0xaa, 0));
	f->disk.deferred = true;
	struct held_cmd victim = { 0 }, bystander = { 0 };
	held_read10(&victim, f->a, 0, 0x10, 3);
	held_read10(&bystander, f->c, 0, 0x20, 4);
	assert_false(victim.responded);

	/* The PROUT itself needs no backend I/O but waits for the victim's. */
	uint8_t params[24] = { 0 };
	put_be64(params, 0xbb);
	put_be64(params + 8, 0xaa);
	uint8_t cdb[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_PREEMPT_AND_ABORT, TYPE_EA };
	put_be32(cdb + 5, sizeof(params));
	struct held_cmd preempt = { 0 };
	held_submit(&preempt, f->b, 0, 0x30, cdb, sizeof(cdb), TG_DIR_WRITE, params,
		    sizeof(params));
	assert_false(preempt.responded);

	fake_disk_complete_all(&f->disk);
	f->disk.deferred = false;
	assert_true(victim.responded);
	assert_int_equal(victim.state_at_response, TG_TASK_ABORTED);
	assert_true(preempt.responded);
	assert_int_equal(preempt.status, SCSI_STATUS_GOOD);
	/* c was not preempted: its read ran normally. */
	assert_true(bystander.responded);
	assert_int_equal(bystander.state_at_response, TG_TASK_RESPONSE);
	assert_int_equal(bystander.status, SCSI_STATUS_GOOD);

	expect_ua(f, f->a, 0x2a, 0x05);
	expect_ua(f, f->a, 0x2f, 0x00);
	expect_no_ua(f, f->c);
	uint64_t key = 0;
	assert_int_equal(reservation(f, &key), TYPE_EA);
	assert_int_equal(key, 0xbb);
}

/* ---- REGISTER AND MOVE, SPEC_I_PT, TransportIDs ---- */

static size_t iscsi_tid(uint8_t *out, const char *name, bool with_isid)
{
	size_t n = strlen(name) + 1;
	size_t body = (n + 3) & ~(size_t)3;
	if (body < 20)
		body = 20;
	memset(out, 0, 4 + body);
	out[0] = (uint8_t)((with_isid ? 0x40 : 0x00) | TG_PROTOCOL_ISCSI);
	put_be16(out + 2, (uint16_t)body);
	memcpy(out + 4, name, n);
	return 4 + body;
}

static void test_register_and_move(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	uint8_t tid[300];
	size_t tid_len = iscsi_tid(tid, PORT_C, true);
	uint8_t params[24 + 300] = { 0 };
	put_be64(params, 0xaa);
	put_be64(params + 8, 0xcc);
	put_be16(params + 18, 1); /* RELATIVE TARGET PORT IDENTIFIER: the TPGT */
	put_be32(params + 20, (uint32_t)tid_len);
	memcpy(params + 24, tid, tid_len);
	uint8_t cdb[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_REGISTER_AND_MOVE, 0 };
	put_be32(cdb + 5, (uint32_t)(24 + tid_len));

	/* Only the holder may move a reservation. */
	struct fake_response *r = fake_submit_write(&f->cmd, f->a, 0, cdb, sizeof(cdb), params,
						    (uint32_t)(24 + tid_len));
	assert_conflict(r);
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_EA, 0xaa, 0));
	uint32_t gen = generation(f);
	params[17] = 0x02; /* UNREG: a leaves */
	r = fake_submit_write(&f->cmd, f->a, 0, cdb, sizeof(cdb), params, (uint32_t)(24 + tid_len));
	assert_passes(r);
	assert_int_equal(generation(f), gen + 1);
	uint64_t key = 0;
	assert_int_equal(reservation(f, &key), TYPE_EA);
	assert_int_equal(key, 0xcc);
	assert_int_equal(key_count(f), 2); /* b and c */
	assert_passes(write10(f, f->c));
	assert_conflict(read10(f, f->a));
}

static void test_spec_i_pt_and_full_status(void **state)
{
	struct fixture *f = *state;
	/* a registers itself, c by port name (format 01b) and every port of b (format 00b). */
	uint8_t extra[4 + 600] = { 0 };
	size_t off = 4;
	off += iscsi_tid(extra + off, PORT_C, true);
	off += iscsi_tid(extra + off, "iqn.2026-11.test:b", false);
	put_be32(extra, (uint32_t)(off - 4));
	uint32_t gen = generation(f);
	assert_passes(prout_full(f, f->a, TG_PR_REGISTER, 0, 0, 0x77, 0x08, extra, off));
	assert_int_equal(generation(f), gen + 1);
	assert_int_equal(key_count(f), 3);
	/* c can use the key registered for it... */
	assert_passes(prout(f, f->c, TG_PR_RESERVE, TYPE_WE, 0x77, 0));
	/* ...and so can b under any ISID: a new nexus of b with another ISID is registered. */
	struct tg_nexus *b2 = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:b",
					      "iqn.2026-11.test:b,i,0x00000000beef");
	assert_non_null(b2);
	assert_passes(prout(f, b2, TG_PR_REGISTER, 0, 0x77, 0x78));
	tg_nexus_destroy(b2);

	struct fake_response *r = prin(f, f->a, TG_PR_READ_FULL_STATUS, 2048);
	assert_passes(r);
	uint32_t len = get_be32(r->data + 4);
	assert_int_equal(r->data_len, 8 + len);
	size_t seen = 0, holders = 0;
	bool saw_c_port = false, saw_b_name = false;
	for (size_t at = 8; at < 8 + len; seen++) {
		const uint8_t *d = r->data + at;
		uint32_t tid_len = get_be32(d + 20);
		const uint8_t *tid = d + 24;
		assert_int_equal(tid[0] & 0x0f, TG_PROTOCOL_ISCSI);
		assert_int_equal(get_be16(tid + 2) % 4, 0);
		assert_int_equal(tid_len, 4u + get_be16(tid + 2));
		const char *name = (const char *)tid + 4;
		if (d[12] & 0x01) {
			holders++;
			assert_int_equal(d[13], TYPE_WE);
			assert_string_equal(name, PORT_C);
		}
		if (strcmp(name, PORT_C) == 0) {
			saw_c_port = true;
			assert_int_equal(tid[0] & 0xc0, 0x40);
			assert_int_equal(get_be16(d + 18), 1);
		}
		if (strcmp(name, "iqn.2026-11.test:b") == 0) {
			saw_b_name = true;
			assert_int_equal(tid[0] & 0xc0, 0x00);
			assert_int_equal(get_be64(d), 0x78);
		}
		at += 24 + tid_len;
	}
	assert_int_equal(seen, 3);
	assert_int_equal(holders, 1);
	assert_true(saw_c_port && saw_b_name);

	/* A TransportID naming a port that is already registered: rejected, all or none. */
	assert_passes(prout(f, f->a, TG_PR_REGISTER, 0, 0x77, 0)); /* a leaves */
	off = 4 + iscsi_tid(extra + 4, PORT_C, true);
	put_be32(extra, (uint32_t)(off - 4));
	r = prout_full(f, f->a, TG_PR_REGISTER, 0, 0, 0x55, 0x08, extra, off);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(key_count(f), 2);
	/* A malformed TransportID (no NUL in its name field) is rejected too. */
	memset(extra + 8, 'x', get_be16(extra + 6));
	r = prout_full(f, f->a, TG_PR_REGISTER, 0, 0, 0x55, 0x08, extra, off);
	assert_check(r, SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
}

static void test_report_capabilities(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = prin(f, f->a, TG_PR_REPORT_CAPABILITIES, 8);
	assert_passes(r);
	assert_int_equal(get_be16(r->data), 8);
	/* CRH, SIP_C, ATP_C; no PTPL_C on a device without a state file. */
	assert_int_equal(r->data[2], 0x10 | 0x08 | 0x04);
	assert_int_equal(r->data[3] & 0x80, 0x80); /* TMV */
	assert_true(((r->data[3] >> 4) & 7) <= 5);
	assert_int_equal(r->data[4], 0xea); /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
	assert_int_equal(r->data[5], 0x01); /* EX_AC_AR */
}

/* ---- SPC-2 RESERVE / RELEASE and how they meet persistent reservations ---- */

static struct fake_response *reserve6(struct fixture *f, struct tg_nexus *n)
{
	return simple(f, n, SCSI_RESERVE_6);
}

static struct fake_response *release6(struct fixture *f, struct tg_nexus *n)
{
	return simple(f, n, SCSI_RELEASE_6);
}

static void test_spc2_reserve_release(void **state)
{
	struct fixture *f = *state;
	assert_passes(reserve6(f, f->a));
	assert_passes(reserve6(f, f->a)); /* again, by the holder */
	assert_conflict(reserve6(f, f->b));
	assert_conflict(read10(f, f->b));
	assert_conflict(simple(f, f->b, SCSI_MODE_SENSE_6));
	assert_conflict(simple(f, f->b, SCSI_TEST_UNIT_READY));
	assert_conflict(prin(f, f->b, TG_PR_READ_KEYS, 64));
	assert_conflict(prout(f, f->b, TG_PR_REGISTER, 0, 0, 0xbb));
	assert_passes(simple(f, f->b, SCSI_INQUIRY));
	/* RELEASE by another nexus: GOOD, no effect. */
	assert_passes(release6(f, f->b));
	assert_conflict(write10(f, f->b));
	assert_passes(write10(f, f->a));
	assert_passes(release6(f, f->a));
	assert_passes(write10(f, f->b));

	/* RESERVE(10) is the same reservation; third-party reservations are not supported. */
	uint8_t cdb[10] = { SCSI_RESERVE_10 };
	assert_passes(fake_submit(&f->cmd, f->b, 0, cdb, sizeof(cdb), TG_DIR_NONE, 0));
	assert_conflict(reserve6(f, f->a));
	cdb[0] = SCSI_RELEASE_10;
	assert_passes(fake_submit(&f->cmd, f->b, 0, cdb, sizeof(cdb), TG_DIR_NONE, 0));
	cdb[0] = SCSI_RESERVE_10;
	cdb[1] = 0x10;
	struct fake_response *r = fake_submit(&f->cmd, f->a, 0, cdb, sizeof(cdb), TG_DIR_NONE, 0);
	assert_invalid_field(r, 1, 4);
}

static void test_spc2_released_by_nexus_loss_and_lun_reset(void **state)
{
	struct fixture *f = *state;
	assert_passes(reserve6(f, f->a));
	tg_nexus_destroy(f->a);
	f->a = NULL;
	assert_passes(reserve6(f, f->b));
	/* A logical unit reset releases it too. */
	tg_pr_lun_reset(&f->dev);
	assert_passes(reserve6(f, f->c));
	assert_passes(release6(f, f->c));
}

static void test_spc2_with_registrations(void **state)
{
	struct fixture *f = *state;
	register_ab(f);
	/* SPC-3 5.6.3, CRH = 1: with registrations RESERVE and RELEASE conflict... */
	assert_conflict(reserve6(f, f->a));
	assert_conflict(release6(f, f->c));
	/* ...except for the persistent reservation holder, who gets GOOD and no change. */
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE, 0xaa, 0));
	assert_passes(reserve6(f, f->a));
	assert_passes(release6(f, f->a));
	assert_int_equal(reservation(f, NULL), TYPE_WE);
	assert_conflict(reserve6(f, f->b));
	assert_passes(read10(f, f->b)); /* the SPC-2 RESERVE changed nothing */
}

/* ---- persistence across a restart ---- */

static char temp_dir[64];

static int temp_setup(void **state)
{
	snprintf(temp_dir, sizeof(temp_dir), "/tmp/targe-pr-test.XXXXXX");
	if (!mkdtemp(temp_dir))
		return -1;
	return setup(state);
}

static int temp_teardown(void **state)
{
	int rc = teardown(state);
	DIR *d = opendir(temp_dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				char path[512];
				snprintf(path, sizeof(path), "%s/%s", temp_dir, e->d_name);
				unlink(path);
			}
		closedir(d);
	}
	rmdir(temp_dir);
	return rc;
}

static void restart_device(struct fixture *f, const char *data_path)
{
	/* What a restart keeps: only the file. */
	tg_pr_detach(&f->dev);
	char err[256] = "";
	assert_int_equal(tg_pr_attach(&f->dev, data_path, err, sizeof(err)), 0);
}

static void test_aptpl_survives_restart(void **state)
{
	struct fixture *f = *state;
	char data[600], pr[620];
	snprintf(data, sizeof(data), "%s/disk0.img", temp_dir);
	snprintf(pr, sizeof(pr), "%s.pr", data);
	char err[256] = "";
	assert_int_equal(tg_pr_attach(&f->dev, data, err, sizeof(err)), 0);
	struct fake_response *r = prin(f, f->a, TG_PR_REPORT_CAPABILITIES, 8);
	assert_int_equal(r->data[2] & 0x01, 0x01); /* PTPL_C */

	/* Without APTPL nothing is written. */
	register_ab(f);
	assert_int_not_equal(access(pr, F_OK), 0);
	/* With APTPL the whole state is, and stays up to date. */
	assert_passes(prout_full(f, f->a, TG_PR_REGISTER, 0, 0xaa, 0xa1, 0x01, NULL, 0));
	assert_int_equal(access(pr, F_OK), 0);
	assert_passes(prout(f, f->a, TG_PR_RESERVE, TYPE_WE_RO, 0xa1, 0));
	uint32_t gen = generation(f);
	r = prin(f, f->a, TG_PR_REPORT_CAPABILITIES, 8);
	assert_int_equal(r->data[3] & 0x01, 0x01); /* PTPL_A */

	/* The daemon restarts and the nexuses come back (same initiator ports). */
	restart_device(f, data);
	tg_nexus_destroy(f->a);
	f->a = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:a", PORT_A);
	assert_non_null(f->a);
	assert_int_equal(generation(f), gen);
	assert_int_equal(key_count(f), 2);
	uint64_t key = 0;
	assert_int_equal(reservation(f, &key), TYPE_WE_RO);
	assert_int_equal(key, 0xa1);
	assert_passes(write10(f, f->a));
	assert_passes(write10(f, f->b));
	assert_conflict(write10(f, f->c));
	/* Another ISID is another I_T nexus: not registered. */
	struct tg_nexus *a2 = tg_nexus_create(&f->target, TG_TRANSPORT_ISCSI, "iqn.2026-11.test:a",
					      "iqn.2026-11.test:a,i,0x000000000009");
	assert_conflict(write10(f, a2));
	tg_nexus_destroy(a2);

	/* No temporary file is left behind. */
	char tmp[640];
	snprintf(tmp, sizeof(tmp), "%s.tmp", pr);
	assert_int_not_equal(access(tmp, F_OK), 0);

	/* A register with APTPL = 0 turns persistence off: the file goes. */
	assert_passes(prout(f, f->b, TG_PR_REGISTER, 0, 0xbb, 0xb1));
	assert_int_not_equal(access(pr, F_OK), 0);
	restart_device(f, data);
	assert_int_equal(key_count(f), 0);
	assert_int_equal(reservation(f, NULL), 0);
}

static void test_state_file_errors(void **state)
{
	struct fixture *f = *state;
	char data[600], pr[620];
	snprintf(data, sizeof(data), "%s/disk1.img", temp_dir);
	snprintf(pr, sizeof(pr), "%s.pr", data);
	FILE *out = fopen(pr, "w");
	assert_non_null(out);
	fprintf(out, "targe-pr 1\ngeneration 3\nreg 00aa 0 1 5 1\n");
	fclose(out);
	char err[256] = "";
	tg_pr_detach(&f->dev);
	assert_int_equal(tg_pr_attach(&f->dev, data, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3: bad registration"));

	out = fopen(pr, "w");
	fprintf(out, "something else\n");
	fclose(out);
	assert_int_equal(tg_pr_attach(&f->dev, data, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1:"));

	/* Device nodes have no place for a state file: attach works, PTPL_C is 0. */
	assert_int_equal(tg_pr_attach(&f->dev, "/dev/null", err, sizeof(err)), 0);
	struct fake_response *r = prin(f, f->a, TG_PR_REPORT_CAPABILITIES, 8);
	assert_int_equal(r->data[2] & 0x01, 0);
	unlink(pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_access_every_type, setup, teardown),
		cmocka_unit_test(test_table_classes),
		cmocka_unit_test_setup_teardown(test_register_flows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_parameter_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_release_flows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holder_unregisters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_takes_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_registrations_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_all_registrants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_and_abort_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_and_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spec_i_pt_and_full_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spc2_reserve_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spc2_released_by_nexus_loss_and_lun_reset,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_spc2_with_registrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aptpl_survives_restart, temp_setup,
						temp_teardown),
		cmocka_unit_test_setup_teardown(test_state_file_errors, temp_setup, temp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
