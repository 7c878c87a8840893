/* CHAP math, value encodings and the per-address failure limiter, shared by every transport. */
#include "core/chap.h"

#include <errno.h>
#include <nettle/base16.h>
#include <nettle/base64.h>
#include <nettle/md5.h>
#include <nettle/memops.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void tg_chap_md5_response(uint8_t id, const uint8_t *secret, size_t secret_len,
			  const uint8_t *challenge, size_t challenge_len,
			  uint8_t out[TG_CHAP_MD5_LEN])
{
	struct md5_ctx ctx;
	md5_init(&ctx);
	md5_update(&ctx, 1, &id);
	md5_update(&ctx, secret_len, secret);
	md5_update(&ctx, challenge_len, challenge);
	md5_digest(&ctx, TG_CHAP_MD5_LEN, out);
	/* The context has seen the secret. */
	explicit_bzero(&ctx, sizeof(ctx));
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static ssize_t decode_hex(const char *digits, uint8_t *out, size_t cap)
{
	size_t n = strlen(digits);
	if (n == 0 || (n + 1) / 2 > cap)
		return -1;
	size_t o = 0, i = 0;
	if (n % 2) {
		/* RFC 7143 6.1: n digits make (n + 1) / 2 bytes, so an odd count has an
		 * implicit leading zero. */
		int lo = hex_digit(digits[0]);
		if (lo < 0)
			return -1;
		out[o++] = (uint8_t)lo;
		i = 1;
	}
	for (; i < n; i += 2) {
		int hi = hex_digit(digits[i]), lo = hex_digit(digits[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[o++] = (uint8_t)(hi << 4 | lo);
	}
	return (ssize_t)o;
}

static bool is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static ssize_t decode_base64(const char *text, uint8_t *out, size_t cap)
{
	size_t n = strlen(text);
	/* nettle skips white space, which a binary value may not contain; and RFC 4648
	 * padding is required, so the text comes in whole quads with '=' only at the end. */
	if (n == 0 || n % 4)
		return -1;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '=') {
			pad++;
			continue;
		}
		if (pad || !is_base64_char(text[i]))
			return -1;
	}
	if (pad > 2 || n / 4 * 3 - pad > cap)
		return -1;
	struct base64_decode_ctx ctx;
	base64_decode_init(&ctx);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint8_t quad[BASE64_DECODE_LENGTH(4)];
		size_t got = sizeof(quad);
		if (!base64_decode_update(&ctx, &got, quad, 4, text + i) || o + got > cap)
			return -1;
		memcpy(out + o, quad, got);
		o += got;
	}
	if (!base64_decode_final(&ctx))
		return -1;
	return (ssize_t)o;
}

ssize_t tg_chap_decode_value(const char *text, uint8_t *out, size_t cap)
{
	if (text[0] != '0')
		return -1;
	switch (text[1]) {
	case 'x':
	case 'X':
		return decode_hex(text + 2, out, cap);
	case 'b':
	case 'B':
		return decode_base64(text + 2, out, cap);
	default:
		return -1;
	}
}

bool tg_chap_encode_hex(const uint8_t *bytes, size_t len, char *out, size_t cap)
{
	if (cap < TG_CHAP_HEX_SIZE(len))
		return false;
	out[0] = '0';
	out[1] = 'x';
	base16_encode_update(out + 2, len, bytes);
	out[2 + BASE16_ENCODE_LENGTH(len)] = '\0';
	return true;
}

bool tg_chap_equal(const void *a, const void *b, size_t len)
{
	return memeql_sec(a, b, len) != 0;
}

int tg_chap_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t got = getrandom(p, len, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

uint64_t tg_chap_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tg_chap_limiter_init(struct tg_chap_limiter *limiter,
			  const struct tg_chap_limiter_params *params)
{
	memset(limiter, 0, sizeof(*limiter));
	limiter->params = *params;
	if (limiter->params.max_failures == 0)
		limiter->params.max_failures = 1;
	if (limiter->params.max_failures > TG_CHAP_LIMITER_MAX_FAILURES)
		limiter->params.max_failures = TG_CHAP_LIMITER_MAX_FAILURES;
	pthread_mutex_init(&limiter->lock, NULL);
}

void tg_chap_limiter_destroy(struct tg_chap_limiter *limiter)
{
	pthread_mutex_destroy(&limiter->lock);
}

static bool slot_blocked(const struct tg_chap_limiter_slot *slot, uint64_t now_ms)
{
	return slot->blocked_until_ms != 0 && now_ms < slot->blocked_until_ms;
}

/* A slot that no longer affects any decision: not in back-off and nothing in its window. */
static bool slot_stale(const struct tg_chap_limiter *limiter,
		       const struct tg_chap_limiter_slot *slot, uint64_t now_ms)
{
	return !slot_blocked(slot, now_ms) &&
	       now_ms - slot->last_failure_ms >= limiter->params.window_ms;
}

static struct tg_chap_limiter_slot *slot_find(struct tg_chap_limiter *limiter,
					      const char *address)
{
	for (size_t i = 0; i < TG_CHAP_LIMITER_SLOTS; i++) {
		struct tg_chap_limiter_slot *slot = &limiter->slots[i];
		if (slot->address[0] && strncmp(slot->address, address, TG_CHAP_ADDRESS_MAX - 1) == 0)
			return slot;
	}
	return NULL;
}

static struct tg_chap_limiter_slot *slot_claim(struct tg_chap_limiter *limiter,
					       const char *address, uint64_t now_ms)
{
	struct tg_chap_limiter_slot *victim = NULL;
	for (size_t i = 0; i < TG_CHAP_LIMITER_SLOTS; i++) {
		struct tg_chap_limiter_slot *slot = &limiter->slots[i];
		if (!slot->address[0] || slot_stale(limiter, slot, now_ms)) {
			victim = slot;
			break;
		}
		/* Addresses in back-off are given up last, then the one idle longest. */
		if (!victim || (slot_blocked(victim, now_ms) && !slot_blocked(slot, now_ms)) ||
		    (slot_blocked(victim, now_ms) == slot_blocked(slot, now_ms) &&
		     slot->last_failure_ms < victim->last_failure_ms))
			victim = slot;
	}
	memset(victim, 0, sizeof(*victim));
	strncpy(victim->address, address, TG_CHAP_ADDRESS_MAX - 1);
	return victim;
}

bool tg_chap_limiter_blocked(struct tg_chap_limiter *limiter, const char *address,
			     uint64_t now_ms)
{
	pthread_mutex_lock(&limiter->lock);
	const struct tg_chap_limiter_slot *slot = slot_find(limiter, address);
	bool blocked = slot && slot_blocked(slot, now_ms);
	pthread_mutex_unlock(&limiter->lock);
	return blocked;
}

bool tg_chap_limiter_record_failure(struct tg_chap_limiter *limiter, const char *address,
				    uint64_t now_ms)
{
	const struct tg_chap_limiter_params *p = &limiter->params;
	bool starts_backoff = false;
	pthread_mutex_lock(&limiter->lock);
	struct tg_chap_limiter_slot *slot = slot_find(limiter, address);
	if (!slot)
		slot = slot_claim(limiter, address, now_ms);
	slot->last_failure_ms = now_ms;
	if (slot_blocked(slot, now_ms))
		goto out;
	if (slot->blocked_until_ms) {
		/* The back-off is over: the address starts with a clean count. */
		slot->blocked_until_ms = 0;
		slot->failure_count = 0;
		slot->next = 0;
	}
	slot->failure_ms[slot->next] = now_ms;
	slot->next = (slot->next + 1) % p->max_failures;
	if (slot->failure_count < p->max_failures)
		slot->failure_count++;
	/* With the ring full, the slot at `next` holds the oldest of the last max_failures
	 * failures: all of them fell within the window if that one did. */
	if (slot->failure_count == p->max_failures &&
	    now_ms - slot->failure_ms[slot->next] < p->window_ms) {
		slot->blocked_until_ms = now_ms + p->backoff_ms;
		if (slot->blocked_until_ms == 0)
			slot->blocked_until_ms = 1;
		starts_backoff = true;
	}
out:
	pthread_mutex_unlock(&limiter->lock);
	return starts_backoff;
}
