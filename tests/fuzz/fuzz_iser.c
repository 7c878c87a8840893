/* libFuzzer target: the iSER header + iSCSI PDU parse path and the iSER datamover behind it, fed the SENDs an initiator could make, over an RDMA loopback (no device needed). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/scsi.h"
#include "iscsi_harness.h"
#include "transports/iser/iser_internal.h"
#include "transports/iser/proto.h"

/*
 * Input: byte 0 says how the initiator behaves (bit 0: it waits for the backend after each
 * message; bit 1: it ends by disconnecting rather than the target closing; bit 2: its QP
 * fails after the first RDMA operation), then messages, each a 2-byte big-endian length and
 * that many bytes, delivered as the SENDs the target receives. gen-corpus-fuzz_iser.py writes
 * the seeds in this form.
 */
#define OPS_MAX 1024
#define INIT_MEM (1u << 20)
#define SETTLE_TURNS 100

static const char config_template[] =
	"global = { log_level = \"error\"; };\n"
	"transports = { iser = { listen = [ \"127.0.0.1:3260\" ]; }; };\n"
	"devices = ( { name = \"disk0\"; backend = \"file\"; path = \"%1$s/disk0.img\"; size = \"4M\"; } );\n"
	"targets = ( { name = \"iqn.2026-11.org.targe:fuzz\"; transports = [ \"iser\" ];\n"
	"              luns = ( { lun = 0; device = \"disk0\"; } ); } );\n";

static struct {
	struct tg_config *config;
	struct ev_loop *loop;
} env;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	env.config = fuzz_scratch_config(config_template);
	fuzz_log_level_from_env();
	env.loop = ev_loop_new(EVFLAG_AUTO);
	if (!env.loop)
		fatal("no event loop");
	return 0;
}

/* ---- the initiator's side of the RDMA connection ---- */

struct loopback {
	struct tg_rdma_recv *posted[ISER_RECVS_MAX];
	unsigned nposted;
	struct tg_rdma_op *ops[OPS_MAX];
	unsigned nops;
	bool disconnected, fail_ops, fail_after_first, release_called;
	int bufs_out, regs_out;
	uint8_t mem[INIT_MEM];
};

static struct loopback lb;

static int lb_post(struct iser_conn *ic, struct tg_rdma_op *op)
{
	if (lb.disconnected)
		return -ENOTCONN;
	CHECK(lb.nops < OPS_MAX, "more ops posted than a send queue holds");
	CHECK(op->len > 0 && op->done, "an op of %u bytes", op->len);
	lb.ops[lb.nops++] = op;
	return 0;
}

static int lb_post_recv(struct iser_conn *ic, struct tg_rdma_recv *recv)
{
	if (lb.disconnected)
		return -1;
	CHECK(lb.nposted < ISER_RECVS_MAX, "more receives posted than the queue holds");
	lb.posted[lb.nposted++] = recv;
	return 0;
}

static void lb_disconnect(struct iser_conn *ic, const char *why)
{
	lb.disconnected = true;
	lb.fail_ops = true;
}

static void lb_release(struct iser_conn *ic)
{
	CHECK(!lb.release_called, "released twice");
	lb.release_called = true;
}

static void *lb_reg(struct iser_conn *ic, void *mem, size_t len, uint32_t *lkey)
{
	lb.regs_out++;
	*lkey = 1;
	return malloc(1);
}

static void lb_dereg(void *mr)
{
	lb.regs_out--;
	free(mr);
}

static int lb_buf_alloc(struct iser_conn *ic, struct tg_buf *buf, size_t len)
{
	if (tg_buf_alloc(buf, len) != 0)
		return -ENOMEM;
	buf->lkey = 2;
	buf->owner = &lb;
	lb.bufs_out++;
	return 0;
}

static void lb_buf_free(struct tg_buf *buf)
{
	CHECK(buf->owner == &lb, "a buffer freed through the wrong pool");
	lb.bufs_out--;
	tg_buf_free(buf);
}

static const struct iser_rdma_ops loopback_ops = {
	.post = lb_post, .post_recv = lb_post_recv, .disconnect = lb_disconnect,
	.release = lb_release, .reg = lb_reg, .dereg = lb_dereg,
	.buf_alloc = lb_buf_alloc, .buf_free = lb_buf_free,
};

/* Data-In and R2T never travel over iSER: RDMA WRITE and READ replace them. */
static bool target_opcode(uint8_t op)
{
	return fuzz_target_opcode(op) && op != ISCSI_OP_DATA_IN && op != ISCSI_OP_R2T;
}

/* What the target SENDs must be a HelloReply or one well-formed target PDU. */
static void check_send(const uint8_t *m, uint32_t len)
{
	CHECK(len >= ISER_HELLO_LEN, "a SEND of %u bytes", len);
	if ((m[0] >> 4) == ISER_OP_HELLO_REPLY) {
		CHECK(len == ISER_HELLO_LEN, "HelloReply of %u bytes", len);
		return;
	}
	CHECK(m[0] == 0x10 && len >= ISER_PDU_HDRS_LEN, "iSER header %#x, %u bytes", m[0], len);
	for (int i = 1; i < ISER_HDR_LEN; i++)
		CHECK(m[i] == 0, "target iSER header byte %d is %#x", i, m[i]);
	const uint8_t *bhs = m + ISER_HDR_LEN;
	CHECK(target_opcode(bhs[0] & 0x3f) && (bhs[0] & 0xc0) == 0, "opcode %#x", bhs[0]);
	CHECK(bhs[4] == 0, "a target PDU with AHS");
	uint32_t dsl = get_be24(bhs + 5);
	CHECK(dsl <= ISER_SEND_DSL_MAX, "a data segment of %u bytes in a SEND", dsl);
	CHECK(len == ISER_PDU_HDRS_LEN + dsl + iscsi_pad(dsl), "SEND of %u for DSL %u", len, dsl);
}

/* Completes the oldest op; false when the connection just broke over it. */
static void complete_one(struct iser_conn *ic)
{
	struct tg_rdma_op *op = lb.ops[0];
	memmove(lb.ops, lb.ops + 1, (lb.nops - 1) * sizeof(lb.ops[0]));
	lb.nops--;
	int status = lb.fail_ops ? -ECANCELED : 0;
	bool broke = false;
	if (!status && op->kind == TG_RDMA_SEND) {
		check_send(op->local, op->len);
	} else if (!status) {
		CHECK(op->nremote == 1 && op->remote, "%u remote segments", op->nremote);
		const struct tg_rdma_remote *r = op->remote;
		/* The initiator's STag covers its buffer only: anything else is a remote access
		 * error, which breaks the connection. */
		if (r->len < op->len || r->addr >= INIT_MEM || INIT_MEM - r->addr < op->len) {
			status = -EIO;
			broke = true;
		} else if (op->kind == TG_RDMA_READ) {
			memcpy(op->local, lb.mem + r->addr, op->len);
		} else {
			memcpy(lb.mem + r->addr, op->local, op->len);
		}
		if (lb.fail_after_first)
			broke = true;
	}
	if (broke) {
		lb.disconnected = true;
		lb.fail_ops = true;
	}
	op->done(op, status);
	if (broke && !ic->rdma_closing)
		iser_conn_closing(ic, "RDMA operation failed");
}

static bool busy_list(const struct iscsi_session *s)
{
	for (; s; s = s->next)
		if (fuzz_busy_cmd(s))
			return true;
	return false;
}

/* Runs ops and the backend until nothing moves (or, impatient, one turn). */
static void pump(struct iser_conn *ic, struct iscsi_server *server, bool patient)
{
	for (int turn = 0; turn < SETTLE_TURNS; turn++) {
		while (lb.nops)
			complete_one(ic);
		ev_run(env.loop, EVRUN_NOWAIT);
		if (!patient || (!lb.nops && !busy_list(server->sessions) &&
				 !busy_list(server->draining)))
			break;
		fuzz_wait(env.loop);
	}
}

/* The parse path alone: whatever it accepts lies within the message. */
static void check_parse(const uint8_t *msg, size_t len)
{
	struct iser_msg m;
	enum iser_parse_error rc = iser_msg_parse(msg, len, ISER_TARGET_RECV_DSL, &m);
	if (rc == ISER_PARSE_OK) {
		CHECK(m.bhs == msg + ISER_HDR_LEN, "BHS misplaced");
		CHECK(m.data + m.hdr.data_len <= msg + len, "data beyond the message");
		CHECK(m.hdr.data_len <= ISER_TARGET_RECV_DSL, "DSL %u", m.hdr.data_len);
		CHECK(m.ahs + m.hdr.ahs_len == m.data, "AHS and data apart");
		if (m.hdr.opcode == ISCSI_OP_SCSI_CMD && m.hdr.ahs_len) {
			uint8_t cdb[TG_CDB_MAX];
			int n = iscsi_ahs_extended_cdb(m.ahs, m.hdr.ahs_len, m.hdr.cdb, cdb, sizeof(cdb));
			CHECK(n == -1 || (n >= 16 && n <= TG_CDB_MAX), "CDB of %d bytes", n);
		}
	}
	struct iser_hello h;
	if (iser_hello_parse(msg, len, &h) == ISER_PARSE_OK)
		CHECK(len >= ISER_HELLO_LEN && (msg[0] >> 4) == ISER_OP_HELLO, "not a Hello");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return -1;
	uint8_t control = data[0];
	data++;
	size--;
	bool patient = control & 1;

	static struct iscsi_server server;
	fuzz_server_start(&server, env.loop, env.config);
	struct iscsi_target_limits limits;
	iser_target_limits(&limits);

	memset(&lb, 0, sizeof(lb));
	lb.fail_after_first = control & 4;
	struct iser_conn *ic = calloc(1, sizeof(*ic));
	if (!ic)
		fatal("out of memory");
	ic->rdma = &loopback_ops;
	CHECK(iser_conn_init(ic, &server, &limits, "192.0.2.1:4000") == 0, "set-up failed");

	size_t off = 0;
	while (off + 2 <= size && ic->conn.phase != ISCSI_PHASE_CLOSING) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		const uint8_t *msg = data + off;
		off += len;
		check_parse(msg, len);
		if (lb.nposted == 0)
			continue; /* a real initiator's SEND would wait (RNR) */
		struct tg_rdma_recv *rr = lb.posted[0];
		memmove(lb.posted, lb.posted + 1, (lb.nposted - 1) * sizeof(lb.posted[0]));
		lb.nposted--;
		if (len > rr->len) {
			/* Longer than the receive buffer: the QP fails. */
			lb.disconnected = lb.fail_ops = true;
			iser_conn_closing(ic, "local length error");
			break;
		}
		memcpy(rr->buf, msg, len);
		iser_conn_recv(ic, rr->priv, (uint32_t)len);
		pump(ic, &server, patient);
	}

	if (ic->conn.phase != ISCSI_PHASE_CLOSING) {
		if (control & 2) {
			lb.disconnected = lb.fail_ops = true;
			iser_conn_closing(ic, "disconnected by the peer");
		} else {
			iscsi_conn_close(&ic->conn, "end of input");
		}
	}
	lb.disconnected = lb.fail_ops = true;
	pump(ic, &server, true);
	/* Commands still in the backend come back; their completions may post more. */
	tg_ioengine_destroy(server.engine);
	pump(ic, &server, true);
	/* What the server keeps in the loop (the flush watcher) goes with it. */
	iscsi_server_stop(&server);
	CHECK(lb.nops == 0, "%u ops never completed", lb.nops);
	fuzz_check_no_session_left(&server);
	CHECK(lb.release_called, "the connection was never handed back");
	CHECK(lb.bufs_out == 0, "%d data buffers not returned", lb.bufs_out);
	iser_conn_released(ic);
	CHECK(lb.regs_out == 0, "%d registrations left", lb.regs_out);
	tg_runtime_destroy(server.runtime);
	return 0;
}
