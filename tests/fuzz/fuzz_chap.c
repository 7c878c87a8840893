/* libFuzzer target: CHAP binary-value codecs, the failure limiter against a model, and iscsi_auth_step exchanges on any security-stage text. */
#include <nettle/base64.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/chap.h"
#include "core/log.h"
#include "core/runtime.h"
#include "harness.h"
#include "transports/iscsi/auth.h"
#include "transports/iscsi/iscsi.h"

/*
 * Byte 0 of the input picks the part (top two bits) and, for exchanges, the CHAP setup (low
 * bits). The rest is: a binary value for part 0; up to STEP_MAX security-stage requests
 * separated by 0xff bytes for parts 1 and 3; limiter operations for part 2.
 */
enum part { PART_VALUES = 0, PART_EXCHANGE = 1, PART_LIMITER = 2 };

/* ---- binary values ---- */

static char *terminated(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* Decodes into a heap block of exactly cap bytes, so a write past cap is caught. */
static ssize_t decode_capped(const char *text, size_t cap, uint8_t *copy_out)
{
	uint8_t *out = malloc(cap ? cap : 1);
	if (!out)
		abort();
	uint8_t *exact = cap ? out : out + 1; /* cap 0: any write is one past the block */
	ssize_t n = tg_chap_decode_value(text, exact, cap);
	CHECK(n == -1 || (n >= 1 && (size_t)n <= cap), "decoded %zd bytes with cap %zu", n, cap);
	if (n > 0 && copy_out)
		memcpy(copy_out, exact, (size_t)n);
	free(out);
	return n;
}

static void fuzz_values(const uint8_t *data, size_t size)
{
	char *text = terminated(data, size);
	static uint8_t full[8192], again[8192];
	ssize_t n = decode_capped(text, sizeof(full), full);
	static const size_t caps[] = { 0, 1, 15, 16, 17, TG_CHAP_VALUE_MAX, TG_CHAP_VALUE_MAX + 1 };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		ssize_t m = decode_capped(text, caps[i], again);
		/* The cap only decides whether the value fits, never what it decodes to. */
		if (n >= 0 && (size_t)n <= caps[i])
			CHECK(m == n && memcmp(full, again, (size_t)n) == 0, "cap %zu changed the value",
			      caps[i]);
		else
			CHECK(m == -1, "cap %zu: %zd bytes but the value has %zd", caps[i], m, n);
	}
	if (n > 0) {
		/* What decodes re-encodes canonically and decodes back to the same bytes. */
		size_t hex_size = TG_CHAP_HEX_SIZE((size_t)n);
		char *hex = malloc(hex_size);
		if (!hex)
			abort();
		CHECK(!tg_chap_encode_hex(full, (size_t)n, hex, hex_size - 1), "encode into too little");
		CHECK(tg_chap_encode_hex(full, (size_t)n, hex, hex_size), "encode refused");
		CHECK(strlen(hex) == hex_size - 1, "hex of %zu chars", strlen(hex));
		CHECK(decode_capped(hex, (size_t)n, again) == n && memcmp(full, again, (size_t)n) == 0,
		      "hex round trip");
		if (text[1] == 'x' || text[1] == 'X') {
			size_t digits = strlen(text + 2);
			const char *canonical = hex + 2 + (digits % 2); /* odd: implied leading 0 */
			CHECK(strlen(canonical) == digits && strncasecmp(canonical, text + 2, digits) == 0,
			      "hex value %s re-encodes as %s", text, hex);
		}
		free(hex);

		char *b64 = malloc(3 + BASE64_ENCODE_RAW_LENGTH((size_t)n));
		if (!b64)
			abort();
		memcpy(b64, "0b", 2);
		base64_encode_raw(b64 + 2, (size_t)n, full);
		b64[2 + BASE64_ENCODE_RAW_LENGTH((size_t)n)] = '\0';
		CHECK(decode_capped(b64, (size_t)n, again) == n && memcmp(full, again, (size_t)n) == 0,
		      "base64 round trip of %s", b64);
		free(b64);
	}
	/* The constant-time comparison agrees with memcmp. */
	size_t half = size / 2;
	CHECK(tg_chap_equal(data, data + half, half) == (memcmp(data, data + half, half) == 0),
	      "tg_chap_equal disagrees with memcmp");
	free(text);
}

/* ---- the failure limiter against a straightforward model ---- */

#define MODEL_ADDRESSES 8 /* far below the table size: nothing is evicted while in use */
#define MODEL_FAILURES 4096

struct model_address {
	uint64_t failures[MODEL_FAILURES]; /* since the last reset */
	size_t count;
	uint64_t blocked_until;
};

static bool model_blocked(const struct model_address *m, uint64_t now)
{
	return m->blocked_until != 0 && now < m->blocked_until;
}

static bool model_record(struct model_address *m, const struct tg_chap_limiter_params *p,
			 uint64_t now)
{
	if (model_blocked(m, now))
		return false;
	if (m->blocked_until) {
		m->blocked_until = 0;
		m->count = 0;
	}
	if (m->count == MODEL_FAILURES)
		return false; /* inputs are too short to get here */
	m->failures[m->count++] = now;
	size_t recent = 0;
	for (size_t i = 0; i < m->count; i++)
		if (now - m->failures[i] < p->window_ms)
			recent++;
	if (recent < p->max_failures)
		return false;
	m->blocked_until = now + p->backoff_ms ? now + p->backoff_ms : 1;
	return true;
}

static void fuzz_limiter(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	struct tg_chap_limiter_params params = {
		.max_failures = 1u + data[0] % TG_CHAP_LIMITER_MAX_FAILURES,
		.window_ms = (uint64_t)data[1] * 10,
		.backoff_ms = (uint64_t)data[2] * 10,
	};
	static struct tg_chap_limiter limiter;
	static struct model_address model[MODEL_ADDRESSES];
	memset(model, 0, sizeof(model));
	tg_chap_limiter_init(&limiter, &params);
	uint64_t now = 0;
	for (size_t i = 3; i + 1 < size; i += 2) {
		uint8_t op = data[i];
		now += data[i + 1];
		unsigned index = op % MODEL_ADDRESSES;
		char address[TG_CHAP_ADDRESS_MAX];
		snprintf(address, sizeof(address), "198.51.100.%u", index);
		struct model_address *m = &model[index];
		if (op & 0x80) {
			bool starts = tg_chap_limiter_record_failure(&limiter, address, now);
			CHECK(starts == model_record(m, &params, now), "record %s at %llu", address,
			      (unsigned long long)now);
		}
		CHECK(tg_chap_limiter_blocked(&limiter, address, now) == model_blocked(m, now),
		      "blocked(%s) at %llu", address, (unsigned long long)now);
	}
	tg_chap_limiter_destroy(&limiter);
}

/* ---- CHAP exchanges through iscsi_auth_step ---- */

#define STEP_MAX 8
#define USER "alice"
#define SECRET "alice-secret-12"
#define MUTUAL_USER "tgt"
#define MUTUAL_SECRET "target-secret-34"

struct exchange {
	struct tg_runtime runtime;
	struct iscsi_server server;
	struct tg_target target;
	struct iscsi_conn conn;
	const struct tg_chap_config *chap; /* the setup this exchange authenticates against */
	bool challenged;                   /* our challenge below is the one in force */
	uint8_t id;
	uint8_t challenge[TG_CHAP_CHALLENGE_LEN];
	bool proved;                       /* the initiator sent the right response once */
};

static void set_secret(struct tg_chap_secret *s, const char *user, const char *secret)
{
	s->user = (char *)user;
	s->secret = (uint8_t *)secret;
	s->secret_len = strlen(secret);
}

static void exchange_init(struct exchange *x, uint8_t setup)
{
	static unsigned peers;
	memset(x, 0, sizeof(*x));
	bool discovery = setup & 0x01;
	struct tg_chap_config *chap = discovery ? &x->runtime.discovery_chap : &x->target.chap;
	chap->enabled = !(setup & 0x02) || (setup & 0x04);
	set_secret(&chap->target_auth, USER, (setup & 0x06) == 0x06 ? "short" : SECRET);
	if (setup & 0x08) {
		chap->mutual = true;
		/* A mutual secret equal to the initiator's must be refused, never used. */
		set_secret(&chap->mutual_auth, MUTUAL_USER, (setup & 0x10) ? SECRET : MUTUAL_SECRET);
	}
	x->chap = chap;
	x->target.name = "iqn.2026-11.org.targe:fuzz";
	x->server.runtime = &x->runtime;
	x->conn.server = &x->server;
	x->conn.target = discovery ? NULL : &x->target;
	/* One address for all runs reaches the back-off; a new one per run keeps CHAP open. */
	if (setup & 0x20)
		snprintf(x->conn.peer, sizeof(x->conn.peer), "192.0.2.1:3260");
	else
		snprintf(x->conn.peer, sizeof(x->conn.peer), "10.%u.%u.%u:%u", (peers >> 16) & 255,
			 (peers >> 8) & 255, peers & 255, 1024 + peers % 60000);
	peers++;
	snprintf(x->conn.login_keys.initiator_name, sizeof(x->conn.login_keys.initiator_name),
		 "iqn.2026-11.example:host");
	x->conn.login_keys.have_initiator_name = true;
}

struct text_lookup {
	const char *key;
	char value[ISCSI_VALUE_MAX + 1];
	unsigned count;
};

static int lookup_key(void *arg, const char *key, const char *value)
{
	struct text_lookup *l = arg;
	if (strcmp(key, l->key) == 0) {
		snprintf(l->value, sizeof(l->value), "%s", value);
		l->count++;
	}
	return 0;
}

static unsigned find_key(const uint8_t *text, size_t len, const char *key, char *value,
			 size_t cap)
{
	struct text_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->key = key;
	iscsi_text_foreach(text, len, lookup_key, l);
	unsigned count = l->count;
	if (value)
		snprintf(value, cap, "%s", l->value);
	free(l);
	return count;
}

static void append(uint8_t *buf, size_t *len, size_t cap, const void *bytes, size_t n)
{
	if (*len + n > cap)
		n = cap - *len;
	memcpy(buf + *len, bytes, n);
	*len += n;
}

/*
 * The fuzzer cannot guess a random challenge, so "@" values stand for what only a real
 * initiator would know: CHAP_R=@ is the right response to our challenge, CHAP_C=@ reflects
 * our challenge back, CHAP_N=@ is the configured user.
 */
static size_t substitute(struct exchange *x, const uint8_t *in, size_t len, uint8_t *out,
			 size_t cap, bool *gave_right_response)
{
	size_t at = 0, written = 0;
	*gave_right_response = false;
	while (at < len) {
		const uint8_t *nul = memchr(in + at, '\0', len - at);
		size_t item = nul ? (size_t)(nul - (in + at)) : len - at;
		const char *pair = (const char *)in + at;
		char value[TG_CHAP_HEX_SIZE(TG_CHAP_MD5_LEN) + 64];
		value[0] = '\0';
		if (x->challenged && item == 8 && memcmp(pair, "CHAP_R=@", 8) == 0) {
			uint8_t response[TG_CHAP_MD5_LEN];
			tg_chap_md5_response(x->id, x->chap->target_auth.secret,
					     x->chap->target_auth.secret_len, x->challenge,
					     TG_CHAP_CHALLENGE_LEN, response);
			tg_chap_encode_hex(response, sizeof(response), value, sizeof(value));
			*gave_right_response = true;
		} else if (x->challenged && item == 8 && memcmp(pair, "CHAP_C=@", 8) == 0) {
			tg_chap_encode_hex(x->challenge, TG_CHAP_CHALLENGE_LEN, value, sizeof(value));
		} else if (item == 8 && memcmp(pair, "CHAP_N=@", 8) == 0) {
			snprintf(value, sizeof(value), "%s", x->chap->target_auth.user);
		}
		if (value[0]) {
			append(out, &written, cap, pair, 7);
			append(out, &written, cap, value, strlen(value));
		} else {
			append(out, &written, cap, pair, item);
		}
		if (nul)
			append(out, &written, cap, "", 1);
		at += item + (nul ? 1 : 0);
	}
	return written;
}

static bool contains(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
	return hay && n && memmem(hay, len, needle, n) != NULL;
}

/* CHAP_I as RFC 7143 numbers go: decimal, or hex after 0x (never octal). */
static uint8_t iscsi_number(const char *text)
{
	bool hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
	return (uint8_t)strtoul(hex ? text + 2 : text, NULL, hex ? 16 : 10);
}

static void check_step(struct exchange *x, const uint8_t *req, size_t req_len,
		       enum iscsi_auth_result r, bool was_failed, const struct iscsi_text_buf *out)
{
	CHECK(r == ISCSI_AUTH_CONTINUE || r == ISCSI_AUTH_DONE || r == ISCSI_AUTH_FAILED,
	      "result %d", (int)r);
	CHECK(!was_failed || r == ISCSI_AUTH_FAILED, "a failed exchange went on");
	CHECK(iscsi_text_foreach(out->data, out->len, lookup_key,
				 &(struct text_lookup){ .key = "" }) == 0,
	      "malformed response text");
	/* Secrets never go on the wire, whatever was asked. */
	CHECK(!contains(out->data, out->len, SECRET, strlen(SECRET)) &&
	      !contains(out->data, out->len, MUTUAL_SECRET, strlen(MUTUAL_SECRET)),
	      "a secret in the response");
	CHECK(r != ISCSI_AUTH_FAILED || out->len == 0 || find_key(out->data, out->len, "CHAP_R",
								    NULL, 0) == 0,
	      "a mutual response from a failed exchange");
	/* No success without the secret. */
	CHECK(!iscsi_auth_succeeded(&x->conn) || x->proved, "authenticated without the secret");
	CHECK(iscsi_auth_succeeded(&x->conn) == (r == ISCSI_AUTH_DONE), "result and state disagree");

	char value[ISCSI_VALUE_MAX + 1];
	if (find_key(out->data, out->len, "CHAP_C", value, sizeof(value))) {
		/* A new challenge: 16 random bytes, with CHAP_A=5 and an identifier. */
		CHECK(r == ISCSI_AUTH_CONTINUE, "challenge with result %d", (int)r);
		CHECK(x->chap->enabled, "challenge although CHAP is not configured");
		CHECK(tg_chap_decode_value(value, x->challenge, sizeof(x->challenge)) ==
			      TG_CHAP_CHALLENGE_LEN,
		      "challenge %s", value);
		CHECK(find_key(out->data, out->len, "CHAP_A", value, sizeof(value)) == 1 &&
			      strcmp(value, "5") == 0,
		      "CHAP_A=%s", value);
		CHECK(find_key(out->data, out->len, "CHAP_I", value, sizeof(value)) == 1, "CHAP_I");
		char *end;
		unsigned long id = strtoul(value, &end, 10);
		CHECK(*end == '\0' && id <= 255, "CHAP_I=%s", value);
		x->id = (uint8_t)id;
		x->challenged = true;
	}
	if (r == ISCSI_AUTH_DONE && x->chap->mutual &&
	    find_key(out->data, out->len, "CHAP_R", value, sizeof(value))) {
		/* Our answer to the initiator's challenge, with the mutual secret. */
		char id_text[ISCSI_VALUE_MAX + 1], challenge_text[ISCSI_VALUE_MAX + 1];
		CHECK(find_key(req, req_len, "CHAP_I", id_text, sizeof(id_text)) == 1 &&
			      find_key(req, req_len, "CHAP_C", challenge_text, sizeof(challenge_text)) ==
				      1,
		      "mutual response without the initiator's challenge");
		static uint8_t theirs[TG_CHAP_VALUE_MAX];
		ssize_t n = tg_chap_decode_value(challenge_text, theirs, sizeof(theirs));
		CHECK(n >= TG_CHAP_CHALLENGE_LEN, "answered a challenge of %zd bytes", n);
		uint8_t expected[TG_CHAP_MD5_LEN], got[TG_CHAP_VALUE_MAX];
		tg_chap_md5_response(iscsi_number(id_text), x->chap->mutual_auth.secret,
				     x->chap->mutual_auth.secret_len, theirs, (size_t)n, expected);
		CHECK(tg_chap_decode_value(value, got, sizeof(got)) == TG_CHAP_MD5_LEN &&
			      memcmp(got, expected, TG_CHAP_MD5_LEN) == 0,
		      "wrong mutual response");
		CHECK(find_key(out->data, out->len, "CHAP_N", value, sizeof(value)) == 1 &&
			      strcmp(value, MUTUAL_USER) == 0,
		      "mutual CHAP_N=%s", value);
	}
}

static void fuzz_exchange(uint8_t setup, const uint8_t *data, size_t size)
{
	static struct exchange x;
	static uint8_t request[ISCSI_VALUE_MAX * 2];
	exchange_init(&x, setup);
	bool failed = false;
	size_t at = 0;
	for (int step = 0; step < STEP_MAX && at <= size; step++) {
		const uint8_t *sep = memchr(data + at, 0xff, size - at);
		size_t len = sep ? (size_t)(sep - (data + at)) : size - at;
		bool right = false;
		size_t req_len = substitute(&x, data + at, len, request, sizeof(request), &right);
		struct iscsi_text_buf out = { 0 };
		enum iscsi_auth_result r = iscsi_auth_step(&x.conn, request, req_len, &out);
		if (right)
			x.proved = true;
		check_step(&x, request, req_len, r, failed, &out);
		if (tg_log_enabled(TG_LOG_DEBUG))
			fprintf(stderr, "step %d: result %d, %zu response bytes\n", step, (int)r,
				out.len);
		iscsi_text_buf_free(&out);
		failed = r == ISCSI_AUTH_FAILED;
		if (!sep)
			break;
		at += len + 1;
	}
	iscsi_auth_free(&x.conn);
	CHECK(x.conn.auth == NULL, "auth state kept");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Failed exchanges log a warning each. */
	fuzz_log_level_from_env();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return -1;
	uint8_t selector = data[0];
	switch (selector >> 6) {
	case PART_VALUES:
		fuzz_values(data + 1, size - 1);
		break;
	case PART_LIMITER:
		fuzz_limiter(data + 1, size - 1);
		break;
	default:
		fuzz_exchange(selector, data + 1, size - 1);
		break;
	}
	return 0;
}
