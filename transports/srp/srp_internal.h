/* Internal structures of the SRP target shared by its login/channel code and its command path. */
#ifndef SRP_INTERNAL_H
#define SRP_INTERNAL_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/task.h"
#include "transports/rdma/rdma.h"
#include "transports/srp/iu.h"
#include "transports/srp/srp.h"

#define SRP_LOG "srp"

/* What every channel is offered. The request limit leaves ib_srp (62 commands + 1 TMF by
 * default) room, and bounds receive memory: one IU buffer per credit. */
enum {
	SRP_REQ_LIMIT = 128,
	SRP_MAX_IT_IU_LEN = 64 * 1024,
	SRP_MAX_TI_IU_LEN = 256,            /* SRP_RSP + sense (TG_SENSE_MAX fits) */
	SRP_EXTRA_RECVS = 4,                /* beyond the credits: CRED_RSP, I_LOGOUT, overruns */
	SRP_EXTRA_CTXS = 8,                 /* contexts whose response is still being sent */
	SRP_MAX_CHANNELS_PER_NEXUS = 16,
	SRP_INLINE_REMOTES = 8,             /* descriptors kept without an allocation */
};

struct srp_server;
struct srp_nexus;
struct srp_channel;
struct tg_io_threads;

/*
 * One event loop's share of the SRP server: the main loop's (index 0: the listeners, and with
 * one loop every channel) or an I/O thread's (global.io_threads > 1: the channels placed on
 * it). A channel's completions, posts, commands and deferred work all run on its loop.
 */
struct srp_loop {
	struct srp_server *server;
	unsigned index;               /* 0 main, 1.. I/O threads (logs) */
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	struct tg_rdma *rdma;
	atomic_uint channel_count;    /* channels placed here, for placing new ones */

	/* Work done after the current callbacks: TMF answers (after the aborted tasks have
	 * returned their credits) and credit flushes. */
	ev_timer kick;
	bool kick_armed;
	struct srp_ctx *tmf_ready_head, *tmf_ready_tail;
	struct srp_channel *flush_head;
};

/* A receive buffer of a channel: one request IU at a time. */
struct srp_recv {
	struct tg_rdma_recv rr;
	struct srp_channel *ch;
	uint32_t len;                 /* bytes received */
	struct srp_recv *next_wait;   /* waiting for a free command context */
};

enum srp_ctx_kind { SRP_CTX_FREE = 0, SRP_CTX_CMD, SRP_CTX_TMF, SRP_CTX_ERROR };

/* A command context: one SRP_CMD or SRP_TSK_MGMT from arrival to its response's completion. */
struct srp_ctx {
	struct tg_task task;
	struct srp_channel *ch;
	enum srp_ctx_kind kind;
	struct srp_recv *recv;        /* holds the request IU until the response is built */
	uint64_t tag;
	uint8_t sol_not;
	struct srp_cmd cmd;
	bool credited;                /* consumed a credit (not an overrun) */
	bool submitted;               /* the core has the task */
	bool response_built;
	bool data_done, rsp_done;     /* their ops have completed (or were never needed) */
	int data_status;

	/* Remote buffers, decoded from the descriptors. */
	struct tg_rdma_remote remote_inline[SRP_INLINE_REMOTES];
	struct tg_rdma_remote *remote;
	uint32_t nremote;
	struct tg_buf table;          /* a partial indirect table fetched by RDMA READ */
	struct tg_buf bounce;         /* data the core did not place in registered memory */

	struct tg_rdma_op data_op;
	struct tg_rdma_op rsp_op;
	uint8_t *send_buf;
	uint32_t send_lkey;
	uint32_t send_len;

	/* SRP_CTX_ERROR: the sense reason to answer with (task never submitted). */
	enum tg_sense_reason error;
	/* SRP_CTX_TMF */
	uint8_t tmf_function;
	uint8_t tmf_code;
	bool tmf_ready;
	struct srp_ctx *next;         /* free list, or the server's list of ready TMF answers */
};

enum srp_channel_state {
	SRP_CH_PENDING,   /* accepted by the login code, waiting for an older nexus to drain */
	SRP_CH_LIVE,
	SRP_CH_CLOSING,
};

/* What another loop's thread asks of a channel (global.io_threads > 1), under the server lock. */
enum {
	SRP_ACT_SETTLE = 1,   /* its nexus went live or gone: accept or reject a pending channel */
	SRP_ACT_REPLACED = 2, /* a single-channel login replaces its nexus */
	SRP_ACT_SHUTDOWN = 4, /* the target is shutting down */
};

struct srp_channel {
	struct srp_server *server;
	struct srp_loop *home;
	struct srp_nexus *sn;
	struct tg_rdma_conn *conn;
	struct tg_rdma_device *dev;
	enum srp_channel_state state;
	unsigned index;               /* 0, 1, ... in the nexus, for logs */
	char name[128];

	struct srp_credits credits;
	uint32_t it_iu_len;
	uint32_t ti_iu_len;
	bool imm_data;
	uint16_t imm_data_offset;

	struct srp_login_rsp login_rsp;

	uint8_t *recv_mem;
	size_t recv_mem_len;
	size_t recv_stride;
	size_t recv_pad;
	struct ibv_mr *recv_mr;
	struct srp_recv *recvs;
	uint32_t nrecv;

	struct srp_ctx *ctxs;
	uint32_t nctx;
	struct srp_ctx *free_ctx;
	unsigned active_ctx;
	uint8_t *send_mem;
	size_t send_mem_len;
	struct ibv_mr *send_mr;
	struct srp_recv *wait_head, *wait_tail;

	/* The one target-initiated request the channel may have unanswered (SRP_CRED_REQ), or
	 * SRP_T_LOGOUT before a disconnect. */
	struct tg_rdma_op treq_op;
	uint8_t *treq_buf;
	bool treq_in_flight;          /* its SEND has not completed */
	bool cred_req_unanswered;     /* no SRP_CRED_RSP yet */
	uint64_t next_treq_tag;
	bool logout_then_disconnect;

	/* For the log line when the channel ends (and the tests that read it). */
	struct {
		uint64_t commands, immediate, tables_fetched, tmfs, cred_reqs;
	} stats;

	bool flush_queued;
	bool released;                /* tg_rdma_conn_release called */
	struct tg_buf imm_owner_marker; /* tg_buf.owner of data that lives in a receive buffer */
	struct srp_channel *next_in_nexus;
	struct srp_channel *next_all;
	struct srp_channel *next_flush;

	/* With I/O threads: adopted once the connection has reached the home loop; actions and
	 * call_queued are under the server lock. */
	bool adopted;
	unsigned actions;
	bool call_queued;
	struct tg_loop_call call;
};

enum srp_nexus_state {
	SRP_NEXUS_PENDING,  /* its channels wait for a predecessor with the same ids to drain */
	SRP_NEXUS_LIVE,
	SRP_NEXUS_GONE,     /* every channel closing: no channel joins it any more */
};

struct srp_nexus {
	struct srp_server *server;
	enum srp_nexus_state state;
	uint8_t i_port_id[16];
	uint8_t t_port_id[16];
	char initiator_name[40];      /* "0x" + 32 hex digits */
	struct tg_target *target;
	struct tg_nexus *nexus;       /* created when the nexus goes live */
	struct srp_channel *channels;
	unsigned channel_count;       /* attached channels, closing ones included */
	unsigned next_index;
	struct srp_nexus *successor;  /* waits for this one to be gone */
	struct srp_nexus *next;
};

struct srp_server {
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	struct tg_runtime *runtime;
	struct tg_rdma *rdma;
	struct tg_rdma_listener **listeners;
	size_t listener_count;
	struct srp_nexus *nexuses;
	struct srp_channel *channels;
	struct srp_channel_limits limits;
	bool stopping;

	/* loops[0] is the main loop's; with global.io_threads = N > 1, loops[1..N] are the I/O
	 * threads' (threads), which every channel is placed on. */
	struct srp_loop *loops;
	unsigned loop_count;
	struct tg_io_threads *threads;
	/* Taken at login, channel end, cross-loop actions and shutdown, never per command: the
	 * nexus table (nexuses, each nexus's channels, count, state, successor, tg_nexus) and the
	 * channels list. Recursive: a login that ends a channel of its own loop frees it, and
	 * perhaps its nexus, right there. */
	pthread_mutex_t lock;
};

/* channel.c */
void srp_loop_kick(struct srp_loop *sl);
void srp_channel_schedule_flush(struct srp_channel *ch);
/* A context is free again: waiting requests proceed; a closing channel may be released. */
void srp_channel_ctx_freed(struct srp_channel *ch);
/* Sends SRP_T_LOGOUT (when it can) and disconnects. */
void srp_channel_logout(struct srp_channel *ch, uint32_t reason, const char *why);
int srp_channel_repost(struct srp_channel *ch, struct srp_recv *recv);

/* cmd.c */
extern const struct tg_transport_ops srp_transport_ops;
/* A request IU on a live channel; ctx is free (the caller took it). */
void srp_handle_request(struct srp_channel *ch, struct srp_ctx *ctx, struct srp_recv *recv);
/* Called for every target IU built: the credits to report now. */
uint32_t srp_take_delta(struct srp_channel *ch);
/* The channel is closing: end what waits on it. */
void srp_channel_abort_ctxs(struct srp_channel *ch);
/* Kick work: send the answers of finished task management functions. */
void srp_send_ready_tmfs(struct srp_loop *sl);

#endif
