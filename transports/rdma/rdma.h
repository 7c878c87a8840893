/* RDMA plumbing shared by the SRP and iSER transports: RDMA-CM listeners, per-device PD and registered buffer pool, per-connection QP/CQ, posting with completion callbacks, teardown. */
#ifndef TG_RDMA_H
#define TG_RDMA_H

/*
 * How a transport (the "ULP") uses this layer, all on one libev loop:
 *
 *   rdma = tg_rdma_create(loop, NULL);             one per event loop; devices are shared
 *   l = tg_rdma_listen(rdma, "10.0.2.15", 5555, &listener_ops, ulp, err, errlen);
 *
 *   listener_ops.connect_request(ulp, conn, pdata, len)     an initiator's CM REQ
 *       the ULP parses pdata and either
 *         tg_rdma_conn_reject(conn, rej, rej_len)            (conn is gone afterwards), or
 *         tg_rdma_conn_setup(conn, &conn_ops, priv, &params) QP + CQ sized from its limits,
 *         tg_rdma_post_recv(conn, ...) for every receive buffer,
 *         tg_rdma_conn_accept(conn, rsp, rsp_len)            CM REP with private data.
 *       Answering later is allowed (e.g. once an older session has drained), within the
 *       initiator's CM timeout; tg_rdma_conn_reject/accept then still apply.
 *
 *   conn_ops.recv(conn, recv, len)     a receive completed; repost it when done with it
 *   tg_rdma_post(conn, op)             SEND, RDMA READ or RDMA WRITE; op->done(op, status)
 *                                      runs exactly once, never inside tg_rdma_post.
 *                                      Ops go out in the order posted (a response SEND posted
 *                                      after the RDMA WRITEs of its data follows them on the
 *                                      wire, so status never overtakes data).
 *   conn_ops.closing(conn)             once: peer disconnect, QP error, device removal or
 *                                      tg_rdma_conn_disconnect. Ops still queued or in flight
 *                                      complete with a negative status; no receive arrives any
 *                                      more. The ULP aborts its tasks and, when nothing of its
 *                                      own needs the connection, calls tg_rdma_conn_release.
 *   conn_ops.released(conn)            every work request has completed (or the QP is gone) and
 *                                      the ULP released it: free receive/send buffers and MRs.
 *                                      The conn is freed right after.
 *
 * Data buffers: tg_rdma_buf_alloc hands out memory registered once with the device's PD (a
 * slab per size class, grown on demand up to a bound; larger or excess requests get a buffer
 * registered for them alone). The buffer's lkey is in tg_buf.lkey, so the backend reads into
 * and writes from the same memory the RDMA READ/WRITE uses: no copy on the data path.
 *
 * Completions: one completion channel per device, watched by libev; one CQ per connection on
 * that channel (sized to the connection's queues, so no connection can overflow another's).
 * Every posted work request is signalled; a connection is freed only after all of them have
 * completed (flushed ones included) or after a drain timeout once its QP is in error.
 *
 * Threads: everything here belongs to the loop the tg_rdma instance was created on, and the
 * instance must be created on that loop's thread. N loops get N instances;
 * tg_rdma_conn_hand_over moves a connection request from the listening instance to another
 * (its CM id migrates to that instance's event channel). The one async event fd of a verbs
 * context may be read by any instance's thread: an event about another thread's connection
 * is handed to that thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct ev_loop;
struct ibv_mr;
struct tg_rdma;
struct tg_rdma_device;
struct tg_rdma_listener;
struct tg_rdma_conn;

/* ---- instance ---- */

struct tg_rdma_pool_params {
	size_t min_buf;   /* smallest pooled buffer (power of two, >= 4 KiB); default 4 KiB */
	size_t max_buf;   /* largest pooled buffer (power of two); default 1 MiB */
	size_t max_bytes; /* bound on the slab memory of one device; default 256 MiB */
};

/* Number of RDMA devices present (0 on a machine without RDMA). */
int tg_rdma_device_count(void);

/* NULL params: the defaults. Returns NULL (errno set) when the RDMA-CM cannot be opened. */
struct tg_rdma *tg_rdma_create(struct ev_loop *loop, const struct tg_rdma_pool_params *params);
/* Closes listeners, disconnects and frees every connection and device, even those not yet
 * drained (for the daemon's exit). The ULPs' released callbacks still run. */
void tg_rdma_destroy(struct tg_rdma *rdma);

/* ---- listeners ---- */

struct tg_rdma_listener_ops {
	/* A connection request on this listener. The ULP must answer with tg_rdma_conn_reject
	 * or tg_rdma_conn_setup + tg_rdma_conn_accept (now or later). */
	void (*connect_request)(void *ulp, struct tg_rdma_conn *conn, const void *pdata,
				size_t pdata_len);
};

/* Binds and listens on host:port (numeric IPv4/IPv6). On failure returns NULL with a
 * message in err. After a device removal the listener re-binds by itself once the address
 * is back on an RDMA device. */
struct tg_rdma_listener *tg_rdma_listen(struct tg_rdma *rdma, const char *host, uint16_t port,
					const struct tg_rdma_listener_ops *ops, void *ulp,
					char *err, size_t errlen);
void tg_rdma_listener_close(struct tg_rdma_listener *listener);
const char *tg_rdma_listener_name(const struct tg_rdma_listener *listener);

/* ---- connections ---- */

struct tg_rdma_recv;
struct tg_rdma_op;

struct tg_rdma_conn_ops {
	void (*established)(struct tg_rdma_conn *conn);   /* optional */
	void (*recv)(struct tg_rdma_conn *conn, struct tg_rdma_recv *recv, uint32_t len);
	void (*closing)(struct tg_rdma_conn *conn);
	void (*released)(struct tg_rdma_conn *conn);
};

struct tg_rdma_conn_params {
	uint32_t sq_depth;      /* send queue work requests (clamped to the device) */
	uint32_t rq_depth;      /* receive queue work requests */
	uint32_t max_inline;    /* SEND payloads up to this size go inline (0: never) */
};

/* Creates the QP and CQ. 0, or -1 (the ULP then rejects the connection). */
int tg_rdma_conn_setup(struct tg_rdma_conn *conn, const struct tg_rdma_conn_ops *ops,
		       void *ulp_priv, const struct tg_rdma_conn_params *params);
/* Accepts with private data; RDMA READ depth is the most the initiator allows and the
 * device supports. 0, or -1 (the connection is then closing). */
int tg_rdma_conn_accept(struct tg_rdma_conn *conn, const void *pdata, size_t pdata_len);
/* Rejects (consumer-defined reason carrying pdata) and frees the connection; any QP that
 * tg_rdma_conn_setup made goes with it (released is not called: nothing was accepted). */
void tg_rdma_conn_reject(struct tg_rdma_conn *conn, const void *pdata, size_t pdata_len);
/* Starts closing a live connection (idempotent); closing() follows. */
void tg_rdma_conn_disconnect(struct tg_rdma_conn *conn, const char *why);
/* The ULP is done with the connection (after closing). */
void tg_rdma_conn_release(struct tg_rdma_conn *conn);

void *tg_rdma_conn_priv(const struct tg_rdma_conn *conn);
struct tg_rdma_device *tg_rdma_conn_device(const struct tg_rdma_conn *conn);
/* "ADDR:PORT" of the initiator, for logs. */
const char *tg_rdma_conn_peer(const struct tg_rdma_conn *conn);
/* The local address the request arrived on (a wildcard listener's answer to discovery);
 * NULL once the connection has no CM id. */
struct sockaddr;
const struct sockaddr *tg_rdma_conn_local_addr(const struct tg_rdma_conn *conn);
/* The listener the request came through (its ULP context is what connect_request got). */
struct tg_rdma_listener *tg_rdma_conn_listener(const struct tg_rdma_conn *conn);
bool tg_rdma_conn_is_closing(const struct tg_rdma_conn *conn);
/* The send queue depth actually granted (after clamping to the device). */
uint32_t tg_rdma_conn_sq_depth(const struct tg_rdma_conn *conn);

/*
 * Several threads: a connection request that arrived on this instance (connect_request, before
 * tg_rdma_conn_setup) moves to the instance `to`, which runs on another thread's loop. Its CM
 * id's events go to `to`'s event channel from then on, and it uses `to`'s PD, completion
 * channel and buffer pool (each instance opens the device for itself). then(conn, arg) runs
 * on `to`'s thread (or in tg_rdma_destroy of `to`); the ULP answers the request there as it
 * would have here. tg_rdma_conn_device(conn) is NULL there when `to` could not open the
 * device (tg_rdma_conn_setup then fails). Call on this instance's thread; conn is not touched
 * here afterwards.
 */
void tg_rdma_conn_hand_over(struct tg_rdma_conn *conn, struct tg_rdma *to,
			    void (*then)(struct tg_rdma_conn *conn, void *arg), void *arg);

/* ---- posting ---- */

/* A receive buffer; the ULP embeds it and keeps buf registered (lkey) while posted. */
struct tg_rdma_recv {
	void *buf;
	uint32_t len;
	uint32_t lkey;
	void *priv;            /* for the ULP */
};
/* 0, or -1 when the connection is closing or the post failed (the connection then closes). */
int tg_rdma_post_recv(struct tg_rdma_conn *conn, struct tg_rdma_recv *recv);

struct tg_rdma_remote {
	uint64_t addr;
	uint32_t rkey;
	uint32_t len;
};

enum tg_rdma_op_kind { TG_RDMA_SEND, TG_RDMA_READ, TG_RDMA_WRITE };

typedef void (*tg_rdma_done_fn)(struct tg_rdma_op *op, int status);

/*
 * One SEND, or one RDMA READ/WRITE of `len` bytes between the contiguous local buffer and the
 * remote segments in order (one work request per segment; the segments must cover len, the
 * excess is not touched). status for done: 0, -EIO (a work request failed; the connection is
 * closing) or -ECANCELED (the connection closed before it could go out).
 */
struct tg_rdma_op {
	enum tg_rdma_op_kind kind;
	void *local;
	uint32_t len;
	uint32_t lkey;
	const struct tg_rdma_remote *remote;
	uint32_t nremote;
	tg_rdma_done_fn done;
	void *priv;            /* for the ULP */

	/* private to rdma.c */
	struct tg_rdma_op *next;                  /* send queue backlog, or deferred completion */
	struct tg_rdma_op *sent_next, *sent_prev; /* ops with work requests on the send queue */
	struct tg_rdma_conn *conn;
	uint32_t seg;          /* next remote segment to post */
	uint32_t offset;       /* bytes covered by the work requests posted so far */
	uint32_t in_flight;    /* posted work requests not yet completed */
	bool all_posted;
	int status;
};
/* Queues op. 0, or -ENOTCONN when the connection is closing, -EINVAL when the remote
 * segments do not cover len (done is not called for either). */
int tg_rdma_post(struct tg_rdma_conn *conn, struct tg_rdma_op *op);

/* ---- devices, memory ---- */

/* The node GUID as the 8 bytes on the wire (what /sys/class/infiniband/X/node_guid shows). */
void tg_rdma_device_node_guid(const struct tg_rdma_device *dev, uint8_t guid[8]);
const char *tg_rdma_device_name(const struct tg_rdma_device *dev);

/* Registers ULP memory (IU rings) for local access; NULL on failure. */
struct ibv_mr *tg_rdma_reg(struct tg_rdma_device *dev, void *addr, size_t len);
void tg_rdma_dereg(struct ibv_mr *mr);
uint32_t tg_rdma_mr_lkey(const struct ibv_mr *mr);

/* A data buffer of at least len bytes, 4 KiB aligned, registered with dev (buf->lkey,
 * buf->owner set). 0 or -ENOMEM. */
int tg_rdma_buf_alloc(struct tg_rdma_device *dev, struct tg_buf *buf, size_t len);
void tg_rdma_buf_free(struct tg_buf *buf);

/* Pool statistics of one device, for logs and tests. */
struct tg_rdma_pool_stats {
	size_t slab_bytes;      /* registered slab memory */
	uint64_t pooled_allocs; /* buffers handed out from slabs */
	uint64_t single_allocs; /* buffers registered on their own (too large or over bound) */
	uint64_t in_use;        /* buffers not yet returned */
};
void tg_rdma_pool_stats(const struct tg_rdma_device *dev, struct tg_rdma_pool_stats *out);

#endif
