/* libFuzzer target: an initiator's byte stream through the real iSCSI connection, login, CHAP, session, SCSI and TMF code. */
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/scsi.h"
#include "iscsi_harness.h"
#include "transports/iscsi/digest.h"

/*
 * Input: two control bytes, then what the initiator sends (gen-corpus-fuzz_iscsi_conn.py
 * writes its seeds in this layout). Byte 0 says how the stream reaches the target:
 *   bits 0-1  the cut: 0 all at once, 1 pieces of 1-7 bytes, 2 pieces of up to 200 bytes
 *             (both PDU by PDU after the first FINE_CUT_BYTES), 3 PDU by PDU
 *   bit 2     a patient initiator: the commands of each piece finish before the next one,
 *             and every answer is read before the end
 *   bit 3     the stream goes again over a second connection while the first is open (the
 *             same initiator port logging in again reinstates the first session)
 *   bit 5     ... but the second connection sends only the login request
 *   bit 4     the last connection hangs up (close) at the end instead of only ending its
 *             sending (shutdown), so the target's writes fail
 *   bit 6     ... before the target has read the last piece
 * Byte 1 varies the target's negotiation limits (limits_from).
 */
#define CONTROL_BYTES 2

/* Loop turns after the last byte before a connection that has not closed counts as hung. */
#define CLOSE_WAIT_TURNS 200000
/* Waits of up to 10 ms for commands in the backend after a piece of input. */
#define SETTLE_TURNS 100

static const char config_template[] =
	"global = { log_level = \"error\"; };\n"
	"transports = { iscsi = { listen = [ \"127.0.0.1:3260\" ]; }; };\n"
	"devices = (\n"
	"  { name = \"disk0\"; backend = \"file\"; path = \"%1$s/disk0.img\"; size = \"4M\"; },\n"
	"  { name = \"disk1\"; backend = \"file\"; path = \"%1$s/disk1.img\"; size = \"1M\";\n"
	"    block_size = 4096; }\n"
	");\n"
	"targets = (\n"
	"  { name = \"iqn.2026-11.org.targe:fuzz\";\n"
	"    luns = ( { lun = 0; device = \"disk0\"; },\n"
	"             { lun = 1; device = \"disk1\"; read_only = true; } ); },\n"
	"  { name = \"iqn.2026-11.org.targe:chap\";\n"
	"    chap = { user = \"alice\"; secret = \"twelve+chars\";\n"
	"             mutual_user = \"tgt\"; mutual_secret = \"other12chars\"; };\n"
	"    luns = ( { lun = 0; device = \"disk0\"; } ); },\n"
	"  { name = \"iqn.2026-11.org.targe:private\";\n"
	"    luns = ( );\n"
	"    access = ( { initiators = [ \"iqn.2026-11.example:allowed\" ];\n"
	"                 luns = ( { lun = 3; device = \"disk1\"; } ); } ); }\n"
	");\n";

static struct {
	struct tg_config *config;
	struct ev_loop *loop;
	struct iscsi_portal portals[2];
	unsigned peer_counter;
	bool dump; /* TARGE_FUZZ_DUMP set: one line per target PDU, to check what a seed reaches */
} env;

static void set_portal(struct iscsi_portal *portal, int family, const char *name, uint16_t port)
{
	memset(portal, 0, sizeof(*portal));
	portal->fd = -1;
	snprintf(portal->name, sizeof(portal->name), "%s", name);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&portal->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY); /* wildcard: answers with the local address */
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&portal->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	env.dump = getenv("TARGE_FUZZ_DUMP") != NULL;
	/* The target writes to a peer that may already have gone. */
	signal(SIGPIPE, SIG_IGN);
	env.config = fuzz_scratch_config(config_template);
	fuzz_log_level_from_env();
	env.loop = ev_loop_new(EVFLAG_AUTO);
	if (!env.loop)
		fatal("no event loop");
	set_portal(&env.portals[0], AF_INET, "0.0.0.0:3260", 3260);
	set_portal(&env.portals[1], AF_INET6, "[::1]:3261", 3261);
	return 0;
}

/* ---- what the target sends: every complete PDU must be well formed ---- */

struct output_check {
	uint8_t *buf;
	size_t len, cap;
	bool header_digest, data_digest;          /* in force for the PDUs being parsed */
	bool pending_header_digest, pending_data_digest; /* agreed, starting after login */
	unsigned pdus;
};

static int note_digest_key(void *arg, const char *key, const char *value)
{
	struct output_check *out = arg;
	if (strcmp(key, "HeaderDigest") == 0)
		out->pending_header_digest = strcmp(value, "CRC32C") == 0;
	else if (strcmp(key, "DataDigest") == 0)
		out->pending_data_digest = strcmp(value, "CRC32C") == 0;
	return 0;
}

static void check_pdu(struct output_check *out, const uint8_t *pdu, uint32_t dsl)
{
	uint8_t op = pdu[0] & 0x3f;
	if (env.dump)
		fprintf(stderr, "target PDU %#04x flags %#04x byte2-3 %02x%02x ITT %#x TTT %#x DSL %u\n",
			op, pdu[1], pdu[2], pdu[3], get_be32(pdu + 16), get_be32(pdu + 20), dsl);
	CHECK(fuzz_target_opcode(op) && (pdu[0] & 0xc0) == 0, "opcode byte %#x", pdu[0]);
	CHECK(pdu[4] == 0, "target PDU with TotalAHSLength %u", pdu[4]);
	size_t at = ISCSI_BHS_LEN;
	if (out->header_digest) {
		CHECK(iscsi_digest_get(pdu + at) == iscsi_crc32c(pdu, ISCSI_BHS_LEN),
		      "header digest of opcode %#x", op);
		at += ISCSI_DIGEST_LEN;
	}
	const uint8_t *data = pdu + at;
	for (uint32_t i = 0; i < iscsi_pad(dsl); i++)
		CHECK(data[dsl + i] == 0, "non-zero padding");
	if (out->data_digest && dsl)
		CHECK(iscsi_digest_get(data + dsl + iscsi_pad(dsl)) == iscsi_data_digest(data, dsl),
		      "data digest of opcode %#x", op);
	if (op == ISCSI_OP_LOGIN_RSP) {
		CHECK(iscsi_text_foreach(data, dsl, note_digest_key, out) == 0,
		      "malformed login response text");
		bool transit = pdu[1] & 0x80, cont = pdu[1] & 0x40;
		CHECK(!(transit && cont), "login response with T and C");
		/* Digests start with the PDU after the final Login Response (RFC 7143 13.1). */
		if (transit && (pdu[1] & 3) == 3 && pdu[36] == 0) {
			out->header_digest = out->pending_header_digest;
			out->data_digest = out->pending_data_digest;
		}
	}
	if (op == ISCSI_OP_REJECT)
		CHECK(dsl == ISCSI_BHS_LEN, "Reject of %u bytes", dsl);
	if (op == ISCSI_OP_DATA_IN && (pdu[1] & 0x01))
		CHECK(pdu[1] & 0x80, "Data-In with S but not F");
	out->pdus++;
}

/* Parses every complete PDU at the front of the buffer and drops it. */
static void check_output(struct output_check *out)
{
	size_t at = 0;
	for (;;) {
		size_t hdr = ISCSI_BHS_LEN + (out->header_digest ? ISCSI_DIGEST_LEN : 0);
		if (out->len - at < ISCSI_BHS_LEN)
			break;
		const uint8_t *pdu = out->buf + at;
		uint32_t dsl = (uint32_t)pdu[5] << 16 | (uint32_t)pdu[6] << 8 | pdu[7];
		size_t total = hdr + dsl + iscsi_pad(dsl) +
			       (out->data_digest && dsl ? ISCSI_DIGEST_LEN : 0);
		if (out->len - at < total)
			break;
		check_pdu(out, pdu, dsl);
		at += total;
	}
	memmove(out->buf, out->buf + at, out->len - at);
	out->len -= at;
}

static void drain(int fd, struct output_check *out)
{
	while (fd >= 0) {
		if (out->cap - out->len < 65536) {
			size_t cap = out->cap ? out->cap * 2 : 1u << 17;
			uint8_t *grown = realloc(out->buf, cap);
			if (!grown)
				fatal("out of memory");
			out->buf = grown;
			out->cap = cap;
		}
		ssize_t n = read(fd, out->buf + out->len, out->cap - out->len);
		if (n <= 0)
			break;
		out->len += (size_t)n;
		check_output(out);
	}
}

/* ---- initiator connections ---- */

#define CONNECTIONS_MAX 2

struct initiator {
	int fd;                    /* our end; the target has the other */
	struct output_check out;
};

struct run {
	struct iscsi_server server;
	struct initiator initiators[CONNECTIONS_MAX];
	unsigned count;
	uint64_t rng;
};

static uint64_t next_random(struct run *run)
{
	/* xorshift64: a fixed cut of the stream for a given input. */
	run->rng ^= run->rng << 13;
	run->rng ^= run->rng >> 7;
	run->rng ^= run->rng << 17;
	return run->rng;
}

/* Fine cuts stop after this many bytes: by then every receive stage has been split, and a
 * long input cut into bytes would cost thousands of loop turns. */
#define FINE_CUT_BYTES 1024

/* The length of the PDU at the front of the stream, with the digests the login agreed on
 * (as read from the target's answers so far); all that is left if it is shorter. */
static size_t pdu_length(const struct output_check *out, const uint8_t *p, size_t left)
{
	if (left < ISCSI_BHS_LEN)
		return left;
	uint32_t dsl = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	size_t length = ISCSI_BHS_LEN + 4u * p[4] + (out->header_digest ? ISCSI_DIGEST_LEN : 0) +
			dsl + iscsi_pad(dsl) + (out->data_digest && dsl ? ISCSI_DIGEST_LEN : 0);
	return length < left ? length : left;
}

/* The next piece in cut mode cut & 3; pdu_left is what remains of the PDU the stream is in. */
static size_t next_chunk(struct run *run, uint8_t cut, size_t done, size_t left,
			 size_t pdu_left)
{
	static const size_t max_chunk[4] = { SIZE_MAX, 7, 200, 0 };
	size_t max = max_chunk[cut & 3];
	if (max == SIZE_MAX)
		return left;
	if (max == 0 || done >= FINE_CUT_BYTES)
		return pdu_left;
	size_t chunk = 1 + (size_t)(next_random(run) % max);
	return chunk < left ? chunk : left;
}

static void drain_all(struct run *run)
{
	for (unsigned i = 0; i < run->count; i++)
		drain(run->initiators[i].fd, &run->initiators[i].out);
}

static void pump(struct run *run, int turns)
{
	for (int i = 0; i < turns; i++) {
		ev_run(env.loop, EVRUN_NOWAIT);
		drain_all(run);
	}
}

/* Whether a command of a live session is in the core or the backend (not waiting for data
 * from us, not answered yet). */
static bool backend_busy(const struct iscsi_server *server)
{
	for (const struct iscsi_conn *conn = server->conns; conn; conn = conn->next) {
		const struct iscsi_cmd *cmd = conn->session ? fuzz_busy_cmd(conn->session) : NULL;
		if (cmd) {
			if (env.dump)
				fprintf(stderr, "busy: ITT %#x CDB %02x state %s\n", cmd->itt,
					cmd->task.cdb[0], tg_task_state_name(cmd->task.state));
			return true;
		}
	}
	return false;
}

/* Whether a live connection still has commands to answer or answers to send. */
static bool answers_pending(const struct iscsi_server *server)
{
	for (const struct iscsi_conn *conn = server->conns; conn; conn = conn->next)
		if (conn->tx_head)
			return true;
	return backend_busy(server);
}

/* Lets the commands of the piece just written finish (their I/O takes microseconds on tmpfs)
 * before the next piece, so that seeds behave as a patient initiator's session would. */
static void settle(struct run *run)
{
	pump(run, 1);
	for (int i = 0; i < SETTLE_TURNS && backend_busy(&run->server); i++) {
		fuzz_wait(env.loop);
		drain_all(run);
	}
}

static void limits_from(struct iscsi_target_limits *limits, uint8_t control)
{
	iscsi_target_limits_default(limits);
	limits->want_initial_r2t = control & 0x01;
	limits->allow_immediate_data = !(control & 0x02);
	limits->allow_header_digest = !(control & 0x04);
	limits->allow_data_digest = !(control & 0x08);
	if (control & 0x10)
		limits->max_recv_dsl = 512 + (control & 0xe0) * 8;
	if (control & 0x20)
		limits->max_burst_length = 4096;
	if (control & 0x40)
		limits->first_burst_length = 512;
	if (control & 0x80)
		limits->max_outstanding_r2t = 1;
}

/* Hands the target a new connection from a new address; returns our end. */
static struct initiator *connect_initiator(struct run *run)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		fatal("socketpair");
	struct initiator *ini = &run->initiators[run->count++];
	ini->fd = sv[1];
	/* A new address each time: the CHAP failure limiter is process-wide and would otherwise
	 * refuse every CHAP attempt after a few runs. */
	unsigned n = env.peer_counter++;
	struct sockaddr_storage peer = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)(1024 + n % 60000));
	sin->sin_addr.s_addr = htonl(0x0a000000u | (n & 0xffffff));
	iscsi_conn_accept(&run->server, sv[0], &peer);
	struct iscsi_conn *conn = run->server.conns;
	CHECK(conn && conn->fd == sv[0], "connection not accepted");
	/* What a TCP connection to 127.0.0.1:3260 would report (a socketpair has no address). */
	struct sockaddr_in *local = (struct sockaddr_in *)&conn->local_addr;
	memset(&conn->local_addr, 0, sizeof(conn->local_addr));
	local->sin_family = AF_INET;
	local->sin_port = htons(3260);
	local->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return ini;
}

/* Writes the stream in pieces until it is all out or the target has closed its end. */
static void feed(struct run *run, struct initiator *ini, uint8_t cut, const uint8_t *data,
		 size_t size, bool hang_up_at_once)
{
	size_t off = 0, pdu_end = 0;
	unsigned stalls = 0;
	while (off < size) {
		/* PDU lengths are worked out as the stream reaches them: the digests in force
		 * are known from the answers to what came before. */
		while (pdu_end <= off)
			pdu_end += pdu_length(&ini->out, data + pdu_end, size - pdu_end);
		size_t chunk = next_chunk(run, cut, off, size - off, pdu_end - off);
		ssize_t wrote = write(ini->fd, data + off, chunk);
		if (wrote < 0) {
			if (errno != EAGAIN)
				return; /* closed: the rest of the input goes nowhere */
			CHECK(++stalls < CLOSE_WAIT_TURNS, "the target stopped reading");
			pump(run, 1);
			continue;
		}
		stalls = 0;
		off += (size_t)wrote;
		if (off == size && hang_up_at_once)
			break; /* it hangs up at once (below), before the target answers */
		/* Unless patient, later PDUs race the commands of this piece (a logout while
		 * they are in the backend, say). */
		if (cut & 4)
			settle(run);
		else
			pump(run, 1);
	}
}

/* Bytes of the first PDU of the stream (a login: no digests yet), or all there is. */
static size_t first_pdu_length(const uint8_t *data, size_t size)
{
	if (size < ISCSI_BHS_LEN)
		return size;
	uint32_t dsl = (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7];
	size_t length = ISCSI_BHS_LEN + 4u * data[4] + dsl + iscsi_pad(dsl);
	return length < size ? length : size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < CONTROL_BYTES)
		return -1;
	uint8_t cut = data[0], limits = data[1];
	data += CONTROL_BYTES;
	size -= CONTROL_BYTES;

	static struct run run;
	memset(&run, 0, sizeof(run));
	run.rng = 0x9e3779b97f4a7c15ull ^ cut;

	struct iscsi_server *server = &run.server;
	fuzz_server_start(server, env.loop, env.config);
	/* Copies, since iscsi_server_stop frees them (and closes their fds, -1 here). */
	server->portals = malloc(sizeof(env.portals));
	if (!server->portals)
		fatal("out of memory");
	memcpy(server->portals, env.portals, sizeof(env.portals));
	server->portal_count = sizeof(env.portals) / sizeof(env.portals[0]);
	limits_from(&server->limits, limits);

	bool second = cut & 0x08, hang_up = cut & 0x10, at_once = hang_up && (cut & 0x40);
	feed(&run, connect_initiator(&run), cut, data, size, at_once && !second);
	if (second) {
		/* Just the login request is what an initiator waiting for the answer sends. */
		size_t again = (cut & 0x20) ? first_pdu_length(data, size) : size;
		feed(&run, connect_initiator(&run), cut, data, again, at_once);
	}
	/* A patient initiator reads every answer before it ends. */
	if ((cut & 4) && !at_once)
		for (int i = 0; i < SETTLE_TURNS && answers_pending(server); i++)
			settle(&run);
	/* Ending its sending, an initiator still reads what the target says; hanging up, it
	 * makes the target's next writes fail. */
	for (unsigned i = 0; i < run.count; i++) {
		if (hang_up && i == run.count - 1) {
			close(run.initiators[i].fd);
			run.initiators[i].fd = -1;
		} else {
			shutdown(run.initiators[i].fd, SHUT_WR);
		}
	}
	for (unsigned turns = 0; server->conns; turns++) {
		CHECK(turns < CLOSE_WAIT_TURNS, "a connection stays open after end of input");
		pump(&run, 1);
	}
	/* Commands still in the backend come back now; their sessions free themselves. */
	tg_ioengine_destroy(server->engine);
	/* What the server keeps in the loop goes with it, as when the daemon stops. */
	iscsi_server_stop(server);
	drain_all(&run);
	fuzz_check_no_session_left(server);
	for (unsigned i = 0; i < run.count; i++) {
		if (run.initiators[i].fd >= 0)
			close(run.initiators[i].fd);
		free(run.initiators[i].out.buf);
	}
	tg_runtime_destroy(server->runtime);
	return 0;
}
