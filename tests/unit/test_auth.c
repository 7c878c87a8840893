/* Unit tests for core/chap.c and transports/iscsi/auth.c: MD5 CHAP vectors, value codecs, the failure limiter and whole CHAP exchanges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nettle/base64.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/chap.h"
#include "core/runtime.h"
#include "transports/iscsi/auth.h"
#include "transports/iscsi/iscsi.h"

/* ---- helpers ---- */

static void hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned byte;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		out[i] = (uint8_t)byte;
	}
}

/* The expected response computed straight from nettle's MD5 over one concatenated buffer,
 * independent of how tg_chap_md5_response feeds it. */
static void reference_response(uint8_t id, const char *secret, const uint8_t *challenge,
			       size_t challenge_len, uint8_t out[16])
{
	size_t secret_len = strlen(secret);
	uint8_t *message = malloc(1 + secret_len + challenge_len);
	assert_non_null(message);
	message[0] = id;
	memcpy(message + 1, secret, secret_len);
	memcpy(message + 1 + secret_len, challenge, challenge_len);
	struct md5_ctx ctx;
	md5_init(&ctx);
	md5_update(&ctx, 1 + secret_len + challenge_len, message);
	md5_digest(&ctx, MD5_DIGEST_SIZE, out);
	free(message);
}

static char *hex_value(const uint8_t *bytes, size_t len)
{
	char *text = malloc(3 + 2 * len);
	assert_non_null(text);
	strcpy(text, "0x");
	for (size_t i = 0; i < len; i++)
		sprintf(text + 2 + 2 * i, "%02X", bytes[i]);
	return text;
}

static char *base64_value(const uint8_t *bytes, size_t len)
{
	char *text = malloc(3 + BASE64_ENCODE_RAW_LENGTH(len) + 1);
	assert_non_null(text);
	strcpy(text, "0b");
	base64_encode_raw(text + 2, len, bytes);
	text[2 + BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
	return text;
}

/* ---- MD5 CHAP response ---- */

/* RFC 1321 A.5 test suite, each message split into identifier, secret and challenge, which
 * also checks the concatenation order of RFC 1994. */
static void test_md5_response_rfc1321_vectors(void **state)
{
	static const struct {
		const char *message;
		size_t secret_len;
		const char *digest;
	} vectors[] = {
		{ "a", 0, "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", 1, "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", 11, "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", 12, "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  40, "57edf4a22be3c955ac49da2e2107b67a" },
	};
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const uint8_t *m = (const uint8_t *)vectors[i].message;
		size_t len = strlen(vectors[i].message);
		size_t secret_len = vectors[i].secret_len;
		uint8_t expected[16], got[16];
		hex_to_bytes(vectors[i].digest, expected, sizeof(expected));
		tg_chap_md5_response(m[0], m + 1, secret_len, m + 1 + secret_len,
				     len - 1 - secret_len, got);
		assert_memory_equal(got, expected, sizeof(expected));
	}
}

/* A worked CHAP example: identifier 0x2a, secret "alice-secret-12", challenge 00..0f.
 * The digest was computed with an unrelated MD5 implementation (Python hashlib). */
static void test_md5_response_worked_example(void **state)
{
	uint8_t challenge[16], expected[16], got[16], reference[16];
	for (size_t i = 0; i < sizeof(challenge); i++)
		challenge[i] = (uint8_t)i;
	hex_to_bytes("8403ec85b56bfb88a7105696fad24320", expected, sizeof(expected));
	tg_chap_md5_response(0x2a, (const uint8_t *)"alice-secret-12", 15, challenge,
			     sizeof(challenge), got);
	assert_memory_equal(got, expected, sizeof(expected));
	reference_response(0x2a, "alice-secret-12", challenge, sizeof(challenge), reference);
	assert_memory_equal(reference, expected, sizeof(expected));
	/* Any change of identifier, secret or challenge changes the response. */
	tg_chap_md5_response(0x2b, (const uint8_t *)"alice-secret-12", 15, challenge,
			     sizeof(challenge), got);
	assert_memory_not_equal(got, expected, sizeof(expected));
	tg_chap_md5_response(0x2a, (const uint8_t *)"alice-secret-13", 15, challenge,
			     sizeof(challenge), got);
	assert_memory_not_equal(got, expected, sizeof(expected));
	challenge[15] ^= 1;
	tg_chap_md5_response(0x2a, (const uint8_t *)"alice-secret-12", 15, challenge,
			     sizeof(challenge), got);
	assert_memory_not_equal(got, expected, sizeof(expected));
}

/* ---- binary value encodings ---- */

static void expect_decoded(const char *text, const uint8_t *bytes, size_t len)
{
	uint8_t out[TG_CHAP_VALUE_MAX];
	ssize_t got = tg_chap_decode_value(text, out, sizeof(out));
	assert_int_equal(got, (ssize_t)len);
	assert_memory_equal(out, bytes, len);
}

static void test_decode_hex(void **state)
{
	expect_decoded("0x0102ff", (const uint8_t[]){ 0x01, 0x02, 0xff }, 3);
	expect_decoded("0XAbCdEf", (const uint8_t[]){ 0xab, 0xcd, 0xef }, 3);
	/* RFC 7143 6.1: n digits are (n + 1) / 2 bytes, the odd digit being the low half. */
	expect_decoded("0x123", (const uint8_t[]){ 0x01, 0x23 }, 2);
	expect_decoded("0x0", (const uint8_t[]){ 0x00 }, 1);
}

static void test_decode_base64(void **state)
{
	expect_decoded("0bAQL/", (const uint8_t[]){ 0x01, 0x02, 0xff }, 3);
	expect_decoded("0BQQ==", (const uint8_t[]){ 'A' }, 1);
	expect_decoded("0bQUI=", (const uint8_t[]){ 'A', 'B' }, 2);
	expect_decoded("0b+/+/", (const uint8_t[]){ 0xfb, 0xff, 0xbf }, 3);
}

static void test_decode_invalid(void **state)
{
	static const char *const invalid[] = {
		"", "0", "0x", "0b", "12", "x12", "0y12", "0x12 ", "0x 12", "0xzz", "0x-1",
		"0bQQ=",      /* padding cut short */
		"0bQQ",       /* unpadded */
		"0bQ===",     /* too much padding */
		"0bQ Q==",    /* white space */
		"0bQQ==QQ==", /* data after padding */
		"0bQR==",     /* bits left over after the last byte */
		"0bQQ-_",     /* base64url alphabet */
	};
	uint8_t out[TG_CHAP_VALUE_MAX];
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (tg_chap_decode_value(invalid[i], out, sizeof(out)) != -1)
			fail_msg("\"%s\" decoded", invalid[i]);
	}
}

static void test_decode_respects_capacity(void **state)
{
	uint8_t big[TG_CHAP_VALUE_MAX + 1];
	memset(big, 0x5a, sizeof(big));
	uint8_t out[TG_CHAP_VALUE_MAX];
	char *hex = hex_value(big, TG_CHAP_VALUE_MAX);
	assert_int_equal(tg_chap_decode_value(hex, out, sizeof(out)), TG_CHAP_VALUE_MAX);
	free(hex);
	hex = hex_value(big, sizeof(big));
	assert_int_equal(tg_chap_decode_value(hex, out, sizeof(out)), -1);
	free(hex);
	char *b64 = base64_value(big, TG_CHAP_VALUE_MAX);
	assert_int_equal(tg_chap_decode_value(b64, out, sizeof(out)), TG_CHAP_VALUE_MAX);
	free(b64);
	b64 = base64_value(big, sizeof(big));
	assert_int_equal(tg_chap_decode_value(b64, out, sizeof(out)), -1);
	free(b64);
	/* Capacity counts bytes, not digits: 3 bytes need room for 3. */
	assert_int_equal(tg_chap_decode_value("0x010203", out, 2), -1);
	assert_int_equal(tg_chap_decode_value("0bAQID", out, 2), -1);
}

static void test_encode_hex(void **state)
{
	const uint8_t bytes[] = { 0x00, 0x7f, 0x80, 0xff, 0x0a };
	char text[TG_CHAP_HEX_SIZE(sizeof(bytes))];
	assert_true(tg_chap_encode_hex(bytes, sizeof(bytes), text, sizeof(text)));
	assert_string_equal(text, "0x007f80ff0a");
	assert_false(tg_chap_encode_hex(bytes, sizeof(bytes), text, sizeof(text) - 1));
	uint8_t back[sizeof(bytes)];
	assert_int_equal(tg_chap_decode_value(text, back, sizeof(back)), sizeof(bytes));
	assert_memory_equal(back, bytes, sizeof(bytes));
}

static void test_equal(void **state)
{
	uint8_t a[16], b[16];
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 7);
	assert_true(tg_chap_equal(a, b, sizeof(a)));
	b[0] ^= 0x80;
	assert_false(tg_chap_equal(a, b, sizeof(a)));
	b[0] = a[0];
	b[15] ^= 0x01;
	assert_false(tg_chap_equal(a, b, sizeof(a)));
	assert_true(tg_chap_equal(a, b, 15));
	assert_true(tg_chap_equal(a, b, 0));
}

static void test_random_fills(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };
	assert_int_equal(tg_chap_random(a, sizeof(a)), 0);
	assert_int_equal(tg_chap_random(b, sizeof(b)), 0);
	/* 2^-256 chance of a false failure. */
	assert_memory_not_equal(a, b, sizeof(a));
}

/* ---- failure limiter ---- */

static const struct tg_chap_limiter_params limiter_params = {
	.max_failures = 3,
	.window_ms = 1000,
	.backoff_ms = 5000,
};

static void test_limiter_blocks_after_failures(void **state)
{
	static struct tg_chap_limiter limiter;
	tg_chap_limiter_init(&limiter, &limiter_params);
	assert_false(tg_chap_limiter_blocked(&limiter, "192.0.2.1", 0));
	assert_false(tg_chap_limiter_record_failure(&limiter, "192.0.2.1", 100));
	assert_false(tg_chap_limiter_record_failure(&limiter, "192.0.2.1", 200));
	assert_false(tg_chap_limiter_blocked(&limiter, "192.0.2.1", 250));
	/* The third failure within the window starts the back-off, reported exactly once. */
	assert_true(tg_chap_limiter_record_failure(&limiter, "192.0.2.1", 300));
	assert_true(tg_chap_limiter_blocked(&limiter, "192.0.2.1", 301));
	assert_false(tg_chap_limiter_record_failure(&limiter, "192.0.2.1", 400));
	assert_true(tg_chap_limiter_blocked(&limiter, "192.0.2.1", 5299));
	/* Other addresses are unaffected. */
	assert_false(tg_chap_limiter_blocked(&limiter, "192.0.2.2", 301));
	assert_false(tg_chap_limiter_blocked(&limiter, "2001:db8::1", 301));
	/* The back-off ends, and the count starts over. */
	assert_false(tg_chap_limiter_blocked(&limiter, "192.0.2.1", 5300));
	assert_false(tg_chap_limiter_record_failure(&limiter, "192.0.2.1", 5400));
	assert_false(tg_chap_limiter_blocked(&limiter, "192.0.2.1", 5401));
	tg_chap_limiter_destroy(&limiter);
}

static void test_limiter_window_slides(void **state)
{
	static struct tg_chap_limiter limiter;
	tg_chap_limiter_init(&limiter, &limiter_params);
	/* Failures spaced so that no three fall within one second. */
	for (uint64_t t = 0; t <= 3000; t += 600)
		assert_false(tg_chap_limiter_record_failure(&limiter, "198.51.100.7", t));
	assert_false(tg_chap_limiter_blocked(&limiter, "198.51.100.7", 3001));
	/* 2400, 3000, 3100: three within a second. */
	assert_true(tg_chap_limiter_record_failure(&limiter, "198.51.100.7", 3100));
	assert_true(tg_chap_limiter_blocked(&limiter, "198.51.100.7", 3101));
	tg_chap_limiter_destroy(&limiter);
}

static void test_limiter_memory_is_bounded(void **state)
{
	static struct tg_chap_limiter limiter;
	tg_chap_limiter_init(&limiter, &limiter_params);
	for (int i = 0; i < 3; i++)
		tg_chap_limiter_record_failure(&limiter, "203.0.113.1", 10);
	assert_true(tg_chap_limiter_blocked(&limiter, "203.0.113.1", 11));
	tg_chap_limiter_record_failure(&limiter, "203.0.113.2", 20);
	tg_chap_limiter_record_failure(&limiter, "203.0.113.2", 21);
	/* Far more addresses than slots, all within the window. */
	char address[TG_CHAP_ADDRESS_MAX];
	for (int i = 0; i < 4 * TG_CHAP_LIMITER_SLOTS; i++) {
		snprintf(address, sizeof(address), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		tg_chap_limiter_record_failure(&limiter, address, 100 + (uint64_t)i / 8);
	}
	/* An address in back-off is kept over idle ones... */
	assert_true(tg_chap_limiter_blocked(&limiter, "203.0.113.1", 200));
	/* ...while the idle one longest was forgotten, its two failures with it. */
	assert_false(tg_chap_limiter_record_failure(&limiter, "203.0.113.2", 210));
	assert_false(tg_chap_limiter_blocked(&limiter, "203.0.113.2", 211));
	/* A recent address still counts. */
	snprintf(address, sizeof(address), "10.0.%d.%d", ((4 * TG_CHAP_LIMITER_SLOTS - 1) >> 8) & 255,
		 (4 * TG_CHAP_LIMITER_SLOTS - 1) & 255);
	assert_false(tg_chap_limiter_record_failure(&limiter, address, 230));
	assert_true(tg_chap_limiter_record_failure(&limiter, address, 231));
	tg_chap_limiter_destroy(&limiter);
}

/* ---- CHAP exchange through iscsi_auth_step ---- */

#define SECRET "alice-secret-12"
#define MUTUAL_SECRET "target-secret-34"

struct fixture {
	struct tg_runtime runtime;
	struct iscsi_server server;
	struct tg_target target;
	struct iscsi_conn conn;
	struct iscsi_text_buf out;
	uint8_t challenge[TG_CHAP_VALUE_MAX];
	size_t challenge_len;
	uint8_t id;
};

static void set_secret(struct tg_chap_secret *s, const char *user, const char *secret)
{
	s->user = (char *)user;
	s->secret = (uint8_t *)secret;
	s->secret_len = strlen(secret);
}

/* A connection from peer (distinct per test, since the failure limiter is process-wide)
 * logging in to a target that wants alice's CHAP. */
static void fixture_init(struct fixture *f, const char *peer)
{
	memset(f, 0, sizeof(*f));
	f->target.name = "iqn.2026-11.org.targe:disk0";
	f->target.chap.enabled = true;
	set_secret(&f->target.chap.target_auth, "alice", SECRET);
	f->server.runtime = &f->runtime;
	f->conn.server = &f->server;
	f->conn.target = &f->target;
	snprintf(f->conn.peer, sizeof(f->conn.peer), "%s", peer);
	snprintf(f->conn.login_keys.initiator_name, sizeof(f->conn.login_keys.initiator_name),
		 "iqn.2026-11.example:host1");
	f->conn.login_keys.have_initiator_name = true;
}

static void fixture_fini(struct fixture *f)
{
	iscsi_auth_free(&f->conn);
	assert_null(f->conn.auth);
	iscsi_text_buf_free(&f->out);
}

/* Runs one step on the NULL-terminated "key=value" list, with a fresh response buffer. */
static enum iscsi_auth_result step(struct fixture *f, const char *const *pairs)
{
	uint8_t text[8192];
	size_t len = 0;
	for (size_t i = 0; pairs[i]; i++) {
		size_t n = strlen(pairs[i]) + 1;
		assert_true(len + n <= sizeof(text));
		memcpy(text + len, pairs[i], n);
		len += n;
	}
	iscsi_text_buf_free(&f->out);
	return iscsi_auth_step(&f->conn, text, len, &f->out);
}

struct lookup {
	const char *key;
	char value[ISCSI_VALUE_MAX + 1];
	int count;
};

static int lookup_key(void *arg, const char *key, const char *value)
{
	struct lookup *l = arg;
	if (strcmp(key, l->key) == 0) {
		snprintf(l->value, sizeof(l->value), "%s", value);
		l->count++;
	}
	return 0;
}

/* The value of key in the last response; fails the test unless it is there exactly once. */
static const char *response_value(struct fixture *f, const char *key)
{
	static struct lookup l;
	memset(&l, 0, sizeof(l));
	l.key = key;
	assert_int_equal(iscsi_text_foreach(f->out.data, f->out.len, lookup_key, &l), 0);
	if (l.count != 1)
		fail_msg("%s appears %d times in the response", key, l.count);
	return l.value;
}

static int response_count(struct fixture *f, const char *key)
{
	struct lookup l = { .key = key };
	assert_int_equal(iscsi_text_foreach(f->out.data, f->out.len, lookup_key, &l), 0);
	return l.count;
}

/* AuthMethod agreed, then CHAP_A: returns with our challenge recorded in f. */
static void begin_exchange(struct fixture *f, const char *algorithms)
{
	assert_int_equal(step(f, (const char *[]){ "AuthMethod=CHAP", NULL }), ISCSI_AUTH_CONTINUE);
	assert_int_equal(f->out.len, 0);
	char chap_a[64];
	snprintf(chap_a, sizeof(chap_a), "CHAP_A=%s", algorithms);
	assert_int_equal(step(f, (const char *[]){ chap_a, NULL }), ISCSI_AUTH_CONTINUE);
	assert_false(iscsi_auth_succeeded(&f->conn));
	assert_string_equal(response_value(f, "CHAP_A"), "5");
	char *end;
	unsigned long id = strtoul(response_value(f, "CHAP_I"), &end, 10);
	assert_true(*end == '\0' && id <= 255);
	f->id = (uint8_t)id;
	const char *c = response_value(f, "CHAP_C");
	/* We send hex, 16 random bytes. */
	assert_true(strncmp(c, "0x", 2) == 0);
	assert_int_equal(strlen(c), 2 + 2 * TG_CHAP_CHALLENGE_LEN);
	ssize_t n = tg_chap_decode_value(c, f->challenge, sizeof(f->challenge));
	assert_int_equal(n, TG_CHAP_CHALLENGE_LEN);
	f->challenge_len = (size_t)n;
}

/* The initiator's CHAP_R for secret, as a key=value pair. */
static char *chap_r(struct fixture *f, const char *secret, bool base64)
{
	uint8_t r[16];
	reference_response(f->id, secret, f->challenge, f->challenge_len, r);
	char *value = base64 ? base64_value(r, sizeof(r)) : hex_value(r, sizeof(r));
	char *pair;
	assert_true(asprintf(&pair, "CHAP_R=%s", value) > 0);
	free(value);
	return pair;
}

static void test_exchange_good_secret(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.10:40000");
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, NULL }), ISCSI_AUTH_DONE);
	free(r);
	assert_true(iscsi_auth_succeeded(&f.conn));
	/* Nothing to say back without mutual CHAP. */
	assert_int_equal(f.out.len, 0);
	/* A later security-stage request without CHAP keys leaves it done... */
	assert_int_equal(step(&f, (const char *[]){ "HeaderDigest=None", NULL }), ISCSI_AUTH_DONE);
	assert_true(iscsi_auth_succeeded(&f.conn));
	/* ...but more CHAP keys after success are a protocol error. */
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=5", NULL }), ISCSI_AUTH_FAILED);
	assert_false(iscsi_auth_succeeded(&f.conn));
	fixture_fini(&f);
}

static void test_exchange_base64_response_and_algorithm_list(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.11:40000");
	/* Unknown algorithms in the list are passed over, CHAP_A=5 still chosen. */
	begin_exchange(&f, "7,6,5,0x80");
	char *r = chap_r(&f, SECRET, true);
	assert_int_equal(step(&f, (const char *[]){ r, "CHAP_N=alice", NULL }), ISCSI_AUTH_DONE);
	free(r);
	assert_true(iscsi_auth_succeeded(&f.conn));
	fixture_fini(&f);
}

static void test_exchange_challenges_differ(void **state)
{
	struct fixture a, b;
	fixture_init(&a, "192.0.2.12:40000");
	fixture_init(&b, "192.0.2.12:40001");
	begin_exchange(&a, "5");
	begin_exchange(&b, "5");
	assert_memory_not_equal(a.challenge, b.challenge, TG_CHAP_CHALLENGE_LEN);
	fixture_fini(&a);
	fixture_fini(&b);
}

/* Runs fn with stderr (where tg_log writes) captured into buf. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	assert_true(saved >= 0);
	dup2(fileno(tmp), 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(buf, 1, cap - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

struct failing_response {
	struct fixture *f;
	const char *user;
	char *response;
	enum iscsi_auth_result result;
};

static void send_failing_response(void *arg)
{
	struct failing_response *fr = arg;
	char name[64];
	snprintf(name, sizeof(name), "CHAP_N=%s", fr->user);
	fr->result = step(fr->f, (const char *[]){ name, fr->response, NULL });
}

static void test_exchange_bad_secret(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.13:40000");
	begin_exchange(&f, "5");
	struct failing_response fr = { .f = &f, .user = "alice",
				       .response = chap_r(&f, "alice-secret-13", false) };
	char log[4096];
	capture_stderr(send_failing_response, &fr, log, sizeof(log));
	assert_int_equal(fr.result, ISCSI_AUTH_FAILED);
	assert_false(iscsi_auth_succeeded(&f.conn));
	assert_int_equal(f.out.len, 0);
	/* The log names peer, initiator and target, but neither secret nor response. */
	assert_non_null(strstr(log, "192.0.2.13"));
	assert_non_null(strstr(log, "iqn.2026-11.example:host1"));
	assert_non_null(strstr(log, "iqn.2026-11.org.targe:disk0"));
	assert_null(strstr(log, SECRET));
	assert_null(strstr(log, "alice-secret-13"));
	assert_null(strcasestr(log, fr.response + strlen("CHAP_R=0x")));
	uint8_t expected[16];
	reference_response(f.id, SECRET, f.challenge, f.challenge_len, expected);
	char *expected_hex = hex_value(expected, sizeof(expected));
	assert_null(strcasestr(log, expected_hex + 2));
	free(expected_hex);
	free(fr.response);
	/* A failed exchange stays failed, even if the right answer follows. */
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, NULL }), ISCSI_AUTH_FAILED);
	free(r);
	assert_false(iscsi_auth_succeeded(&f.conn));
	fixture_fini(&f);
}

static void test_exchange_wrong_user(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.14:40000");
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=mallory", r, NULL }), ISCSI_AUTH_FAILED);
	free(r);
	assert_false(iscsi_auth_succeeded(&f.conn));
	fixture_fini(&f);
}

static void test_exchange_malformed_response(void **state)
{
	static const char *const responses[] = {
		"CHAP_R=0x0102",                            /* not 16 bytes */
		"CHAP_R=hello",                             /* no encoding prefix */
		"CHAP_R=0x000102030405060708090a0b0c0d0e0g", /* bad digit */
	};
	for (size_t i = 0; i < sizeof(responses) / sizeof(responses[0]); i++) {
		struct fixture f;
		fixture_init(&f, "192.0.2.15:40000");
		begin_exchange(&f, "5");
		assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", responses[i], NULL }),
				 ISCSI_AUTH_FAILED);
		fixture_fini(&f);
	}
	/* CHAP_R without CHAP_N, and a repeated key. */
	struct fixture f;
	fixture_init(&f, "192.0.2.15:40001");
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ r, NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
	free(r);
	fixture_init(&f, "192.0.2.15:40002");
	begin_exchange(&f, "5");
	r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", "CHAP_N=alice", r, NULL }),
			 ISCSI_AUTH_FAILED);
	free(r);
	fixture_fini(&f);
}

static void enable_mutual(struct fixture *f)
{
	f->target.chap.mutual = true;
	set_secret(&f->target.chap.mutual_auth, "tgt", MUTUAL_SECRET);
}

static void test_exchange_mutual_good(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.16:40000");
	enable_mutual(&f);
	begin_exchange(&f, "5");
	uint8_t their_challenge[20];
	for (size_t i = 0; i < sizeof(their_challenge); i++)
		their_challenge[i] = (uint8_t)(0xa0 + i);
	char *c_value = base64_value(their_challenge, sizeof(their_challenge));
	char c_pair[128];
	snprintf(c_pair, sizeof(c_pair), "CHAP_C=%s", c_value);
	free(c_value);
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, "CHAP_I=77", c_pair, NULL }),
			 ISCSI_AUTH_DONE);
	free(r);
	assert_true(iscsi_auth_succeeded(&f.conn));
	assert_string_equal(response_value(&f, "CHAP_N"), "tgt");
	uint8_t expected[16], got[TG_CHAP_VALUE_MAX];
	reference_response(77, MUTUAL_SECRET, their_challenge, sizeof(their_challenge), expected);
	const char *target_r = response_value(&f, "CHAP_R");
	assert_true(strncmp(target_r, "0x", 2) == 0);
	assert_int_equal(tg_chap_decode_value(target_r, got, sizeof(got)), 16);
	assert_memory_equal(got, expected, sizeof(expected));
	fixture_fini(&f);
}

/* Sends the right response plus the given mutual CHAP_I/CHAP_C; expects failure. */
static void expect_mutual_refused(const char *peer, const char *chap_i, const char *chap_c,
				  bool reflect)
{
	struct fixture f;
	fixture_init(&f, peer);
	enable_mutual(&f);
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	char *c_pair;
	if (reflect) {
		char *ours = hex_value(f.challenge, f.challenge_len);
		assert_true(asprintf(&c_pair, "CHAP_C=%s", ours) > 0);
		free(ours);
	} else {
		assert_true(asprintf(&c_pair, "CHAP_C=%s", chap_c) > 0);
	}
	const char *pairs[5] = { "CHAP_N=alice", r, NULL, NULL, NULL };
	size_t n = 2;
	if (chap_i)
		pairs[n++] = chap_i;
	if (chap_c || reflect)
		pairs[n++] = c_pair;
	assert_int_equal(step(&f, pairs), ISCSI_AUTH_FAILED);
	assert_false(iscsi_auth_succeeded(&f.conn));
	/* The target's own response is never given away when it fails. */
	assert_int_equal(response_count(&f, "CHAP_R"), 0);
	free(r);
	free(c_pair);
	fixture_fini(&f);
}

static void test_exchange_mutual_reflected_challenge(void **state)
{
	expect_mutual_refused("192.0.2.17:40000", "CHAP_I=1", NULL, true);
}

static void test_exchange_mutual_challenge_bounds(void **state)
{
	uint8_t bytes[TG_CHAP_VALUE_MAX + 1];
	memset(bytes, 0x33, sizeof(bytes));
	char *short_c = hex_value(bytes, TG_CHAP_CHALLENGE_LEN - 1);
	expect_mutual_refused("192.0.2.18:40000", "CHAP_I=1", short_c, false);
	free(short_c);
	char *long_c = hex_value(bytes, TG_CHAP_VALUE_MAX + 1);
	expect_mutual_refused("192.0.2.18:40001", "CHAP_I=1", long_c, false);
	free(long_c);
	char *ok_c = hex_value(bytes, TG_CHAP_CHALLENGE_LEN);
	/* CHAP_I is one byte; and CHAP_C needs its CHAP_I. */
	expect_mutual_refused("192.0.2.18:40002", "CHAP_I=256", ok_c, false);
	expect_mutual_refused("192.0.2.18:40003", NULL, ok_c, false);
	free(ok_c);
	/* Where the target is set up for mutual CHAP the initiator must challenge it. */
	expect_mutual_refused("192.0.2.18:40004", NULL, NULL, false);
	/* The longest allowed challenge is answered. */
	struct fixture f;
	fixture_init(&f, "192.0.2.18:40005");
	enable_mutual(&f);
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	char *max_c = hex_value(bytes, TG_CHAP_VALUE_MAX), *c_pair;
	assert_true(asprintf(&c_pair, "CHAP_C=%s", max_c) > 0);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, "CHAP_I=0x10", c_pair, NULL }),
			 ISCSI_AUTH_DONE);
	uint8_t expected[16], got[16];
	reference_response(0x10, MUTUAL_SECRET, bytes, TG_CHAP_VALUE_MAX, expected);
	assert_int_equal(tg_chap_decode_value(response_value(&f, "CHAP_R"), got, sizeof(got)), 16);
	assert_memory_equal(got, expected, sizeof(expected));
	free(max_c);
	free(c_pair);
	free(r);
	fixture_fini(&f);
}

static void test_exchange_mutual_not_configured(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.19:40000");
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, "CHAP_I=3",
						    "CHAP_C=0x00112233445566778899aabbccddeeff",
						    NULL }),
			 ISCSI_AUTH_FAILED);
	free(r);
	fixture_fini(&f);
}

static void test_exchange_missing_chap_a(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.20:40000");
	assert_int_equal(step(&f, (const char *[]){ "AuthMethod=CHAP", NULL }), ISCSI_AUTH_CONTINUE);
	/* Straight to a response, without asking for a challenge. */
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice",
						    "CHAP_R=0x00112233445566778899aabbccddeeff",
						    NULL }),
			 ISCSI_AUTH_FAILED);
	assert_int_equal(f.out.len, 0);
	fixture_fini(&f);
	/* A follow-up request that carries no CHAP_A at all. */
	fixture_init(&f, "192.0.2.20:40001");
	assert_int_equal(step(&f, (const char *[]){ "AuthMethod=CHAP", NULL }), ISCSI_AUTH_CONTINUE);
	assert_int_equal(step(&f, (const char *[]){ "HeaderDigest=None", NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
	/* An empty CHAP_A (what iscsi-test-cu's iSCSICHAP.Invalid sends). */
	fixture_init(&f, "192.0.2.20:40002");
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=", NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
}

static void test_exchange_unsupported_algorithm(void **state)
{
	static const char *const offers[] = { "CHAP_A=6,7", "CHAP_A=56", "CHAP_A=05x", "CHAP_A=x" };
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
		struct fixture f;
		fixture_init(&f, "192.0.2.21:40000");
		assert_int_equal(step(&f, (const char *[]){ offers[i], NULL }), ISCSI_AUTH_FAILED);
		assert_int_equal(response_count(&f, "CHAP_C"), 0);
		fixture_fini(&f);
	}
}

static void test_exchange_short_secret_refused(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.22:40000");
	set_secret(&f.target.chap.target_auth, "alice", "eleven-char");
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=5", NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
	fixture_init(&f, "192.0.2.22:40001");
	enable_mutual(&f);
	set_secret(&f.target.chap.mutual_auth, "tgt", "short");
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=5", NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
	/* One secret for both directions is refused too. */
	fixture_init(&f, "192.0.2.22:40002");
	enable_mutual(&f);
	set_secret(&f.target.chap.mutual_auth, "tgt", SECRET);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=5", NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
}

static void test_exchange_discovery_session(void **state)
{
	struct fixture f;
	fixture_init(&f, "192.0.2.23:40000");
	f.conn.target = NULL;
	f.runtime.discovery_chap.enabled = true;
	set_secret(&f.runtime.discovery_chap.target_auth, "disco", "discovery-secret");
	begin_exchange(&f, "5");
	char *r = chap_r(&f, "discovery-secret", false);
	/* The target's user is not the discovery user. */
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
	fixture_init(&f, "192.0.2.23:40001");
	f.conn.target = NULL;
	f.runtime.discovery_chap.enabled = true;
	set_secret(&f.runtime.discovery_chap.target_auth, "disco", "discovery-secret");
	begin_exchange(&f, "5");
	free(r);
	r = chap_r(&f, "discovery-secret", false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=disco", r, NULL }), ISCSI_AUTH_DONE);
	free(r);
	fixture_fini(&f);
}

static void run_failures(void *arg)
{
	const char *peer = arg;
	for (int i = 0; i < 5; i++) {
		struct fixture f;
		fixture_init(&f, peer);
		begin_exchange(&f, "5");
		char *r = chap_r(&f, "not-the-secret", false);
		assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, NULL }),
				 ISCSI_AUTH_FAILED);
		free(r);
		fixture_fini(&f);
	}
}

/* Five failures from one address within a minute: the next attempt fails at once, even
 * with the right secret, while other addresses carry on. */
static void test_exchange_rate_limited(void **state)
{
	char log[8192];
	capture_stderr(run_failures, "198.51.100.9:1000", log, sizeof(log));
	assert_non_null(strstr(log, "refusing CHAP logins from 198.51.100.9"));

	struct fixture f;
	fixture_init(&f, "198.51.100.9:1001");
	assert_int_equal(step(&f, (const char *[]){ "AuthMethod=CHAP", NULL }), ISCSI_AUTH_CONTINUE);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=5", NULL }), ISCSI_AUTH_FAILED);
	assert_int_equal(response_count(&f, "CHAP_C"), 0);
	fixture_fini(&f);

	/* Another address is not blocked. */
	fixture_init(&f, "198.51.100.99:1000");
	begin_exchange(&f, "5");
	char *r = chap_r(&f, SECRET, false);
	assert_int_equal(step(&f, (const char *[]){ "CHAP_N=alice", r, NULL }), ISCSI_AUTH_DONE);
	free(r);
	fixture_fini(&f);
}

/* IPv6 peers are "addr:port" too; the address part is what is counted. */
static void test_exchange_rate_limited_ipv6(void **state)
{
	run_failures("2001:db8::7:1000");
	struct fixture f;
	fixture_init(&f, "2001:db8::7:2000");
	assert_int_equal(step(&f, (const char *[]){ "CHAP_A=5", NULL }), ISCSI_AUTH_FAILED);
	fixture_fini(&f);
	fixture_init(&f, "2001:db8::8:1000");
	begin_exchange(&f, "5");
	fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_response_rfc1321_vectors),
		cmocka_unit_test(test_md5_response_worked_example),
		cmocka_unit_test(test_decode_hex),
		cmocka_unit_test(test_decode_base64),
		cmocka_unit_test(test_decode_invalid),
		cmocka_unit_test(test_decode_respects_capacity),
		cmocka_unit_test(test_encode_hex),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_random_fills),
		cmocka_unit_test(test_limiter_blocks_after_failures),
		cmocka_unit_test(test_limiter_window_slides),
		cmocka_unit_test(test_limiter_memory_is_bounded),
		cmocka_unit_test(test_exchange_good_secret),
		cmocka_unit_test(test_exchange_base64_response_and_algorithm_list),
		cmocka_unit_test(test_exchange_challenges_differ),
		cmocka_unit_test(test_exchange_bad_secret),
		cmocka_unit_test(test_exchange_wrong_user),
		cmocka_unit_test(test_exchange_malformed_response),
		cmocka_unit_test(test_exchange_mutual_good),
		cmocka_unit_test(test_exchange_mutual_reflected_challenge),
		cmocka_unit_test(test_exchange_mutual_challenge_bounds),
		cmocka_unit_test(test_exchange_mutual_not_configured),
		cmocka_unit_test(test_exchange_missing_chap_a),
		cmocka_unit_test(test_exchange_unsupported_algorithm),
		cmocka_unit_test(test_exchange_short_secret_refused),
		cmocka_unit_test(test_exchange_discovery_session),
		cmocka_unit_test(test_exchange_rate_limited),
		cmocka_unit_test(test_exchange_rate_limited_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
