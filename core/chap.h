/* Transport-independent CHAP (RFC 1994) pieces: MD5 response, binary value codecs, failure limiter. */
#ifndef TG_CHAP_H
#define TG_CHAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CHAP_A value of CHAP with MD5, the one algorithm we accept. */
#define TG_CHAP_ALGORITHM_MD5 5
#define TG_CHAP_MD5_LEN 16
/* Shorter secrets are refused: RFC 7143 12.1.3 wants at least 96 bits against guessing. */
#define TG_CHAP_SECRET_MIN 12
/* RFC 7143 12.1.3: the binary length of CHAP_C and CHAP_R must not exceed 1024 bytes. */
#define TG_CHAP_VALUE_MAX 1024
/* Challenges we send, and the least we accept from an initiator for mutual CHAP: as long
 * as the MD5 output, so a challenge cannot be guessed or precomputed against. */
#define TG_CHAP_CHALLENGE_LEN 16
/* "0x" + two hex digits per byte + NUL. */
#define TG_CHAP_HEX_SIZE(bytes) (2 + 2 * (bytes) + 1)

/* MD5(id || secret || challenge), the CHAP response of RFC 1994 section 4.1. */
void tg_chap_md5_response(uint8_t id, const uint8_t *secret, size_t secret_len,
			  const uint8_t *challenge, size_t challenge_len,
			  uint8_t out[TG_CHAP_MD5_LEN]);

/*
 * Decodes an RFC 7143 section 6.1 binary value: "0x"/"0X" followed by hex digits (an odd
 * count implies a leading zero digit) or "0b"/"0B" followed by padded base64 (RFC 4648).
 * Returns the byte count, or -1 when the text is malformed, empty, or decodes to more than
 * cap bytes.
 */
ssize_t tg_chap_decode_value(const char *text, uint8_t *out, size_t cap);

/* Writes "0x" and the lowercase hex digits of bytes into out; false if cap is too small. */
bool tg_chap_encode_hex(const uint8_t *bytes, size_t len, char *out, size_t cap);

/* Compares two equally long buffers in time independent of where they differ. */
bool tg_chap_equal(const void *a, const void *b, size_t len);

/* Fills buf from the kernel CSPRNG (getrandom); -1 if it cannot. */
int tg_chap_random(void *buf, size_t len);

/*
 * Counts authentication failures per peer address so that guessing secrets gets slow:
 * after max_failures failures within window_ms, every attempt from that address fails
 * for backoff_ms. Memory is a fixed table; when it is full the slot idle longest is reused
 * (addresses in back-off are reused last).
 */
#define TG_CHAP_LIMITER_SLOTS 256
#define TG_CHAP_ADDRESS_MAX 64
#define TG_CHAP_LIMITER_MAX_FAILURES 16 /* upper bound of params.max_failures */

struct tg_chap_limiter_params {
	unsigned max_failures;  /* 1..TG_CHAP_LIMITER_MAX_FAILURES */
	uint64_t window_ms;
	uint64_t backoff_ms;
};

struct tg_chap_limiter_slot {
	char address[TG_CHAP_ADDRESS_MAX]; /* "" = free */
	uint64_t failure_ms[TG_CHAP_LIMITER_MAX_FAILURES]; /* ring of the latest failure times */
	unsigned failure_count;            /* entries of the ring in use */
	unsigned next;                     /* ring position the next failure goes to */
	uint64_t last_failure_ms;
	uint64_t blocked_until_ms;         /* 0 = not in back-off */
};

struct tg_chap_limiter {
	struct tg_chap_limiter_params params;
	pthread_mutex_t lock; /* logins may later run on several event loops */
	struct tg_chap_limiter_slot slots[TG_CHAP_LIMITER_SLOTS];
};

void tg_chap_limiter_init(struct tg_chap_limiter *limiter,
			  const struct tg_chap_limiter_params *params);
void tg_chap_limiter_destroy(struct tg_chap_limiter *limiter);
/* Whether address is in back-off at now_ms (a monotonic clock). */
bool tg_chap_limiter_blocked(struct tg_chap_limiter *limiter, const char *address,
			     uint64_t now_ms);
/* Records a failure of address at now_ms; true when this failure starts a back-off period,
 * so the caller logs that once. */
bool tg_chap_limiter_record_failure(struct tg_chap_limiter *limiter, const char *address,
				    uint64_t now_ms);
/* Milliseconds of CLOCK_MONOTONIC, the clock the limiter is meant to be fed. */
uint64_t tg_chap_now_ms(void);

#endif
