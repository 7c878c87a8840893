/* The JSON writer behind the control socket's replies: escaping, UTF-8 repair, comma placement. */
#include "core/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_json_init(struct tg_json *j) { memset(j, 0, sizeof(*j)); }

static void reserve(struct tg_json *j, size_t more)
{
	if (j->failed)
		return;
	if (j->len + more + 1 <= j->cap)
		return;
	size_t cap = j->cap ? j->cap : 256;
	while (cap < j->len + more + 1) {
		if (cap > SIZE_MAX / 2) {
			j->failed = true;
			return;
		}
		cap *= 2;
	}
	char *grown = realloc(j->buf, cap);
	if (!grown) {
		j->failed = true;
		return;
	}
	j->buf = grown;
	j->cap = cap;
}

static void put(struct tg_json *j, const char *bytes, size_t n)
{
	reserve(j, n);
	if (j->failed)
		return;
	memcpy(j->buf + j->len, bytes, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void put_char(struct tg_json *j, char c) { put(j, &c, 1); }

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), or 0 when the byte there starts none. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void put_escaped(struct tg_json *j, const char *value, size_t len)
{
	const unsigned char *s = (const unsigned char *)value;
	put_char(j, '"');
	size_t i = 0;
	while (i < len && !j->failed) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			put(j, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(j, esc, 6);
			i++;
		} else {
			size_t n = utf8_sequence(s + i, len - i);
			if (n == 0) {
				put(j, "\\ufffd", 6);
				i++;
			} else {
				put(j, value + i, n);
				i += n;
			}
		}
	}
	put_char(j, '"');
}

/* The separator and member name every value starts with; false when no value may go here. */
static bool begin_value(struct tg_json *j, const char *key)
{
	if (j->failed)
		return false;
	/* Objects take named members only, arrays and the top level unnamed values only. */
	bool named_here = j->depth > 0 && j->is_object[j->depth];
	if (j->done || named_here != (key != NULL)) {
		j->failed = true;
		return false;
	}
	if (j->depth > 0 && j->has_members[j->depth])
		put_char(j, ',');
	if (j->depth > 0)
		j->has_members[j->depth] = true;
	if (key) {
		put_escaped(j, key, strlen(key));
		put_char(j, ':');
	}
	return !j->failed;
}

static void end_value(struct tg_json *j)
{
	if (j->depth == 0)
		j->done = true;
}

static void open_container(struct tg_json *j, const char *key, char bracket)
{
	if (!begin_value(j, key))
		return;
	if (j->depth >= TG_JSON_DEPTH_MAX) {
		j->failed = true;
		return;
	}
	put_char(j, bracket);
	j->depth++;
	j->has_members[j->depth] = false;
	j->is_object[j->depth] = bracket == '{';
}

static void close_container(struct tg_json *j, char bracket)
{
	if (j->failed)
		return;
	if (j->depth == 0 || j->is_object[j->depth] != (bracket == '}')) {
		j->failed = true;
		return;
	}
	put_char(j, bracket);
	j->depth--;
	end_value(j);
}

void tg_json_begin_object(struct tg_json *j, const char *key) { open_container(j, key, '{'); }
void tg_json_end_object(struct tg_json *j) { close_container(j, '}'); }
void tg_json_begin_array(struct tg_json *j, const char *key) { open_container(j, key, '['); }
void tg_json_end_array(struct tg_json *j) { close_container(j, ']'); }

void tg_json_string_len(struct tg_json *j, const char *key, const char *value, size_t len)
{
	if (!begin_value(j, key))
		return;
	if (value)
		put_escaped(j, value, len);
	else
		put(j, "null", 4);
	end_value(j);
}

void tg_json_string(struct tg_json *j, const char *key, const char *value)
{
	tg_json_string_len(j, key, value, value ? strlen(value) : 0);
}

void tg_json_uint(struct tg_json *j, const char *key, uint64_t value)
{
	if (!begin_value(j, key))
		return;
	char text[24];
	int n = snprintf(text, sizeof(text), "%" PRIu64, value);
	put(j, text, (size_t)n);
	end_value(j);
}

void tg_json_bool(struct tg_json *j, const char *key, bool value)
{
	if (!begin_value(j, key))
		return;
	put(j, value ? "true" : "false", value ? 4 : 5);
	end_value(j);
}

void tg_json_null(struct tg_json *j, const char *key)
{
	if (!begin_value(j, key))
		return;
	put(j, "null", 4);
	end_value(j);
}

char *tg_json_finish(struct tg_json *j, size_t *len)
{
	if (!j->failed && j->done)
		put_char(j, '\n');
	if (j->failed || !j->done) {
		tg_json_discard(j);
		return NULL;
	}
	char *text = j->buf;
	if (len)
		*len = j->len;
	tg_json_init(j);
	return text;
}

void tg_json_discard(struct tg_json *j)
{
	free(j->buf);
	tg_json_init(j);
}
