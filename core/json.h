/* A small append-only JSON writer for replies built in memory (the control socket's documents). */
#ifndef TG_JSON_H
#define TG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_JSON_DEPTH_MAX 32

/*
 * Members and elements are written in order; `key` names an object member and must be NULL
 * for array elements and the top-level value. Memory failures and misuse (too deep, a value
 * after the document ended) are remembered and reported once by tg_json_finish, so callers
 * need not check every call.
 */
struct tg_json {
	char *buf;
	size_t len, cap;
	bool failed;
	unsigned depth;
	bool has_members[TG_JSON_DEPTH_MAX + 1]; /* whether the open container needs a comma */
	bool is_object[TG_JSON_DEPTH_MAX + 1];
	bool done;                               /* the top-level value is complete */
};

void tg_json_init(struct tg_json *j);
void tg_json_begin_object(struct tg_json *j, const char *key);
void tg_json_end_object(struct tg_json *j);
void tg_json_begin_array(struct tg_json *j, const char *key);
void tg_json_end_array(struct tg_json *j);
/* Any bytes: quotes, backslashes and control characters are escaped, and bytes that are not
 * valid UTF-8 (initiator names come off the wire) become U+FFFD, so the document stays valid. */
void tg_json_string(struct tg_json *j, const char *key, const char *value);
void tg_json_string_len(struct tg_json *j, const char *key, const char *value, size_t len);
void tg_json_uint(struct tg_json *j, const char *key, uint64_t value);
void tg_json_bool(struct tg_json *j, const char *key, bool value);
void tg_json_null(struct tg_json *j, const char *key);

/*
 * Ends the document with a newline and hands over its NUL-terminated text (free() it), *len
 * its length. NULL when memory ran out or the document is incomplete or malformed; the
 * writer is reset either way.
 */
char *tg_json_finish(struct tg_json *j, size_t *len);
/* Drops whatever was written. */
void tg_json_discard(struct tg_json *j);

#endif
