/* srp-probe: a userspace SRP initiator (librdmacm) that sends targed what ib_srp never does — malformed IUs, partial indirect tables, bad keys, competing logins — and checks each answer. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "transports/srp/iu.h"

/* Memory of one channel: receive buffers, send buffers, then data the target moves. */
enum {
	NRECV = 16,
	BUF = 4096,
	RECV_OFF = 0,
	SEND_OFF = NRECV * BUF,
	DATA_OFF = 2 * NRECV * BUF,
	MEM_LEN = DATA_OFF + (1 << 20),
	IMM_OFFSET = 68,
	TIMEOUT_MS = 15000,
};

struct chan {
	const char *name;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *mem;
	unsigned send_slot;
	uint64_t next_tag;
	int credits;
	struct srp_login_rsp rsp;
	bool connected;
};

static const char *g_addr, *g_port;
static uint8_t g_target_id[16], g_initiator_id[16];
static int failures;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s - ", ok ? "ok" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	if (!ok)
		failures++;
}

static void die(const char *what)
{
	printf("FAIL - %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next CM event of ch within TIMEOUT_MS; its type, with the private data copied out. */
static int wait_event(struct chan *ch, uint8_t *pdata, size_t *plen, int *status)
{
	struct pollfd pfd = { .fd = ch->ec->fd, .events = POLLIN };
	if (poll(&pfd, 1, TIMEOUT_MS) <= 0)
		return -1;
	struct rdma_cm_event *ev;
	if (rdma_get_cm_event(ch->ec, &ev) != 0)
		return -1;
	int type = ev->event;
	if (pdata && plen) {
		size_t n = ev->param.conn.private_data_len;
		if (n > *plen)
			n = *plen;
		if (ev->param.conn.private_data)
			memcpy(pdata, ev->param.conn.private_data, n);
		*plen = ev->param.conn.private_data ? n : 0;
	}
	if (status)
		*status = ev->status;
	rdma_ack_cm_event(ev);
	return type;
}

static void post_recv(struct chan *ch, unsigned i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)ch->mem + RECV_OFF + i * BUF, .length = BUF,
			       .lkey = ch->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *bad;
	if (ibv_post_recv(ch->id->qp, &wr, &bad) != 0)
		die("ibv_post_recv");
}

static void send_iu(struct chan *ch, const void *iu, size_t len)
{
	uint8_t *buf = ch->mem + SEND_OFF + (ch->send_slot++ % NRECV) * BUF;
	memcpy(buf, iu, len);
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = (uint32_t)len, .lkey = ch->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1u << 31, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	if (ibv_post_send(ch->id->qp, &wr, &bad) != 0)
		die("ibv_post_send");
}

/* The next IU the target sends (credit requests answered on the way unless keep_cred); its
 * length, 0 on timeout, -1 when the QP failed. */
static int recv_iu(struct chan *ch, uint8_t *out, bool keep_cred)
{
	long end = now_ms() + TIMEOUT_MS;
	while (now_ms() < end) {
		struct ibv_wc wc;
		int n = ibv_poll_cq(ch->cq, 1, &wc);
		if (n <= 0)
			continue;
		if (wc.status != IBV_WC_SUCCESS)
			return -1;
		if (wc.wr_id & (1u << 31))
			continue; /* a send completed */
		uint8_t *buf = ch->mem + RECV_OFF + wc.wr_id * BUF;
		memcpy(out, buf, wc.byte_len);
		post_recv(ch, (unsigned)wc.wr_id);
		if (wc.byte_len >= 8 && (out[0] == SRP_RSP || out[0] == SRP_CRED_REQ))
			ch->credits += (int)be32(out + 4);
		if (out[0] == SRP_CRED_REQ && !keep_cred) {
			uint8_t rsp[SRP_CRED_RSP_LEN] = { SRP_CRED_RSP };
			memcpy(rsp + 8, out + 8, 8);
			send_iu(ch, rsp, sizeof(rsp));
			continue;
		}
		return (int)wc.byte_len;
	}
	return 0;
}

static void chan_free(struct chan *ch)
{
	if (ch->id && ch->id->qp)
		rdma_destroy_qp(ch->id);
	if (ch->cq)
		ibv_destroy_cq(ch->cq);
	if (ch->mr)
		ibv_dereg_mr(ch->mr);
	if (ch->pd)
		ibv_dealloc_pd(ch->pd);
	if (ch->id)
		rdma_destroy_id(ch->id);
	if (ch->ec)
		rdma_destroy_event_channel(ch->ec);
	free(ch->mem);
	memset(ch, 0, sizeof(*ch));
}

/* Logs in: 0 with ch->rsp filled, or the SRP_LOGIN_REJ reason (> 0), or -1 (no answer). */
static long login(struct chan *ch, const char *name, uint8_t flags, uint32_t it_len,
		  const uint8_t target_id[16])
{
	memset(ch, 0, sizeof(*ch));
	ch->name = name;
	ch->next_tag = 1;
	ch->ec = rdma_create_event_channel();
	if (!ch->ec || rdma_create_id(ch->ec, &ch->id, ch, RDMA_PS_TCP) != 0)
		die("rdma_create_id");
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *res;
	if (rdma_getaddrinfo(g_addr, g_port, &hints, &res) != 0)
		die("rdma_getaddrinfo");
	if (rdma_resolve_addr(ch->id, NULL, res->ai_dst_addr, 2000) != 0 ||
	    wait_event(ch, NULL, NULL, NULL) != RDMA_CM_EVENT_ADDR_RESOLVED)
		die("rdma_resolve_addr");
	rdma_freeaddrinfo(res);
	if (rdma_resolve_route(ch->id, 2000) != 0 ||
	    wait_event(ch, NULL, NULL, NULL) != RDMA_CM_EVENT_ROUTE_RESOLVED)
		die("rdma_resolve_route");
	ch->pd = ibv_alloc_pd(ch->id->verbs);
	ch->cq = ch->pd ? ibv_create_cq(ch->id->verbs, 128, NULL, NULL, 0) : NULL;
	if (!ch->cq || posix_memalign((void **)&ch->mem, 4096, MEM_LEN) != 0)
		die("verbs resources");
	memset(ch->mem, 0, MEM_LEN);
	ch->mr = ibv_reg_mr(ch->pd, ch->mem, MEM_LEN,
			    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	struct ibv_qp_init_attr qa = { .send_cq = ch->cq, .recv_cq = ch->cq, .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = 64, .max_recv_wr = NRECV,
						.max_send_sge = 1, .max_recv_sge = 1 } };
	if (!ch->mr || rdma_create_qp(ch->id, ch->pd, &qa) != 0)
		die("rdma_create_qp");
	for (unsigned i = 0; i < NRECV; i++)
		post_recv(ch, i);

	/* SRP_LOGIN_REQ in the RDMA/CM form, as ib_srp sends it over RoCE. */
	uint8_t req[SRP_LOGIN_REQ_RDMA_LEN] = { 0 };
	req[0] = 0x42; /* tag */
	req[8] = 0;
	req[9] = SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT;
	req[10] = flags;
	req[11] = SRP_LOGIN_REQ;
	req[12] = (uint8_t)(it_len >> 24);
	req[13] = (uint8_t)(it_len >> 16);
	req[14] = (uint8_t)(it_len >> 8);
	req[15] = (uint8_t)it_len;
	memcpy(req + 16, g_initiator_id, 16);
	memcpy(req + 32, target_id, 16);
	req[49] = IMM_OFFSET;
	struct rdma_conn_param cp = { .private_data = req, .private_data_len = sizeof(req),
				      .responder_resources = 4, .initiator_depth = 0,
				      .retry_count = 7, .rnr_retry_count = 7 };
	if (rdma_connect(ch->id, &cp) != 0)
		die("rdma_connect");
	uint8_t pdata[256];
	size_t plen = sizeof(pdata);
	int status = 0;
	int ev = wait_event(ch, pdata, &plen, &status);
	if (ev == RDMA_CM_EVENT_ESTABLISHED && plen >= SRP_LOGIN_RSP_LEN && pdata[0] == SRP_LOGIN_RSP) {
		ch->rsp.req_lim_delta = be32(pdata + 4);
		ch->rsp.max_it_iu_len = be32(pdata + 16);
		ch->rsp.max_ti_iu_len = be32(pdata + 20);
		ch->rsp.buf_fmt = (uint16_t)(pdata[24] << 8 | pdata[25]);
		ch->rsp.rsp_flags = pdata[26];
		ch->credits = (int)ch->rsp.req_lim_delta;
		ch->connected = true;
		return 0;
	}
	if (ev == RDMA_CM_EVENT_REJECTED && plen >= 8 && pdata[0] == SRP_LOGIN_REJ)
		return be32(pdata + 4);
	printf("# login %s: CM event %d (%s), status %d, %zu bytes of private data\n", name, ev,
	       ev >= 0 ? rdma_event_str(ev) : "timeout", status, plen);
	return -1;
}

/* After the target ended the channel: true if it first sent SRP_T_LOGOUT with reason. */
static bool expect_logout(struct chan *ch, uint32_t reason)
{
	uint8_t iu[BUF];
	int n = recv_iu(ch, iu, true);
	bool got = n >= SRP_T_LOGOUT_LEN && iu[0] == SRP_T_LOGOUT && be32(iu + 4) == reason;
	if (!got)
		printf("# %s: expected SRP_T_LOGOUT reason %u, got %d bytes (type %#x)\n", ch->name,
		       reason, n, n > 0 ? iu[0] : 0);
	return got;
}

static bool expect_disconnect(struct chan *ch)
{
	int ev = wait_event(ch, NULL, NULL, NULL);
	if (ev == RDMA_CM_EVENT_DISCONNECTED) {
		rdma_disconnect(ch->id);
		ch->connected = false;
		return true;
	}
	printf("# %s: expected DISCONNECTED, got %d\n", ch->name, ev);
	return false;
}

struct result {
	int len;
	uint8_t status, flags;
	uint32_t di_resid, do_resid;
	uint8_t sense_key, asc, ascq;
	uint8_t rsp_code; /* task management */
};

/* Sends an IU whose tag is at offset 8 and waits for the SRP_RSP with that tag. */
static struct result transact(struct chan *ch, uint8_t *iu, size_t len)
{
	struct result r = { 0 };
	uint64_t tag = ch->next_tag++;
	memcpy(iu + 8, &tag, 8);
	ch->credits--;
	send_iu(ch, iu, len);
	uint8_t in[BUF];
	for (;;) {
		int n = recv_iu(ch, in, false);
		if (n <= 0) {
			r.len = n;
			return r;
		}
		if (n < SRP_RSP_MIN_LEN || in[0] != SRP_RSP || memcmp(in + 8, &tag, 8) != 0)
			continue;
		r.len = n;
		r.flags = in[18];
		r.status = in[19];
		r.do_resid = be32(in + 20);
		r.di_resid = be32(in + 24);
		uint32_t sense_len = be32(in + 28), resp_len = be32(in + 32);
		if (resp_len >= 4)
			r.rsp_code = in[36 + 3];
		const uint8_t *sense = in + 36 + resp_len;
		if ((r.flags & SRP_RSP_FLAG_SNSVALID) && sense_len >= 14) {
			r.sense_key = sense[2] & 0x0f;
			r.asc = sense[12];
			r.ascq = sense[13];
		}
		return r;
	}
}

/* An SRP_CMD: CDB, data buffer format byte, counts, then descriptor bytes (copied after the
 * 48-byte header). */
static struct result command(struct chan *ch, const uint8_t cdb[16], uint8_t fmt, uint8_t out_cnt,
			     uint8_t in_cnt, const void *descs, size_t descs_len)
{
	uint8_t iu[BUF] = { 0 };
	iu[0] = SRP_CMD;
	iu[5] = fmt;
	iu[6] = out_cnt;
	iu[7] = in_cnt;
	memcpy(iu + 32, cdb, 16);
	memcpy(iu + 48, descs, descs_len);
	return transact(ch, iu, 48 + descs_len);
}

static void put_desc(uint8_t *p, struct chan *ch, size_t off, uint32_t len, uint32_t key_xor)
{
	struct srp_desc d = { .va = (uintptr_t)ch->mem + DATA_OFF + off,
			      .key = ch->mr->rkey ^ key_xor, .len = len };
	srp_desc_put(p, &d);
}

/* The indirect header's TOTAL LENGTH (bytes 16..19 after the table descriptor). */
static void put_total(uint8_t *p, uint32_t total)
{
	p[16] = (uint8_t)(total >> 24);
	p[17] = (uint8_t)(total >> 16);
	p[18] = (uint8_t)(total >> 8);
	p[19] = (uint8_t)total;
}

static void rw10(uint8_t cdb[16], uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[7] = (uint8_t)(blocks >> 8);
	cdb[8] = (uint8_t)blocks;
}

/* TEST UNIT READY until GOOD (unit attentions after login or reset come first). */
static bool ready(struct chan *ch)
{
	uint8_t tur[16] = { 0 };
	for (int i = 0; i < 5; i++) {
		struct result r = command(ch, tur, 0, 0, 0, NULL, 0);
		if (r.len > 0 && r.status == 0)
			return true;
		if (r.len <= 0)
			return false;
	}
	return false;
}

static struct result tmf(struct chan *ch, uint8_t function, uint64_t task_tag)
{
	uint8_t iu[SRP_TSK_MGMT_LEN] = { 0 };
	iu[0] = SRP_TSK_MGMT;
	iu[30] = function;
	memcpy(iu + 32, &task_tag, 8);
	return transact(ch, iu, sizeof(iu));
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static int hexid(const char *text, uint8_t id[16])
{
	if (strncmp(text, "0x", 2) == 0)
		text += 2;
	if (strlen(text) != 32)
		return -1;
	for (int i = 0; i < 16; i++)
		if (sscanf(text + 2 * i, "%2hhx", &id[i]) != 1)
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5 || hexid(argv[3], g_target_id) || hexid(argv[4], g_initiator_id)) {
		fprintf(stderr, "usage: srp-probe ADDR PORT TARGET_PORT_ID INITIATOR_PORT_ID\n");
		return 2;
	}
	g_addr = argv[1];
	g_port = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct chan a, b, c, d, e;
	uint8_t wrong[16];
	memcpy(wrong, g_target_id, 16);
	wrong[0] ^= 0xff;

	/* ---- logins that must be rejected ---- */
	long rc = login(&a, "wrong-port", 0, 8260, wrong);
	check(rc == SRP_REJ_UNABLE_ESTABLISH_CHANNEL,
	      "login to an unknown target port id: SRP_LOGIN_REJ %#lx", rc);
	chan_free(&a);
	rc = login(&a, "huge-iu", 0, 1u << 20, g_target_id);
	check(rc == SRP_REJ_IT_IU_LENGTH_TOO_LARGE,
	      "login asking for a 1 MiB request IU: SRP_LOGIN_REJ %#lx", rc);
	chan_free(&a);

	/* ---- two channels of one nexus ---- */
	rc = login(&a, "A", SRP_REQ_MULTICHAN_SINGLE | SRP_REQ_IMMED_REQUESTED, 8260, g_target_id);
	check(rc == 0, "login A (single channel)");
	if (rc != 0)
		return 1;
	check(a.rsp.req_lim_delta >= 16 && a.rsp.max_ti_iu_len >= 36 + 18 &&
		      a.rsp.buf_fmt == (SRP_BUF_FORMAT_DIRECT | SRP_BUF_FORMAT_INDIRECT) &&
		      a.rsp.max_it_iu_len == 8260 && (a.rsp.rsp_flags & SRP_RSP_IMMED_SUPPORTED),
	      "SRP_LOGIN_RSP: request limit %u, IU %u/%u, formats %#x, flags %#x",
	      a.rsp.req_lim_delta, a.rsp.max_it_iu_len, a.rsp.max_ti_iu_len, a.rsp.buf_fmt,
	      a.rsp.rsp_flags);
	rc = login(&b, "B", SRP_REQ_MULTICHAN_MULTI, 4096, g_target_id);
	check(rc == 0 && (b.rsp.rsp_flags & 3) == SRP_RSP_MULTICHAN_MAINTAINED,
	      "login B joins A's nexus (multichannel result %u)", b.rsp.rsp_flags & 3);
	check(ready(&a), "TEST UNIT READY on A");
	check(ready(&b), "TEST UNIT READY on B");

	/* ---- data: direct, partial indirect, immediate ---- */
	uint8_t cdb[16], descs[BUF];
	fill(a.mem + DATA_OFF, 8192, 1);
	rw10(cdb, 0x2a, 100, 16);
	put_desc(descs, &a, 0, 8192, 0);
	struct result r = command(&a, cdb, SRP_FMT_DIRECT << 4, 0, 0, descs, SRP_DESC_LEN);
	check(r.len > 0 && r.status == 0, "WRITE(10) 8 KiB, direct descriptor: status %#x", r.status);
	memset(a.mem + DATA_OFF + 65536, 0, 8192);
	rw10(cdb, 0x28, 100, 16);
	put_desc(descs, &a, 65536, 8192, 0);
	r = command(&a, cdb, SRP_FMT_DIRECT, 0, 0, descs, SRP_DESC_LEN);
	check(r.len > 0 && r.status == 0 && memcmp(a.mem + DATA_OFF, a.mem + DATA_OFF + 65536, 8192) == 0,
	      "READ(10) direct reads back what was written");

	/* A write whose 6-entry table (scattered 1.5 KiB pieces) lies in initiator memory with
	 * only its first entry in the IU. */
	size_t table_off = 200000;
	uint8_t *table = a.mem + DATA_OFF + table_off;
	for (int i = 0; i < 6; i++) {
		fill(a.mem + DATA_OFF + 300000 + i * 4096, 1536, 10 + i);
		put_desc(table + i * 16, &a, 300000 + i * 4096, 1536, 0);
	}
	rw10(cdb, 0x2a, 300, 18);
	memset(descs, 0, sizeof(descs));
	put_desc(descs, &a, table_off, 6 * 16, 0);
	put_total(descs, 9216);
	memcpy(descs + 20, table, 16);
	r = command(&a, cdb, SRP_FMT_INDIRECT << 4, 1, 0, descs, 20 + 16);
	check(r.len > 0 && r.status == 0, "WRITE(10) with a partial indirect table: status %#x",
	      r.status);
	/* read it back into two halves through a complete table in the IU */
	memset(a.mem + DATA_OFF + 400000, 0, 16384);
	rw10(cdb, 0x28, 300, 18);
	memset(descs, 0, sizeof(descs));
	put_desc(descs, &a, 0, 2 * 16, 0);
	put_total(descs, 9216);
	put_desc(descs + 20, &a, 400000, 4096, 0);
	put_desc(descs + 36, &a, 400000 + 8192, 5120, 0);
	r = command(&a, cdb, SRP_FMT_INDIRECT, 0, 2, descs, 20 + 32);
	uint8_t expect[9216], got[9216];
	for (int i = 0; i < 6; i++)
		memcpy(expect + i * 1536, a.mem + DATA_OFF + 300000 + i * 4096, 1536);
	memcpy(got, a.mem + DATA_OFF + 400000, 4096);
	memcpy(got + 4096, a.mem + DATA_OFF + 400000 + 8192, 5120);
	check(r.len > 0 && r.status == 0 && memcmp(expect, got, sizeof(expect)) == 0,
	      "READ(10) through an indirect table returns the scattered write");

	/* immediate data: 1 KiB inside the IU */
	uint8_t iu[BUF] = { 0 };
	iu[0] = SRP_CMD;
	iu[5] = SRP_FMT_IMMEDIATE << 4;
	rw10(iu + 32, 0x2a, 500, 2);
	iu[48] = 0, iu[49] = 0, iu[50] = 1024 >> 8, iu[51] = 0;
	fill(iu + IMM_OFFSET, 1024, 77);
	uint8_t imm_copy[1024];
	memcpy(imm_copy, iu + IMM_OFFSET, 1024);
	r = transact(&a, iu, IMM_OFFSET + 1024);
	check(r.len > 0 && r.status == 0, "WRITE(10) with immediate data: status %#x", r.status);
	rw10(cdb, 0x28, 500, 2);
	put_desc(descs, &b, 500000, 1024, 0);
	r = command(&b, cdb, SRP_FMT_DIRECT, 0, 0, descs, SRP_DESC_LEN);
	check(r.len > 0 && r.status == 0 && memcmp(b.mem + DATA_OFF + 500000, imm_copy, 1024) == 0,
	      "the immediate data reads back on the other channel");

	/* ---- residuals ---- */
	rw10(cdb, 0x28, 0, 1);
	put_desc(descs, &a, 0, 1024, 0);
	r = command(&a, cdb, SRP_FMT_DIRECT, 0, 0, descs, SRP_DESC_LEN);
	check(r.status == 0 && (r.flags & SRP_RSP_FLAG_DIUNDER) && r.di_resid == 512,
	      "READ of 512 bytes into 1024: DIUNDER, residual %u", r.di_resid);
	rw10(cdb, 0x28, 0, 4);
	put_desc(descs, &a, 0, 1024, 0);
	r = command(&a, cdb, SRP_FMT_DIRECT, 0, 0, descs, SRP_DESC_LEN);
	check((r.flags & SRP_RSP_FLAG_DIOVER) && r.di_resid == 1024,
	      "READ of 2048 bytes into 1024: DIOVER, residual %u", r.di_resid);

	/* ---- malformed commands: answered, channel kept ---- */
	rw10(cdb, 0x28, 0, 1);
	memset(descs, 0, sizeof(descs));
	put_desc(descs, &a, 0, 2 * 16, 0); /* a table of 2 entries ... */
	r = command(&a, cdb, SRP_FMT_INDIRECT, 0, 3, descs, 20 + 48); /* ... but 3 in the IU */
	check(r.status == 2 && r.sense_key == 5 && r.asc == 0x0e && r.ascq == 0x03,
	      "inconsistent indirect counts: CHECK CONDITION %x/%02x/%02x", r.sense_key, r.asc,
	      r.ascq);
	r = command(&a, cdb, SRP_FMT_DIRECT << 4 | SRP_FMT_DIRECT, 0, 0, descs, 32);
	check(r.status == 2 && r.sense_key == 5, "bidirectional command: CHECK CONDITION key %x",
	      r.sense_key);
	r = command(&a, cdb, 0x0e, 0, 0, descs, 32);
	check(r.status == 2 && r.sense_key == 5, "reserved descriptor format: CHECK CONDITION");
	rw10(cdb, 0x28, 0, 4);
	memset(descs, 0, sizeof(descs));
	put_desc(descs, &a, 0, 2 * 16, 0);
	put_total(descs, 2048);
	put_desc(descs + 20, &a, 0, 512, 0);
	put_desc(descs + 36, &a, 4096, 512, 0);
	r = command(&a, cdb, SRP_FMT_INDIRECT, 0, 2, descs, 20 + 32);
	check(r.status == 2 && r.sense_key == 5,
	      "descriptors covering less than the stated total: CHECK CONDITION");
	check(ready(&a), "A still works after the malformed commands");

	/* ---- task management ---- */
	r = tmf(&a, SRP_TSK_ABORT_TASK, 0xdeadbeef);
	check(r.len > 0 && (r.flags & SRP_RSP_FLAG_RSPVALID) && r.rsp_code == SRP_TMF_RSP_COMPLETE,
	      "ABORT TASK of an unknown tag: FUNCTION COMPLETE");
	r = tmf(&a, SRP_TSK_CLEAR_ACA, 0);
	check(r.len > 0 && r.rsp_code == SRP_TMF_RSP_NOT_SUPPORTED, "CLEAR ACA: not supported (%#x)",
	      r.rsp_code);
	r = tmf(&b, SRP_TSK_LUN_RESET, 0);
	check(r.len > 0 && r.rsp_code == SRP_TMF_RSP_COMPLETE, "LOGICAL UNIT RESET on B: complete");
	rw10(cdb, 0x28, 0, 1);
	put_desc(descs, &a, 0, 512, 0);
	r = command(&a, cdb, SRP_FMT_DIRECT, 0, 0, descs, SRP_DESC_LEN);
	check(r.status == 2 && r.sense_key == 6 && r.asc == 0x29,
	      "the reset shows as a unit attention on A (%x/%02x/%02x)", r.sense_key, r.asc, r.ascq);
	check(ready(&a) && ready(&b), "both channels ready after the reset");

	/* ---- protocol errors end only their channel ---- */
	uint8_t bad[16] = { 0x99 };
	send_iu(&b, bad, sizeof(bad));
	check(expect_logout(&b, SRP_LOGOUT_INVALID_IU_TYPE) && expect_disconnect(&b),
	      "an IU of unknown type: SRP_T_LOGOUT (invalid IU type) and B disconnected");
	check(ready(&a), "A unaffected by B's protocol error");
	uint8_t logout[SRP_I_LOGOUT_LEN] = { SRP_I_LOGOUT };
	send_iu(&a, logout, sizeof(logout));
	check(expect_disconnect(&a), "SRP_I_LOGOUT: A disconnected");
	chan_free(&a);
	chan_free(&b);

	/* ---- a new single-channel login replaces a live one (initiator reboot) ---- */
	rc = login(&d, "D", SRP_REQ_MULTICHAN_SINGLE, 4096, g_target_id);
	check(rc == 0 && ready(&d), "login D");
	rc = login(&c, "C", SRP_REQ_MULTICHAN_SINGLE, 4096, g_target_id);
	check(rc == 0 && (c.rsp.rsp_flags & 3) == SRP_RSP_MULTICHAN_TERMINATED,
	      "login C (single channel) while D lives: existing channels terminated (%u)",
	      c.rsp.rsp_flags & 3);
	check(expect_logout(&d, SRP_LOGOUT_MULTICHANNEL_ACTION) && expect_disconnect(&d),
	      "D got SRP_T_LOGOUT (multichannel action) and was disconnected");
	check(ready(&c), "C works (after the I_T nexus loss unit attention)");

	/* ---- a bad R_Key kills the channel that used it, not its sibling ---- */
	rc = login(&e, "E", SRP_REQ_MULTICHAN_MULTI, 4096, g_target_id);
	check(rc == 0 && ready(&e), "login E joins C's nexus");
	rw10(cdb, 0x2a, 100, 8);
	put_desc(descs, &c, 0, 4096, 0x5a5a00);
	r = command(&c, cdb, SRP_FMT_DIRECT << 4, 0, 0, descs, SRP_DESC_LEN);
	check(r.len <= 0, "WRITE with a wrong R_Key gets no response (the target's RDMA READ fails)");
	check(ready(&e), "E unaffected by C's QP error");
	rw10(cdb, 0x28, 100, 16);
	put_desc(descs, &e, 0, 8192, 0);
	r = command(&e, cdb, SRP_FMT_DIRECT, 0, 0, descs, SRP_DESC_LEN);
	uint8_t first[8192];
	fill(first, sizeof(first), 1);
	check(r.status == 0 && memcmp(e.mem + DATA_OFF, first, 8192) == 0,
	      "the failed write changed nothing: LBA 100 still holds the first write");
	chan_free(&c);
	chan_free(&e);

	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
