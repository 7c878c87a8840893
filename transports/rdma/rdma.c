/* RDMA plumbing: RDMA-CM listeners and events, devices (PD, completion channel, buffer pool), connections (QP, CQ, ordered posting, teardown). */
#include "transports/rdma/rdma.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "core/log.h"

#define LOG "rdma"

/* A closing connection whose flushed work requests never all come back is freed after this
 * (its QP is in the error state: the device no longer touches its buffers). */
#define DRAIN_TIMEOUT 3.0
/* Retry of a listener whose device went away. */
#define REBIND_INTERVAL 2.0
/* How often a removed device's verbs context is checked for being let go of. */
#define RESYNC_INTERVAL 0.5
/* Slabs are registered in pieces of at least this size. */
#define SLAB_TARGET (2u << 20)
#define MAX_CLASSES 24
/* Work requests built per ibv_post_send call. */
#define POST_BATCH 32

enum obj_kind { OBJ_LISTENER = 1, OBJ_CONN = 2 };

struct tg_rdma {
	struct ev_loop *loop;
	struct tg_rdma_pool_params pool;
	struct rdma_event_channel *channel;
	ev_io cm_watcher;
	ev_timer deferred_watcher;
	bool deferred_active;
	struct tg_rdma_device *devices;
	struct tg_rdma_listener *listeners;
	struct tg_rdma_conn *conns;
	struct tg_rdma_op *done_head, *done_tail;
	struct tg_rdma_conn *work_head;
	/* Connections with work requests queued in this loop iteration: posted together, one
	 * ibv_post_send each, just before the loop next waits (for a software device such as rxe
	 * every post is a system call that also does the packet work). */
	ev_prepare post_watcher;
	struct tg_rdma_conn *post_head;
	ev_timer resync_watcher;
	bool destroying;
	/* Other threads' requests for this instance's thread: connections handed over to it
	 * (tg_rdma_conn_hand_over) and connections to close that another thread's read of the
	 * shared async event fd is about. */
	pthread_t thread;
	pthread_mutex_t remote_lock;
	struct tg_rdma_conn *remote_head;
	ev_async remote_wake;
};

/* ---- pool ---- */

enum owner_kind { OWNER_SLAB = 0x51ab, OWNER_SINGLE = 0x5179 };

struct owner {
	int kind;
	struct tg_rdma_device *dev;
};

struct slab {
	struct owner owner;
	struct slab *next;
	struct ibv_mr *mr;
	void *mem;
	size_t bytes;
	unsigned cls;
};

struct single {
	struct owner owner;
	struct ibv_mr *mr;     /* NULL once the device is gone (the memory may still be in use) */
	void *mem;
	struct single *next, *prev;
};

/* A free pooled buffer keeps its list link and its slab in its first bytes. */
struct free_buf {
	struct free_buf *next;
	struct slab *slab;
};

struct pool_class {
	size_t size;
	struct free_buf *free;
};

struct tg_rdma_device {
	struct tg_rdma *rdma;
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp;
	ev_io comp_watcher;
	ev_io async_watcher;
	struct ibv_device_attr attr;
	char name[64];
	unsigned conns;
	bool removed;
	bool verbs_released;   /* PD, MRs and completion channel destroyed (removed device) */
	struct tg_rdma_device *next;

	struct pool_class classes[MAX_CLASSES];
	unsigned class_count;
	struct slab *slabs;
	struct single *singles;
	struct tg_rdma_pool_stats stats;
};

struct tg_rdma_listener {
	int kind;
	struct tg_rdma *rdma;
	struct rdma_cm_id *id;
	const struct tg_rdma_listener_ops *ops;
	void *ulp;
	char host[256];
	uint16_t port;
	char name[300];
	ev_timer rebind;
	struct ibv_context *held; /* the device its CM id is bound to (see ctx_hold) */
	struct tg_rdma_listener *next;
};

enum conn_state {
	CONN_REQUEST,   /* connect request, not answered */
	CONN_ACCEPTED,  /* REP sent, waiting for ESTABLISHED */
	CONN_LIVE,
	CONN_CLOSING,
};

struct tg_rdma_conn {
	int kind;
	struct tg_rdma *rdma;
	struct rdma_cm_id *id;
	struct tg_rdma_listener *listener;
	struct tg_rdma_device *dev;
	struct ibv_cq *cq;
	const struct tg_rdma_conn_ops *ops;
	void *priv;
	enum conn_state state;
	/* From the connect request, already seen from this side by the CM: the RDMA READs this
	 * side may have outstanding (the peer's responder resources) and the reads it serves. */
	uint8_t max_initiator_depth;
	uint8_t max_responder_resources;
	uint32_t sq_depth, rq_depth, sq_free, rq_posted, max_inline;
	struct tg_rdma_op *op_head, *op_tail; /* backlog: work requests still to post */
	struct tg_rdma_op *sent;              /* ops with work requests on the send queue */
	bool closing_pending;   /* closing() still to be delivered */
	bool ulp_released;
	bool drain_expired;
	bool on_work;
	bool post_queued;
	unsigned busy;
	ev_timer drain_timer;
	char peer[80];
	struct tg_rdma_conn *next_all, *prev_all;
	struct tg_rdma_conn *next_work;
	struct tg_rdma_conn *next_post;
	/* On another instance's remote list (under its remote_lock): being handed over to it
	 * (adopt set), or to be closed there for remote_why. */
	struct tg_rdma_conn *next_remote;
	bool remote_queued;
	const char *remote_why;
	void (*adopt)(struct tg_rdma_conn *conn, void *arg);
	void *adopt_arg;
};

static void conn_close(struct tg_rdma_conn *conn, const char *why);
static void post_unschedule(struct tg_rdma_conn *conn);
static void device_maybe_free(struct tg_rdma_device *dev);

/* ---- deferred work: op completions and connection state, outside ULP calls ---- */

static void deferred_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* A zero-delay timer: the loop does not block while work is pending, and the work runs in this
 * loop iteration after the current callbacks, never inside a call from the ULP. */
static void deferred_arm(struct tg_rdma *rdma)
{
	if (rdma->deferred_active || rdma->destroying)
		return;
	rdma->deferred_active = true;
	ev_timer_set(&rdma->deferred_watcher, 0, 0);
	ev_timer_start(rdma->loop, &rdma->deferred_watcher);
}

static void defer_done(struct tg_rdma_op *op)
{
	struct tg_rdma *rdma = op->conn->rdma;
	op->next = NULL;
	if (rdma->done_tail)
		rdma->done_tail->next = op;
	else
		rdma->done_head = op;
	rdma->done_tail = op;
	deferred_arm(rdma);
}

static void conn_schedule(struct tg_rdma_conn *conn)
{
	if (conn->on_work)
		return;
	conn->on_work = true;
	conn->next_work = conn->rdma->work_head;
	conn->rdma->work_head = conn;
	deferred_arm(conn->rdma);
}

/* ---- verbs contexts, shared by every instance of the process ---- */

/*
 * A device leaves the kernel (rdma link delete, hot unplug) only once every process has closed
 * its verbs context: rxe, like most providers, cannot take a context away from a process.
 * The context behind every CM id is librdmacm's own, one per device for the whole process.
 * librdmacm closes it once no CM id uses it and it has seen the device missing from a fresh
 * device list (rdma_get_devices) -- but it never looks at an empty list, so after the last
 * device has gone the context would stay open, and the removal hang, until the daemon exits.
 * Hence: once no instance has anything left on a removed device's context (no CM id, PD, MR,
 * CQ or completion channel), ask librdmacm to look again; if there is no device left at all,
 * point the context's descriptors at /dev/null instead, which lets the kernel finish while
 * librdmacm's later close of the stale context (when a device comes back) stays harmless.
 */
struct ctx_use {
	struct ibv_context *verbs;
	unsigned users;       /* devices and bound listeners of every instance */
	bool removed;
	struct ctx_use *next;
};
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctx_use *ctx_uses;

static struct ctx_use *ctx_find(struct ibv_context *verbs, bool create)
{
	for (struct ctx_use *u = ctx_uses; u; u = u->next)
		if (u->verbs == verbs)
			return u;
	struct ctx_use *u = create ? calloc(1, sizeof(*u)) : NULL;
	if (u) {
		u->verbs = verbs;
		u->next = ctx_uses;
		ctx_uses = u;
	}
	return u;
}

static void ctx_hold(struct ibv_context *verbs)
{
	pthread_mutex_lock(&ctx_lock);
	struct ctx_use *u = ctx_find(verbs, true);
	if (u)
		u->users++;
	pthread_mutex_unlock(&ctx_lock);
}

static void ctx_put(struct ibv_context *verbs)
{
	pthread_mutex_lock(&ctx_lock);
	struct ctx_use *u = ctx_find(verbs, false);
	if (u && u->users)
		u->users--;
	pthread_mutex_unlock(&ctx_lock);
}

static void ctx_mark_removed(struct tg_rdma *rdma, struct ibv_context *verbs)
{
	pthread_mutex_lock(&ctx_lock);
	struct ctx_use *u = ctx_find(verbs, true);
	if (u)
		u->removed = true;
	pthread_mutex_unlock(&ctx_lock);
	if (!rdma->destroying && !ev_is_active(&rdma->resync_watcher)) {
		ev_timer_set(&rdma->resync_watcher, RESYNC_INTERVAL, RESYNC_INTERVAL);
		ev_timer_start(rdma->loop, &rdma->resync_watcher);
	}
}

static void ctx_redirect_fds(struct ibv_context *verbs)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		tg_warn(LOG, "opening /dev/null: %s", strerror(errno));
		return;
	}
	/* dup3 closes the old file and reuses the number, so no other file can take it over */
	if (verbs->async_fd >= 0)
		dup3(devnull, verbs->async_fd, O_CLOEXEC);
	if (verbs->cmd_fd >= 0)
		dup3(devnull, verbs->cmd_fd, O_CLOEXEC);
	close(devnull);
}

/* True while some removed device's context is still open. */
static bool ctx_resync(void)
{
	bool pending = false, ready = false;
	pthread_mutex_lock(&ctx_lock);
	for (struct ctx_use *u = ctx_uses; u; u = u->next) {
		if (u->removed && u->users == 0)
			ready = true;
	}
	if (ready) {
		int n = 0;
		struct ibv_context **list = rdma_get_devices(&n);
		for (struct ctx_use **p = &ctx_uses; *p;) {
			struct ctx_use *u = *p;
			bool listed = false;
			for (int i = 0; list && list[i]; i++)
				listed |= list[i] == u->verbs;
			if (!u->removed || u->users || listed) {
				p = &u->next;
				continue;
			}
			if (list) {
				tg_info(LOG, "verbs context of a removed device closed by librdmacm");
			} else {
				ctx_redirect_fds(u->verbs);
				tg_info(LOG, "no RDMA device left: released the verbs context of the "
					     "removed device");
			}
			*p = u->next;
			free(u);
		}
		if (list)
			rdma_free_devices(list);
	}
	for (struct ctx_use *u = ctx_uses; u; u = u->next)
		pending |= u->removed;
	pthread_mutex_unlock(&ctx_lock);
	return pending;
}

static void resync_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (!ctx_resync())
		ev_timer_stop(loop, w);
}

/* ---- devices and the pool ---- */

static unsigned log2_floor(size_t v)
{
	unsigned n = 0;
	while (v >>= 1)
		n++;
	return n;
}

static void pool_init(struct tg_rdma_device *dev, const struct tg_rdma_pool_params *p)
{
	size_t size = p->min_buf;
	dev->class_count = 0;
	while (size <= p->max_buf && dev->class_count < MAX_CLASSES) {
		dev->classes[dev->class_count].size = size;
		dev->classes[dev->class_count].free = NULL;
		dev->class_count++;
		size <<= 1;
	}
}

static int pool_class_of(const struct tg_rdma_device *dev, size_t len)
{
	for (unsigned c = 0; c < dev->class_count; c++)
		if (len <= dev->classes[c].size)
			return (int)c;
	return -1;
}

static int pool_grow(struct tg_rdma_device *dev, unsigned cls)
{
	size_t size = dev->classes[cls].size;
	size_t bytes = size >= SLAB_TARGET ? size : SLAB_TARGET / size * size;
	if (dev->stats.slab_bytes + bytes > dev->rdma->pool.max_bytes)
		return -1;
	struct slab *slab = calloc(1, sizeof(*slab));
	void *mem = NULL;
	if (!slab || posix_memalign(&mem, TG_BUF_ALIGN, bytes) != 0) {
		free(slab);
		return -1;
	}
	slab->mr = ibv_reg_mr(dev->pd, mem, bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!slab->mr) {
		tg_warn(LOG, "%s: registering a %zu-byte slab: %s", dev->name, bytes, strerror(errno));
		free(mem);
		free(slab);
		return -1;
	}
	slab->owner.kind = OWNER_SLAB;
	slab->owner.dev = dev;
	slab->mem = mem;
	slab->bytes = bytes;
	slab->cls = cls;
	slab->next = dev->slabs;
	dev->slabs = slab;
	dev->stats.slab_bytes += bytes;
	for (size_t off = bytes; off >= size; off -= size) {
		struct free_buf *fb = (struct free_buf *)((uint8_t *)mem + off - size);
		fb->slab = slab;
		fb->next = dev->classes[cls].free;
		dev->classes[cls].free = fb;
	}
	tg_debug(LOG, "%s: pool class %zu grew by %zu bytes (%zu registered)", dev->name, size,
		 bytes, dev->stats.slab_bytes);
	return 0;
}

int tg_rdma_buf_alloc(struct tg_rdma_device *dev, struct tg_buf *buf, size_t len)
{
	if (dev->removed)
		return -ENOMEM;
	int cls = pool_class_of(dev, len ? len : 1);
	if (cls >= 0 && (dev->classes[cls].free || pool_grow(dev, (unsigned)cls) == 0)) {
		struct free_buf *fb = dev->classes[cls].free;
		dev->classes[cls].free = fb->next;
		buf->base = (uint8_t *)fb;
		buf->len = len;
		buf->cap = dev->classes[cls].size;
		buf->lkey = fb->slab->mr->lkey;
		buf->owner = &fb->slab->owner;
		dev->stats.pooled_allocs++;
		dev->stats.in_use++;
		return 0;
	}
	/* Larger than the largest class, or the slabs have reached their bound: a buffer
	 * registered for this command alone (slower, still no copy). */
	size_t cap = (len + TG_BUF_ALIGN - 1) & ~(size_t)(TG_BUF_ALIGN - 1);
	if (!cap)
		cap = TG_BUF_ALIGN;
	struct single *s = calloc(1, sizeof(*s));
	void *mem = NULL;
	if (!s || posix_memalign(&mem, TG_BUF_ALIGN, cap) != 0) {
		free(s);
		return -ENOMEM;
	}
	s->mr = ibv_reg_mr(dev->pd, mem, cap, IBV_ACCESS_LOCAL_WRITE);
	if (!s->mr) {
		free(mem);
		free(s);
		return -ENOMEM;
	}
	s->owner.kind = OWNER_SINGLE;
	s->owner.dev = dev;
	s->mem = mem;
	s->next = dev->singles;
	if (dev->singles)
		dev->singles->prev = s;
	dev->singles = s;
	buf->base = mem;
	buf->len = len;
	buf->cap = cap;
	buf->lkey = s->mr->lkey;
	buf->owner = &s->owner;
	dev->stats.single_allocs++;
	dev->stats.in_use++;
	return 0;
}

void tg_rdma_buf_free(struct tg_buf *buf)
{
	struct owner *owner = buf->owner;
	if (!buf->base || !owner)
		return;
	struct tg_rdma_device *dev = owner->dev;
	if (owner->kind == OWNER_SLAB) {
		struct slab *slab = (struct slab *)owner;
		struct free_buf *fb = (struct free_buf *)buf->base;
		fb->slab = slab;
		fb->next = dev->classes[slab->cls].free;
		dev->classes[slab->cls].free = fb;
	} else {
		struct single *s = (struct single *)owner;
		if (s->prev)
			s->prev->next = s->next;
		else
			dev->singles = s->next;
		if (s->next)
			s->next->prev = s->prev;
		if (s->mr)
			ibv_dereg_mr(s->mr);
		free(s->mem);
		free(s);
	}
	dev->stats.in_use--;
	memset(buf, 0, sizeof(*buf));
	if (dev->removed || !dev->rdma->listeners)
		device_maybe_free(dev);
}

void tg_rdma_pool_stats(const struct tg_rdma_device *dev, struct tg_rdma_pool_stats *out)
{
	*out = dev->stats;
}

struct ibv_mr *tg_rdma_reg(struct tg_rdma_device *dev, void *addr, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(dev->pd, addr, len, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		tg_warn(LOG, "%s: registering %zu bytes: %s", dev->name, len, strerror(errno));
	return mr;
}

void tg_rdma_dereg(struct ibv_mr *mr)
{
	if (mr)
		ibv_dereg_mr(mr);
}

uint32_t tg_rdma_mr_lkey(const struct ibv_mr *mr) { return mr->lkey; }

void tg_rdma_device_node_guid(const struct tg_rdma_device *dev, uint8_t guid[8])
{
	/* node_guid is kept in network byte order: its bytes are the wire bytes. */
	memcpy(guid, &dev->attr.node_guid, 8);
}

const char *tg_rdma_device_name(const struct tg_rdma_device *dev) { return dev->name; }

static void set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void conn_poll(struct tg_rdma_conn *conn);

static void comp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tg_rdma_device *dev = w->data;
	struct ibv_cq *cq;
	void *ctx;
	while (ibv_get_cq_event(dev->comp, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		conn_poll(ctx);
	}
}

/*
 * The connection an async event is about. Every QP and CQ of the process is made by
 * tg_rdma_conn_setup with the connection as its context, and a QP or CQ cannot be destroyed
 * while one of its events is unacknowledged, so the context is alive here. (Looking it up in
 * this instance's list would miss events that the verbs context's single async fd delivers to
 * whichever instance reads it first, when SRP and iSER each run one.)
 */
static struct tg_rdma_conn *conn_of_qp(struct tg_rdma *rdma, struct ibv_qp *qp)
{
	return qp ? qp->qp_context : NULL;
}

static struct tg_rdma_conn *conn_of_cq(struct tg_rdma *rdma, struct ibv_cq *cq)
{
	return cq ? cq->cq_context : NULL;
}

static void remote_push(struct tg_rdma *to, struct tg_rdma_conn *conn, const char *why)
{
	pthread_mutex_lock(&to->remote_lock);
	bool queued = conn->remote_queued;
	if (!queued) {
		conn->remote_why = why;
		conn->remote_queued = true;
		conn->next_remote = to->remote_head;
		to->remote_head = conn;
	}
	pthread_mutex_unlock(&to->remote_lock);
	if (!queued)
		ev_async_send(to->loop, &to->remote_wake);
}

/* conn_close from whichever thread read the event: a connection of an instance on another
 * thread is closed by that thread. The QP or CQ the event is about cannot be destroyed until
 * the event is acknowledged, so conn is alive while it is queued; conn_free unqueues it. */
static void conn_close_from_event(struct tg_rdma_conn *conn, const char *why)
{
	struct tg_rdma *owner = conn->rdma;
	if (pthread_equal(owner->thread, pthread_self()))
		conn_close(conn, why);
	else
		remote_push(owner, conn, why);
}

static void async_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tg_rdma_device *dev = w->data;
	struct ibv_async_event ev;
	while (ibv_get_async_event(dev->verbs, &ev) == 0) {
		struct tg_rdma_conn *conn = NULL;
		switch (ev.event_type) {
		case IBV_EVENT_COMM_EST:
			/* Data arrived before the CM's RTU: tell the CM the connection is up. */
			conn = conn_of_qp(dev->rdma, ev.element.qp);
			if (conn && conn->id)
				rdma_notify(conn->id, IBV_EVENT_COMM_EST);
			break;
		case IBV_EVENT_QP_FATAL:
		case IBV_EVENT_QP_REQ_ERR:
		case IBV_EVENT_QP_ACCESS_ERR:
			conn = conn_of_qp(dev->rdma, ev.element.qp);
			if (conn)
				conn_close_from_event(conn, ibv_event_type_str(ev.event_type));
			break;
		case IBV_EVENT_CQ_ERR:
			conn = conn_of_cq(dev->rdma, ev.element.cq);
			if (conn)
				conn_close_from_event(conn, "CQ error");
			break;
		case IBV_EVENT_DEVICE_FATAL:
			tg_err(LOG, "%s: device fatal error", dev->name);
			for (struct tg_rdma_conn *c = dev->rdma->conns; c; c = c->next_all)
				if (c->dev == dev)
					conn_close(c, "device fatal error");
			break;
		default:
			tg_debug(LOG, "%s: async event %s", dev->name, ibv_event_type_str(ev.event_type));
			break;
		}
		ibv_ack_async_event(&ev);
	}
}

static struct tg_rdma_device *device_get(struct tg_rdma *rdma, struct ibv_context *verbs)
{
	for (struct tg_rdma_device *d = rdma->devices; d; d = d->next)
		if (d->verbs == verbs && !d->removed)
			return d;
	struct tg_rdma_device *dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->rdma = rdma;
	dev->verbs = verbs;
	snprintf(dev->name, sizeof(dev->name), "%s", ibv_get_device_name(verbs->device));
	if (ibv_query_device(verbs, &dev->attr) != 0) {
		tg_err(LOG, "%s: ibv_query_device: %s", dev->name, strerror(errno));
		free(dev);
		return NULL;
	}
	dev->pd = ibv_alloc_pd(verbs);
	dev->comp = dev->pd ? ibv_create_comp_channel(verbs) : NULL;
	if (!dev->comp) {
		tg_err(LOG, "%s: cannot allocate a PD and completion channel: %s", dev->name,
		       strerror(errno));
		if (dev->pd)
			ibv_dealloc_pd(dev->pd);
		free(dev);
		return NULL;
	}
	pool_init(dev, &rdma->pool);
	set_nonblock(dev->comp->fd);
	set_nonblock(verbs->async_fd);
	ev_io_init(&dev->comp_watcher, comp_cb, dev->comp->fd, EV_READ);
	dev->comp_watcher.data = dev;
	ev_io_start(rdma->loop, &dev->comp_watcher);
	ev_io_init(&dev->async_watcher, async_cb, verbs->async_fd, EV_READ);
	dev->async_watcher.data = dev;
	ev_io_start(rdma->loop, &dev->async_watcher);
	dev->next = rdma->devices;
	rdma->devices = dev;
	ctx_hold(verbs);
	tg_info(LOG, "%s: device opened (max %d QP WRs, %d CQEs, RDMA READ depth %d)", dev->name,
		dev->attr.max_qp_wr, dev->attr.max_cqe, dev->attr.max_qp_init_rd_atom);
	return dev;
}

/* Everything this instance made on the device's verbs context goes; buffers still lent out
 * keep their memory (unregistered) until they come back. */
static void device_release_verbs(struct tg_rdma_device *dev)
{
	if (dev->verbs_released)
		return;
	dev->verbs_released = true;
	struct tg_rdma *rdma = dev->rdma;
	ev_io_stop(rdma->loop, &dev->comp_watcher);
	ev_io_stop(rdma->loop, &dev->async_watcher);
	for (struct slab *s = dev->slabs; s; s = s->next) {
		ibv_dereg_mr(s->mr);
		s->mr = NULL;
	}
	for (struct single *s = dev->singles; s; s = s->next) {
		ibv_dereg_mr(s->mr);
		s->mr = NULL;
	}
	ibv_destroy_comp_channel(dev->comp);
	ibv_dealloc_pd(dev->pd);
	tg_info(LOG, "%s: device closed%s", dev->name,
		dev->stats.in_use ? " (buffers still in use are freed when they come back)" : "");
	ctx_put(dev->verbs);
}

static void device_free(struct tg_rdma_device *dev)
{
	struct tg_rdma *rdma = dev->rdma;
	for (struct tg_rdma_device **p = &rdma->devices; *p; p = &(*p)->next) {
		if (*p == dev) {
			*p = dev->next;
			break;
		}
	}
	device_release_verbs(dev);
	while (dev->slabs) {
		struct slab *s = dev->slabs;
		dev->slabs = s->next;
		free(s->mem);
		free(s);
	}
	free(dev);
}

/* A removed device lets go of the verbs context once it has no connection left, and goes
 * entirely once its buffers are back too. */
static void device_maybe_free(struct tg_rdma_device *dev)
{
	if (dev->conns)
		return;
	if (!dev->removed) {
		/* An instance without a listener (one that serves connections handed over to it)
		 * hears of a device removal only through its connections' CM ids: it keeps a
		 * device open only while something of it is in use. */
		if (!dev->rdma->listeners && !dev->rdma->destroying && dev->stats.in_use == 0)
			device_free(dev);
		return;
	}
	if (dev->stats.in_use == 0)
		device_free(dev);
	else
		device_release_verbs(dev);
}

/* ---- connections ---- */

static void conn_unlink(struct tg_rdma_conn *conn)
{
	if (conn->prev_all)
		conn->prev_all->next_all = conn->next_all;
	else if (conn->rdma->conns == conn)
		conn->rdma->conns = conn->next_all;
	if (conn->next_all)
		conn->next_all->prev_all = conn->prev_all;
	conn->next_all = conn->prev_all = NULL;
}

static void conn_destroy_verbs(struct tg_rdma_conn *conn)
{
	if (conn->id && conn->id->qp)
		rdma_destroy_qp(conn->id);
	if (conn->cq) {
		ibv_destroy_cq(conn->cq);
		conn->cq = NULL;
	}
}

static void sent_add(struct tg_rdma_conn *conn, struct tg_rdma_op *op)
{
	op->sent_prev = NULL;
	op->sent_next = conn->sent;
	if (conn->sent)
		conn->sent->sent_prev = op;
	conn->sent = op;
}

static void sent_remove(struct tg_rdma_conn *conn, struct tg_rdma_op *op)
{
	if (op->sent_prev)
		op->sent_prev->sent_next = op->sent_next;
	else if (conn->sent == op)
		conn->sent = op->sent_next;
	if (op->sent_next)
		op->sent_next->sent_prev = op->sent_prev;
	op->sent_next = op->sent_prev = NULL;
}

/* Frees conn entirely; the ULP has been told (released) or never accepted it. */
static void conn_free(struct tg_rdma_conn *conn, bool tell_ulp)
{
	struct tg_rdma *rdma = conn->rdma;
	ev_timer_stop(rdma->loop, &conn->drain_timer);
	conn_destroy_verbs(conn);
	/* Work requests that never came back (drain timeout): their ops end here. */
	while (conn->sent) {
		struct tg_rdma_op *op = conn->sent;
		sent_remove(conn, op);
		op->done(op, op->status ? op->status : -ECANCELED);
	}
	if (tell_ulp && conn->ops && conn->ops->released)
		conn->ops->released(conn);
	if (conn->id)
		rdma_destroy_id(conn->id);
	conn_unlink(conn);
	if (conn->remote_queued) {
		pthread_mutex_lock(&rdma->remote_lock);
		for (struct tg_rdma_conn **p = &rdma->remote_head; *p; p = &(*p)->next_remote) {
			if (*p == conn) {
				*p = conn->next_remote;
				break;
			}
		}
		conn->remote_queued = false;
		pthread_mutex_unlock(&rdma->remote_lock);
	}
	post_unschedule(conn);
	if (conn->on_work) {
		for (struct tg_rdma_conn **p = &rdma->work_head; *p; p = &(*p)->next_work) {
			if (*p == conn) {
				*p = conn->next_work;
				break;
			}
		}
	}
	struct tg_rdma_device *dev = conn->dev;
	free(conn);
	if (dev) {
		dev->conns--;
		device_maybe_free(dev);
	}
}

static uint32_t in_flight(const struct tg_rdma_conn *conn)
{
	return (conn->sq_depth - conn->sq_free) + conn->rq_posted;
}

/* Deferred: tells the ULP about closing, then frees the connection once it is drained. */
static void conn_work(struct tg_rdma_conn *conn)
{
	if (conn->closing_pending) {
		conn->closing_pending = false;
		if (conn->ops && conn->ops->closing)
			conn->ops->closing(conn);
	}
	if (conn->state == CONN_CLOSING && conn->ulp_released && !conn->busy &&
	    (in_flight(conn) == 0 || conn->drain_expired)) {
		if (in_flight(conn))
			tg_warn(LOG, "%s: %u work requests never completed; freeing anyway",
				conn->peer, in_flight(conn));
		/* Ops that never got their completions are owned by the queue now. */
		conn_free(conn, true);
	}
}

static void drain_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tg_rdma_conn *conn = w->data;
	conn->drain_expired = true;
	conn_schedule(conn);
}

static void conn_close(struct tg_rdma_conn *conn, const char *why)
{
	if (conn->state == CONN_CLOSING)
		return;
	enum conn_state was = conn->state;
	conn->state = CONN_CLOSING;
	tg_info(LOG, "%s: connection closing: %s", conn->peer, why);
	if (conn->id && (was == CONN_ACCEPTED || was == CONN_LIVE)) {
		/* Moves the QP to the error state (flushing what is posted) and sends a DREQ. */
		rdma_disconnect(conn->id);
	} else if (conn->id && conn->id->qp) {
		struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
		ibv_modify_qp(conn->id->qp, &attr, IBV_QP_STATE);
	}
	/* Ops not yet (fully) on the send queue never go out. */
	struct tg_rdma_op *op = conn->op_head;
	conn->op_head = conn->op_tail = NULL;
	while (op) {
		struct tg_rdma_op *next = op->next;
		op->all_posted = true;
		if (!op->status)
			op->status = -ECANCELED;
		if (op->in_flight == 0)
			defer_done(op);
		/* else: its flushed work requests complete it */
		op = next;
	}
	if (conn->ops)
		conn->closing_pending = true;
	ev_timer_set(&conn->drain_timer, DRAIN_TIMEOUT, 0);
	ev_timer_start(conn->rdma->loop, &conn->drain_timer);
	conn_schedule(conn);
}

/* Appends to wrs/sges the work requests of op that fit in limit, advancing its progress;
 * returns how many. */
static unsigned op_build(struct tg_rdma_conn *conn, struct tg_rdma_op *op, struct ibv_send_wr *wrs,
			 struct ibv_sge *sges, unsigned limit)
{
	unsigned n = 0;
	if (op->kind == TG_RDMA_SEND) {
		sges[0] = (struct ibv_sge){ .addr = (uintptr_t)op->local, .length = op->len,
					    .lkey = op->lkey };
		wrs[0] = (struct ibv_send_wr){ .wr_id = (uintptr_t)op, .sg_list = &sges[0],
					       .num_sge = 1, .opcode = IBV_WR_SEND,
					       .send_flags = IBV_SEND_SIGNALED };
		if (op->len <= conn->max_inline)
			wrs[0].send_flags |= IBV_SEND_INLINE;
		op->offset = op->len;
		return 1;
	}
	while (n < limit && op->offset < op->len && op->seg < op->nremote) {
		const struct tg_rdma_remote *r = &op->remote[op->seg++];
		uint32_t len = op->len - op->offset < r->len ? op->len - op->offset : r->len;
		if (!len)
			continue;
		sges[n] = (struct ibv_sge){ .addr = (uintptr_t)op->local + op->offset, .length = len,
					    .lkey = op->lkey };
		wrs[n] = (struct ibv_send_wr){
			.wr_id = (uintptr_t)op, .sg_list = &sges[n], .num_sge = 1,
			.opcode = op->kind == TG_RDMA_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.wr.rdma = { .remote_addr = r->addr, .rkey = r->rkey },
		};
		op->offset += len;
		n++;
	}
	return n;
}

/* Ops on the send queue outlive their place in the queue list: they are found again through
 * wr_id. The queue list holds only ops with work requests still to post. Work requests of
 * several ops go out in one ibv_post_send (one doorbell) as far as the send queue allows. */
static void pump(struct tg_rdma_conn *conn)
{
	while (conn->state != CONN_CLOSING && conn->op_head && conn->sq_free) {
		struct ibv_send_wr wrs[POST_BATCH];
		struct ibv_sge sges[POST_BATCH];
		struct tg_rdma_op *ops[POST_BATCH];
		unsigned limit = conn->sq_free < POST_BATCH ? conn->sq_free : POST_BATCH, n = 0;
		/* Whole ops leave the backlog as they are built; a partly built one stays first. */
		while (n < limit && conn->op_head) {
			struct tg_rdma_op *op = conn->op_head;
			unsigned k = op_build(conn, op, &wrs[n], &sges[n], limit - n);
			for (unsigned i = 0; i < k; i++)
				ops[n + i] = op;
			n += k;
			if (op->offset < op->len && op->seg < op->nremote)
				break;
			op->all_posted = true;
			conn->op_head = op->next;
			if (!conn->op_head)
				conn->op_tail = NULL;
		}
		if (!n)
			break;
		for (unsigned i = 0; i + 1 < n; i++)
			wrs[i].next = &wrs[i + 1];
		struct ibv_send_wr *bad = NULL;
		int rc = ibv_post_send(conn->id->qp, &wrs[0], &bad);
		unsigned posted = n;
		if (rc) {
			posted = 0;
			while (posted < n && &wrs[posted] != bad)
				posted++;
		}
		for (unsigned i = 0; i < posted; i++) {
			if (ops[i]->in_flight++ == 0)
				sent_add(conn, ops[i]);
		}
		conn->sq_free -= posted;
		if (rc) {
			tg_err(LOG, "%s: ibv_post_send: %s", conn->peer, strerror(rc));
			/* The ops whose work requests did not all go out fail; conn_close cancels the
			 * backlog behind them. */
			for (unsigned i = posted; i < n; i++) {
				struct tg_rdma_op *op = ops[i];
				if (i > posted && ops[i - 1] == op)
					continue;
				op->status = -EIO;
				if (!op->all_posted) {
					op->all_posted = true;
					conn->op_head = op->next;
					if (!conn->op_head)
						conn->op_tail = NULL;
				}
				if (op->in_flight == 0)
					defer_done(op);
			}
			conn_close(conn, "post failed");
		}
	}
}

static void post_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct tg_rdma *rdma = w->data;
	while (rdma->post_head) {
		struct tg_rdma_conn *conn = rdma->post_head;
		rdma->post_head = conn->next_post;
		conn->post_queued = false;
		pump(conn);
	}
}

static void post_schedule(struct tg_rdma_conn *conn)
{
	struct tg_rdma *rdma = conn->rdma;
	if (conn->post_queued)
		return;
	conn->post_queued = true;
	conn->next_post = rdma->post_head;
	rdma->post_head = conn;
}

static void post_unschedule(struct tg_rdma_conn *conn)
{
	if (!conn->post_queued)
		return;
	for (struct tg_rdma_conn **p = &conn->rdma->post_head; *p; p = &(*p)->next_post) {
		if (*p == conn) {
			*p = conn->next_post;
			break;
		}
	}
	conn->post_queued = false;
}

int tg_rdma_post(struct tg_rdma_conn *conn, struct tg_rdma_op *op)
{
	if (conn->state != CONN_ACCEPTED && conn->state != CONN_LIVE)
		return -ENOTCONN;
	if (!op->len || !op->done)
		return -EINVAL;
	if (op->kind != TG_RDMA_SEND) {
		uint64_t covered = 0;
		for (uint32_t i = 0; i < op->nremote; i++)
			covered += op->remote[i].len;
		if (covered < op->len)
			return -EINVAL;
	}
	op->next = NULL;
	op->conn = conn;
	op->seg = 0;
	op->offset = 0;
	op->in_flight = 0;
	op->all_posted = false;
	op->status = 0;
	if (conn->op_tail)
		conn->op_tail->next = op;
	else
		conn->op_head = op;
	conn->op_tail = op;
	post_schedule(conn);
	return 0;
}

int tg_rdma_post_recv(struct tg_rdma_conn *conn, struct tg_rdma_recv *recv)
{
	if (conn->state == CONN_CLOSING || !conn->id || !conn->id->qp)
		return -1;
	struct ibv_sge sge = { .addr = (uintptr_t)recv->buf, .length = recv->len,
			       .lkey = recv->lkey };
	/* Receives are told from sends by the low bit of wr_id (both are pointers). */
	struct ibv_recv_wr wr = { .wr_id = (uintptr_t)recv | 1, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int rc = ibv_post_recv(conn->id->qp, &wr, &bad);
	if (rc) {
		tg_err(LOG, "%s: ibv_post_recv: %s", conn->peer, strerror(rc));
		conn_close(conn, "receive post failed");
		return -1;
	}
	conn->rq_posted++;
	return 0;
}

static void handle_wc(struct tg_rdma_conn *conn, const struct ibv_wc *wc)
{
	if (wc->wr_id & 1) {
		struct tg_rdma_recv *recv = (struct tg_rdma_recv *)(uintptr_t)(wc->wr_id & ~(uint64_t)1);
		conn->rq_posted--;
		if (wc->status == IBV_WC_SUCCESS) {
			if (conn->state != CONN_CLOSING)
				conn->ops->recv(conn, recv, wc->byte_len);
		} else if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			tg_warn(LOG, "%s: receive failed: %s", conn->peer, ibv_wc_status_str(wc->status));
			conn_close(conn, "receive error");
		}
		return;
	}
	struct tg_rdma_op *op = (struct tg_rdma_op *)(uintptr_t)wc->wr_id;
	conn->sq_free++;
	op->in_flight--;
	if (wc->status != IBV_WC_SUCCESS) {
		if (!op->status)
			op->status = wc->status == IBV_WC_WR_FLUSH_ERR ? -ECANCELED : -EIO;
		if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			tg_warn(LOG, "%s: %s failed: %s", conn->peer,
				op->kind == TG_RDMA_SEND   ? "SEND"
				: op->kind == TG_RDMA_READ ? "RDMA READ"
							   : "RDMA WRITE",
				ibv_wc_status_str(wc->status));
			conn_close(conn, "work request error");
		}
	}
	if (op->in_flight == 0) {
		sent_remove(conn, op);
		if (op->all_posted)
			op->done(op, op->status);
	}
}

static void conn_poll(struct tg_rdma_conn *conn)
{
	if (!conn->cq)
		return;
	conn->busy++;
	ibv_req_notify_cq(conn->cq, 0);
	struct ibv_wc wcs[32];
	int n;
	while (conn->cq && (n = ibv_poll_cq(conn->cq, 32, wcs)) > 0) {
		for (int i = 0; i < n; i++)
			handle_wc(conn, &wcs[i]);
	}
	/* Freed send queue slots let the backlog go on. */
	if (conn->op_head)
		post_schedule(conn);
	conn->busy--;
	if (conn->state == CONN_CLOSING)
		conn_schedule(conn);
}

int tg_rdma_conn_setup(struct tg_rdma_conn *conn, const struct tg_rdma_conn_ops *ops,
		       void *ulp_priv, const struct tg_rdma_conn_params *params)
{
	struct tg_rdma_device *dev = conn->dev;
	if (conn->state != CONN_REQUEST || conn->cq || !dev)
		return -1;
	uint32_t max_wr = dev->attr.max_qp_wr > 0 ? (uint32_t)dev->attr.max_qp_wr : 1024;
	uint32_t sq = params->sq_depth < max_wr ? params->sq_depth : max_wr;
	uint32_t rq = params->rq_depth < max_wr ? params->rq_depth : max_wr;
	uint32_t max_cqe = dev->attr.max_cqe > 0 ? (uint32_t)dev->attr.max_cqe : sq + rq;
	if (sq + rq > max_cqe) {
		tg_warn(LOG, "%s: queues of %u+%u exceed the CQ limit %u", conn->peer, sq, rq,
			max_cqe);
		return -1;
	}
	conn->cq = ibv_create_cq(dev->verbs, (int)(sq + rq), conn, dev->comp, 0);
	if (!conn->cq) {
		tg_err(LOG, "%s: ibv_create_cq(%u): %s", conn->peer, sq + rq, strerror(errno));
		return -1;
	}
	if (ibv_req_notify_cq(conn->cq, 0) != 0) {
		ibv_destroy_cq(conn->cq);
		conn->cq = NULL;
		return -1;
	}
	struct ibv_qp_init_attr attr = {
		.qp_context = conn,
		.send_cq = conn->cq,
		.recv_cq = conn->cq,
		.cap = { .max_send_wr = sq, .max_recv_wr = rq, .max_send_sge = 1,
			 .max_recv_sge = 1, .max_inline_data = params->max_inline },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 0,
	};
	if (rdma_create_qp(conn->id, dev->pd, &attr) != 0) {
		tg_err(LOG, "%s: rdma_create_qp(sq %u, rq %u): %s", conn->peer, sq, rq,
		       strerror(errno));
		ibv_destroy_cq(conn->cq);
		conn->cq = NULL;
		return -1;
	}
	conn->ops = ops;
	conn->priv = ulp_priv;
	conn->sq_depth = conn->sq_free = sq;
	conn->rq_depth = rq;
	conn->max_inline = attr.cap.max_inline_data < params->max_inline ? attr.cap.max_inline_data
									 : params->max_inline;
	return 0;
}

int tg_rdma_conn_accept(struct tg_rdma_conn *conn, const void *pdata, size_t pdata_len)
{
	if (conn->state != CONN_REQUEST || !conn->cq)
		return -1;
	struct tg_rdma_device *dev = conn->dev;
	uint8_t init_depth = conn->max_initiator_depth;
	if (init_depth > dev->attr.max_qp_init_rd_atom)
		init_depth = (uint8_t)dev->attr.max_qp_init_rd_atom;
	uint8_t resp_res = conn->max_responder_resources;
	if (resp_res > dev->attr.max_qp_rd_atom)
		resp_res = (uint8_t)dev->attr.max_qp_rd_atom;
	struct rdma_conn_param param = {
		.private_data = pdata,
		.private_data_len = (uint8_t)pdata_len,
		.responder_resources = resp_res,
		.initiator_depth = init_depth,
		.rnr_retry_count = 7,
	};
	if (rdma_accept(conn->id, &param) != 0) {
		tg_err(LOG, "%s: rdma_accept: %s", conn->peer, strerror(errno));
		conn->state = CONN_ACCEPTED; /* so that closing disconnects */
		conn_close(conn, "accept failed");
		return -1;
	}
	conn->state = CONN_ACCEPTED;
	return 0;
}

void tg_rdma_conn_reject(struct tg_rdma_conn *conn, const void *pdata, size_t pdata_len)
{
	if (conn->state == CONN_REQUEST && conn->id)
		rdma_reject(conn->id, pdata, (uint8_t)pdata_len);
	conn->ops = NULL;
	conn->state = CONN_CLOSING;
	if (conn->busy) {
		conn->ulp_released = true;
		conn_schedule(conn);
		return;
	}
	conn_free(conn, false);
}

void tg_rdma_conn_disconnect(struct tg_rdma_conn *conn, const char *why) { conn_close(conn, why); }

void tg_rdma_conn_release(struct tg_rdma_conn *conn)
{
	conn->ulp_released = true;
	conn_schedule(conn);
}

void *tg_rdma_conn_priv(const struct tg_rdma_conn *conn) { return conn->priv; }
struct tg_rdma_device *tg_rdma_conn_device(const struct tg_rdma_conn *conn) { return conn->dev; }
const char *tg_rdma_conn_peer(const struct tg_rdma_conn *conn) { return conn->peer; }
const struct sockaddr *tg_rdma_conn_local_addr(const struct tg_rdma_conn *conn)
{
	return conn->id ? rdma_get_local_addr(conn->id) : NULL;
}
struct tg_rdma_listener *tg_rdma_conn_listener(const struct tg_rdma_conn *conn)
{
	return conn->listener;
}
bool tg_rdma_conn_is_closing(const struct tg_rdma_conn *conn)
{
	return conn->state == CONN_CLOSING;
}
uint32_t tg_rdma_conn_sq_depth(const struct tg_rdma_conn *conn) { return conn->sq_depth; }

static void format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		snprintf(buf, len, "?");
	}
}

static void handle_connect_request(struct tg_rdma *rdma, struct rdma_cm_event *ev)
{
	struct tg_rdma_listener *listener = ev->listen_id ? ev->listen_id->context : NULL;
	struct rdma_cm_id *id = ev->id;
	uint8_t pdata[256];
	size_t plen = ev->param.conn.private_data_len;
	if (plen > sizeof(pdata))
		plen = sizeof(pdata);
	if (plen)
		memcpy(pdata, ev->param.conn.private_data, plen);
	uint8_t max_init_depth = ev->param.conn.initiator_depth;
	uint8_t max_resp_res = ev->param.conn.responder_resources;
	rdma_ack_cm_event(ev);

	struct tg_rdma_device *dev = id->verbs ? device_get(rdma, id->verbs) : NULL;
	struct tg_rdma_conn *conn = dev ? calloc(1, sizeof(*conn)) : NULL;
	if (!listener || !conn) {
		tg_err(LOG, "connect request refused: out of resources");
		free(conn);
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return;
	}
	conn->kind = OBJ_CONN;
	conn->rdma = rdma;
	conn->id = id;
	conn->listener = listener;
	conn->dev = dev;
	conn->state = CONN_REQUEST;
	conn->max_initiator_depth = max_init_depth;
	conn->max_responder_resources = max_resp_res;
	format_addr(rdma_get_peer_addr(id), conn->peer, sizeof(conn->peer));
	ev_timer_init(&conn->drain_timer, drain_timer_cb, DRAIN_TIMEOUT, 0);
	conn->drain_timer.data = conn;
	id->context = conn;
	dev->conns++;
	conn->next_all = rdma->conns;
	if (rdma->conns)
		rdma->conns->prev_all = conn;
	rdma->conns = conn;
	tg_debug(LOG, "%s: connect request on %s (%zu bytes of private data, RDMA READ depth %u)",
		 conn->peer, listener->name, plen, max_init_depth);
	listener->ops->connect_request(listener->ulp, conn, pdata, plen);
}

static int listener_bind(struct tg_rdma_listener *l, char *err, size_t errlen);

static void rebind_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tg_rdma_listener *l = w->data;
	char err[256];
	if (listener_bind(l, err, sizeof(err)) == 0) {
		ev_timer_stop(loop, w);
		tg_info(LOG, "listening on %s again", l->name);
	}
}

/* The kernel removes a device only once every user has let go of it: connections on it close,
 * and its PD, completion channel and pool go as soon as nothing uses them any more. */
static void device_removed(struct tg_rdma *rdma, struct ibv_context *verbs)
{
	ctx_mark_removed(rdma, verbs);
	struct tg_rdma_device *dev = NULL;
	for (struct tg_rdma_device *d = rdma->devices; d; d = d->next)
		if (d->verbs == verbs)
			dev = d;
	if (!dev || dev->removed)
		return;
	dev->removed = true;
	tg_warn(LOG, "%s: RDMA device removed: closing its %u connection(s)", dev->name, dev->conns);
	for (struct tg_rdma_conn *c = rdma->conns; c; c = c->next_all)
		if (c->dev == dev)
			conn_close(c, "RDMA device removed");
	device_maybe_free(dev);
}

static void listener_unbind(struct tg_rdma_listener *l)
{
	if (l->id)
		rdma_destroy_id(l->id);
	l->id = NULL;
	if (l->held)
		ctx_put(l->held);
	l->held = NULL;
}

static void listener_device_removed(struct tg_rdma_listener *l)
{
	tg_warn(LOG, "%s: RDMA device removed; will listen again once it is back", l->name);
	if (l->id->verbs)
		device_removed(l->rdma, l->id->verbs);
	listener_unbind(l);
	ev_timer_set(&l->rebind, REBIND_INTERVAL, REBIND_INTERVAL);
	ev_timer_start(l->rdma->loop, &l->rebind);
}

static void handle_cm_event(struct tg_rdma *rdma, struct rdma_cm_event *ev)
{
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		handle_connect_request(rdma, ev);
		return;
	}
	int *kind = ev->id ? ev->id->context : NULL;
	enum rdma_cm_event_type type = ev->event;
	rdma_ack_cm_event(ev);
	if (!kind)
		return;
	if (*kind == OBJ_LISTENER) {
		struct tg_rdma_listener *l = (struct tg_rdma_listener *)kind;
		if (type == RDMA_CM_EVENT_DEVICE_REMOVAL)
			listener_device_removed(l);
		else
			tg_debug(LOG, "%s: %s", l->name, rdma_event_str(type));
		return;
	}
	struct tg_rdma_conn *conn = (struct tg_rdma_conn *)kind;
	switch (type) {
	case RDMA_CM_EVENT_ESTABLISHED:
		if (conn->state == CONN_ACCEPTED) {
			conn->state = CONN_LIVE;
			if (conn->ops && conn->ops->established)
				conn->ops->established(conn);
		}
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		conn_close(conn, "disconnected by the peer");
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		if (conn->dev)
			device_removed(rdma, conn->dev->verbs);
		break;
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		conn_close(conn, rdma_event_str(type));
		break;
	default:
		tg_debug(LOG, "%s: %s", conn->peer, rdma_event_str(type));
		break;
	}
}

static void cm_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tg_rdma *rdma = w->data;
	struct rdma_cm_event *ev;
	while (rdma_get_cm_event(rdma->channel, &ev) == 0)
		handle_cm_event(rdma, ev);
}

static void deferred_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tg_rdma *rdma = w->data;
	while (rdma->done_head || rdma->work_head) {
		while (rdma->done_head) {
			struct tg_rdma_op *op = rdma->done_head;
			rdma->done_head = op->next;
			if (!rdma->done_head)
				rdma->done_tail = NULL;
			op->done(op, op->status);
		}
		while (rdma->work_head) {
			struct tg_rdma_conn *conn = rdma->work_head;
			rdma->work_head = conn->next_work;
			conn->on_work = false;
			conn_work(conn);
		}
	}
	rdma->deferred_active = false;
	ev_timer_stop(loop, w);
}

/* ---- connections handed to another thread's instance ---- */

void tg_rdma_conn_hand_over(struct tg_rdma_conn *conn, struct tg_rdma *to,
			    void (*then)(struct tg_rdma_conn *conn, void *arg), void *arg)
{
	/* Events of the CM id that still reach this instance's channel before the new owner
	 * has migrated it are dropped: nothing of this instance touches the connection now. */
	/* What this thread queued goes out from here: the new owner's list never sees it. */
	if (conn->post_queued) {
		post_unschedule(conn);
		pump(conn);
	}
	conn_unlink(conn);
	conn->id->context = NULL;
	struct tg_rdma_device *dev = conn->dev;
	conn->dev = NULL;
	conn->adopt = then;
	conn->adopt_arg = arg;
	conn->rdma = to;
	remote_push(to, conn, NULL);
	if (dev) {
		dev->conns--;
		device_maybe_free(dev);
	}
}

/* On the new owner's thread: the CM id's events come to this instance's channel from now on,
 * and the connection uses this instance's PD, completion channel and pool. */
static void conn_adopt(struct tg_rdma *rdma, struct tg_rdma_conn *conn)
{
	void (*then)(struct tg_rdma_conn *, void *) = conn->adopt;
	void *arg = conn->adopt_arg;
	conn->adopt = NULL;
	conn->adopt_arg = NULL;
	if (rdma_migrate_id(conn->id, rdma->channel) == 0) {
		conn->dev = conn->id->verbs ? device_get(rdma, conn->id->verbs) : NULL;
	} else {
		tg_err(LOG, "%s: rdma_migrate_id: %s", conn->peer, strerror(errno));
	}
	conn->id->context = conn;
	if (conn->dev)
		conn->dev->conns++;
	conn->next_all = rdma->conns;
	if (rdma->conns)
		rdma->conns->prev_all = conn;
	rdma->conns = conn;
	then(conn, arg);
}

static void remote_run(struct tg_rdma *rdma)
{
	for (;;) {
		pthread_mutex_lock(&rdma->remote_lock);
		struct tg_rdma_conn *conn = rdma->remote_head;
		if (conn) {
			rdma->remote_head = conn->next_remote;
			conn->remote_queued = false;
		}
		pthread_mutex_unlock(&rdma->remote_lock);
		if (!conn)
			return;
		if (conn->adopt)
			conn_adopt(rdma, conn);
		else
			conn_close(conn, conn->remote_why ? conn->remote_why : "closed");
	}
}

static void remote_cb(struct ev_loop *loop, ev_async *w, int revents) { remote_run(w->data); }

/* ---- listeners ---- */

static int listener_bind(struct tg_rdma_listener *l, char *err, size_t errlen)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", l->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(l->host[0] ? l->host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "RDMA listen %s: %s", l->name, gai_strerror(rc));
		return -1;
	}
	struct rdma_cm_id *id = NULL;
	if (rdma_create_id(l->rdma->channel, &id, l, RDMA_PS_TCP) != 0) {
		snprintf(err, errlen, "RDMA listen %s: rdma_create_id: %s", l->name, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	if (rdma_bind_addr(id, res->ai_addr) != 0 || rdma_listen(id, 128) != 0) {
		snprintf(err, errlen, "RDMA listen %s: %s", l->name, strerror(errno));
		rdma_destroy_id(id);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	l->id = id;
	l->held = id->verbs;
	if (l->held)
		ctx_hold(l->held);
	return 0;
}

struct tg_rdma_listener *tg_rdma_listen(struct tg_rdma *rdma, const char *host, uint16_t port,
					const struct tg_rdma_listener_ops *ops, void *ulp,
					char *err, size_t errlen)
{
	struct tg_rdma_listener *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->kind = OBJ_LISTENER;
	l->rdma = rdma;
	l->ops = ops;
	l->ulp = ulp;
	l->port = port;
	snprintf(l->host, sizeof(l->host), "%s", host ? host : "");
	if (strchr(l->host, ':'))
		snprintf(l->name, sizeof(l->name), "[%s]:%u", l->host, port);
	else
		snprintf(l->name, sizeof(l->name), "%s:%u", l->host[0] ? l->host : "*", port);
	ev_timer_init(&l->rebind, rebind_cb, REBIND_INTERVAL, REBIND_INTERVAL);
	l->rebind.data = l;
	if (listener_bind(l, err, errlen) != 0) {
		free(l);
		return NULL;
	}
	l->next = rdma->listeners;
	rdma->listeners = l;
	return l;
}

void tg_rdma_listener_close(struct tg_rdma_listener *listener)
{
	struct tg_rdma *rdma = listener->rdma;
	for (struct tg_rdma_listener **p = &rdma->listeners; *p; p = &(*p)->next) {
		if (*p == listener) {
			*p = listener->next;
			break;
		}
	}
	ev_timer_stop(rdma->loop, &listener->rebind);
	listener_unbind(listener);
	free(listener);
}

const char *tg_rdma_listener_name(const struct tg_rdma_listener *listener)
{
	return listener->name;
}

/* ---- instance ---- */

int tg_rdma_device_count(void)
{
	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);
	if (!list)
		return 0;
	ibv_free_device_list(list);
	return n;
}

struct tg_rdma *tg_rdma_create(struct ev_loop *loop, const struct tg_rdma_pool_params *params)
{
	struct tg_rdma *rdma = calloc(1, sizeof(*rdma));
	if (!rdma)
		return NULL;
	rdma->loop = loop;
	rdma->pool.min_buf = 4096;
	rdma->pool.max_buf = 1u << 20;
	rdma->pool.max_bytes = 256u << 20;
	if (params) {
		if (params->min_buf >= 4096)
			rdma->pool.min_buf = (size_t)1 << log2_floor(params->min_buf);
		if (params->max_buf)
			rdma->pool.max_buf = (size_t)1 << log2_floor(params->max_buf);
		if (params->max_bytes)
			rdma->pool.max_bytes = params->max_bytes;
	}
	if (rdma->pool.max_buf < rdma->pool.min_buf)
		rdma->pool.max_buf = rdma->pool.min_buf;
	rdma->channel = rdma_create_event_channel();
	if (!rdma->channel) {
		int e = errno;
		free(rdma);
		errno = e;
		return NULL;
	}
	set_nonblock(rdma->channel->fd);
	ev_io_init(&rdma->cm_watcher, cm_cb, rdma->channel->fd, EV_READ);
	rdma->cm_watcher.data = rdma;
	ev_io_start(loop, &rdma->cm_watcher);
	ev_timer_init(&rdma->deferred_watcher, deferred_cb, 0, 0);
	rdma->deferred_watcher.data = rdma;
	/* Always active (a watcher started from another prepare callback would miss this turn),
	 * and, like remote_wake, not what keeps the loop running. */
	ev_prepare_init(&rdma->post_watcher, post_flush_cb);
	rdma->post_watcher.data = rdma;
	ev_prepare_start(loop, &rdma->post_watcher);
	ev_unref(loop);
	ev_timer_init(&rdma->resync_watcher, resync_cb, RESYNC_INTERVAL, RESYNC_INTERVAL);
	rdma->resync_watcher.data = rdma;
	rdma->thread = pthread_self();
	pthread_mutex_init(&rdma->remote_lock, NULL);
	ev_async_init(&rdma->remote_wake, remote_cb);
	rdma->remote_wake.data = rdma;
	ev_async_start(loop, &rdma->remote_wake);
	/* Only wakes the loop: it does not keep it running. */
	ev_unref(loop);
	return rdma;
}

void tg_rdma_destroy(struct tg_rdma *rdma)
{
	if (!rdma)
		return;
	while (rdma->listeners)
		tg_rdma_listener_close(rdma->listeners);
	/* Connections handed over and not yet taken in are taken in (their ULP then refuses
	 * them); queued closes happen in the loop below anyway. */
	remote_run(rdma);
	ev_ref(rdma->loop);
	ev_async_stop(rdma->loop, &rdma->remote_wake);
	ev_ref(rdma->loop);
	ev_prepare_stop(rdma->loop, &rdma->post_watcher);
	/* Whatever is still deferred runs now, then every connection goes, drained or not. */
	if (rdma->deferred_active)
		deferred_cb(rdma->loop, &rdma->deferred_watcher, 0);
	rdma->destroying = true;
	while (rdma->conns) {
		struct tg_rdma_conn *conn = rdma->conns;
		bool accepted = conn->state != CONN_REQUEST;
		conn_close(conn, "shutting down");
		if (conn->closing_pending) {
			conn->closing_pending = false;
			if (conn->ops && conn->ops->closing)
				conn->ops->closing(conn);
		}
		while (rdma->done_head) {
			struct tg_rdma_op *op = rdma->done_head;
			rdma->done_head = op->next;
			op->done(op, op->status);
		}
		rdma->done_tail = NULL;
		conn_free(conn, accepted);
	}
	ev_io_stop(rdma->loop, &rdma->cm_watcher);
	ev_timer_stop(rdma->loop, &rdma->resync_watcher);
	while (rdma->devices) {
		rdma->devices->removed = true;
		device_free(rdma->devices);
	}
	rdma_destroy_event_channel(rdma->channel);
	pthread_mutex_destroy(&rdma->remote_lock);
	free(rdma);
}
