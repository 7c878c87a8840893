/* A strict RFC 8259 JSON validator for tests: the control socket's replies must parse, whatever went in. */
#ifndef TG_TEST_JSON_CHECK_H
#define TG_TEST_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct json_check {
	const unsigned char *p, *end;
	unsigned depth;
};

static bool jc_value(struct json_check *c);

static void jc_space(struct json_check *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool jc_literal(struct json_check *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool jc_hex4(struct json_check *c, unsigned *out)
{
	if (c->end - c->p < 4)
		return false;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char h = *c->p++;
		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= h - '0';
		else if (h >= 'a' && h <= 'f')
			v |= h - 'a' + 10;
		else if (h >= 'A' && h <= 'F')
			v |= h - 'A' + 10;
		else
			return false;
	}
	*out = v;
	return true;
}

/* One UTF-8 encoded character, well formed per RFC 3629. */
static bool jc_utf8(struct json_check *c)
{
	unsigned char b = *c->p;
	size_t n;
	unsigned long cp, min;
	if (b >= 0xc2 && b <= 0xdf)
		n = 2, cp = b & 0x1f, min = 0x80;
	else if (b >= 0xe0 && b <= 0xef)
		n = 3, cp = b & 0x0f, min = 0x800;
	else if (b >= 0xf0 && b <= 0xf4)
		n = 4, cp = b & 0x07, min = 0x10000;
	else
		return false;
	if ((size_t)(c->end - c->p) < n)
		return false;
	for (size_t i = 1; i < n; i++) {
		if ((c->p[i] & 0xc0) != 0x80)
			return false;
		cp = (cp << 6) | (c->p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	c->p += n;
	return true;
}

static bool jc_string(struct json_check *c)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end) {
		unsigned char b = *c->p;
		if (b == '"') {
			c->p++;
			return true;
		}
		if (b < 0x20)
			return false;
		if (b == '\\') {
			c->p++;
			if (c->p >= c->end)
				return false;
			unsigned char e = *c->p++;
			unsigned cp;
			if (e == 'u') {
				if (!jc_hex4(c, &cp))
					return false;
				/* A lone surrogate escape is not a character. */
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return false;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned low;
					if (!jc_literal(c, "\\u") || !jc_hex4(c, &low) || low < 0xdc00 ||
					    low > 0xdfff)
						return false;
				}
			} else if (!strchr("\"\\/bfnrt", e) || e == 0) {
				return false;
			}
		} else if (b < 0x80) {
			c->p++;
		} else if (!jc_utf8(c)) {
			return false;
		}
	}
	return false;
}

static bool jc_digits(struct json_check *c)
{
	const unsigned char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > start;
}

static bool jc_number(struct json_check *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!jc_digits(c))
		return false;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!jc_digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!jc_digits(c))
			return false;
	}
	return true;
}

static bool jc_container(struct json_check *c, bool object)
{
	if (++c->depth > 256)
		return false;
	c->p++;
	jc_space(c);
	if (c->p < c->end && *c->p == (object ? '}' : ']')) {
		c->p++;
		c->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			jc_space(c);
			if (!jc_string(c))
				return false;
			jc_space(c);
			if (c->p >= c->end || *c->p++ != ':')
				return false;
		}
		if (!jc_value(c))
			return false;
		jc_space(c);
		if (c->p >= c->end)
			return false;
		unsigned char b = *c->p++;
		if (b == ',')
			continue;
		if (b == (object ? '}' : ']')) {
			c->depth--;
			return true;
		}
		return false;
	}
}

static bool jc_value(struct json_check *c)
{
	jc_space(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
		return jc_container(c, true);
	case '[':
		return jc_container(c, false);
	case '"':
		return jc_string(c);
	case 't':
		return jc_literal(c, "true");
	case 'f':
		return jc_literal(c, "false");
	case 'n':
		return jc_literal(c, "null");
	default:
		return jc_number(c);
	}
}

/* Whether text[0..len) is exactly one JSON value (surrounding whitespace allowed). */
static inline bool json_check_document(const char *text, size_t len)
{
	struct json_check c = { (const unsigned char *)text, (const unsigned char *)text + len, 0 };
	if (!jc_value(&c))
		return false;
	jc_space(&c);
	return c.p == c.end;
}

#endif
