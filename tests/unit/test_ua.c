/* Unit tests for the unit attention queues of core/nexus.c: queuing, reporting, clearing, the first UA of a nexus, and several threads at once. */
#include "fixture.h"
#include "held_transport.h"

#include <pthread.h>
#include <stdatomic.h>

enum { N1 = 0, N2 = 1 }; /* the initiators */

static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:ua",
	.tpgt = 1,
	.disks = { { "d0", 512, 64 }, { "d1", 512, 64 } },
	.luns = { { 0, 0, false }, { 1, 1, false }, { 2, 0, false } }, /* d0 a second time */
	.lun_count = 3,
	.initiators = {
		[N1] = { "iqn.2026-11.test:ua1", "iqn.2026-11.test:ua1,i,0x000000000001", false },
		[N2] = { "iqn.2026-11.test:ua2", "iqn.2026-11.test:ua2,i,0x000000000002", false },
	},
};

static int setup(void **state)
{
	*state = fixture_new(&spec);
	return 0;
}

static void test_fifo_and_no_duplicates(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_MODE_PARAMETERS_CHANGED);
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_CAPACITY_CHANGED);
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_MODE_PARAMETERS_CHANGED); /* already pending */
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_INQUIRY_DATA_CHANGED);
	/* No such LUN index: ignored. */
	tg_ua_establish(f->nexus[N1], 9, TG_SR_UA_CAPACITY_CHANGED);
	assert_true(tg_ua_pending(f->nexus[N1], 0));
	assert_false(tg_ua_pending(f->nexus[N1], 1));
	assert_false(tg_ua_pending(f->nexus[N2], 0));
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_UA_MODE_PARAMETERS_CHANGED);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_UA_CAPACITY_CHANGED);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_UA_INQUIRY_DATA_CHANGED);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_OK);
	assert_int_equal(tg_ua_take(f->nexus[N1], 9), TG_SR_OK);
}

static void test_reset_goes_first_and_once(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_CAPACITY_CHANGED);
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_TARGET_RESET);
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_NEXUS_LOSS); /* a reset is already reported */
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_RESERVATIONS_PREEMPTED);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_UA_TARGET_RESET);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_UA_CAPACITY_CHANGED);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_UA_RESERVATIONS_PREEMPTED);
	assert_int_equal(tg_ua_take(f->nexus[N1], 0), TG_SR_OK);
}

static void test_full_queue(void **state)
{
	struct fixture *f = *state;
	const enum tg_sense_reason many[] = {
		TG_SR_UA_PARAMETERS_CHANGED,       TG_SR_UA_MODE_PARAMETERS_CHANGED,
		TG_SR_UA_RESERVATIONS_PREEMPTED,   TG_SR_UA_RESERVATIONS_RELEASED,
		TG_SR_UA_REGISTRATIONS_PREEMPTED,  TG_SR_UA_CAPACITY_CHANGED,
		TG_SR_UA_INQUIRY_DATA_CHANGED,     TG_SR_UA_MEDIUM_CHANGED,
		TG_SR_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR,
	};
	_Static_assert(sizeof(many) / sizeof(many[0]) == TG_UA_QUEUE_MAX + 1, "one too many");
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		tg_ua_establish(f->nexus[N1], 1, many[i]);
	/* A reset still gets in, in front, at the cost of the newest condition. */
	tg_ua_establish(f->nexus[N1], 1, TG_SR_UA_POWER_ON_RESET);
	assert_int_equal(tg_ua_take(f->nexus[N1], 1), TG_SR_UA_POWER_ON_RESET);
	for (size_t i = 0; i < TG_UA_QUEUE_MAX - 1; i++)
		assert_int_equal(tg_ua_take(f->nexus[N1], 1), many[i]);
	assert_int_equal(tg_ua_take(f->nexus[N1], 1), TG_SR_OK);
}

static struct fake_response *tur(struct fixture *f, struct tg_nexus *n, uint64_t lun)
{
	uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	return fake_submit(&f->cmd, n, lun, cdb, sizeof(cdb), TG_DIR_NONE, 0);
}

static void expect_tur(struct fixture *f, struct tg_nexus *n, uint64_t lun, uint8_t asc,
		       uint8_t ascq)
{
	struct fake_response *r = tur(f, n, lun);
	if (asc)
		assert_check(r, SCSI_SK_UNIT_ATTENTION, asc, ascq);
	else
		assert_good(r);
}

static void test_reported_luns_changed_clears_on_every_lun(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < 3; i++) {
		tg_ua_establish(f->nexus[N1], i, TG_SR_UA_REPORTED_LUNS_CHANGED);
		tg_ua_establish(f->nexus[N2], i, TG_SR_UA_REPORTED_LUNS_CHANGED);
	}
	tg_ua_establish(f->nexus[N1], 2, TG_SR_UA_CAPACITY_CHANGED);
	/* SAM-5 (LUICLR = 1): reported on LUN 1, it is gone from LUNs 0 and 2 of that nexus... */
	expect_tur(f, f->nexus[N1], 1, 0x3f, 0x0e);
	expect_tur(f, f->nexus[N1], 0, 0, 0);
	expect_tur(f, f->nexus[N1], 2, 0x2a, 0x09); /* ...but nothing else is */
	expect_tur(f, f->nexus[N1], 2, 0, 0);
	/* ...and still pending for the other nexus, where REPORT LUNS clears it everywhere. */
	assert_true(tg_ua_pending(f->nexus[N2], 0));
	uint8_t cdb[12] = { SCSI_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 0, 64 };
	struct fake_response *r =
	    fake_submit(&f->cmd, f->nexus[N2], 1, cdb, sizeof(cdb), TG_DIR_READ, 64);
	assert_good(r);
	for (size_t i = 0; i < 3; i++)
		assert_false(tg_ua_pending(f->nexus[N2], i));
}

static void test_which_commands_report(void **state)
{
	struct fixture *f = *state;
	tg_ua_establish(f->nexus[N1], 0, TG_SR_UA_CAPACITY_CHANGED);
	/* INQUIRY neither reports nor clears it. */
	uint8_t inq[6] = { SCSI_INQUIRY, 0, 0, 0, 36, 0 };
	struct fake_response *r = fake_submit(&f->cmd, f->nexus[N1], 0, inq, 6, TG_DIR_READ, 36);
	assert_good(r);
	assert_true(tg_ua_pending(f->nexus[N1], 0));
	/* REQUEST SENSE returns it as sense data with GOOD status, and that clears it. */
	uint8_t rs[6] = { SCSI_REQUEST_SENSE, 0, 0, 0, 18, 0 };
	r = fake_submit(&f->cmd, f->nexus[N1], 0, rs, 6, TG_DIR_READ, 18);
	assert_good(r);
	assert_int_equal(r->data[2] & 0x0f, SCSI_SK_UNIT_ATTENTION);
	assert_int_equal(r->data[12], 0x2a);
	assert_int_equal(r->data[13], 0x09);
	assert_false(tg_ua_pending(f->nexus[N1], 0));
	expect_tur(f, f->nexus[N1], 0, 0, 0);
}

static void test_device_wide(void **state)
{
	struct fixture *f = *state;
	/* d0 is LUNs 0 and 2; the nexus that caused it is left out. */
	tg_ua_establish_device(&f->dev[0], TG_SR_UA_CAPACITY_CHANGED, f->nexus[N1]);
	assert_false(tg_ua_pending(f->nexus[N1], 0));
	assert_false(tg_ua_pending(f->nexus[N1], 2));
	assert_true(tg_ua_pending(f->nexus[N2], 0));
	assert_false(tg_ua_pending(f->nexus[N2], 1));
	assert_true(tg_ua_pending(f->nexus[N2], 2));
	tg_ua_establish_all(f->nexus[N1], TG_SR_UA_MODE_PARAMETERS_CHANGED);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(tg_ua_take(f->nexus[N1], i), TG_SR_UA_MODE_PARAMETERS_CHANGED);
	tg_ua_clear(f->nexus[N2], TG_SR_UA_CAPACITY_CHANGED);
	assert_false(tg_ua_pending(f->nexus[N2], 0));
	assert_false(tg_ua_pending(f->nexus[N2], 2));
}

static void test_first_ua_of_a_nexus(void **state)
{
	struct fixture *f = *state;
	const char *port = "iqn.2026-11.test:login,i,0x00023d000001";
	struct tg_nexus *n = fixture_nexus(&f->target, "iqn.2026-11.test:login", port);
	tg_nexus_login(n);
	/* Never seen since start: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED everywhere. */
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(tg_ua_take(n, i), TG_SR_UA_POWER_ON_RESET);
		assert_int_equal(tg_ua_take(n, i), TG_SR_OK);
	}
	tg_nexus_destroy(n);
	/* The same initiator port again: its previous nexus was lost. */
	n = fixture_nexus(&f->target, "iqn.2026-11.test:login", port);
	tg_nexus_login(n);
	assert_int_equal(tg_ua_take(n, 1), TG_SR_UA_NEXUS_LOSS);
	tg_nexus_destroy(n);
	/* Another ISID is another initiator port. */
	n = fixture_nexus(&f->target, "iqn.2026-11.test:login",
			  "iqn.2026-11.test:login,i,0x00023d000002");
	tg_nexus_login(n);
	assert_int_equal(tg_ua_take(n, 0), TG_SR_UA_POWER_ON_RESET);
	tg_nexus_destroy(n);
	/* The same port through another target is another I_T nexus too. */
	struct tg_target other = f->target;
	other.name = "iqn.2026-11.org.targe:ua-other";
	n = fixture_nexus(&other, "iqn.2026-11.test:login", port);
	tg_nexus_login(n);
	assert_int_equal(tg_ua_take(n, 0), TG_SR_UA_POWER_ON_RESET);
	tg_nexus_destroy(n);
}

/* ---- several threads (event loops) at one nexus ---- */

struct race {
	struct fixture *f;
	atomic_bool stop;
	atomic_uint taken;
	unsigned unanswered; /* asserted in the main thread: cmocka's checks are not thread-safe */
};

static const enum tg_sense_reason race_reasons[] = {
	TG_SR_UA_CAPACITY_CHANGED, TG_SR_UA_MODE_PARAMETERS_CHANGED,
	TG_SR_UA_RESERVATIONS_RELEASED, TG_SR_UA_INQUIRY_DATA_CHANGED,
};

static void *establisher(void *arg)
{
	struct race *race = arg;
	/* Long enough for the other threads to have been at it too (bounded all the same). */
	for (unsigned i = 0; i < 40000 || (atomic_load(&race->taken) < 1000 && i < 50000000); i++)
		tg_ua_establish_device(&race->f->dev[0], race_reasons[i % 4], NULL);
	atomic_store(&race->stop, true);
	return NULL;
}

static void *taker(void *arg)
{
	struct race *race = arg;
	while (!atomic_load(&race->stop))
		if (tg_ua_take(race->f->nexus[N1], 0) != TG_SR_OK)
			atomic_fetch_add(&race->taken, 1);
	return NULL;
}

/* Submits and finishes commands (the task set changes) while another thread queries it. */
static void *submitter(void *arg)
{
	struct race *race = arg;
	struct held_cmd cmd = { 0 };
	/* No data buffer: buffers freed on a thread stay in its cache (core/buf.c), which a
	 * thread that ends would leak. LUN 1 (d1) gets none of the UAs the race queues. */
	uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	for (unsigned i = 0; !atomic_load(&race->stop); i++) {
		held_submit(&cmd, race->f->nexus[N2], 1, i, cdb, sizeof(cdb), TG_DIR_NONE, NULL, 0);
		if (!cmd.responded || cmd.status != SCSI_STATUS_GOOD)
			race->unanswered++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct race race = { .f = f };
	pthread_t a, b, c;
	assert_int_equal(pthread_create(&a, NULL, establisher, &race), 0);
	assert_int_equal(pthread_create(&b, NULL, taker, &race), 0);
	assert_int_equal(pthread_create(&c, NULL, submitter, &race), 0);
	unsigned queries = 0;
	while (!atomic_load(&race.stop)) {
		tg_tmf_query_task_set(f->nexus[N2], 1);
		queries++;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	assert_true(atomic_load(&race.taken) >= 1000);
	assert_true(queries > 0);
	assert_int_equal(race.unanswered, 0);
	/* Whatever interleaving happened, each queue holds distinct, valid conditions. */
	for (size_t lun = 0; lun < 3; lun++) {
		bool seen[TG_SR__COUNT] = { false };
		enum tg_sense_reason r;
		unsigned n = 0;
		while ((r = tg_ua_take(f->nexus[N1], lun)) != TG_SR_OK) {
			assert_true(r < TG_SR__COUNT);
			assert_false(seen[r]);
			seen[r] = true;
			assert_true(++n <= TG_UA_QUEUE_MAX);
		}
		assert_int_equal(f->nexus[N2]->task_count, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_fifo_and_no_duplicates),
		fixture_test(test_reset_goes_first_and_once),
		fixture_test(test_full_queue),
		fixture_test(test_reported_luns_changed_clears_on_every_lun),
		fixture_test(test_which_commands_report),
		fixture_test(test_device_wide),
		fixture_test(test_first_ua_of_a_nexus),
		fixture_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
