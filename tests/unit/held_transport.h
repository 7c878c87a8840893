/* Test double for task management: a transport that can park write data and records the state each task ends in. */
#ifndef TG_TEST_HELD_TRANSPORT_H
#define TG_TEST_HELD_TRANSPORT_H

#include "fake_transport.h"

#include "core/tmf.h"

/* Every response and every TMF completion gets the next number: tests check the order. */
static unsigned held_sequence;

struct held_cmd {
	struct tg_task task;
	bool hold_data;     /* write_pending parks the task until held_send_data */
	bool keep;          /* queue_response does not release: the test calls tg_task_release */
	bool waiting_data;
	const void *payload;
	size_t payload_len;
	unsigned aborted_calls; /* the core's task_aborted op */
	bool responded;
	enum tg_task_state state_at_response;
	uint8_t status;
	uint8_t sense[TG_SENSE_MAX];
	uint16_t sense_len;
	unsigned order;
};

static inline void held_write_pending(struct tg_task *task)
{
	struct held_cmd *cmd = FAKE_CONTAINER_OF(task, struct held_cmd, task);
	if (cmd->hold_data) {
		cmd->waiting_data = true;
		return;
	}
	fake_send_data(task, cmd->payload, cmd->payload_len);
}

static inline void held_queue_response(struct tg_task *task)
{
	struct held_cmd *cmd = FAKE_CONTAINER_OF(task, struct held_cmd, task);
	assert_false(cmd->responded);
	cmd->responded = true;
	cmd->state_at_response = task->state;
	cmd->status = task->status;
	cmd->sense_len = task->sense_len;
	memcpy(cmd->sense, task->sense, sizeof(cmd->sense));
	cmd->order = ++held_sequence;
	if (!cmd->keep)
		tg_task_release(task);
}

static inline void held_task_aborted(struct tg_task *task)
{
	struct held_cmd *cmd = FAKE_CONTAINER_OF(task, struct held_cmd, task);
	cmd->aborted_calls++;
	if (cmd->waiting_data) {
		cmd->waiting_data = false;
		tg_task_data_ready(task, TG_SR_TASK_ABORTED);
	}
}

static const struct tg_transport_ops held_transport_ops = {
	.name = "held",
	.write_pending = held_write_pending,
	.queue_response = held_queue_response,
	.task_aborted = held_task_aborted,
};

/* The parked write data arrives. */
static inline void held_send_data(struct held_cmd *cmd)
{
	assert_true(cmd->waiting_data);
	cmd->waiting_data = false;
	fake_send_data(&cmd->task, cmd->payload, cmd->payload_len);
}

static inline void held_submit(struct held_cmd *cmd, struct tg_nexus *nexus, uint64_t lun,
			       uint64_t tag, const uint8_t *cdb, size_t cdb_len,
			       enum tg_data_dir dir, const void *payload, uint32_t len)
{
	bool hold = cmd->hold_data, keep = cmd->keep;
	memset(cmd, 0, sizeof(*cmd));
	cmd->hold_data = hold;
	cmd->keep = keep;
	cmd->payload = payload;
	cmd->payload_len = payload ? len : 0;
	fake_task_prepare(&cmd->task, &held_transport_ops, nexus, lun, cdb, cdb_len, dir, len);
	cmd->task.tag = tag;
	tg_task_submit(&cmd->task);
}

static inline void held_read10(struct held_cmd *cmd, struct tg_nexus *nexus, uint64_t lun,
			       uint64_t tag, uint32_t lba)
{
	uint8_t cdb[10] = { SCSI_READ_10 };
	put_be32(cdb + 2, lba);
	cdb[8] = 1;
	held_submit(cmd, nexus, lun, tag, cdb, sizeof(cdb), TG_DIR_READ, NULL, 512);
}

static inline void held_write10(struct held_cmd *cmd, struct tg_nexus *nexus, uint64_t lun,
				uint64_t tag, uint32_t lba, const void *block)
{
	uint8_t cdb[10] = { SCSI_WRITE_10 };
	put_be32(cdb + 2, lba);
	cdb[8] = 1;
	held_submit(cmd, nexus, lun, tag, cdb, sizeof(cdb), TG_DIR_WRITE, block, 512);
}

/* What a TMF's done callback reported. */
struct tmf_record {
	bool done;
	enum tg_tmf_result result;
	unsigned order;
};

static inline void tmf_record_done(void *priv, enum tg_tmf_result result)
{
	struct tmf_record *rec = priv;
	assert_false(rec->done); /* exactly once */
	rec->done = true;
	rec->result = result;
	rec->order = ++held_sequence;
}

#endif
