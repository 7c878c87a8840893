/* Unit tests for core/tmf.c: which tasks each task management function takes, its side effects, and that it answers only after they return. */
#include "fixture.h"
#include "held_transport.h"

#include "core/reservation.h"

#define BS 512

enum { N1 = 0, N2 = 1, N3 = 2 }; /* the initiators */

/* Two initiators of `target` (LUN 0 = d0, LUN 1 = d1), and N3 of another target that exports d0
 * as LUN 5. */
static const struct fixture_spec spec = {
	.target = "iqn.2026-11.org.targe:tmf",
	.tpgt = 1,
	.disks = { { "d0", BS, 128 }, { "d1", BS, 128 } },
	.luns = { { 0, 0, false }, { 1, 1, false } },
	.lun_count = 2,
	.other_target = "iqn.2026-11.org.targe:other",
	.other_luns = { { 5, 0, false } },
	.other_lun_count = 1,
	.initiators = {
		[N1] = { "iqn.2026-11.test:one", "iqn.2026-11.test:one,i,0x000000000001", false },
		[N2] = { "iqn.2026-11.test:two", "iqn.2026-11.test:two,i,0x000000000002", false },
		[N3] = { "iqn.2026-11.test:three", "iqn.2026-11.test:three,i,0x000000000003",
			 true },
	},
};

static int setup(void **state)
{
	struct fixture *f = fixture_new(&spec);
	f->disk[0].deferred = f->disk[1].deferred = true;
	*state = f;
	return 0;
}

static void complete_backend(struct fixture *f)
{
	fake_disk_complete_all(&f->disk[0]);
	fake_disk_complete_all(&f->disk[1]);
}

/* assert_good evaluates its argument more than once: submit first, then check. */
#define submit_good(call)                                                                  \
	do {                                                                               \
		struct fake_response *r_ = (call);                                         \
		assert_good(r_);                                                           \
	} while (0)

static void assert_aborted(const struct held_cmd *cmd)
{
	assert_true(cmd->responded);
	assert_int_equal(cmd->state_at_response, TG_TASK_ABORTED);
}

static void assert_completed(const struct held_cmd *cmd)
{
	assert_true(cmd->responded);
	assert_int_equal(cmd->state_at_response, TG_TASK_RESPONSE);
	assert_int_equal(cmd->status, SCSI_STATUS_GOOD);
}

/* The next command of n on lun reports this UA (asc 0: none pending). */
static void expect_ua(struct fixture *f, struct tg_nexus *n, uint64_t lun, uint8_t asc,
		      uint8_t ascq)
{
	bool saved = f->disk[0].deferred;
	f->disk[0].deferred = f->disk[1].deferred = false;
	uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	struct fake_response *r = fake_submit(&f->cmd, n, lun, cdb, sizeof(cdb), TG_DIR_NONE, 0);
	if (asc)
		assert_check(r, SCSI_SK_UNIT_ATTENTION, asc, ascq);
	else
		assert_good(r);
	f->disk[0].deferred = f->disk[1].deferred = saved;
}

/* ---- ABORT TASK ---- */

static void test_abort_task_waits_for_backend(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 }, other = { 0 };
	held_read10(&read, f->nexus[N1], 0, 0x11, 7);
	held_read10(&other, f->nexus[N1], 0, 0x12, 8);
	assert_int_equal(read.task.state, TG_TASK_BACKEND_IO);

	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->nexus[N1], 0, 0x11, tmf_record_done, &rec);
	/* The read is in the backend: the function may not complete before it is back. */
	assert_false(rec.done);
	assert_false(read.responded);
	assert_int_equal(read.aborted_calls, 0); /* not waiting for data: nothing to cut short */
	complete_backend(f);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	assert_aborted(&read);
	assert_completed(&other);
	/* The aborted task went through the backend once, never twice. */
	assert_int_equal(f->disk[0].submitted[TG_IO_READ], 2);
}

static void test_abort_task_not_found(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 };
	held_read10(&read, f->nexus[N1], 0, 0x11, 7);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->nexus[N1], 0, 0x99, tmf_record_done, &rec);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	/* The tag exists, but on another LUN, or on another nexus. */
	memset(&rec, 0, sizeof(rec));
	tg_tmf_abort_task(f->nexus[N1], 1, 0x11, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	memset(&rec, 0, sizeof(rec));
	tg_tmf_abort_task(f->nexus[N2], 0, 0x11, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	memset(&rec, 0, sizeof(rec));
	tg_tmf_abort_task(f->nexus[N1], 9, 0x11, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_LUN);
	complete_backend(f);
	assert_completed(&read);
}

static void test_abort_task_waiting_for_data(void **state)
{
	struct fixture *f = *state;
	uint8_t block[BS] = { 0 };
	struct held_cmd write = { .hold_data = true };
	held_write10(&write, f->nexus[N1], 0, 0x21, 3, block);
	assert_true(write.waiting_data);
	assert_int_equal(write.task.state, TG_TASK_WAIT_DATA);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->nexus[N1], 0, 0x21, tmf_record_done, &rec);
	/* The transport was told, ended the data wait, and nothing reached the medium. */
	assert_int_equal(write.aborted_calls, 1);
	assert_aborted(&write);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	assert_int_equal(f->disk[0].submitted[TG_IO_WRITE], 0);
}

static void test_answered_task_is_not_aborted(void **state)
{
	struct fixture *f = *state;
	f->disk[0].deferred = false;
	struct held_cmd read = { .keep = true };
	held_read10(&read, f->nexus[N1], 0, 0x31, 1);
	/* Answered, but its buffer is still with the transport (e.g. Data-In being sent). */
	assert_completed(&read);
	assert_int_equal(read.task.state, TG_TASK_RESPONSE);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->nexus[N1], 0, 0x31, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	assert_int_equal(tg_tmf_query_task(f->nexus[N1], 0, 0x31), TG_TMF_COMPLETE);
	tg_task_release(&read.task);
}

static void test_two_functions_on_one_task(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 };
	held_read10(&read, f->nexus[N1], 0, 0x41, 2);
	struct tmf_record first = { 0 }, second = { 0 };
	tg_tmf_abort_task(f->nexus[N1], 0, 0x41, tmf_record_done, &first);
	tg_tmf_lun_reset(f->nexus[N2], 0, tmf_record_done, &second);
	assert_false(first.done);
	assert_false(second.done);
	complete_backend(f);
	assert_aborted(&read);
	assert_true(first.done && second.done);
	assert_true(first.order < second.order);
}

/* ---- task-set-wide functions ---- */

struct spread {
	struct held_cmd n1_lun0[2], n1_lun1, n2_lun0, n2_lun1, n3_lun5;
};

static void start_spread(struct fixture *f, struct spread *s)
{
	memset(s, 0, sizeof(*s));
	held_read10(&s->n1_lun0[0], f->nexus[N1], 0, 0x100, 1);
	held_read10(&s->n1_lun0[1], f->nexus[N1], 0, 0x101, 2);
	held_read10(&s->n1_lun1, f->nexus[N1], 1, 0x102, 3);
	held_read10(&s->n2_lun0, f->nexus[N2], 0, 0x200, 4);
	held_read10(&s->n2_lun1, f->nexus[N2], 1, 0x201, 5);
	held_read10(&s->n3_lun5, f->nexus[N3], 5, 0x300, 6);
}

/* Which tasks of the spread a function took; the others must complete as if nothing happened. */
struct spread_aborted {
	bool n1_lun0, n1_lun1, n2_lun0, n2_lun1, n3_lun5;
};

static void assert_spread(const struct spread *s, struct spread_aborted aborted)
{
	const struct {
		const char *name;
		const struct held_cmd *cmd;
		bool aborted;
	} tasks[] = {
		{ "n1_lun0[0]", &s->n1_lun0[0], aborted.n1_lun0 },
		{ "n1_lun0[1]", &s->n1_lun0[1], aborted.n1_lun0 },
		{ "n1_lun1", &s->n1_lun1, aborted.n1_lun1 },
		{ "n2_lun0", &s->n2_lun0, aborted.n2_lun0 },
		{ "n2_lun1", &s->n2_lun1, aborted.n2_lun1 },
		{ "n3_lun5", &s->n3_lun5, aborted.n3_lun5 },
	};
	for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
		enum tg_task_state want = tasks[i].aborted ? TG_TASK_ABORTED : TG_TASK_RESPONSE;
		if (tasks[i].cmd->responded && tasks[i].cmd->state_at_response != want)
			fail_msg("%s ended in state %d, want %d", tasks[i].name,
				 tasks[i].cmd->state_at_response, want);
		if (tasks[i].aborted)
			assert_aborted(tasks[i].cmd);
		else
			assert_completed(tasks[i].cmd);
	}
}

/* The function behind rec, started with the spread in flight, answers once the backend is done. */
static void finish_spread(struct fixture *f, const struct spread *s, const struct tmf_record *rec,
			  struct spread_aborted aborted)
{
	assert_false(rec->done);
	complete_backend(f);
	assert_true(rec->done);
	assert_int_equal(rec->result, TG_TMF_COMPLETE);
	assert_spread(s, aborted);
}

static void test_abort_task_set(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task_set(f->nexus[N1], 0, tmf_record_done, &rec);
	finish_spread(f, &s, &rec, (struct spread_aborted){ .n1_lun0 = true });
	/* ABORT TASK SET reports nothing to anyone. */
	expect_ua(f, f->nexus[N1], 0, 0, 0);
	expect_ua(f, f->nexus[N2], 0, 0, 0);
}

static void test_clear_task_set(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	struct tmf_record rec = { 0 };
	tg_tmf_clear_task_set(f->nexus[N1], 0, tmf_record_done, &rec);
	/* One task set per logical unit (TST 000b): every nexus's tasks on d0 go. */
	finish_spread(f, &s, &rec,
		      (struct spread_aborted){ .n1_lun0 = true, .n2_lun0 = true, .n3_lun5 = true });
	/* TAS = 0: the others hear COMMANDS CLEARED BY ANOTHER INITIATOR, the requester not. */
	expect_ua(f, f->nexus[N2], 0, 0x2f, 0x00);
	expect_ua(f, f->nexus[N3], 5, 0x2f, 0x00);
	expect_ua(f, f->nexus[N1], 0, 0, 0);
	expect_ua(f, f->nexus[N2], 1, 0, 0);
}

static void test_clear_task_set_nothing_to_clear(void **state)
{
	struct fixture *f = *state;
	struct tmf_record rec = { 0 };
	tg_tmf_clear_task_set(f->nexus[N1], 0, tmf_record_done, &rec);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	/* Nobody lost a task: nobody hears of it. */
	expect_ua(f, f->nexus[N2], 0, 0, 0);
}

static void test_lun_reset(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	/* With those reads in flight n2 takes an SPC-2 reservation of d0 (no backend I/O). */
	uint8_t reserve[6] = { SCSI_RESERVE_6 };
	submit_good(fake_submit(&f->cmd, f->nexus[N2], 0, reserve, 6, TG_DIR_NONE, 0));
	struct tmf_record rec = { 0 };
	tg_tmf_lun_reset(f->nexus[N1], 0, tmf_record_done, &rec);
	finish_spread(f, &s, &rec,
		      (struct spread_aborted){ .n1_lun0 = true, .n2_lun0 = true, .n3_lun5 = true });
	/* BUS DEVICE RESET FUNCTION OCCURRED on every nexus of d0, the requester's too. */
	expect_ua(f, f->nexus[N1], 0, 0x29, 0x03);
	expect_ua(f, f->nexus[N2], 0, 0x29, 0x03);
	expect_ua(f, f->nexus[N3], 5, 0x29, 0x03);
	expect_ua(f, f->nexus[N1], 1, 0, 0);
	/* The SPC-2 reservation went with the reset: n1 may reserve now. */
	f->disk[0].deferred = false;
	submit_good(fake_submit(&f->cmd, f->nexus[N1], 0, reserve, 6, TG_DIR_NONE, 0));
}

static void test_lun_reset_keeps_persistent_reservation(void **state)
{
	struct fixture *f = *state;
	f->disk[0].deferred = false;
	uint8_t params[24] = { 0 };
	put_be64(params + 8, 0x42);
	uint8_t reg[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_REGISTER, 0, 0, 0, 0, 0, 0, 24 };
	submit_good(fake_submit_write(&f->cmd, f->nexus[N2], 0, reg, 10, params, 24));
	put_be64(params, 0x42);
	put_be64(params + 8, 0);
	uint8_t res[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_RESERVE, 3, 0, 0, 0, 0, 0, 24 };
	submit_good(fake_submit_write(&f->cmd, f->nexus[N2], 0, res, 10, params, 24));

	struct tmf_record rec = { 0 };
	tg_tmf_lun_reset(f->nexus[N1], 0, tmf_record_done, &rec);
	assert_true(rec.done); /* nothing in flight: at once */
	expect_ua(f, f->nexus[N1], 0, 0x29, 0x03);
	/* Exclusive Access held by n2 still keeps n1 out. */
	uint8_t read[10] = { SCSI_READ_10, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct fake_response *r = fake_submit(&f->cmd, f->nexus[N1], 0, read, 10, TG_DIR_READ, BS);
	assert_int_equal(r->status, SCSI_STATUS_RESERVATION_CONFLICT);
}

static void test_target_reset(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	struct tmf_record rec = { 0 };
	tg_tmf_target_reset(f->nexus[N2], tmf_record_done, &rec);
	assert_false(rec.done);
	fake_disk_complete_all(&f->disk[1]);
	assert_false(rec.done); /* d0's tasks are still out */
	fake_disk_complete_all(&f->disk[0]);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	/* Every task goes; d0 is reset for everyone who reaches it, N3 too. */
	assert_spread(&s, (struct spread_aborted){ true, true, true, true, true });
	expect_ua(f, f->nexus[N1], 0, 0x29, 0x03);
	expect_ua(f, f->nexus[N1], 1, 0x29, 0x03);
	expect_ua(f, f->nexus[N2], 1, 0x29, 0x03);
	expect_ua(f, f->nexus[N3], 5, 0x29, 0x03);
}

static void test_nexus_reset(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	uint8_t reserve[6] = { SCSI_RESERVE_6 };
	submit_good(fake_submit(&f->cmd, f->nexus[N1], 1, reserve, 6, TG_DIR_NONE, 0));
	struct tmf_record rec = { 0 };
	tg_tmf_nexus_reset(f->nexus[N1], tmf_record_done, &rec);
	finish_spread(f, &s, &rec, (struct spread_aborted){ .n1_lun0 = true, .n1_lun1 = true });
	/* The nexus counts as lost and found again. */
	expect_ua(f, f->nexus[N1], 0, 0x29, 0x07);
	expect_ua(f, f->nexus[N1], 1, 0x29, 0x07);
	expect_ua(f, f->nexus[N2], 0, 0, 0);
	/* ...and its SPC-2 reservation is gone. */
	f->disk[1].deferred = false;
	submit_good(fake_submit(&f->cmd, f->nexus[N2], 1, reserve, 6, TG_DIR_NONE, 0));
}

/* ---- queries ---- */

static void test_query_task_and_task_set(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 };
	held_read10(&read, f->nexus[N1], 0, 0x51, 2);
	assert_int_equal(tg_tmf_query_task(f->nexus[N1], 0, 0x51), TG_TMF_SUCCEEDED);
	assert_int_equal(tg_tmf_query_task(f->nexus[N1], 0, 0x52), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task(f->nexus[N2], 0, 0x51), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task(f->nexus[N1], 7, 0x51), TG_TMF_NO_LUN);
	assert_int_equal(tg_tmf_query_task_set(f->nexus[N1], 0), TG_TMF_SUCCEEDED);
	assert_int_equal(tg_tmf_query_task_set(f->nexus[N1], 1), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task_set(f->nexus[N2], 0), TG_TMF_COMPLETE);
	complete_backend(f);
	assert_completed(&read);
	assert_int_equal(tg_tmf_query_task(f->nexus[N1], 0, 0x51), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task_set(f->nexus[N1], 0), TG_TMF_COMPLETE);
}

/* ---- REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS ---- */

static struct fake_response *report_tmfs(struct fixture *f, struct tg_nexus *n, bool repd,
					 uint32_t alloc)
{
	uint8_t cdb[12] = { SCSI_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_TMFS, repd ? 0x80 : 0 };
	put_be32(cdb + 6, alloc);
	return fake_submit(&f->cmd, n, 0, cdb, sizeof(cdb), TG_DIR_READ, alloc);
}

static void test_report_supported_tmfs(void **state)
{
	struct fixture *f = *state;
	struct fake_response *r = report_tmfs(f, f->nexus[N1], false, 64);
	assert_good(r);
	assert_int_equal(r->data_len, 4);
	/* ATS ATSS CTSS LURS QTS TRS; QTSS ITNRS; no CLEAR ACA, WAKEUP, QUERY ASYNC EVENT. */
	assert_int_equal(r->data[0], 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02);
	assert_int_equal(r->data[1], 0x02 | 0x01);
	r = report_tmfs(f, f->nexus[N1], true, 64);
	assert_good(r);
	assert_int_equal(r->data_len, 16);
	assert_int_equal(r->data[3], 0x0c);
	r = report_tmfs(f, f->nexus[N1], false, 3);
	assert_invalid_field(r, 6, -1);

	/* SRP carries only the four basic functions. */
	struct tg_nexus *srp = tg_nexus_create(&f->target, TG_TRANSPORT_SRP,
					       "0x0123456789abcdef0123456789abcdef", NULL);
	r = report_tmfs(f, srp, false, 4);
	assert_good(r);
	assert_int_equal(r->data[0], 0x80 | 0x40 | 0x10 | 0x08);
	assert_int_equal(r->data[1], 0);
	tg_nexus_destroy(srp);

	/* Another MAINTENANCE IN service action that does not exist. */
	uint8_t cdb[12] = { SCSI_MAINTENANCE_IN, 0x1e };
	put_be32(cdb + 6, 64);
	r = fake_submit(&f->cmd, f->nexus[N1], 0, cdb, sizeof(cdb), TG_DIR_READ, 64);
	assert_invalid_field(r, 1, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		fixture_test(test_abort_task_waits_for_backend),
		fixture_test(test_abort_task_not_found),
		fixture_test(test_abort_task_waiting_for_data),
		fixture_test(test_answered_task_is_not_aborted),
		fixture_test(test_two_functions_on_one_task),
		fixture_test(test_abort_task_set),
		fixture_test(test_clear_task_set),
		fixture_test(test_clear_task_set_nothing_to_clear),
		fixture_test(test_lun_reset),
		fixture_test(test_lun_reset_keeps_persistent_reservation),
		fixture_test(test_target_reset),
		fixture_test(test_nexus_reset),
		fixture_test(test_query_task_and_task_set),
		fixture_test(test_report_supported_tmfs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
