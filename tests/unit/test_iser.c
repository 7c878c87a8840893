/* Unit tests of iSER: header/Hello/CM codecs, login keys on an RDMA connection, and the whole datamover over a loopback that plays the initiator's RDMA side. */
#include <errno.h>
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/ioengine.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/scsi.h"
#include "transports/iser/iser_internal.h"
#include "transports/iser/proto.h"

/* ------------------------------------------------------------------ codecs */

static void header_with_both_stags(void **state)
{
	uint8_t msg[ISER_HDR_LEN] = { 0x1c };
	put_be32(msg + 4, 0x11223344);
	put_be64(msg + 8, 0x00007f0012345000ull);
	put_be32(msg + 16, 0x55667788);
	put_be64(msg + 20, 0x00007f00abcd0000ull);
	struct iser_hdr h;
	assert_int_equal(iser_hdr_parse(msg, sizeof(msg), &h), ISER_PARSE_OK);
	assert_int_equal(h.opcode, ISER_OP_CTRL);
	assert_true(h.wsv);
	assert_true(h.rsv);
	assert_int_equal(h.write_stag, 0x11223344);
	assert_true(h.write_va == 0x00007f0012345000ull);
	assert_int_equal(h.read_stag, 0x55667788);
	assert_true(h.read_va == 0x00007f00abcd0000ull);
}

static void header_flags_vouch_for_stags(void **state)
{
	/* Only RSV: the write fields are garbage the initiator did not mean. */
	uint8_t msg[ISER_HDR_LEN];
	memset(msg, 0xa5, sizeof(msg));
	msg[0] = 0x14;
	struct iser_hdr h;
	assert_int_equal(iser_hdr_parse(msg, sizeof(msg), &h), ISER_PARSE_OK);
	assert_false(h.wsv);
	assert_true(h.rsv);
	assert_int_equal(h.write_stag, 0);
	assert_true(h.write_va == 0);
	assert_int_equal(h.read_stag, 0xa5a5a5a5);
}

static void header_errors(void **state)
{
	uint8_t msg[ISER_HDR_LEN] = { 0x10 };
	struct iser_hdr h;
	assert_int_equal(iser_hdr_parse(msg, ISER_HDR_LEN - 1, &h), ISER_PARSE_SHORT);
	assert_int_equal(iser_hdr_parse(msg, 0, &h), ISER_PARSE_SHORT);
	msg[0] = 0x40; /* reserved opcode */
	assert_int_equal(iser_hdr_parse(msg, sizeof(msg), &h), ISER_PARSE_BAD_OPCODE);
	msg[0] = 0x00;
	assert_int_equal(iser_hdr_parse(msg, sizeof(msg), &h), ISER_PARSE_BAD_OPCODE);
	/* A Hello is complete in 12 bytes; a control header is not. */
	msg[0] = 0x20;
	assert_int_equal(iser_hdr_parse(msg, ISER_HELLO_LEN, &h), ISER_PARSE_OK);
	msg[0] = 0x10;
	assert_int_equal(iser_hdr_parse(msg, ISER_HELLO_LEN, &h), ISER_PARSE_SHORT);
}

static void header_build(void **state)
{
	uint8_t out[ISER_HDR_LEN];
	memset(out, 0xff, sizeof(out));
	iser_hdr_build_ctrl(out);
	assert_int_equal(out[0], 0x10);
	for (int i = 1; i < ISER_HDR_LEN; i++)
		assert_int_equal(out[i], 0);
	struct iser_hdr h;
	assert_int_equal(iser_hdr_parse(out, sizeof(out), &h), ISER_PARSE_OK);
	assert_false(h.wsv || h.rsv);
}

/* An initiator's SCSI command: BHS with the fields these tests need. */
static void scsi_cmd_bhs(uint8_t bhs[ISCSI_BHS_LEN], bool read, bool write, uint32_t itt,
			 uint32_t edtl, uint32_t cmdsn, uint32_t dsl, const uint8_t *cdb,
			 size_t cdb_len, uint8_t ahs_words)
{
	memset(bhs, 0, ISCSI_BHS_LEN);
	bhs[0] = ISCSI_OP_SCSI_CMD;
	bhs[1] = 0x80 | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 1;
	bhs[4] = ahs_words;
	put_be24(bhs + 5, dsl);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, edtl);
	put_be32(bhs + 24, cmdsn);
	memcpy(bhs + 32, cdb, cdb_len < 16 ? cdb_len : 16);
}

static void message_with_ahs_and_data(void **state)
{
	uint8_t msg[ISER_PDU_HDRS_LEN + 20 + 16];
	memset(msg, 0, sizeof(msg));
	msg[0] = 0x18; /* WSV */
	put_be32(msg + 4, 7);
	put_be64(msg + 8, 0x1000);
	uint8_t cdb[32] = { 0x7f, 0, 0, 0, 0, 0, 0, 0x18 };
	scsi_cmd_bhs(msg + ISER_HDR_LEN, false, true, 9, 512, 1, 16, cdb, 16, 5);
	/* Extended CDB AHS: length 17 (reserved byte + 16 CDB bytes), type 1. */
	uint8_t *ahs = msg + ISER_PDU_HDRS_LEN;
	put_be16(ahs, 17);
	ahs[2] = 1;
	for (int i = 0; i < 16; i++)
		ahs[4 + i] = (uint8_t)(0xc0 + i);
	memset(msg + ISER_PDU_HDRS_LEN + 20, 0x5a, 16);
	struct iser_msg m;
	assert_int_equal(iser_msg_parse(msg, sizeof(msg), 8192, &m), ISER_PARSE_OK);
	assert_true(m.iser.wsv);
	assert_int_equal(m.hdr.opcode, ISCSI_OP_SCSI_CMD);
	assert_int_equal(m.hdr.ahs_len, 20);
	assert_int_equal(m.hdr.data_len, 16);
	assert_ptr_equal(m.ahs, msg + ISER_PDU_HDRS_LEN);
	assert_ptr_equal(m.data, msg + ISER_PDU_HDRS_LEN + 20);
	uint8_t full[64];
	assert_int_equal(iscsi_ahs_extended_cdb(m.ahs, m.hdr.ahs_len, m.hdr.cdb, full, sizeof(full)),
			 32);
	assert_int_equal(full[16], 0xc0);
	/* One byte short of what the PDU announces. */
	assert_int_equal(iser_msg_parse(msg, sizeof(msg) - 1, 8192, &m), ISER_PARSE_SHORT);
	/* A data segment above TargetRecvDataSegmentLength. */
	assert_int_equal(iser_msg_parse(msg, sizeof(msg), 8, &m), ISER_PARSE_BAD_PDU);
	assert_int_equal(m.pdu_error, ISCSI_PARSE_DSL_TOO_LARGE);
	/* A target opcode inside. */
	msg[ISER_HDR_LEN] = ISCSI_OP_SCSI_RSP;
	assert_int_equal(iser_msg_parse(msg, sizeof(msg), 8192, &m), ISER_PARSE_BAD_PDU);
	/* A Hello is not a PDU. */
	msg[0] = 0x20;
	assert_int_equal(iser_msg_parse(msg, sizeof(msg), 8192, &m), ISER_PARSE_BAD_OPCODE);
}

static void hello_and_reply(void **state)
{
	uint8_t hello[ISER_HELLO_LEN] = { 0x20, 0x21, 0x00, 0x10 };
	struct iser_hello h;
	assert_int_equal(iser_hello_parse(hello, sizeof(hello), &h), ISER_PARSE_OK);
	assert_int_equal(h.max_version, 2);
	assert_int_equal(h.min_version, 1);
	assert_int_equal(h.ird, 16);
	assert_int_equal(iser_hello_parse(hello, 11, &h), ISER_PARSE_SHORT);
	hello[0] = 0x30;
	assert_int_equal(iser_hello_parse(hello, sizeof(hello), &h), ISER_PARSE_BAD_OPCODE);

	uint8_t reply[ISER_HELLO_LEN];
	iser_hello_reply_build(reply, false, 1, 1, 8);
	const uint8_t ok[ISER_HELLO_LEN] = { 0x30, 0x11, 0x00, 0x08 };
	assert_memory_equal(reply, ok, sizeof(ok));
	iser_hello_reply_build(reply, true, 1, 1, 0x1234);
	assert_int_equal(reply[0], 0x31);
	assert_int_equal(get_be16(reply + 2), 0x1234);
}

static void cm_private_data(void **state)
{
	struct iser_cm_req req;
	const uint8_t linux_req[4] = { 0xc0, 0, 0, 0 };
	iser_cm_req_parse(linux_req, sizeof(linux_req), &req);
	assert_true(req.present);
	assert_true(req.zbva_not_supported);
	assert_true(req.send_w_inv_not_supported);
	const uint8_t inv_ok[4] = { 0x80, 0, 0, 0 };
	iser_cm_req_parse(inv_ok, sizeof(inv_ok), &req);
	assert_false(req.send_w_inv_not_supported);
	iser_cm_req_parse(linux_req, 2, &req);
	assert_false(req.present);
	iser_cm_req_parse(NULL, 0, &req);
	assert_false(req.present);

	uint8_t rep[ISER_CM_HDR_LEN];
	iser_cm_rep_build(rep);
	/* What ib_iser reads from the reply: we never send with invalidate. */
	assert_true(rep[0] & ISER_CM_SEND_W_INV_NOT_SUPPORTED);
	assert_true(rep[0] & ISER_CM_ZBVA_NOT_SUPPORTED);
	assert_int_equal(rep[1] | rep[2] | rep[3], 0);
}

/* ------------------------------------------------------------------ login keys */

static size_t text_pairs(uint8_t *out, size_t cap, const char *const *pairs)
{
	size_t len = 0;
	for (; *pairs; pairs++) {
		size_t n = strlen(*pairs) + 1;
		assert_true(len + n <= cap);
		memcpy(out + len, *pairs, n);
		len += n;
	}
	return len;
}

struct answers {
	char keys[32][64];
	char values[32][64];
	int count;
};

static int collect(void *arg, const char *key, const char *value)
{
	struct answers *a = arg;
	assert_true(a->count < 32);
	snprintf(a->keys[a->count], 64, "%s", key);
	snprintf(a->values[a->count], 64, "%s", value);
	a->count++;
	return 0;
}

static const char *answer(const struct answers *a, const char *key)
{
	for (int i = 0; i < a->count; i++)
		if (strcmp(a->keys[i], key) == 0)
			return a->values[i];
	return NULL;
}

/* What open-iscsi offers on an iSER connection (iscsid.conf defaults). */
static const char *const open_iscsi_iser_keys[] = {
	"HeaderDigest=CRC32C,None", "DataDigest=CRC32C,None", "DefaultTime2Wait=2",
	"DefaultTime2Retain=0", "IFMarker=No", "OFMarker=No", "ErrorRecoveryLevel=0",
	"InitialR2T=No", "ImmediateData=Yes", "MaxBurstLength=16776192",
	"FirstBurstLength=262144", "MaxOutstandingR2T=1", "MaxConnections=1",
	"DataPDUInOrder=Yes", "DataSequenceInOrder=Yes",
	"InitiatorRecvDataSegmentLength=262144", "TargetRecvDataSegmentLength=262144",
	"RDMAExtensions=Yes", "MaxOutstandingUnexpectedPDUs=0", NULL,
};

static void negotiate_keys(const struct iscsi_target_limits *limits, const char *const *keys,
			   struct iscsi_negotiation *neg, struct answers *a)
{
	uint8_t req[2048];
	size_t len = text_pairs(req, sizeof(req), keys);
	iscsi_negotiation_init(neg, limits, ISCSI_SESSION_NORMAL);
	struct iscsi_text_buf resp = { 0 };
	char err[128];
	assert_int_equal(iscsi_negotiate(neg, req, len, false, &resp, NULL, err, sizeof(err)), 0);
	iscsi_negotiation_finish(neg, &resp);
	memset(a, 0, sizeof(*a));
	assert_int_equal(iscsi_text_foreach(resp.data, resp.len, collect, a), 0);
	iscsi_text_buf_free(&resp);
}

static void rdma_login_keys(void **state)
{
	struct iscsi_target_limits limits;
	iser_target_limits(&limits);
	struct iscsi_negotiation neg;
	struct answers a;
	negotiate_keys(&limits, open_iscsi_iser_keys, &neg, &a);
	assert_string_equal(answer(&a, "RDMAExtensions"), "Yes");
	/* Digests are never used over iSER, whatever the initiator prefers. */
	assert_string_equal(answer(&a, "HeaderDigest"), "None");
	assert_string_equal(answer(&a, "DataDigest"), "None");
	assert_false(neg.params.header_digest || neg.params.data_digest);
	/* Our receive buffers decide TargetRecvDataSegmentLength, declared once. */
	assert_string_equal(answer(&a, "TargetRecvDataSegmentLength"), "8192");
	assert_int_equal(neg.params.target_recv_dsl, 8192);
	int declared = 0;
	for (int i = 0; i < a.count; i++)
		declared += strcmp(a.keys[i], "TargetRecvDataSegmentLength") == 0;
	assert_int_equal(declared, 1);
	/* The initiator's declaration is recorded, not answered. */
	assert_null(answer(&a, "InitiatorRecvDataSegmentLength"));
	assert_int_equal(neg.params.initiator_recv_dsl, 262144);
	/* "No limit" from the initiator meets our real bound. */
	assert_string_equal(answer(&a, "MaxOutstandingUnexpectedPDUs"), "256");
	assert_int_equal(neg.params.max_outstanding_unexpected_pdus, 256);
	/* Unsolicited data is honoured, bounded by one receive buffer per command. */
	assert_string_equal(answer(&a, "ImmediateData"), "Yes");
	assert_string_equal(answer(&a, "InitialR2T"), "No");
	assert_string_equal(answer(&a, "FirstBurstLength"), "8192");
	assert_string_equal(answer(&a, "MaxOutstandingR2T"), "1");
}

static void rdma_login_keys_bounds(void **state)
{
	struct iscsi_target_limits limits;
	iser_target_limits(&limits);
	struct iscsi_negotiation neg;
	struct answers a;
	static const char *const smaller[] = {
		"RDMAExtensions=Yes", "MaxOutstandingUnexpectedPDUs=40", "HeaderDigest=CRC32C",
		"InitialR2T=Yes", "ImmediateData=No", NULL,
	};
	negotiate_keys(&limits, smaller, &neg, &a);
	assert_string_equal(answer(&a, "MaxOutstandingUnexpectedPDUs"), "40");
	/* A digest the initiator insists on cannot be had over iSER. */
	assert_string_equal(answer(&a, "HeaderDigest"), "Reject");
	assert_string_equal(answer(&a, "InitialR2T"), "Yes");
	assert_string_equal(answer(&a, "ImmediateData"), "No");

	static const char *const bad[] = { "RDMAExtensions=Yes", "MaxOutstandingUnexpectedPDUs=1",
					   NULL };
	negotiate_keys(&limits, bad, &neg, &a);
	assert_string_equal(answer(&a, "MaxOutstandingUnexpectedPDUs"), "Reject");
}

static void tcp_login_refuses_rdma(void **state)
{
	struct iscsi_target_limits limits;
	iscsi_target_limits_default(&limits);
	struct iscsi_negotiation neg;
	struct answers a;
	negotiate_keys(&limits, open_iscsi_iser_keys, &neg, &a);
	assert_string_equal(answer(&a, "RDMAExtensions"), "No");
	assert_string_equal(answer(&a, "TargetRecvDataSegmentLength"), "Irrelevant");
	assert_string_equal(answer(&a, "InitiatorRecvDataSegmentLength"), "Irrelevant");
	assert_string_equal(answer(&a, "MaxOutstandingUnexpectedPDUs"), "Irrelevant");
	assert_false(neg.params.rdma_extensions);
}

/* ------------------------------------------------------------------ the datamover */

/*
 * A loopback for the RDMA layer: posted receives wait for the test to "send" into them,
 * SENDs are captured as what the initiator receives, RDMA READ/WRITE copy from/to a buffer
 * that plays the initiator's memory (its VAs are offsets in it). Like rdma.c, no completion
 * runs inside a post: the test delivers them in order.
 */
#define OPS_MAX 512
#define RECVS_MAX 512
#define MSGS_MAX 320
#define INIT_MEM (1u << 20)

struct loop_rdma {
	struct tg_rdma_recv *posted[RECVS_MAX];
	unsigned nposted;
	struct tg_rdma_op *ops[OPS_MAX];
	unsigned nops;
	bool fail_ops;           /* the QP is in error: completions are flushes */
	/* what the initiator received, in order: iSER messages and RDMA WRITE markers */
	uint8_t msgs[MSGS_MAX][9000];
	uint32_t msg_len[MSGS_MAX];
	char order[OPS_MAX];     /* 'S' SEND, 'W' RDMA WRITE, 'R' RDMA READ as completed */
	unsigned nmsgs, norder;
	uint8_t init_mem[INIT_MEM];
	uint32_t last_rkey;
	int bufs_out, regs_out;
	bool disconnected, release_called;
};

static struct loop_rdma *lr_of(struct iser_conn *ic) { return ic->rdma_ctx; }

static int lr_post(struct iser_conn *ic, struct tg_rdma_op *op)
{
	struct loop_rdma *lr = lr_of(ic);
	if (lr->disconnected)
		return -ENOTCONN;
	assert_true(lr->nops < OPS_MAX);
	lr->ops[lr->nops++] = op;
	return 0;
}

static int lr_post_recv(struct iser_conn *ic, struct tg_rdma_recv *recv)
{
	struct loop_rdma *lr = lr_of(ic);
	if (lr->disconnected)
		return -1;
	assert_true(lr->nposted < RECVS_MAX);
	assert_true(recv->len >= ISER_RECV_LEN);
	lr->posted[lr->nposted++] = recv;
	return 0;
}

static void lr_disconnect(struct iser_conn *ic, const char *why)
{
	lr_of(ic)->disconnected = true;
	lr_of(ic)->fail_ops = true;
}

static void lr_release(struct iser_conn *ic) { lr_of(ic)->release_called = true; }

static void *lr_reg(struct iser_conn *ic, void *mem, size_t len, uint32_t *lkey)
{
	lr_of(ic)->regs_out++;
	*lkey = 0x77;
	return malloc(1);
}

static struct loop_rdma *current_lr;

static void lr_dereg(void *mr)
{
	current_lr->regs_out--;
	free(mr);
}

static int lr_buf_alloc(struct iser_conn *ic, struct tg_buf *buf, size_t len)
{
	if (tg_buf_alloc(buf, len) != 0)
		return -ENOMEM;
	buf->lkey = 0x99;
	buf->owner = &current_lr; /* anything: says "free it through the transport" */
	lr_of(ic)->bufs_out++;
	return 0;
}

static void lr_buf_free(struct tg_buf *buf)
{
	assert_ptr_equal(buf->owner, &current_lr);
	current_lr->bufs_out--;
	tg_buf_free(buf);
}

static const struct iser_rdma_ops loop_ops = {
	.post = lr_post, .post_recv = lr_post_recv, .disconnect = lr_disconnect,
	.release = lr_release, .reg = lr_reg, .dereg = lr_dereg,
	.buf_alloc = lr_buf_alloc, .buf_free = lr_buf_free,
};

/* Completes the oldest posted op the way the hardware would. */
static void lr_complete_one(struct loop_rdma *lr)
{
	assert_true(lr->nops > 0);
	struct tg_rdma_op *op = lr->ops[0];
	memmove(lr->ops, lr->ops + 1, (lr->nops - 1) * sizeof(lr->ops[0]));
	lr->nops--;
	int status = lr->fail_ops ? -ECANCELED : 0;
	if (!status) {
		if (op->kind == TG_RDMA_SEND) {
			assert_true(lr->nmsgs < MSGS_MAX && op->len <= sizeof(lr->msgs[0]));
			memcpy(lr->msgs[lr->nmsgs], op->local, op->len);
			lr->msg_len[lr->nmsgs++] = op->len;
		} else {
			assert_int_equal(op->nremote, 1);
			const struct tg_rdma_remote *r = &op->remote[0];
			assert_true(r->len >= op->len);
			assert_true(r->addr + op->len <= INIT_MEM);
			lr->last_rkey = r->rkey;
			if (op->kind == TG_RDMA_READ)
				memcpy(op->local, lr->init_mem + r->addr, op->len);
			else
				memcpy(lr->init_mem + r->addr, op->local, op->len);
		}
		if (lr->norder < sizeof(lr->order))
			lr->order[lr->norder++] = op->kind == TG_RDMA_SEND ? 'S'
					  : op->kind == TG_RDMA_READ ? 'R'
								     : 'W';
	}
	op->done(op, status);
}

struct fixture {
	char dir[128];
	char img[256];
	struct tg_config *config;
	struct tg_runtime *runtime;
	struct ev_loop *loop;
	struct tg_ioengine *engine;
	struct iscsi_server server;
	struct iscsi_target_limits limits;
	struct loop_rdma *lr;
	struct iser_conn *ic;
	uint32_t cmdsn, itt, statsn;
	uint32_t exp_cmdsn, max_cmdsn;
	bool unsolicited_follows; /* SCSI commands go without the F bit */
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/targe-test-iser.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->img, sizeof(f->img), "%s/disk0.img", f->dir);
	char conf[256];
	snprintf(conf, sizeof(conf), "%s/t.conf", f->dir);
	FILE *c = fopen(conf, "w");
	assert_non_null(c);
	fprintf(c,
		"global = { log_level = \"error\"; };\n"
		"transports = { iscsi = { listen = [ \"127.0.0.1:3260\" ]; };\n"
		"               iser = { listen = [ \"127.0.0.1:3260\" ]; }; };\n"
		"devices = ( { name = \"disk0\"; backend = \"file\"; path = \"%s\"; size = \"4M\"; } );\n"
		"targets = (\n"
		"  { name = \"iqn.2026-11.org.targe:iser\"; transports = [ \"iser\" ];\n"
		"    luns = ( { lun = 0; device = \"disk0\"; } ); },\n"
		"  { name = \"iqn.2026-11.org.targe:tcp\"; transports = [ \"iscsi\" ];\n"
		"    luns = ( { lun = 0; device = \"disk0\"; } ); }\n"
		");\n",
		f->img);
	fclose(c);
	char err[512];
	assert_int_equal(tg_config_load(conf, &f->config, err, sizeof(err)), 0);
	tg_log_set_level(TG_LOG_ERROR);
	assert_int_equal(tg_runtime_build(f->config, &f->runtime, err, sizeof(err)), 0);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->engine = tg_ioengine_create(f->loop);
	assert_non_null(f->engine);
	f->server.loop = f->loop;
	f->server.engine = f->engine;
	f->server.runtime = f->runtime;
	f->server.next_tsih = 1;
	iscsi_target_limits_default(&f->server.limits);
	iser_target_limits(&f->limits);
	*state = f;
	return 0;
}

static void settle(struct fixture *f);

/* Closes the current connection (if open), lets every op flush and hands it back as the
 * RDMA layer would: nothing of it may be left (buffers, registrations). */
static void finish_conn(struct fixture *f)
{
	if (!f->ic)
		return;
	if (f->ic->conn.phase != ISCSI_PHASE_CLOSING)
		iscsi_conn_close(&f->ic->conn, "test over");
	f->lr->disconnected = true;
	f->lr->fail_ops = true;
	settle(f);
	assert_true(f->lr->release_called);
	assert_int_equal(f->lr->bufs_out, 0);
	iser_conn_released(f->ic);
	assert_int_equal(f->lr->regs_out, 0);
	f->ic = NULL;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	finish_conn(f);
	assert_null(f->server.conns);
	iscsi_server_stop(&f->server);
	tg_ioengine_destroy(f->engine);
	ev_loop_destroy(f->loop);
	tg_runtime_destroy(f->runtime);
	tg_config_free(f->config);
	free(f->lr);
	unlink(f->img);
	char conf[256];
	snprintf(conf, sizeof(conf), "%s/t.conf", f->dir);
	unlink(conf);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct iser_conn *new_conn(struct fixture *f)
{
	finish_conn(f);
	free(f->lr);
	f->lr = calloc(1, sizeof(*f->lr));
	assert_non_null(f->lr);
	current_lr = f->lr;
	struct iser_conn *ic = calloc(1, sizeof(*ic));
	assert_non_null(ic);
	ic->rdma = &loop_ops;
	ic->rdma_ctx = f->lr;
	assert_int_equal(iser_conn_init(ic, &f->server, &f->limits, "10.0.2.15:40000"), 0);
	/* Only the login's receives before the session exists. */
	assert_int_equal(f->lr->nposted, ISER_LOGIN_RECVS);
	f->ic = ic;
	f->cmdsn = 1;
	f->itt = 0x100;
	return ic;
}

/* The initiator sends one message: into the oldest posted receive, as RC delivers. */
static void send_msg(struct fixture *f, const uint8_t *msg, uint32_t len)
{
	struct loop_rdma *lr = f->lr;
	assert_true(lr->nposted > 0);
	struct tg_rdma_recv *rr = lr->posted[0];
	memmove(lr->posted, lr->posted + 1, (lr->nposted - 1) * sizeof(lr->posted[0]));
	lr->nposted--;
	assert_true(len <= rr->len);
	memcpy(rr->buf, msg, len);
	iser_conn_recv(f->ic, rr->priv, len);
}

/* Runs the loop and the loopback until nothing moves; returns the messages received. */
static void settle(struct fixture *f)
{
	for (int idle = 0; idle < 30;) {
		if (f->lr->nops) {
			lr_complete_one(f->lr);
			idle = 0;
			continue;
		}
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
		idle++;
	}
}

/* The next message the initiator received; its BHS. */
static const uint8_t *next_rsp(struct fixture *f, unsigned *index, uint32_t *dsl)
{
	assert_true(*index < f->lr->nmsgs);
	const uint8_t *m = f->lr->msgs[*index];
	assert_true(f->lr->msg_len[*index] >= ISER_PDU_HDRS_LEN);
	assert_int_equal(m[0], 0x10); /* control-type, no STags from a target */
	const uint8_t *bhs = m + ISER_HDR_LEN;
	*dsl = get_be24(bhs + 5);
	assert_int_equal(f->lr->msg_len[*index], ISER_PDU_HDRS_LEN + *dsl + iscsi_pad(*dsl));
	(*index)++;
	return bhs;
}

static void login(struct fixture *f, const char *const *extra_keys, bool expect_ok)
{
	const char *keys[40];
	int n = 0;
	keys[n++] = "InitiatorName=iqn.2026-11.example:host";
	keys[n++] = "SessionType=Normal";
	keys[n++] = "TargetName=iqn.2026-11.org.targe:iser";
	for (; *extra_keys; extra_keys++)
		keys[n++] = *extra_keys;
	keys[n] = NULL;
	uint8_t msg[4096] = { 0x10 };
	uint8_t *bhs = msg + ISER_HDR_LEN;
	size_t dlen = text_pairs(msg + ISER_PDU_HDRS_LEN, sizeof(msg) - ISER_PDU_HDRS_LEN, keys);
	bhs[0] = 0x40 | ISCSI_OP_LOGIN_REQ;
	bhs[1] = 0x80 | (1 << 2) | 3; /* T, operational → full feature */
	put_be24(bhs + 5, (uint32_t)dlen);
	const uint8_t isid[6] = { 0x80, 0x12, 0x34, 0x56, 0x78, 0x9a };
	memcpy(bhs + 8, isid, 6);
	put_be32(bhs + 16, f->itt++);
	put_be32(bhs + 24, f->cmdsn);
	unsigned before = f->lr->nmsgs;
	send_msg(f, msg, (uint32_t)(ISER_PDU_HDRS_LEN + dlen + iscsi_pad((uint32_t)dlen)));
	settle(f);
	assert_int_equal(f->lr->nmsgs, before + 1);
	uint32_t dsl;
	const uint8_t *rsp = next_rsp(f, &before, &dsl);
	assert_int_equal(rsp[0], ISCSI_OP_LOGIN_RSP);
	if (!expect_ok) {
		assert_int_not_equal(rsp[36], 0);
		return;
	}
	assert_int_equal(rsp[36], 0);
	assert_int_equal(rsp[1] & 0x83, 0x83); /* T, NSG full feature */
	f->statsn = get_be32(rsp + 24);
	f->exp_cmdsn = get_be32(rsp + 28);
	f->max_cmdsn = get_be32(rsp + 32);
	struct answers a = { 0 };
	assert_int_equal(iscsi_text_foreach(rsp + ISCSI_BHS_LEN, dsl, collect, &a), 0);
	assert_string_equal(answer(&a, "RDMAExtensions"), "Yes");
	assert_int_equal(f->ic->conn.phase, ISCSI_PHASE_FULL_FEATURE);
}

/* Sends a SCSI command in an iSER message with the given STags and immediate data. */
static void scsi_cmd(struct fixture *f, const uint8_t *cdb, bool read, bool write, uint32_t edtl,
		     uint64_t write_va, uint64_t read_va, const uint8_t *imm, uint32_t imm_len)
{
	uint8_t msg[ISER_PDU_HDRS_LEN + 8192];
	memset(msg, 0, ISER_PDU_HDRS_LEN);
	msg[0] = 0x10 | (write ? ISER_FLAG_WSV : 0) | (read ? ISER_FLAG_RSV : 0);
	if (write) {
		put_be32(msg + 4, 0xabc0 + f->itt);
		put_be64(msg + 8, write_va);
	}
	if (read) {
		put_be32(msg + 16, 0xdef0 + f->itt);
		put_be64(msg + 20, read_va);
	}
	scsi_cmd_bhs(msg + ISER_HDR_LEN, read, write, f->itt++, edtl, f->cmdsn++, imm_len, cdb, 16, 0);
	if (f->unsolicited_follows)
		msg[ISER_HDR_LEN + 1] &= 0x7f;
	if (imm_len)
		memcpy(msg + ISER_PDU_HDRS_LEN, imm, imm_len);
	send_msg(f, msg, ISER_PDU_HDRS_LEN + imm_len);
}

/* The SCSI Response of the last command: its status. */
static uint8_t last_status(struct fixture *f)
{
	unsigned i = f->lr->nmsgs - 1;
	uint32_t dsl;
	const uint8_t *rsp = next_rsp(f, &i, &dsl);
	assert_int_equal(rsp[0], ISCSI_OP_SCSI_RSP);
	if (rsp[3] == SCSI_STATUS_CHECK_CONDITION && dsl >= 16)
		print_message("sense key %#x ASC %#x ASCQ %#x\n", rsp[ISCSI_BHS_LEN + 2 + 2] & 0xf,
			      rsp[ISCSI_BHS_LEN + 2 + 12], rsp[ISCSI_BHS_LEN + 2 + 13]);
	return rsp[3];
}

static void rw10(uint8_t cdb[16], uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, blocks);
}

static void clear_unit_attention(struct fixture *f)
{
	uint8_t tur[16] = { 0 };
	scsi_cmd(f, tur, false, false, 0, 0, 0, NULL, 0);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_CHECK_CONDITION);
	scsi_cmd(f, tur, false, false, 0, 0, 0, NULL, 0);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
}

static const char *const zero_copy_keys[] = {
	"RDMAExtensions=Yes", "InitialR2T=Yes", "ImmediateData=No",
	"InitiatorRecvDataSegmentLength=262144", "TargetRecvDataSegmentLength=262144", NULL,
};

/* Writes by RDMA READ, reads by RDMA WRITE, no byte copied; the response after the data. */
static void zero_copy_write_and_read(void **state)
{
	struct fixture *f = *state;
	new_conn(f);
	login(f, zero_copy_keys, true);
	/* InitialR2T=Yes, no immediate data: one receive per command, the whole window posted. */
	assert_int_equal(f->lr->nposted, ISCSI_SESSION_CMDS + ISER_EXTRA_RECVS);
	assert_int_equal(f->max_cmdsn - f->exp_cmdsn + 1, ISCSI_SESSION_CMDS);
	clear_unit_attention(f);

	uint64_t copies = tg_stats_copied_bytes();
	const uint32_t len = 64 * 1024;
	for (uint32_t i = 0; i < len; i++)
		f->lr->init_mem[0x1000 + i] = (uint8_t)(i * 7 + 3);
	uint8_t cdb[16];
	rw10(cdb, 0x2a, 16, (uint16_t)(len / 512));
	f->lr->norder = 0;
	scsi_cmd(f, cdb, false, true, len, 0x1000, 0, NULL, 0);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
	assert_int_equal(f->lr->last_rkey, 0xabc0 + f->itt - 1);
	assert_memory_equal(f->lr->order, "RS", 2);

	rw10(cdb, 0x28, 16, (uint16_t)(len / 512));
	f->lr->norder = 0;
	scsi_cmd(f, cdb, true, false, len, 0, 0x40000, NULL, 0);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
	/* The data went first, then the status. */
	assert_memory_equal(f->lr->order, "WS", 2);
	assert_memory_equal(f->lr->init_mem + 0x40000, f->lr->init_mem + 0x1000, len);
	assert_true(tg_stats_copied_bytes() == copies);
	assert_true(f->ic->copied_bytes == 0);

	/* The bytes are where the initiator put them, on the backing file. */
	uint8_t disk[64 * 1024];
	FILE *img = fopen(f->img, "rb");
	assert_non_null(img);
	assert_int_equal(fseek(img, 16 * 512, SEEK_SET), 0);
	assert_int_equal(fread(disk, 1, len, img), len);
	fclose(img);
	assert_memory_equal(disk, f->lr->init_mem + 0x1000, len);
	/* Every data buffer went back. */
	assert_int_equal(f->lr->bufs_out, 0);
}

/* ImmediateData=Yes: the first bytes come in the command's SEND and are copied (counted);
 * the rest by RDMA READ from the VA after them. */
static void immediate_data_is_copied_and_counted(void **state)
{
	struct fixture *f = *state;
	new_conn(f);
	static const char *const keys[] = { "RDMAExtensions=Yes", "InitialR2T=Yes",
					    "ImmediateData=Yes", NULL };
	login(f, keys, true);
	clear_unit_attention(f);
	uint8_t data[12288];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5c);
	/* The initiator's write buffer: the part after the immediate data at VA 0x2000. */
	memcpy(f->lr->init_mem + 0x2000, data + 4096, sizeof(data) - 4096);
	uint64_t copies = tg_stats_copied_bytes();
	uint8_t cdb[16];
	rw10(cdb, 0x2a, 100, sizeof(data) / 512);
	scsi_cmd(f, cdb, false, true, sizeof(data), 0x2000, 0, data, 4096);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
	assert_true(tg_stats_copied_bytes() - copies == 4096);
	assert_true(f->ic->copied_bytes == 4096);
	rw10(cdb, 0x28, 100, sizeof(data) / 512);
	scsi_cmd(f, cdb, true, false, sizeof(data), 0, 0x80000, NULL, 0);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
	assert_memory_equal(f->lr->init_mem + 0x80000, data, sizeof(data));
}

/* InitialR2T=No: one unsolicited Data-Out per command at most; the window is what the
 * receives cover at two per command. */
static void unsolicited_data_out(void **state)
{
	struct fixture *f = *state;
	new_conn(f);
	static const char *const keys[] = { "RDMAExtensions=Yes", "InitialR2T=No",
					    "ImmediateData=No", "FirstBurstLength=65536", NULL };
	login(f, keys, true);
	assert_int_equal(f->lr->nposted, ISER_RECVS_MAX);
	assert_int_equal(f->max_cmdsn - f->exp_cmdsn + 1,
			 (ISER_RECVS_MAX - ISER_EXTRA_RECVS) / ISER_MAX_PDUS_PER_CMD);
	clear_unit_attention(f);
	uint8_t data[16384];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	memcpy(f->lr->init_mem + 0x3000, data + 8192, 8192);
	uint8_t cdb[16];
	rw10(cdb, 0x2a, 200, sizeof(data) / 512);
	uint32_t itt = f->itt;
	f->unsolicited_follows = true;
	scsi_cmd(f, cdb, false, true, sizeof(data), 0x3000, 0, NULL, 0);
	f->unsolicited_follows = false;
	/* The command said (F bit clear) that unsolicited Data-Out follows: FirstBurstLength
	 * came out at 8192, so one Data-Out of 8 KiB, with the F bit. */
	uint8_t msg[ISER_PDU_HDRS_LEN + 8192] = { 0x10 };
	uint8_t *bhs = msg + ISER_HDR_LEN;
	bhs[0] = ISCSI_OP_DATA_OUT;
	bhs[1] = 0x80;
	put_be24(bhs + 5, 8192);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	memcpy(msg + ISER_PDU_HDRS_LEN, data, 8192);
	send_msg(f, msg, sizeof(msg));
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
	rw10(cdb, 0x28, 200, sizeof(data) / 512);
	scsi_cmd(f, cdb, true, false, sizeof(data), 0, 0x90000, NULL, 0);
	settle(f);
	assert_int_equal(last_status(f), SCSI_STATUS_GOOD);
	assert_memory_equal(f->lr->init_mem + 0x90000, data, sizeof(data));
}

/* The initiator's SEND lands in the oldest posted receive, but the target has not polled its
 * completion yet: a burst as the target sees it. With no receive posted, a real RC QP would
 * fail the SEND (receiver not ready) and the connection would die. */
struct arrival {
	struct tg_rdma_recv *rr;
	uint32_t len;
};

static void arrive(struct fixture *f, struct arrival *arrivals, unsigned *n, const uint8_t *msg,
		   uint32_t len)
{
	struct loop_rdma *lr = f->lr;
	if (lr->nposted == 0)
		fail_msg("message %u of the burst found no posted receive", *n);
	struct tg_rdma_recv *rr = lr->posted[0];
	memmove(lr->posted, lr->posted + 1, (lr->nposted - 1) * sizeof(lr->posted[0]));
	lr->nposted--;
	assert_true(len <= rr->len);
	memcpy(rr->buf, msg, len);
	arrivals[(*n)++] = (struct arrival){ .rr = rr, .len = len };
}

/* An immediate NOP-Out (a ping): no CmdSN of its own, a NOP-In back. */
static void nop_out_msg(struct fixture *f, uint8_t msg[ISER_PDU_HDRS_LEN])
{
	memset(msg, 0, ISER_PDU_HDRS_LEN);
	msg[0] = 0x10;
	uint8_t *bhs = msg + ISER_HDR_LEN;
	bhs[0] = 0x40 | ISCSI_OP_NOP_OUT;
	bhs[1] = 0x80;
	put_be32(bhs + 16, f->itt++);
	put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	put_be32(bhs + 24, f->cmdsn);
}

/* The window the target advertises with no command of ours active (its answer to a ping),
 * from the next CmdSN on. */
static uint32_t open_window(struct fixture *f)
{
	uint8_t msg[ISER_PDU_HDRS_LEN];
	nop_out_msg(f, msg);
	send_msg(f, msg, sizeof(msg));
	settle(f);
	unsigned i = f->lr->nmsgs - 1;
	uint32_t dsl;
	const uint8_t *rsp = next_rsp(f, &i, &dsl);
	assert_int_equal(rsp[0], ISCSI_OP_NOP_IN);
	return get_be32(rsp + 32) - f->cmdsn + 1;
}

/*
 * Flow control: a whole CmdSN window of writes, each with the unsolicited PDUs its login
 * allows, and then as many immediate NOP-Outs as the receives kept for immediate PDUs, all
 * sent before the target handles a single one. Every message must find a posted receive; then
 * the target catches up and answers every one of them, the data intact on disk.
 */
static void burst_of_window(struct fixture *f, bool immediate_data)
{
	new_conn(f);
	const char *keys[] = { "RDMAExtensions=Yes", "InitialR2T=No",
			       immediate_data ? "ImmediateData=Yes" : "ImmediateData=No",
			       "FirstBurstLength=65536", NULL };
	login(f, keys, true);
	clear_unit_attention(f);
	const uint32_t first = ISER_TARGET_RECV_DSL; /* FirstBurstLength as negotiated */
	const uint32_t len = 2 * first;
	uint32_t window = open_window(f);
	/* The receive ring covers the session's whole command pool: the burst is a real one. */
	assert_int_equal(window, ISCSI_SESSION_CMDS);

	struct arrival *arrivals = calloc(2 * window + ISER_EXTRA_RECVS, sizeof(*arrivals));
	uint8_t *msg = calloc(1, ISER_PDU_HDRS_LEN + first);
	assert_non_null(arrivals);
	assert_non_null(msg);
	unsigned n = 0;
	uint32_t lba0 = 1024;
	for (uint32_t c = 0; c < window; c++) {
		/* the bytes the target fetches by RDMA READ, at VA c * first */
		uint8_t *fetched = f->lr->init_mem + (size_t)c * first;
		for (uint32_t j = 0; j < first; j++)
			fetched[j] = (uint8_t)(c * 31 + first + j);
		uint8_t unsolicited[ISER_TARGET_RECV_DSL];
		for (uint32_t j = 0; j < first; j++)
			unsolicited[j] = (uint8_t)(c * 31 + j);
		uint8_t cdb[16];
		rw10(cdb, 0x2a, lba0 + c * (len / 512), (uint16_t)(len / 512));
		uint32_t itt = f->itt++;
		memset(msg, 0, ISER_PDU_HDRS_LEN);
		msg[0] = 0x10 | ISER_FLAG_WSV;
		put_be32(msg + 4, 0x5000 + c);
		put_be64(msg + 8, (uint64_t)c * first);
		uint8_t *bhs = msg + ISER_HDR_LEN;
		scsi_cmd_bhs(bhs, false, true, itt, len, f->cmdsn++, immediate_data ? first : 0, cdb,
			     16, 0);
		if (immediate_data) {
			/* FirstBurstLength all in the command: final as it stands */
			memcpy(msg + ISER_PDU_HDRS_LEN, unsolicited, first);
			arrive(f, arrivals, &n, msg, ISER_PDU_HDRS_LEN + first);
			continue;
		}
		bhs[1] &= 0x7f; /* an unsolicited Data-Out follows */
		arrive(f, arrivals, &n, msg, ISER_PDU_HDRS_LEN);
		memset(msg, 0, ISER_PDU_HDRS_LEN);
		msg[0] = 0x10;
		bhs[0] = ISCSI_OP_DATA_OUT;
		bhs[1] = 0x80;
		put_be24(bhs + 5, first);
		put_be32(bhs + 16, itt);
		put_be32(bhs + 20, ISCSI_RESERVED_TAG);
		memcpy(msg + ISER_PDU_HDRS_LEN, unsolicited, first);
		arrive(f, arrivals, &n, msg, ISER_PDU_HDRS_LEN + first);
	}
	for (unsigned p = 0; p < ISER_EXTRA_RECVS; p++) {
		nop_out_msg(f, msg);
		arrive(f, arrivals, &n, msg, ISER_PDU_HDRS_LEN);
	}

	/* The target polls its completions. */
	unsigned before = f->lr->nmsgs;
	for (unsigned i = 0; i < n; i++)
		iser_conn_recv(f->ic, arrivals[i].rr->priv, arrivals[i].len);
	settle(f);
	assert_int_equal(f->ic->conn.phase, ISCSI_PHASE_FULL_FEATURE);
	unsigned good = 0, nop_in = 0;
	for (unsigned i = before; i < f->lr->nmsgs;) {
		uint32_t dsl;
		const uint8_t *rsp = next_rsp(f, &i, &dsl);
		if (rsp[0] == ISCSI_OP_SCSI_RSP && rsp[3] == SCSI_STATUS_GOOD)
			good++;
		else if (rsp[0] == ISCSI_OP_NOP_IN)
			nop_in++;
	}
	assert_int_equal(good, window);
	assert_int_equal(nop_in, ISER_EXTRA_RECVS);
	/* The window reopens as the commands finish. */
	assert_int_equal(open_window(f), window);
	assert_int_equal(f->lr->bufs_out, 0);

	FILE *img = fopen(f->img, "rb");
	assert_non_null(img);
	uint8_t *disk = malloc(len);
	assert_non_null(disk);
	for (uint32_t c = 0; c < window; c++) {
		assert_int_equal(fseek(img, (long)(lba0 + c * (len / 512)) * 512, SEEK_SET), 0);
		assert_int_equal(fread(disk, 1, len, img), len);
		for (uint32_t j = 0; j < len; j++)
			if (disk[j] != (uint8_t)(c * 31 + j))
				fail_msg("command %u: byte %u on disk is %#x", c, j, disk[j]);
	}
	fclose(img);
	free(disk);
	free(msg);
	free(arrivals);
}

static void burst_with_unsolicited_data_out(void **state)
{
	burst_of_window(*state, false);
}

static void burst_with_immediate_data(void **state)
{
	burst_of_window(*state, true);
}

/* The peer vanishes while an RDMA READ is outstanding: the command ends without a response,
 * its buffer returns, the connection is released, and the same initiator port logs in again
 * (reinstating) on a new connection. */
static void peer_gone_mid_transfer(void **state)
{
	struct fixture *f = *state;
	struct iser_conn *ic = new_conn(f);
	login(f, zero_copy_keys, true);
	clear_unit_attention(f);
	uint8_t cdb[16];
	rw10(cdb, 0x2a, 0, 128);
	unsigned msgs = f->lr->nmsgs;
	scsi_cmd(f, cdb, false, true, 65536, 0, 0, NULL, 0);
	for (int i = 0; i < 20 && f->lr->nops == 0; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_int_equal(f->lr->nops, 1); /* the RDMA READ, never answered */
	assert_int_equal(f->lr->ops[0]->kind, TG_RDMA_READ);
	assert_true(f->lr->bufs_out >= 1);
	/* What rdma.c does on a disconnect: closing, then every op flushed. */
	f->lr->disconnected = true;
	f->lr->fail_ops = true;
	iser_conn_closing(ic, "disconnected by the peer");
	assert_int_equal(ic->conn.phase, ISCSI_PHASE_CLOSING);
	settle(f);
	assert_int_equal(f->lr->nmsgs, msgs); /* no response went out */
	assert_int_equal(f->lr->bufs_out, 0);
	assert_true(f->lr->release_called);
	assert_null(f->server.sessions);
	iser_conn_released(ic);
	assert_int_equal(f->lr->regs_out, 0);
	f->ic = NULL;

	new_conn(f);
	login(f, zero_copy_keys, true);
	clear_unit_attention(f);
}

/* A Hello gets its HelloReply; a reserved iSER opcode ends the connection. */
static void hello_exchange(void **state)
{
	struct fixture *f = *state;
	new_conn(f);
	uint8_t hello[ISER_HELLO_LEN] = { 0x20, 0x11, 0x00, 0x04 };
	send_msg(f, hello, sizeof(hello));
	settle(f);
	assert_int_equal(f->lr->nmsgs, 1);
	assert_int_equal(f->lr->msg_len[0], ISER_HELLO_LEN);
	assert_int_equal(f->lr->msgs[0][0], 0x30);
	assert_int_equal(f->lr->msgs[0][1], 0x11);
	assert_int_equal(get_be16(f->lr->msgs[0] + 2), 4);
	/* The receive went back for the login. */
	assert_int_equal(f->lr->nposted, ISER_LOGIN_RECVS);
	login(f, zero_copy_keys, true);

	uint8_t junk[ISER_HDR_LEN + ISCSI_BHS_LEN] = { 0x50 };
	send_msg(f, junk, sizeof(junk));
	assert_int_equal(f->ic->conn.phase, ISCSI_PHASE_CLOSING);
	settle(f);
}

/* A target that does not list iSER refuses the login; RDMAExtensions=No fails it too. */
static void login_refusals(void **state)
{
	struct fixture *f = *state;
	new_conn(f);
	static const char *const keys[] = { "RDMAExtensions=No", NULL };
	login(f, keys, false);
	settle(f);
	assert_int_equal(f->ic->conn.phase, ISCSI_PHASE_CLOSING);

	new_conn(f);
	uint8_t msg[1024] = { 0x10 };
	static const char *const tcp_only[] = { "InitiatorName=iqn.2026-11.example:host",
						"TargetName=iqn.2026-11.org.targe:tcp",
						"RDMAExtensions=Yes", NULL };
	size_t dlen = text_pairs(msg + ISER_PDU_HDRS_LEN, sizeof(msg) - ISER_PDU_HDRS_LEN, tcp_only);
	uint8_t *bhs = msg + ISER_HDR_LEN;
	bhs[0] = 0x40 | ISCSI_OP_LOGIN_REQ;
	bhs[1] = 0x80 | (1 << 2) | 3;
	put_be24(bhs + 5, (uint32_t)dlen);
	bhs[8] = 0x80;
	send_msg(f, msg, (uint32_t)(ISER_PDU_HDRS_LEN + dlen + iscsi_pad((uint32_t)dlen)));
	settle(f);
	unsigned i = 0;
	uint32_t dsl;
	const uint8_t *rsp = next_rsp(f, &i, &dsl);
	assert_int_equal(rsp[36], 0x02);
	assert_int_equal(rsp[37], 0x03); /* not found: this target is not served over iSER */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_with_both_stags),
		cmocka_unit_test(header_flags_vouch_for_stags),
		cmocka_unit_test(header_errors),
		cmocka_unit_test(header_build),
		cmocka_unit_test(message_with_ahs_and_data),
		cmocka_unit_test(hello_and_reply),
		cmocka_unit_test(cm_private_data),
		cmocka_unit_test(rdma_login_keys),
		cmocka_unit_test(rdma_login_keys_bounds),
		cmocka_unit_test(tcp_login_refuses_rdma),
		cmocka_unit_test_setup_teardown(zero_copy_write_and_read, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(immediate_data_is_copied_and_counted, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(unsolicited_data_out, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(burst_with_unsolicited_data_out, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(burst_with_immediate_data, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(peer_gone_mid_transfer, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(hello_exchange, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(login_refusals, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
