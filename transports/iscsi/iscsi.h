/* The iSCSI/TCP transport's internal objects: portals, connections, sessions, commands. */
#ifndef ISCSI_ISCSI_H
#define ISCSI_ISCSI_H

#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/cmd.h"
#include "core/task.h"
#include "transports/iscsi/params.h"
#include "transports/iscsi/pdu.h"

struct tg_runtime;
struct iscsi_conn;
struct iscsi_session;
struct iscsi_cmd;
struct iscsi_tx_pdu;
struct iser_server;
struct iscsi_worker;
struct tg_io_threads;

/* Commands a session may have in flight; MaxCmdSN advertises the free slots. */
#define ISCSI_SESSION_CMDS 128
/* Largest write buffer preallocated before the core parses the CDB (so immediate and
 * unsolicited data land in place, without a copy). */
#define ISCSI_MAX_PREALLOC TG_MAX_TRANSFER_BYTES /* the core refuses larger transfers */
/* Data segments of non-SCSI PDUs (login, text, NOP) are bounded by this. */
#define ISCSI_CTRL_DSL_MAX 65536u

/* A SCSI command as the iSCSI layer sees it; the core's task is embedded. */
struct iscsi_cmd {
	struct tg_task task;
	struct iscsi_session *session;
	struct iscsi_conn *conn;
	bool in_use;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t ttt;              /* target transfer tag of the current R2T sequences */
	uint32_t exp_len;
	uint32_t unsolicited_len;  /* bytes the initiator sends without R2T (immediate + first burst) */
	uint32_t received;         /* write bytes received so far (in order) */
	uint32_t solicited;        /* bytes covered by R2Ts sent so far, counted from offset 0 */
	uint32_t r2t_outstanding;
	uint32_t r2tsn;
	uint32_t datasn_expected;  /* of the current Data-Out sequence */
	uint32_t datasn_in;        /* Data-In numbering (also counts R2Ts per RFC) */
	bool submitted;            /* handed to the core (tg_task_submit) */
	bool write_pending;        /* the core is waiting for the data */
	bool unsolicited_done;     /* the initiator has sent all its unsolicited data */
	bool data_error;           /* a Data-Out broke the sequence: the command fails */
	struct iscsi_tmf *tmf;     /* a task management request waiting for this command */
	bool response_queued;
	unsigned tx_refs;          /* queued PDUs that still point into this command's buffers */
	struct iscsi_cmd *next_free;
};

struct iscsi_tx_pdu {
	struct iscsi_tx_pdu *next;
	uint8_t hdr[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN];
	uint32_t hdr_len;
	const uint8_t *data;       /* points into a command buffer or into owned_data */
	uint32_t data_len;
	uint8_t trailer[3 + ISCSI_DIGEST_LEN]; /* padding + data digest */
	uint32_t trailer_len;
	uint8_t *owned_data;       /* freed after sending */
	struct iscsi_cmd *cmd;     /* released when its last PDU is sent */
	bool close_after;          /* close the connection once this PDU is out (logout) */
	size_t sent;               /* bytes of this PDU already written */
};

enum iscsi_conn_phase { ISCSI_PHASE_LOGIN, ISCSI_PHASE_FULL_FEATURE, ISCSI_PHASE_CLOSING };

/*
 * The datamover: the only part in which iSCSI over TCP and iSER (RFC 7145) differ. Login,
 * negotiation, sessions, sequence numbers, task management, discovery, CHAP and access rules
 * are shared. A datamover hands each complete received PDU to the common layer through
 * iscsi_conn_rx_begin (where does its data segment go) and iscsi_conn_dispatch.
 */
struct iscsi_datamover {
	const char *name;          /* for logs: "tcp", "iser" */
	unsigned transport;        /* TG_TRANSPORT_ISCSI or TG_TRANSPORT_ISER: what a target allows */
	/* Takes pdu for sending, after those queued before it; iscsi_tx_done once it has left or
	 * never will. Not called on a closing connection. */
	void (*queue)(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu);
	/* Pushes out what is queued. May close the connection. */
	void (*flush)(struct iscsi_conn *conn);
	/* The write command needs [cmd->solicited, task.data.len) beyond what the initiator sends
	 * unsolicited: ask for it (TCP: R2Ts; iSER: RDMA READ from the initiator's write buffer).
	 * What arrives is counted in cmd->received, then iscsi_cmd_check_write_done. */
	void (*solicit)(struct iscsi_cmd *cmd);
	/* Sends a read command's task.data; returns true when the status went with it (TCP's
	 * Data-In with S bit), false when a SCSI Response must follow (queued after, it never
	 * overtakes the data). */
	bool (*send_read_data)(struct iscsi_cmd *cmd, bool with_status);
	/* The connection is closing: stop receiving, drop what was not sent (idempotent). */
	void (*close)(struct iscsi_conn *conn);
	/* Frees the connection (its session and login have let go of it). */
	void (*destroy)(struct iscsi_conn *conn);
	/* Optional: stop/resume delivering received PDUs (a login parked for reinstatement). */
	void (*receive_pause)(struct iscsi_conn *conn, bool paused);
	/* Optional: the session exists and the final login response is about to be queued
	 * (iSER posts the receives the negotiated parameters need). 0, or -1 to fail the login. */
	int (*full_feature)(struct iscsi_conn *conn);
	/* Optional: data buffers the datamover can move without a copy (iSER: RDMA-registered). */
	int (*alloc_buf)(struct iscsi_conn *conn, struct tg_buf *buf, size_t len);
	void (*free_buf)(struct iscsi_conn *conn, struct tg_buf *buf);
};

enum iscsi_rx_stage { ISCSI_RX_BHS, ISCSI_RX_AHS, ISCSI_RX_DATA };

struct iscsi_portal {
	struct ev_io watcher;
	int fd;
	struct sockaddr_storage addr;
	char name[300];            /* "host:port" as configured */
	struct iscsi_server *server;
};

struct iscsi_server {
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	struct tg_runtime *runtime;
	struct iscsi_portal *portals;
	size_t portal_count;
	struct iscsi_target_limits limits;
	struct iscsi_session *sessions;
	struct iscsi_session *draining;
	struct iscsi_conn *conns;
	struct iscsi_conn *flush_list;  /* connections with responses to send this loop pass */
	struct ev_prepare flush_watcher;
	uint16_t next_tsih;
	/* iSER portals (RDMA-CM), listed by SendTargets beside the TCP ones; NULL without iSER. */
	struct iscsi_portal *iser_portals;
	size_t iser_portal_count;
	struct iser_server *iser;

	/*
	 * Several I/O threads (global.io_threads > 1, transports/iscsi/workers.c): each worker
	 * loop has a struct iscsi_server of its own (its loop, engine, connections and flush
	 * batch) whose `shared` points to the main loop's, which alone owns the portals and the
	 * session table. NULL shared means the server is its own (one loop, unit tests, fuzzers).
	 * table_lock guards sessions, draining, next_tsih and the successor/predecessor links
	 * of reinstatement; it is taken at login and session end only, never per command. All
	 * zero is its initial state (glibc's PTHREAD_MUTEX_INITIALIZER).
	 */
	struct iscsi_server *shared;
	pthread_mutex_t table_lock;
	struct iscsi_worker *workers;  /* on the main loop's server: worker_count of them */
	unsigned worker_count;
	struct tg_io_threads *worker_threads; /* their threads, loops and engines */
	unsigned thread_index;         /* 0 for the main loop, 1.. for workers (logs) */
	atomic_uint conn_count;        /* connections on this loop, for placing new ones */
	/* On the shared server: transports.iscsi.login_timeout (s, 0 = none) and max_sessions
	 * (0 = no limit); session_count (under table_lock) counts live and draining sessions. */
	unsigned login_timeout;
	unsigned max_sessions;
	unsigned session_count;
};

/* The server that owns the portals and the session table. */
static inline struct iscsi_server *iscsi_server_shared(struct iscsi_server *server)
{
	return server->shared ? server->shared : server;
}

struct iscsi_conn {
	struct iscsi_server *server;
	struct iscsi_conn *next;
	const struct iscsi_datamover *dm;
	struct ev_timer login_timer; /* closes a connection that has not logged in in time */
	const struct iscsi_target_limits *limits; /* what this connection's login may agree to */
	int fd;
	char peer[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage local_addr;
	struct ev_io read_watcher;
	struct ev_io write_watcher;
	enum iscsi_conn_phase phase;
	uint16_t cid;
	uint32_t statsn;
	uint32_t exp_statsn;

	/* receive state machine */
	enum iscsi_rx_stage rx_stage;
	uint8_t rx_bhs[ISCSI_BHS_LEN];
	uint8_t rx_ahs[1024 + ISCSI_DIGEST_LEN];
	struct iscsi_hdr rx_hdr;
	size_t rx_have;            /* bytes of the current stage already read */
	size_t rx_need;
	uint8_t *rx_data;          /* where the data segment goes */
	size_t rx_data_len;        /* data + padding (+ digest) */
	uint8_t rx_trailer[3 + ISCSI_DIGEST_LEN];
	uint8_t *rx_ctrl;          /* buffer for non-SCSI data segments */
	uint8_t *rx_stash;         /* bytes read ahead of the current stage */
	size_t rx_stash_pos, rx_stash_end;
	struct iscsi_cmd *rx_cmd;  /* command whose data is being received */
	bool rx_discard;           /* data goes nowhere (unknown task) */

	/* transmit queue */
	struct iscsi_tx_pdu *tx_head, *tx_tail;
	bool write_armed;
	bool flush_scheduled;
	struct iscsi_conn *next_flush;

	/* login */
	struct iscsi_negotiation neg;
	struct iscsi_login_keys login_keys;
	bool login_started;
	uint32_t login_cmdsn;
	uint8_t isid[6];
	uint16_t tsih;
	uint8_t login_csg;
	uint8_t *login_text;       /* accumulated request text across C-bit PDUs */
	size_t login_text_len;
	struct tg_target *target;
	void *auth;                /* CHAP exchange state (auth.c) */
	struct iscsi_session *predecessor; /* being reinstated: its commands still draining */
	struct iscsi_hdr parked_hdr;       /* the final login request, answered once it has */
	struct iscsi_text_buf parked_out;

	struct iscsi_session *session;
	bool header_digest;
	bool data_digest;
	unsigned refs;             /* pending backend ops hold the connection */
	/* A reinstated session on another loop has gone: finish the parked login (here). */
	struct tg_loop_call resume_call;
};

struct iscsi_session {
	struct iscsi_session *next;
	struct iscsi_server *server;
	enum iscsi_session_type type;
	uint16_t tsih;
	uint8_t isid[6];
	char initiator_name[ISCSI_NAME_MAX + 1];
	struct tg_target *target;
	struct tg_nexus *nexus;
	struct iscsi_params params;
	struct iscsi_conn *conn;   /* MaxConnections=1 */
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	struct iscsi_cmd cmds[ISCSI_SESSION_CMDS];
	struct iscsi_cmd *free_cmds;
	unsigned active_cmds;
	uint32_t next_ttt;
	bool dying;                /* torn down; freed when the last command returns */
	struct iscsi_conn *successor; /* a login reinstating this session waits for its end */
	/* Commands the CmdSN window lets the initiator have at once; 0 means ISCSI_SESSION_CMDS
	 * (iSER bounds it by the receives it has posted). */
	unsigned cmd_limit;
	/* A login on another loop reinstates this session: tear it down (on its own loop). */
	struct tg_loop_call reinstate_call;
};

/* A task management request that answers once every command it aborted has returned. */
struct iscsi_tmf {
	struct iscsi_conn *conn;
	uint32_t itt;
	uint8_t response;
	unsigned waiting;
};

/* portal.c */
int iscsi_server_start(struct iscsi_server *server, struct ev_loop *loop,
		       struct tg_ioengine *engine, struct tg_runtime *runtime, char *err,
		       size_t errlen);
void iscsi_server_stop(struct iscsi_server *server);

/* conn.c */
extern const struct iscsi_datamover iscsi_tcp_datamover;
void iscsi_conn_accept(struct iscsi_server *server, int fd, const struct sockaddr_storage *peer);
/* Common set-up of a new connection (any datamover): login phase, on the server's list. */
void iscsi_conn_init(struct iscsi_server *server, struct iscsi_conn *conn,
		     const struct iscsi_datamover *dm, const struct iscsi_target_limits *limits,
		     const char *peer);
/* The login phase is over (full feature, or closing): stops the login timeout. */
void iscsi_conn_login_done(struct iscsi_conn *conn);
/* A received PDU's header is in conn->rx_bhs/rx_ahs/rx_hdr: decides where its data segment
 * goes (conn->rx_data, or conn->rx_discard), preparing the command it belongs to.
 * Control data (login, text, NOP) goes to conn->rx_ctrl. 0, or -1: malformed, close. */
int iscsi_conn_rx_begin(struct iscsi_conn *conn);
/* The PDU is complete (data segment in place): act on it. */
void iscsi_conn_dispatch(struct iscsi_conn *conn);
/* A queued PDU has left, or never will: drops its hold on its command and frees it. */
void iscsi_tx_done(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu);
void iscsi_conn_close(struct iscsi_conn *conn, const char *why);
/* Frees a closed connection's memory (its session has let go of it). */
void iscsi_conn_free(struct iscsi_conn *conn);
struct iscsi_tx_pdu *iscsi_tx_alloc(void);
/* Frees the calling thread's cache of spare PDUs (an I/O thread about to end). */
void iscsi_tx_cache_drop(void);
void iscsi_conn_queue(struct iscsi_conn *conn, struct iscsi_tx_pdu *pdu);
void iscsi_conn_flush(struct iscsi_conn *conn);
/* Sends what is queued before the loop next sleeps (batched with other responses). */
void iscsi_conn_schedule_flush(struct iscsi_conn *conn);
/* Fills the StatSN/ExpCmdSN/MaxCmdSN trio for the next response on conn (advancing StatSN
 * when the PDU carries status). */
void iscsi_conn_sn(struct iscsi_conn *conn, bool advance_statsn, struct iscsi_sn_fields *sn);
/* Queues a target PDU with header bhs and optional data (copied into an owned buffer). */
void iscsi_conn_send(struct iscsi_conn *conn, const uint8_t bhs[ISCSI_BHS_LEN], const void *data,
		     uint32_t data_len, bool close_after);

/* Sends a Reject PDU carrying the offending header. */
void iscsi_conn_reject(struct iscsi_conn *conn, uint8_t reason, const uint8_t *bad_bhs);
/* Applies the CmdSN window rules to a non-data PDU; false means drop it. */
bool iscsi_cmdsn_accept(struct iscsi_conn *conn, const struct iscsi_hdr *hdr);

/* login.c */
void iscsi_login_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr, const uint8_t *data);
void iscsi_login_cleanup(struct iscsi_conn *conn);
/* The session a parked login was waiting for is gone: finish that login. */
void iscsi_login_resume(struct iscsi_conn *conn);

/* workers.c (global.io_threads > 1) */
/* Starts count worker loops, each with its own I/O engine; 0, or -1 with err filled. */
int iscsi_workers_start(struct iscsi_server *server, unsigned count, char *err, size_t errlen);
/* A connection accepted on the main loop goes to the worker with the fewest connections. */
void iscsi_workers_hand_off(struct iscsi_server *server, int fd, const struct sockaddr_storage *peer);
/* Closes every worker's connections and ends its loop, then waits for its thread. */
void iscsi_workers_stop(struct iscsi_server *server);
/* After iscsi_workers_stop, once the main loop has ended too: completes what the backends
 * still owe on every loop (main engine included), then frees the workers and their engines. */
void iscsi_workers_destroy(struct iscsi_server *server, struct tg_ioengine *main_engine);
/* TARGET COLD RESET: every loop but the requester's closes its connections to target. */
void iscsi_workers_cold_reset(struct iscsi_conn *requester, const struct tg_target *target);

/* text.c (SendTargets) */
void iscsi_text_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr, const uint8_t *data);

/* session.c */
struct iscsi_session *iscsi_session_create(struct iscsi_conn *conn, enum iscsi_session_type type);
/* Tears the session down; it stays on the server's draining list until its commands in the
 * backend have returned, then frees itself (and resumes a login waiting to reinstate it). */
void iscsi_session_destroy(struct iscsi_session *session);
/* Whether session is torn down but not yet freed (compares pointers only). */
bool iscsi_session_draining(const struct iscsi_server *server, const struct iscsi_session *session);
struct iscsi_session *iscsi_session_find(struct iscsi_server *server, const char *initiator_name,
					 const uint8_t isid[6], const struct tg_target *target);
/* A login on conn's loop that would reinstate a session of another loop (global.io_threads
 * > 1): what iscsi_session_reinstate_remote did. */
enum iscsi_reinstate {
	ISCSI_REINSTATE_NONE,   /* no session to reinstate */
	ISCSI_REINSTATE_LOCAL,  /* the session lives on conn's loop: reinstate it the usual way */
	ISCSI_REINSTATE_PARKED, /* its loop was asked to end it; iscsi_login_resume follows here */
	ISCSI_REINSTATE_BUSY,   /* another login already waits for it */
	ISCSI_REINSTATE_DRAINING, /* it already lost its connection and is finishing its
				   * commands; iscsi_login_resume follows when they are done */
};
enum iscsi_reinstate iscsi_session_reinstate_remote(struct iscsi_conn *conn, uint16_t *old_tsih);
struct iscsi_cmd *iscsi_cmd_get(struct iscsi_session *session);
void iscsi_cmd_put(struct iscsi_cmd *cmd);
struct iscsi_cmd *iscsi_cmd_find_itt(struct iscsi_session *session, uint32_t itt);
struct iscsi_cmd *iscsi_cmd_find_ttt(struct iscsi_session *session, uint32_t ttt);
void iscsi_session_update_window(struct iscsi_session *session);

/* scsi.c (SCSI command, Data-Out, R2T, Data-In, response; the tg_transport_ops) */
extern const struct tg_transport_ops iscsi_transport_ops;
/* Called with the BHS parsed; decides where the data segment of a SCSI command goes. */
int iscsi_scsi_cmd_begin(struct iscsi_conn *conn, const struct iscsi_hdr *hdr);
void iscsi_scsi_cmd_end(struct iscsi_conn *conn);
int iscsi_data_out_begin(struct iscsi_conn *conn, const struct iscsi_hdr *hdr);
void iscsi_data_out_end(struct iscsi_conn *conn);
void iscsi_tmf_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr);
/* TARGET COLD RESET on one loop: closes server's connections to target, but spare's. */
void iscsi_cold_reset_loop(struct iscsi_server *server, const struct iscsi_conn *spare,
			   const struct tg_target *target);
/* Write data has arrived (cmd->received advanced): hands the task its data once all is
 * there, else asks the datamover for more. */
void iscsi_cmd_check_write_done(struct iscsi_cmd *cmd);
/* The TCP datamover's halves that live with the SCSI PDUs they build. */
void iscsi_tcp_send_r2ts(struct iscsi_cmd *cmd);
bool iscsi_tcp_send_data_in(struct iscsi_cmd *cmd, bool with_status);

#endif
