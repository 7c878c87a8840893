/* Internal objects of the iSER datamover: the connection with its receive and send rings, the per-command RDMA state, and the seam to the RDMA layer. */
#ifndef ISER_INTERNAL_H
#define ISER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "transports/iscsi/iscsi.h"
#include "transports/iser/proto.h"
#include "transports/rdma/rdma.h"

#define ISER_LOG "iser"

/*
 * Sizes. The data segment we accept in a SEND (TargetRecvDataSegmentLength) is 8 KiB, and
 * FirstBurstLength is held to the same: every write command then costs at most two receives
 * (the command with its immediate data, or the command and one unsolicited Data-Out), which
 * keeps the receive ring small enough to post in full for the whole CmdSN window.
 */
enum {
	ISER_TARGET_RECV_DSL = 8192,
	/* AHS room in a receive buffer: an extended CDB of up to TG_CDB_MAX bytes. */
	ISER_AHS_MAX = 256,
	ISER_RECV_LEN = ISER_PDU_HDRS_LEN + ISER_AHS_MAX + ISER_TARGET_RECV_DSL,
	/* Immediate PDUs outside the CmdSN window (NOP-Out, task management, logout, text)
	 * and a Hello. */
	ISER_EXTRA_RECVS = 16,
	/* Receives posted while logging in: one login PDU at a time (plus a Hello). */
	ISER_LOGIN_RECVS = 4,
	/* Each command can be a command PDU plus one unsolicited Data-Out. */
	ISER_MAX_PDUS_PER_CMD = 2,
	ISER_RECVS_MAX = ISCSI_SESSION_CMDS * ISER_MAX_PDUS_PER_CMD + ISER_EXTRA_RECVS,
	/* Send slots: a response per command and some control PDUs. A slot holds the headers
	 * and a short data segment (sense data, a rejected header); longer PDUs (login and text
	 * responses) get a registered buffer of their own. */
	ISER_SEND_SLOTS = ISCSI_SESSION_CMDS + ISER_EXTRA_RECVS,
	ISER_SEND_SLOT_LEN = 512,
	/* The longest data segment we send in a SEND. Linux's ib_iser declares a large
	 * InitiatorRecvDataSegmentLength but receives login and text responses in 8 KiB
	 * buffers, and everything else in buffers of 128 bytes of data (its responses carry at
	 * most sense data, well within that). */
	ISER_SEND_DSL_MAX = 8192,
	/* Send queue: a SEND per slot and an RDMA READ or WRITE per command. */
	ISER_SQ_DEPTH = ISER_SEND_SLOTS + ISCSI_SESSION_CMDS,
	/* Responses with sense data fit inline. */
	ISER_MAX_INLINE = ISER_PDU_HDRS_LEN + 2 + 96 + 2,
};

struct iser_conn;

/*
 * What the datamover needs of the RDMA layer. The daemon uses rdma.c (iser_rdma_ops_real);
 * the unit tests and the fuzzer plug in a loopback that plays the initiator's memory, so the
 * whole datamover runs without an RDMA device.
 */
struct iser_rdma_ops {
	int (*post)(struct iser_conn *ic, struct tg_rdma_op *op);
	int (*post_recv)(struct iser_conn *ic, struct tg_rdma_recv *recv);
	void (*disconnect)(struct iser_conn *ic, const char *why);
	/* The datamover is done with the connection; released() follows (perhaps at once). */
	void (*release)(struct iser_conn *ic);
	/* Registers memory for local access; lkey out. NULL on failure. */
	void *(*reg)(struct iser_conn *ic, void *mem, size_t len, uint32_t *lkey);
	void (*dereg)(void *mr);
	int (*buf_alloc)(struct iser_conn *ic, struct tg_buf *buf, size_t len);
	void (*buf_free)(struct tg_buf *buf);
};
extern const struct iser_rdma_ops iser_rdma_ops_real;

struct iser_recv {
	struct tg_rdma_recv rr;
	struct iser_conn *ic;
	uint32_t held_len;         /* received while the login was parked */
	struct iser_recv *next_held;
};

struct iser_send {
	struct tg_rdma_op op;
	struct iser_conn *ic;
	uint8_t *slot;             /* ISER_SEND_SLOT_LEN bytes of registered memory */
	struct tg_buf big;         /* a longer PDU's own registered buffer */
	struct iscsi_tx_pdu *pdu;  /* released when the SEND completes */
	bool close_after;
	struct iser_send *next_free;
};

/* The RDMA side of one command slot of the session (slot i of session->cmds). */
struct iser_task {
	struct iser_hdr tags;      /* the STags of the command's iSER header */
	struct tg_rdma_op op;      /* its RDMA READ or WRITE */
	struct tg_rdma_remote remote;
};

struct iser_server {
	struct iscsi_server *iscsi;
	struct tg_rdma *rdma;
	struct tg_rdma_listener **listeners;
	size_t listener_count;
	struct iscsi_target_limits limits;
	bool stopping;
};

struct iser_conn {
	struct iscsi_conn conn;    /* what the shared iSCSI layer sees; first member */
	struct tg_rdma_conn *rconn;
	const struct iser_rdma_ops *rdma;
	void *rdma_ctx;            /* for a test loopback */
	struct iser_cm_req cm_req;

	/* receives: the login ring from the start, the rest once a session exists */
	struct iser_recv *recvs;
	uint32_t nrecv;            /* buffers set up (posted or being handled) */
	uint8_t *recv_mem[2];
	void *recv_mr[2];

	/* sends */
	uint8_t *send_mem;
	void *send_mr;
	uint32_t send_lkey;
	struct iser_send sends[ISER_SEND_SLOTS];
	struct iser_send *free_sends;
	struct iscsi_tx_pdu *wait_head, *wait_tail; /* PDUs waiting for a send slot */
	unsigned sends_busy;

	struct iser_task tasks[ISCSI_SESSION_CMDS];
	unsigned data_ops;         /* RDMA READs/WRITEs not yet completed */

	uint64_t copied_bytes;     /* immediate and unsolicited data copied out of receives */
	uint64_t rdma_read_bytes, rdma_write_bytes;
	bool rdma_closing;         /* the RDMA layer said closing */
	bool iscsi_done;           /* the iSCSI layer freed the connection */
	bool release_called;
	bool released;             /* the RDMA layer is done with it too */
	bool paused;
	struct iser_recv *held_head, *held_tail;
	/* Callbacks on the stack that still use the connection: it is not released under them. */
	unsigned busy;
};

/* conn.c: the datamover */
extern const struct iscsi_datamover iser_datamover;
/* The limits an iSER connection's login negotiates within. */
void iser_target_limits(struct iscsi_target_limits *limits);
/* A new connection: sets up the iSCSI side and the login ring. 0, or -1 (nothing to undo
 * but iser_conn_discard). */
int iser_conn_init(struct iser_conn *ic, struct iscsi_server *server,
		   const struct iscsi_target_limits *limits, const char *peer);
/* Frees a connection that never became live (setup failed before accept). */
void iser_conn_discard(struct iser_conn *ic);
/* One receive completed with len bytes. */
void iser_conn_recv(struct iser_conn *ic, struct iser_recv *recv, uint32_t len);
/* The RDMA layer closes the connection (peer disconnect, QP error, device removal). */
void iser_conn_closing(struct iser_conn *ic, const char *why);
/* The RDMA layer has let go of it. */
void iser_conn_released(struct iser_conn *ic);

#endif
