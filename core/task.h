/* The task: one SCSI command from arrival to status, and the transport ops the core calls back. */
#ifndef TG_TASK_H
#define TG_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/device.h"
#include "core/ioengine.h"
#include "core/sense.h"

struct tg_task;
struct tg_nexus;
struct tg_cmd_desc;
struct tg_ioengine;
struct tg_tmf;

/* X(name): the named states a task passes through; tg_task_state_name gives the string. */
#define TG_TASK_STATES(X)                                                                  \
	X(NEW)          /* built by the transport, not yet submitted */                     \
	X(WAIT_DATA)    /* transport is fetching write data (write_pending) */             \
	X(EXEC)         /* handler running */                                               \
	X(BACKEND_IO)   /* waiting on the backend */                                        \
	X(RESPONSE)     /* response queued to the transport (data-in and/or status) */      \
	X(ABORTED)      /* aborted by task management; no response goes out */             \
	X(DONE)         /* released */

enum tg_task_state {
#define TG_TS_ENUM(n) TG_TASK_##n,
	TG_TASK_STATES(TG_TS_ENUM)
#undef TG_TS_ENUM
};

const char *tg_task_state_name(enum tg_task_state state);

enum tg_data_dir { TG_DIR_NONE = 0, TG_DIR_READ = 1, TG_DIR_WRITE = 2 };

enum tg_task_attr { TG_ATTR_SIMPLE = 0, TG_ATTR_ORDERED, TG_ATTR_HEAD_OF_QUEUE, TG_ATTR_ACA };

/*
 * A transport's side of the core (LIO's fabric ops are the model). The transport embeds
 * struct tg_task in its own command object and recovers it with container_of.
 */
struct tg_transport_ops {
	const char *name;
	/* The command needs write data: fill task->data.base[0 .. task->data.len) (the transport
	 * discards anything the initiator sends beyond that) and call tg_task_data_ready(). */
	void (*write_pending)(struct tg_task *task);
	/* The command is finished: send task->data (task->data.len bytes) when it is a read with
	 * GOOD status, then the status (task->status, task->sense, task->residual). Call
	 * tg_task_release() once the task's buffers are no longer needed. Called exactly once per
	 * submitted task; with task->state == TG_TASK_ABORTED nothing is sent. */
	void (*queue_response)(struct tg_task *task);
	/* Optional: hand out a data buffer from the transport's (RDMA-registered) pool. */
	int (*alloc_buf)(struct tg_task *task, struct tg_buf *buf, size_t len);
	void (*free_buf)(struct tg_task *task, struct tg_buf *buf);
	/* Optional: task management (core/tmf.c) aborted the task. If it is waiting for write
	 * data the transport ends that wait with tg_task_data_ready(task, TG_SR_TASK_ABORTED);
	 * otherwise it need do nothing (queue_response follows with state ABORTED). May come from
	 * a task management function of another nexus, i.e. from another event loop's thread
	 * once there are several: such a transport hands it over to the task's own loop. */
	void (*task_aborted)(struct tg_task *task);
};

#define TG_CDB_MAX 260

struct tg_task {
	enum tg_task_state state;
	struct tg_nexus *nexus;
	const struct tg_transport_ops *ops;
	struct tg_ioengine *engine; /* the I/O engine of the loop the task runs on */

	/* Set by the transport before tg_task_submit. */
	uint64_t lun;        /* flat LUN number (SAM single-level addressing decoded) */
	uint64_t tag;        /* transport's task tag, for TMF lookup and logs */
	uint8_t cdb[TG_CDB_MAX];
	uint16_t cdb_len;
	enum tg_task_attr attr;
	enum tg_data_dir exp_dir; /* direction the initiator announced */
	uint32_t exp_len;         /* expected data transfer length the initiator announced */

	/* Filled by the core. */
	const struct tg_cmd_desc *cmd;
	const struct tg_lun_entry *lun_entry; /* NULL for an unmapped LUN */
	struct tg_device *dev;
	enum tg_data_dir dir;     /* direction the CDB implies */
	uint64_t lba;             /* for LBA-addressed commands */
	uint32_t nblocks;
	uint32_t scsi_len;        /* bytes the CDB asks to move */
	struct tg_buf data;       /* data.len = bytes actually moved on the wire */
	struct tg_buf pi;         /* protection information, 8 bytes per block, separate (DIX) */
	struct tg_io io;          /* the backend request this task issues (one at a time) */
	void *handler_state;      /* private to the command handler between steps */
	uint64_t handler_u64[4];

	/* The response. */
	uint8_t status;
	enum tg_sense_reason reason;
	struct tg_sense_info sense_info;
	uint8_t sense[TG_SENSE_MAX];
	uint16_t sense_len;
	bool residual_overflow;   /* the CDB asked for more than exp_len */
	bool residual_underflow;  /* less than exp_len moved */
	uint32_t residual;

	bool abort_requested;     /* task management aborted it: no status goes out */
	void *transport_priv;     /* e.g. the TMF waiting for this task to finish */

	struct tg_task *next_in_set; /* the nexus's list of active tasks */
	struct tg_task *prev_in_set;

	/* The LBA range this task holds or waits for (core/lba_lock.c); tg_task_complete releases it. */
	struct tg_lba_lock lba_lock;

	/* The task management function waiting for this aborted task (core/tmf.c); guarded by
	 * the nexus lock together with abort_requested and the move to RESPONSE/ABORTED. */
	struct tg_tmf *abort_tmf;

	/* A step another loop's thread asks of this task (tg_task_run_on_own_loop); at most one
	 * at a time, and tg_task_release drops one still queued. */
	struct tg_loop_call loop_call;
	void (*loop_then)(struct tg_task *task);

	/* Set by the transport before tg_task_submit when it could not take the command in
	 * (no buffer for its unsolicited data): the task is answered with this instead of
	 * running. TG_SR_OK (what tg_task_init leaves) runs it. */
	enum tg_sense_reason refuse;
};

/* Transport → core. */
void tg_task_init(struct tg_task *task, struct tg_nexus *nexus, const struct tg_transport_ops *ops,
		  struct tg_ioengine *engine);
void tg_task_submit(struct tg_task *task);
/* The write data requested by write_pending is in place (TG_SR_OK) or could not be had. */
void tg_task_data_ready(struct tg_task *task, enum tg_sense_reason reason);
/* Task management: the task completes without status; the transport still gets
 * queue_response (with state ABORTED) and must call tg_task_release as usual. If the task is
 * waiting for write data the transport must end that wait with tg_task_data_ready. */
void tg_task_abort(struct tg_task *task);
/* The transport has sent the response and returns the task's buffers. */
void tg_task_release(struct tg_task *task);

/* Command handlers → core. */
/* Allocates task->data (through the transport's pool if it has one). 0 or -ENOMEM. */
int tg_task_alloc_data(struct tg_task *task, size_t len);
/* Finishes the command with reason (TG_SR_OK for GOOD); sense from task->sense_info. */
void tg_task_complete(struct tg_task *task, enum tg_sense_reason reason);
/* Convenience: INVALID FIELD IN CDB pointing at byte/bit. */
void tg_task_fail_cdb_field(struct tg_task *task, uint16_t byte, int8_t bit);
/* Copies up to len bytes of a handler-built response into task->data, honouring the
 * allocation length alloc_len and the initiator's exp_len (sets residuals), and completes. */
void tg_task_reply(struct tg_task *task, const void *resp, size_t len, size_t alloc_len);
/* Issues task->io (already filled apart from engine/done/priv) and resumes in `then`. */
void tg_task_backend_io(struct tg_task *task, void (*then)(struct tg_task *task, int result));

/*
 * With several I/O threads (global.io_threads) a task is only touched by the thread of the
 * loop its engine belongs to. Code running on another thread (a lock released there, a task
 * management function of a nexus on another loop) continues the task through this: then(task)
 * runs at once on the task's own thread, else on that loop's next turn. A task without an
 * engine (unit tests) runs it at once.
 */
void tg_task_run_on_own_loop(struct tg_task *task, void (*then)(struct tg_task *task));
/* Whether the calling thread is the task's own (always true for a task without an engine). */
bool tg_task_on_own_loop(const struct tg_task *task);

#endif
