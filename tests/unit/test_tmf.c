/* Unit tests for core/tmf.c: which tasks each task management function takes, its side effects, and that it answers only after they return. */
#include "fixture.h"
#include "held_transport.h"

#include "core/reservation.h"

#define BS 512

struct fixture {
	struct fake_disk disk0, disk1;
	struct tg_device dev0, dev1;
	struct tg_lun_entry entries[2], other_entries[1];
	struct tg_target target, other_target;
	struct tg_nexus *n1, *n2; /* two initiators of `target` (LUN 0 = dev0, LUN 1 = dev1) */
	struct tg_nexus *n3;      /* an initiator of another target that exports dev0 as LUN 5 */
	struct fake_cmd cmd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_device_init(&f->dev0, &f->disk0, "d0", BS, 128);
	fake_device_init(&f->dev1, &f->disk1, "d1", BS, 128);
	f->entries[0] = (struct tg_lun_entry){ 0, &f->dev0, false };
	f->entries[1] = (struct tg_lun_entry){ 1, &f->dev1, false };
	fixture_target_init(&f->target, "iqn.2026-11.org.targe:tmf", f->entries, 2);
	f->target.tpgt = 1;
	f->other_entries[0] = (struct tg_lun_entry){ 5, &f->dev0, false };
	fixture_target_init(&f->other_target, "iqn.2026-11.org.targe:other", f->other_entries, 1);
	f->other_target.tpgt = 1;
	f->n1 = fixture_nexus(&f->target, "iqn.2026-11.test:one",
			      "iqn.2026-11.test:one,i,0x000000000001");
	f->n2 = fixture_nexus(&f->target, "iqn.2026-11.test:two",
			      "iqn.2026-11.test:two,i,0x000000000002");
	f->n3 = fixture_nexus(&f->other_target, "iqn.2026-11.test:three",
			      "iqn.2026-11.test:three,i,0x000000000003");
	f->disk0.deferred = f->disk1.deferred = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fake_cmd_reset(&f->cmd);
	tg_nexus_destroy(f->n1);
	tg_nexus_destroy(f->n2);
	tg_nexus_destroy(f->n3);
	tg_pr_detach(&f->dev0);
	tg_pr_detach(&f->dev1);
	fake_device_fini(&f->disk0);
	fake_device_fini(&f->disk1);
	free(f);
	return 0;
}

static void complete_backend(struct fixture *f)
{
	fake_disk_complete_all(&f->disk0);
	fake_disk_complete_all(&f->disk1);
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
	bool saved = f->disk0.deferred;
	f->disk0.deferred = f->disk1.deferred = false;
	uint8_t cdb[6] = { SCSI_TEST_UNIT_READY };
	struct fake_response *r = fake_submit(&f->cmd, n, lun, cdb, sizeof(cdb), TG_DIR_NONE, 0);
	if (asc)
		assert_check(r, SCSI_SK_UNIT_ATTENTION, asc, ascq);
	else
		assert_good(r);
	f->disk0.deferred = f->disk1.deferred = saved;
}

/* ---- ABORT TASK ---- */

static void test_abort_task_waits_for_backend(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 }, other = { 0 };
	held_read10(&read, f->n1, 0, 0x11, 7);
	held_read10(&other, f->n1, 0, 0x12, 8);
	assert_int_equal(read.task.state, TG_TASK_BACKEND_IO);

	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->n1, 0, 0x11, tmf_record_done, &rec);
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
	assert_int_equal(f->disk0.submitted[TG_IO_READ], 2);
}

static void test_abort_task_not_found(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 };
	held_read10(&read, f->n1, 0, 0x11, 7);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->n1, 0, 0x99, tmf_record_done, &rec);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	/* The tag exists, but on another LUN, or on another nexus. */
	memset(&rec, 0, sizeof(rec));
	tg_tmf_abort_task(f->n1, 1, 0x11, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	memset(&rec, 0, sizeof(rec));
	tg_tmf_abort_task(f->n2, 0, 0x11, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	memset(&rec, 0, sizeof(rec));
	tg_tmf_abort_task(f->n1, 9, 0x11, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_LUN);
	complete_backend(f);
	assert_completed(&read);
}

static void test_abort_task_waiting_for_data(void **state)
{
	struct fixture *f = *state;
	uint8_t block[BS] = { 0 };
	struct held_cmd write = { .hold_data = true };
	held_write10(&write, f->n1, 0, 0x21, 3, block);
	assert_true(write.waiting_data);
	assert_int_equal(write.task.state, TG_TASK_WAIT_DATA);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->n1, 0, 0x21, tmf_record_done, &rec);
	/* The transport was told, ended the data wait, and nothing reached the medium. */
	assert_int_equal(write.aborted_calls, 1);
	assert_aborted(&write);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	assert_int_equal(f->disk0.submitted[TG_IO_WRITE], 0);
}

static void test_answered_task_is_not_aborted(void **state)
{
	struct fixture *f = *state;
	f->disk0.deferred = false;
	struct held_cmd read = { .keep = true };
	held_read10(&read, f->n1, 0, 0x31, 1);
	/* Answered, but its buffer is still with the transport (e.g. Data-In being sent). */
	assert_completed(&read);
	assert_int_equal(read.task.state, TG_TASK_RESPONSE);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task(f->n1, 0, 0x31, tmf_record_done, &rec);
	assert_int_equal(rec.result, TG_TMF_NO_TASK);
	assert_int_equal(tg_tmf_query_task(f->n1, 0, 0x31), TG_TMF_COMPLETE);
	tg_task_release(&read.task);
}

static void test_two_functions_on_one_task(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 };
	held_read10(&read, f->n1, 0, 0x41, 2);
	struct tmf_record first = { 0 }, second = { 0 };
	tg_tmf_abort_task(f->n1, 0, 0x41, tmf_record_done, &first);
	tg_tmf_lun_reset(f->n2, 0, tmf_record_done, &second);
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
	held_read10(&s->n1_lun0[0], f->n1, 0, 0x100, 1);
	held_read10(&s->n1_lun0[1], f->n1, 0, 0x101, 2);
	held_read10(&s->n1_lun1, f->n1, 1, 0x102, 3);
	held_read10(&s->n2_lun0, f->n2, 0, 0x200, 4);
	held_read10(&s->n2_lun1, f->n2, 1, 0x201, 5);
	held_read10(&s->n3_lun5, f->n3, 5, 0x300, 6);
}

static void test_abort_task_set(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	struct tmf_record rec = { 0 };
	tg_tmf_abort_task_set(f->n1, 0, tmf_record_done, &rec);
	assert_false(rec.done);
	complete_backend(f);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	assert_aborted(&s.n1_lun0[0]);
	assert_aborted(&s.n1_lun0[1]);
	assert_completed(&s.n1_lun1);
	assert_completed(&s.n2_lun0);
	assert_completed(&s.n2_lun1);
	assert_completed(&s.n3_lun5);
	/* ABORT TASK SET reports nothing to anyone. */
	expect_ua(f, f->n1, 0, 0, 0);
	expect_ua(f, f->n2, 0, 0, 0);
}

static void test_clear_task_set(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	struct tmf_record rec = { 0 };
	tg_tmf_clear_task_set(f->n1, 0, tmf_record_done, &rec);
	assert_false(rec.done);
	complete_backend(f);
	assert_true(rec.done);
	/* One task set per logical unit (TST 000b): every nexus's tasks on d0 go. */
	assert_aborted(&s.n1_lun0[0]);
	assert_aborted(&s.n1_lun0[1]);
	assert_aborted(&s.n2_lun0);
	assert_aborted(&s.n3_lun5);
	assert_completed(&s.n1_lun1);
	assert_completed(&s.n2_lun1);
	/* TAS = 0: the others hear COMMANDS CLEARED BY ANOTHER INITIATOR, the requester not. */
	expect_ua(f, f->n2, 0, 0x2f, 0x00);
	expect_ua(f, f->n3, 5, 0x2f, 0x00);
	expect_ua(f, f->n1, 0, 0, 0);
	expect_ua(f, f->n2, 1, 0, 0);
}

static void test_clear_task_set_nothing_to_clear(void **state)
{
	struct fixture *f = *state;
	struct tmf_record rec = { 0 };
	tg_tmf_clear_task_set(f->n1, 0, tmf_record_done, &rec);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	/* Nobody lost a task: nobody hears of it. */
	expect_ua(f, f->n2, 0, 0, 0);
}

static void test_lun_reset(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	/* With those reads in flight n2 takes an SPC-2 reservation of d0 (no backend I/O). */
	uint8_t reserve[6] = { SCSI_RESERVE_6 };
	submit_good(fake_submit(&f->cmd, f->n2, 0, reserve, 6, TG_DIR_NONE, 0));
	struct tmf_record rec = { 0 };
	tg_tmf_lun_reset(f->n1, 0, tmf_record_done, &rec);
	assert_false(rec.done);
	complete_backend(f);
	assert_true(rec.done);
	assert_int_equal(rec.result, TG_TMF_COMPLETE);
	assert_aborted(&s.n1_lun0[0]);
	assert_aborted(&s.n1_lun0[1]);
	assert_aborted(&s.n2_lun0);
	assert_aborted(&s.n3_lun5);
	assert_completed(&s.n1_lun1);
	assert_completed(&s.n2_lun1);
	/* BUS DEVICE RESET FUNCTION OCCURRED on every nexus of d0, the requester's too. */
	expect_ua(f, f->n1, 0, 0x29, 0x03);
	expect_ua(f, f->n2, 0, 0x29, 0x03);
	expect_ua(f, f->n3, 5, 0x29, 0x03);
	expect_ua(f, f->n1, 1, 0, 0);
	/* The SPC-2 reservation went with the reset: n1 may reserve now. */
	f->disk0.deferred = false;
	submit_good(fake_submit(&f->cmd, f->n1, 0, reserve, 6, TG_DIR_NONE, 0));
}

static void test_lun_reset_keeps_persistent_reservation(void **state)
{
	struct fixture *f = *state;
	f->disk0.deferred = false;
	uint8_t params[24] = { 0 };
	put_be64(params + 8, 0x42);
	uint8_t reg[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_REGISTER, 0, 0, 0, 0, 0, 0, 24 };
	submit_good(fake_submit_write(&f->cmd, f->n2, 0, reg, 10, params, 24));
	put_be64(params, 0x42);
	put_be64(params + 8, 0);
	uint8_t res[10] = { SCSI_PERSISTENT_RESERVE_OUT, TG_PR_RESERVE, 3, 0, 0, 0, 0, 0, 24 };
	submit_good(fake_submit_write(&f->cmd, f->n2, 0, res, 10, params, 24));

	struct tmf_record rec = { 0 };
	tg_tmf_lun_reset(f->n1, 0, tmf_record_done, &rec);
	assert_true(rec.done); /* nothing in flight: at once */
	expect_ua(f, f->n1, 0, 0x29, 0x03);
	/* Exclusive Access held by n2 still keeps n1 out. */
	uint8_t read[10] = { SCSI_READ_10, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct fake_response *r = fake_submit(&f->cmd, f->n1, 0, read, 10, TG_DIR_READ, BS);
	assert_int_equal(r->status, SCSI_STATUS_RESERVATION_CONFLICT);
}

static void test_target_reset(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	struct tmf_record rec = { 0 };
	tg_tmf_target_reset(f->n2, tmf_record_done, &rec);
	assert_false(rec.done);
	fake_disk_complete_all(&f->disk1);
	assert_false(rec.done); /* d0's tasks are still out */
	fake_disk_complete_all(&f->disk0);
	assert_true(rec.done);
	assert_aborted(&s.n1_lun0[0]);
	assert_aborted(&s.n1_lun1);
	assert_aborted(&s.n2_lun0);
	assert_aborted(&s.n2_lun1);
	assert_aborted(&s.n3_lun5); /* d0 is reset for everyone who reaches it */
	expect_ua(f, f->n1, 0, 0x29, 0x03);
	expect_ua(f, f->n1, 1, 0x29, 0x03);
	expect_ua(f, f->n2, 1, 0x29, 0x03);
	expect_ua(f, f->n3, 5, 0x29, 0x03);
}

static void test_nexus_reset(void **state)
{
	struct fixture *f = *state;
	struct spread s;
	start_spread(f, &s);
	uint8_t reserve[6] = { SCSI_RESERVE_6 };
	submit_good(fake_submit(&f->cmd, f->n1, 1, reserve, 6, TG_DIR_NONE, 0));
	struct tmf_record rec = { 0 };
	tg_tmf_nexus_reset(f->n1, tmf_record_done, &rec);
	assert_false(rec.done);
	complete_backend(f);
	assert_true(rec.done);
	assert_aborted(&s.n1_lun0[0]);
	assert_aborted(&s.n1_lun0[1]);
	assert_aborted(&s.n1_lun1);
	assert_completed(&s.n2_lun0);
	assert_completed(&s.n2_lun1);
	assert_completed(&s.n3_lun5);
	/* The nexus counts as lost and found again. */
	expect_ua(f, f->n1, 0, 0x29, 0x07);
	expect_ua(f, f->n1, 1, 0x29, 0x07);
	expect_ua(f, f->n2, 0, 0, 0);
	/* ...and its SPC-2 reservation is gone. */
	f->disk1.deferred = false;
	submit_good(fake_submit(&f->cmd, f->n2, 1, reserve, 6, TG_DIR_NONE, 0));
}

/* ---- queries ---- */

static void test_query_task_and_task_set(void **state)
{
	struct fixture *f = *state;
	struct held_cmd read = { 0 };
	held_read10(&read, f->n1, 0, 0x51, 2);
	assert_int_equal(tg_tmf_query_task(f->n1, 0, 0x51), TG_TMF_SUCCEEDED);
	assert_int_equal(tg_tmf_query_task(f->n1, 0, 0x52), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task(f->n2, 0, 0x51), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task(f->n1, 7, 0x51), TG_TMF_NO_LUN);
	assert_int_equal(tg_tmf_query_task_set(f->n1, 0), TG_TMF_SUCCEEDED);
	assert_int_equal(tg_tmf_query_task_set(f->n1, 1), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task_set(f->n2, 0), TG_TMF_COMPLETE);
	complete_backend(f);
	assert_completed(&read);
	assert_int_equal(tg_tmf_query_task(f->n1, 0, 0x51), TG_TMF_COMPLETE);
	assert_int_equal(tg_tmf_query_task_set(f->n1, 0), TG_TMF_COMPLETE);
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
	struct fake_response *r = report_tmfs(f, f->n1, false, 64);
	assert_good(r);
	assert_int_equal(r->data_len, 4);
	/* ATS ATSS CTSS LURS QTS TRS; QTSS ITNRS; no CLEAR ACA, WAKEUP, QUERY ASYNC EVENT. */
	assert_int_equal(r->data[0], 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02);
	assert_int_equal(r->data[1], 0x02 | 0x01);
	r = report_tmfs(f, f->n1, true, 64);
	assert_good(r);
	assert_int_equal(r->data_len, 16);
	assert_int_equal(r->data[3], 0x0c);
	r = report_tmfs(f, f->n1, false, 3);
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
	r = fake_submit(&f->cmd, f->n1, 0, cdb, sizeof(cdb), TG_DIR_READ, 64);
	assert_invalid_field(r, 1, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_abort_task_waits_for_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_task_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_task_waiting_for_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answered_task_is_not_aborted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_functions_on_one_task, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_task_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_task_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_task_set_nothing_to_clear, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lun_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lun_reset_keeps_persistent_reservation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_target_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nexus_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_task_and_task_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_supported_tmfs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
