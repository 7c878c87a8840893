/* CHAP authentication in the security stage of an iSCSI login (RFC 7143 12.1.3). */
#include "transports/iscsi/auth.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chap.h"
#include "core/log.h"
#include "core/runtime.h"
#include "transports/iscsi/iscsi.h"

/* Failures from one address before it is refused for a while, and how long that is. */
#define AUTH_MAX_FAILURES 5
#define AUTH_FAILURE_WINDOW_MS 60000u
#define AUTH_BACKOFF_MS 60000u

enum auth_state {
	AUTH_AWAIT_ALGORITHM, /* AuthMethod=CHAP agreed; the initiator's CHAP_A comes next */
	AUTH_AWAIT_RESPONSE,  /* our challenge is out; CHAP_N/CHAP_R come next */
	AUTH_DONE,
	AUTH_FAILED,
};

struct iscsi_auth {
	enum auth_state state;
	uint8_t id;
	uint8_t challenge[TG_CHAP_CHALLENGE_LEN];
};

/* One limiter for the whole process: a guesser must not escape it by switching targets. */
static struct tg_chap_limiter failure_limiter;
static pthread_once_t failure_limiter_once = PTHREAD_ONCE_INIT;

static void failure_limiter_init(void)
{
	const struct tg_chap_limiter_params params = {
		.max_failures = AUTH_MAX_FAILURES,
		.window_ms = AUTH_FAILURE_WINDOW_MS,
		.backoff_ms = AUTH_BACKOFF_MS,
	};
	tg_chap_limiter_init(&failure_limiter, &params);
}

/* The CHAP keys of one request; values are copies since the walk may reuse its buffers. */
struct chap_keys {
	char *algorithms; /* CHAP_A */
	char *name;       /* CHAP_N */
	char *response;   /* CHAP_R */
	char *id;         /* CHAP_I */
	char *challenge;  /* CHAP_C */
	bool auth_method; /* the request also carried AuthMethod */
	bool any;         /* some CHAP_ key was present */
	bool repeated;
	bool no_memory;
};

static int collect_chap_key(void *arg, const char *key, const char *value)
{
	struct chap_keys *keys = arg;
	char **slot = NULL;
	if (strcmp(key, "AuthMethod") == 0)
		keys->auth_method = true;
	else if (strcmp(key, "CHAP_A") == 0)
		slot = &keys->algorithms;
	else if (strcmp(key, "CHAP_N") == 0)
		slot = &keys->name;
	else if (strcmp(key, "CHAP_R") == 0)
		slot = &keys->response;
	else if (strcmp(key, "CHAP_I") == 0)
		slot = &keys->id;
	else if (strcmp(key, "CHAP_C") == 0)
		slot = &keys->challenge;
	if (!slot)
		return 0;
	keys->any = true;
	if (*slot) {
		keys->repeated = true;
		return 1;
	}
	*slot = strdup(value);
	if (!*slot) {
		keys->no_memory = true;
		return 1;
	}
	return 0;
}

static void chap_keys_free(struct chap_keys *keys)
{
	free(keys->algorithms);
	free(keys->name);
	free(keys->response);
	free(keys->id);
	free(keys->challenge);
}

/* Parses an iSCSI number (decimal-constant or hex-constant) no larger than max. */
static bool parse_number(const char *text, unsigned long max, unsigned long *out)
{
	unsigned long value = 0;
	unsigned base = 10;
	if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
		base = 16;
		text += 2;
	}
	if (!*text)
		return false;
	for (; *text; text++) {
		int digit;
		if (*text >= '0' && *text <= '9')
			digit = *text - '0';
		else if (base == 16 && isxdigit((unsigned char)*text))
			digit = tolower((unsigned char)*text) - 'a' + 10;
		else
			return false;
		value = value * base + (unsigned)digit;
		if (value > max)
			return false;
	}
	*out = value;
	return true;
}

/* Whether the initiator's CHAP_A list offers MD5; other entries are simply not chosen. */
static bool offers_md5(const char *list)
{
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[16];
		unsigned long algorithm;
		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (parse_number(item, 255, &algorithm) && algorithm == TG_CHAP_ALGORITHM_MD5)
				return true;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

/* Copies text for a log line, cut short and with anything unprintable masked, since the
 * initiator chose it. */
static const char *printable(const char *text, char *buf, size_t cap)
{
	size_t i = 0;
	for (; text[i] && i + 1 < cap; i++)
		buf[i] = isprint((unsigned char)text[i]) ? text[i] : '?';
	buf[i] = '\0';
	return buf;
}

struct auth_step {
	struct iscsi_conn *conn;
	struct iscsi_auth *auth;
	const struct tg_chap_config *chap;
	char address[TG_CHAP_ADDRESS_MAX]; /* the peer's IP, what failures are counted by */
};

/* Fails the exchange, logging why (never secrets or responses). A failure that could be a
 * guess at a secret also counts against the peer's address. */
static enum iscsi_auth_result fail(struct auth_step *step, bool counts_as_guess,
				   const char *reason_fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum iscsi_auth_result fail(struct auth_step *step, bool counts_as_guess,
				   const char *reason_fmt, ...)
{
	const struct iscsi_conn *conn = step->conn;
	char reason[256], initiator[ISCSI_NAME_MAX + 1];
	va_list ap;
	va_start(ap, reason_fmt);
	vsnprintf(reason, sizeof(reason), reason_fmt, ap);
	va_end(ap);
	tg_warn("auth", "%s: CHAP authentication of %s to %s failed: %s", conn->peer,
		conn->login_keys.have_initiator_name
			? printable(conn->login_keys.initiator_name, initiator, sizeof(initiator))
			: "?",
		conn->target ? conn->target->name : "discovery", reason);
	if (counts_as_guess &&
	    tg_chap_limiter_record_failure(&failure_limiter, step->address, tg_chap_now_ms()))
		tg_warn("auth",
			"%s: %u CHAP failures within %u s: refusing CHAP logins from %s for %u s",
			conn->peer, AUTH_MAX_FAILURES, AUTH_FAILURE_WINDOW_MS / 1000, step->address,
			AUTH_BACKOFF_MS / 1000);
	step->auth->state = AUTH_FAILED;
	return ISCSI_AUTH_FAILED;
}

/* During a back-off the attempt fails without a word: the start of it was logged. */
static bool backing_off(struct auth_step *step)
{
	if (!tg_chap_limiter_blocked(&failure_limiter, step->address, tg_chap_now_ms()))
		return false;
	tg_debug("auth", "%s: CHAP refused, %s is backing off after repeated failures",
		 step->conn->peer, step->address);
	step->auth->state = AUTH_FAILED;
	return true;
}

static bool chap_secret_usable(const struct tg_chap_secret *s)
{
	return s->user && s->user[0] && s->secret && s->secret_len >= TG_CHAP_SECRET_MIN;
}

static enum iscsi_auth_result send_challenge(struct auth_step *step, const struct chap_keys *keys,
					     struct iscsi_text_buf *out)
{
	const struct tg_chap_config *chap = step->chap;
	if (keys->name || keys->response || keys->id || keys->challenge)
		return fail(step, false, "CHAP_N/CHAP_R/CHAP_I/CHAP_C before CHAP_A");
	if (!keys->algorithms) {
		/* AuthMethod was agreed in this very request; CHAP_A follows in the next. */
		if (keys->auth_method)
			return ISCSI_AUTH_CONTINUE;
		return fail(step, false, "CHAP_A missing");
	}
	if (backing_off(step))
		return ISCSI_AUTH_FAILED;
	/* The config layer refuses short secrets; a runtime built some other way must not
	 * weaken CHAP either. */
	if (!chap->enabled || !chap_secret_usable(&chap->target_auth))
		return fail(step, false, "no usable CHAP user/secret (of %d+ bytes) is configured",
			    TG_CHAP_SECRET_MIN);
	if (chap->mutual) {
		const struct tg_chap_secret *ts = &chap->target_auth, *ms = &chap->mutual_auth;
		if (!chap_secret_usable(ms))
			return fail(step, false,
				    "no usable mutual CHAP user/secret (of %d+ bytes) is configured",
				    TG_CHAP_SECRET_MIN);
		/* RFC 7143 12.1.3: one secret for both directions makes reflection possible. */
		if (ms->secret_len == ts->secret_len &&
		    tg_chap_equal(ms->secret, ts->secret, ts->secret_len))
			return fail(step, false, "the mutual CHAP secret equals the initiator's");
	}
	if (!offers_md5(keys->algorithms))
		return fail(step, false, "CHAP_A offers no supported algorithm (only 5, MD5)");

	uint8_t random[1 + TG_CHAP_CHALLENGE_LEN];
	if (tg_chap_random(random, sizeof(random)) != 0)
		return fail(step, false, "no random bytes for the challenge");
	step->auth->id = random[0];
	memcpy(step->auth->challenge, random + 1, TG_CHAP_CHALLENGE_LEN);
	explicit_bzero(random, sizeof(random));

	char challenge_hex[TG_CHAP_HEX_SIZE(TG_CHAP_CHALLENGE_LEN)];
	tg_chap_encode_hex(step->auth->challenge, TG_CHAP_CHALLENGE_LEN, challenge_hex,
			   sizeof(challenge_hex));
	iscsi_text_add_u32(out, "CHAP_A", TG_CHAP_ALGORITHM_MD5);
	iscsi_text_add_u32(out, "CHAP_I", step->auth->id);
	iscsi_text_add(out, "CHAP_C", challenge_hex);
	step->auth->state = AUTH_AWAIT_RESPONSE;
	return ISCSI_AUTH_CONTINUE;
}

static enum iscsi_auth_result check_response(struct auth_step *step, const struct chap_keys *keys,
					     struct iscsi_text_buf *out)
{
	const struct tg_chap_config *chap = step->chap;
	struct iscsi_auth *auth = step->auth;
	if (keys->algorithms)
		return fail(step, false, "CHAP_A repeated");
	if (!keys->name || !keys->response)
		return fail(step, false, "CHAP_N or CHAP_R missing");
	if (!keys->id != !keys->challenge)
		return fail(step, false, "CHAP_I and CHAP_C must come together");
	if (backing_off(step))
		return ISCSI_AUTH_FAILED;

	/* The initiator's challenge to us, for mutual CHAP. */
	unsigned long their_id = 0;
	uint8_t their_challenge[TG_CHAP_VALUE_MAX];
	ssize_t their_challenge_len = 0;
	if (keys->challenge) {
		if (!parse_number(keys->id, 255, &their_id))
			return fail(step, false, "malformed CHAP_I");
		their_challenge_len = tg_chap_decode_value(keys->challenge, their_challenge,
							   sizeof(their_challenge));
		if (their_challenge_len < 0)
			return fail(step, false, "malformed CHAP_C or longer than %d bytes",
				    TG_CHAP_VALUE_MAX);
		if (their_challenge_len < TG_CHAP_CHALLENGE_LEN)
			return fail(step, false, "CHAP_C of %zd bytes is shorter than %d",
				    their_challenge_len, TG_CHAP_CHALLENGE_LEN);
		/* An attacker replaying our challenge would get us to answer it for them. */
		if (their_challenge_len == TG_CHAP_CHALLENGE_LEN &&
		    tg_chap_equal(their_challenge, auth->challenge, TG_CHAP_CHALLENGE_LEN))
			return fail(step, true, "CHAP_C reflects the target's own challenge");
	}

	uint8_t response[TG_CHAP_VALUE_MAX];
	ssize_t response_len = tg_chap_decode_value(keys->response, response, sizeof(response));
	if (response_len != TG_CHAP_MD5_LEN)
		return fail(step, false, "malformed CHAP_R");
	uint8_t expected[TG_CHAP_MD5_LEN];
	tg_chap_md5_response(auth->id, chap->target_auth.secret, chap->target_auth.secret_len,
			     auth->challenge, TG_CHAP_CHALLENGE_LEN, expected);
	bool response_ok = tg_chap_equal(expected, response, TG_CHAP_MD5_LEN);
	explicit_bzero(expected, sizeof(expected));
	char name[65];
	if (strcmp(keys->name, chap->target_auth.user) != 0)
		return fail(step, true, "unknown CHAP_N \"%s\"",
			    printable(keys->name, name, sizeof(name)));
	if (!response_ok)
		return fail(step, true, "wrong CHAP_R for CHAP_N \"%s\"",
			    printable(keys->name, name, sizeof(name)));

	if (chap->mutual && !keys->challenge)
		return fail(step, false, "mutual CHAP is configured but the initiator sent no "
					 "CHAP_I/CHAP_C");
	if (!chap->mutual && keys->challenge)
		return fail(step, false, "the initiator asked for mutual CHAP, which is not "
					 "configured");
	if (chap->mutual) {
		uint8_t ours[TG_CHAP_MD5_LEN];
		char ours_hex[TG_CHAP_HEX_SIZE(TG_CHAP_MD5_LEN)];
		tg_chap_md5_response((uint8_t)their_id, chap->mutual_auth.secret,
				     chap->mutual_auth.secret_len, their_challenge,
				     (size_t)their_challenge_len, ours);
		tg_chap_encode_hex(ours, sizeof(ours), ours_hex, sizeof(ours_hex));
		iscsi_text_add(out, "CHAP_N", chap->mutual_auth.user);
		iscsi_text_add(out, "CHAP_R", ours_hex);
		explicit_bzero(ours, sizeof(ours));
		explicit_bzero(ours_hex, sizeof(ours_hex));
	}
	auth->state = AUTH_DONE;
	return ISCSI_AUTH_DONE;
}

enum iscsi_auth_result iscsi_auth_step(struct iscsi_conn *conn, const uint8_t *text, size_t len,
				       struct iscsi_text_buf *out)
{
	pthread_once(&failure_limiter_once, failure_limiter_init);
	if (!conn->auth) {
		conn->auth = calloc(1, sizeof(struct iscsi_auth));
		if (!conn->auth) {
			tg_err("auth", "%s: out of memory for CHAP", conn->peer);
			return ISCSI_AUTH_FAILED;
		}
	}
	struct auth_step step = {
		.conn = conn,
		.auth = conn->auth,
		.chap = conn->target ? &conn->target->chap : &conn->server->runtime->discovery_chap,
	};
	/* conn->peer is "address:port"; failures count per address. */
	snprintf(step.address, sizeof(step.address), "%s", conn->peer);
	char *port = strrchr(step.address, ':');
	if (port)
		*port = '\0';

	if (step.auth->state == AUTH_FAILED)
		return ISCSI_AUTH_FAILED;
	struct chap_keys keys = { 0 };
	enum iscsi_auth_result result;
	if (iscsi_text_foreach(text, len, collect_chap_key, &keys) != 0) {
		result = fail(&step, false,
			      keys.no_memory ? "out of memory"
			      : keys.repeated ? "a CHAP key is repeated"
					      : "malformed login text");
		goto out;
	}
	switch (step.auth->state) {
	case AUTH_AWAIT_ALGORITHM:
		result = send_challenge(&step, &keys, out);
		break;
	case AUTH_AWAIT_RESPONSE:
		result = check_response(&step, &keys, out);
		break;
	case AUTH_DONE:
		result = keys.any ? fail(&step, false, "CHAP keys after authentication completed")
				  : ISCSI_AUTH_DONE;
		break;
	default:
		result = ISCSI_AUTH_FAILED;
		break;
	}
out:
	chap_keys_free(&keys);
	return result;
}

bool iscsi_auth_succeeded(const struct iscsi_conn *conn)
{
	const struct iscsi_auth *auth = conn->auth;
	return auth && auth->state == AUTH_DONE;
}

void iscsi_auth_free(struct iscsi_conn *conn)
{
	if (conn->auth)
		explicit_bzero(conn->auth, sizeof(struct iscsi_auth));
	free(conn->auth);
	conn->auth = NULL;
}
