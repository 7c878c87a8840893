/* Loads a libconfig file into the plain tg_config model and rejects anything invalid before use. */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core/pi.h"
#include "core/target.h"

#define KEY_MAX 256
#define MAX_LUN 16383u
#define MIN_CHAP_SECRET 12u
#define ISCSI_NAME_MAX 223u
#define DEFAULT_ISCSI_PORT 3260
#define SMALLEST_BLOCK_SIZE 512u
#define DEVICE_NAME_MAX 63u
#define SERIAL_MAX 40u
#define IO_THREADS_MAX 64
#define BUFFER_MEMORY_MIN ((uint64_t)16 << 20) /* two commands of TG_MAX_TRANSFER_BYTES */
#define DEFAULT_LOGIN_TIMEOUT 15   /* s; what open-iscsi allows its own login by default */
#define LOGIN_TIMEOUT_MAX 3600
#define MAX_SESSIONS_MAX 65535     /* TSIHs are 16 bits */

struct loader {
	const char *path;
	const char *include_dir;  /* libconfig records @include names without it */
	char *err;
	size_t errlen;
	struct tg_config *config;
};

static const char *const known_backends[] = {
	"file", "block", "thin", "passthrough", "tape", "cdrom", NULL,
};
/* The backends that serve a direct-access (disk) logical unit. */
static const char *const disk_backends[] = { "file", "block", "thin", NULL };

/* The file libconfig names (a setting's or an error's): the loaded path, or an @include'd file. */
static const char *source_name(const struct loader *ld, const char *file, char *buf, size_t len)
{
	if (!file || strcmp(file, ld->path) == 0)
		return ld->path;
	if (file[0] == '/' || !ld->include_dir)
		return file;
	snprintf(buf, len, "%s/%s", ld->include_dir, file);
	return buf;
}

static const char *source_path(const struct loader *ld, const config_setting_t *s, char *buf,
			       size_t len)
{
	return source_name(ld, s ? config_setting_source_file(s) : NULL, buf, len);
}

/* Writes "FILE:LINE: KEY: message"; the file is the one the setting came from (@include). */
static int fail(struct loader *ld, const config_setting_t *where, const char *key,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct loader *ld, const config_setting_t *where, const char *key,
		const char *fmt, ...)
{
	if (!ld->err || ld->errlen == 0)
		return -1;
	char file_buf[4096];
	const char *file = source_path(ld, where, file_buf, sizeof(file_buf));
	unsigned line = where ? config_setting_source_line(where) : 0;
	int used = snprintf(ld->err, ld->errlen, "%s:%u: %s: ", file, line, key);
	if (used >= 0 && (size_t)used < ld->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ld->err + used, ld->errlen - (size_t)used, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int fail_oom(struct loader *ld, const config_setting_t *where, const char *key)
{
	return fail(ld, where, key, "out of memory");
}

/* Keys are bounded by the nesting depth; a freak overlong one is cut and marked, never overrun. */
static void mark_if_cut(char *buf, int written)
{
	if (written < 0 || written >= KEY_MAX)
		memcpy(buf + KEY_MAX - 4, "...", 4);
}

static void join_key(char *buf, const char *parent, const char *name)
{
	if (parent[0])
		mark_if_cut(buf, snprintf(buf, KEY_MAX, "%s.%s", parent, name));
	else
		mark_if_cut(buf, snprintf(buf, KEY_MAX, "%s", name));
}

static void join_index(char *buf, const char *parent, int index)
{
	mark_if_cut(buf, snprintf(buf, KEY_MAX, "%s[%d]", parent, index));
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a floating-point number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
	case CONFIG_TYPE_LIST: return "a list ( ... )";
	default: return "nothing";
	}
}

static int fail_type(struct loader *ld, const config_setting_t *s, const char *key,
		     const char *expected)
{
	return fail(ld, s, key, "expected %s, got %s", expected,
		    type_name(config_setting_type(s)));
}

static bool is_integer(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

/*
 * libconfig 1.5 silently truncates integer literals that do not fit 32 bits unless they carry
 * an L suffix, so a size of 5000000000 would arrive as 705032704. Re-reading the literal from
 * the source line is the only way to notice; when the line cannot be read we trust libconfig.
 */
static bool int_literal_truncated(const struct loader *ld, const config_setting_t *s)
{
	const char *name = config_setting_name(s);
	if (config_setting_type(s) != CONFIG_TYPE_INT || !name)
		return false;
	char file_buf[4096];
	FILE *fp = fopen(source_path(ld, s, file_buf, sizeof(file_buf)), "r");
	if (!fp)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool truncated = false;
	for (unsigned n = 1; getline(&line, &cap, fp) >= 0; n++) {
		if (n < config_setting_source_line(s))
			continue;
		size_t name_len = strlen(name);
		for (char *p = line; (p = strstr(p, name)) != NULL; p += name_len) {
			bool starts_word = p == line || !(isalnum((unsigned char)p[-1]) ||
							  p[-1] == '_' || p[-1] == '-');
			char *q = p + name_len;
			while (*q == ' ' || *q == '\t')
				q++;
			if (!starts_word || (*q != '=' && *q != ':'))
				continue;
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			bool negative = *q == '-';
			if (*q == '-' || *q == '+')
				q++;
			bool hex = q[0] == '0' && (q[1] == 'x' || q[1] == 'X');
			errno = 0;
			unsigned long long literal = strtoull(q, NULL, hex ? 16 : 10);
			if (errno == ERANGE)
				truncated = true;
			else if (hex)
				truncated = literal > 0xffffffffull;
			else if (negative)
				truncated = literal > 0x80000000ull;
			else
				truncated = literal > 0x7fffffffull;
			break;
		}
		break;
	}
	free(line);
	fclose(fp);
	return truncated;
}

/* Fails on a setting whose name is not in allowed (NULL-terminated). */
static int check_group(struct loader *ld, const config_setting_t *s, const char *key,
		       const char *const *allowed)
{
	if (!config_setting_is_group(s))
		return fail_type(ld, s, key, "a group { ... }");
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *member = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(member);
		bool known = false;
		for (const char *const *a = allowed; *a; a++)
			known = known || strcmp(*a, name) == 0;
		if (known)
			continue;
		char child[KEY_MAX], list[KEY_MAX] = "";
		join_key(child, key, name);
		for (const char *const *a = allowed; *a; a++) {
			size_t used = strlen(list);
			snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *a);
		}
		return fail(ld, member, child, "unknown key (known here: %s)", list);
	}
	return 0;
}

/* The lookups below return 1 when found (value stored), 0 when absent and allowed, -1 on error. */

static int lookup(struct loader *ld, const config_setting_t *group, const char *group_key,
		  const char *name, bool required, const config_setting_t **found, char *key)
{
	join_key(key, group_key, name);
	*found = config_setting_get_member(group, name);
	if (*found)
		return 1;
	if (required)
		return fail(ld, group, key, "missing required key");
	return 0;
}

static int read_string(struct loader *ld, const config_setting_t *group, const char *group_key,
		       const char *name, bool required, const char **out,
		       const config_setting_t **where)
{
	char key[KEY_MAX];
	const config_setting_t *s = NULL;
	int rc = lookup(ld, group, group_key, name, required, &s, key);
	if (rc <= 0)
		return rc;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_type(ld, s, key, "a string");
	*out = config_setting_get_string(s);
	if (!(*out)[0])
		return fail(ld, s, key, "must not be empty");
	if (where)
		*where = s;
	return 1;
}

static int read_string_copy(struct loader *ld, const config_setting_t *group,
			    const char *group_key, const char *name, bool required, char **out)
{
	const char *value = NULL;
	const config_setting_t *where = NULL;
	int rc = read_string(ld, group, group_key, name, required, &value, &where);
	if (rc <= 0)
		return rc;
	*out = strdup(value);
	if (!*out) {
		char key[KEY_MAX];
		join_key(key, group_key, name);
		return fail_oom(ld, where, key);
	}
	return 1;
}

static int read_int(struct loader *ld, const config_setting_t *group, const char *group_key,
		    const char *name, bool required, long long min, long long max, long long *out,
		    const config_setting_t **where)
{
	char key[KEY_MAX];
	const config_setting_t *s = NULL;
	int rc = lookup(ld, group, group_key, name, required, &s, key);
	if (rc <= 0)
		return rc;
	if (!is_integer(s))
		return fail_type(ld, s, key, "an integer");
	if (int_literal_truncated(ld, s))
		return fail(ld, s, key, "integer does not fit in 32 bits (libconfig needs an L suffix)");
	long long value = config_setting_get_int64(s);
	if (value < min || value > max)
		return fail(ld, s, key, "must be between %lld and %lld, got %lld", min, max, value);
	*out = value;
	if (where)
		*where = s;
	return 1;
}

static int read_bool(struct loader *ld, const config_setting_t *group, const char *group_key,
		     const char *name, bool *out)
{
	char key[KEY_MAX];
	const config_setting_t *s = NULL;
	int rc = lookup(ld, group, group_key, name, false, &s, key);
	if (rc <= 0)
		return rc;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail_type(ld, s, key, "a boolean (true or false)");
	*out = config_setting_get_bool(s);
	return 1;
}

enum size_problem { SIZE_OK, SIZE_GARBAGE, SIZE_OVERFLOW };

static enum size_problem parse_size(const char *text, uint64_t *out)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return SIZE_GARBAGE;
	uint64_t value = 0;
	const char *p = text;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return SIZE_OVERFLOW;
		value = value * 10 + digit;
	}
	unsigned shift = 0;
	switch (*p) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	default: return SIZE_GARBAGE;
	}
	if (shift && p[1] != '\0')
		return SIZE_GARBAGE;
	if (shift && value > (UINT64_MAX >> shift))
		return SIZE_OVERFLOW;
	*out = value << shift;
	return SIZE_OK;
}

bool tg_config_parse_size(const char *text, uint64_t *out)
{
	uint64_t value;
	if (parse_size(text, &value) != SIZE_OK)
		return false;
	*out = value;
	return true;
}

/* A size is a string with an optional K/M/G/T suffix or a plain integer byte count; never 0. */
static int read_size(struct loader *ld, const config_setting_t *group, const char *group_key,
		     const char *name, uint64_t *out, const config_setting_t **where)
{
	char key[KEY_MAX];
	const config_setting_t *s = NULL;
	int rc = lookup(ld, group, group_key, name, false, &s, key);
	if (rc <= 0)
		return rc;
	uint64_t value;
	if (is_integer(s)) {
		if (int_literal_truncated(ld, s))
			return fail(ld, s, key,
				    "integer does not fit in 32 bits (write it as a string, e.g. \"5G\")");
		long long number = config_setting_get_int64(s);
		if (number < 0)
			return fail(ld, s, key, "size must not be negative");
		value = (uint64_t)number;
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *text = config_setting_get_string(s);
		switch (parse_size(text, &value)) {
		case SIZE_OK:
			break;
		case SIZE_OVERFLOW:
			return fail(ld, s, key, "size \"%s\" is too large", text);
		case SIZE_GARBAGE:
			return fail(ld, s, key,
				    "invalid size \"%s\" (expected bytes, or a number with K, M, G or T)",
				    text);
		}
	} else {
		return fail_type(ld, s, key, "a size (string such as \"1G\" or an integer)");
	}
	if (value == 0)
		return fail(ld, s, key, "size must be greater than 0");
	*out = value;
	if (where)
		*where = s;
	return 1;
}

static void free_strings(char **items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(items[i]);
	free(items);
}

/*
 * Reads an array or list of strings. check (optional) validates and may rewrite each copy in
 * place; it returns a reason on failure.
 */
static int read_string_array(struct loader *ld, const config_setting_t *group,
			     const char *group_key, const char *name, bool required,
			     const char *(*check)(char *item, char *why, size_t why_len), char ***items,
			     size_t *count, const config_setting_t **where)
{
	char key[KEY_MAX];
	const config_setting_t *s = NULL;
	int rc = lookup(ld, group, group_key, name, required, &s, key);
	if (rc <= 0)
		return rc;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail_type(ld, s, key, "an array [ ... ] of strings");
	size_t n = (size_t)config_setting_length(s);
	char **copy = calloc(n ? n : 1, sizeof(*copy));
	if (!copy)
		return fail_oom(ld, s, key);
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, (unsigned)i);
		char elem_key[KEY_MAX];
		join_index(elem_key, key, (int)i);
		if (config_setting_type(elem) != CONFIG_TYPE_STRING) {
			free_strings(copy, i);
			return fail_type(ld, elem, elem_key, "a string");
		}
		copy[i] = strdup(config_setting_get_string(elem));
		if (!copy[i]) {
			free_strings(copy, i);
			return fail_oom(ld, elem, elem_key);
		}
		char why_buf[400];
		const char *why = check ? check(copy[i], why_buf, sizeof(why_buf)) : NULL;
		if (why) {
			fail(ld, elem, elem_key, "%s", why);
			free_strings(copy, i + 1);
			return -1;
		}
	}
	*items = copy;
	*count = n;
	if (where)
		*where = s;
	return 1;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* RFC 7143 binary-value: hex-constant "0x"/"0X", base64-constant "0b"/"0B", else plain text. */
static const char *decode_secret(const char *text, uint8_t *buf, size_t *len)
{
	size_t n = strlen(text);
	if (n >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
		const char *digits = text + 2;
		size_t count = n - 2;
		if (count == 0)
			return "hex secret has no digits after 0x";
		/* An odd count means the first byte holds one digit (implied leading zero). */
		size_t out = 0, i = 0;
		if (count % 2) {
			if (hex_value(digits[0]) < 0)
				return "invalid hex digit in 0x secret";
			buf[out++] = (uint8_t)hex_value(digits[0]);
			i = 1;
		}
		for (; i < count; i += 2) {
			int hi = hex_value(digits[i]), lo = hex_value(digits[i + 1]);
			if (hi < 0 || lo < 0)
				return "invalid hex digit in 0x secret";
			buf[out++] = (uint8_t)(hi << 4 | lo);
		}
		*len = out;
		return NULL;
	}
	if (n >= 2 && text[0] == '0' && (text[1] == 'b' || text[1] == 'B')) {
		const char *chars = text + 2;
		size_t count = n - 2;
		if (count == 0 || count % 4)
			return "invalid base64 in 0b secret (length must be a multiple of 4)";
		size_t pad = 0;
		while (pad < 2 && chars[count - 1 - pad] == '=')
			pad++;
		size_t out = 0;
		uint32_t acc = 0;
		for (size_t i = 0; i < count - pad; i++) {
			int v = base64_value(chars[i]);
			if (v < 0)
				return "invalid base64 character in 0b secret";
			acc = acc << 6 | (uint32_t)v;
			if (i % 4 == 3) {
				buf[out++] = (uint8_t)(acc >> 16);
				buf[out++] = (uint8_t)(acc >> 8);
				buf[out++] = (uint8_t)acc;
				acc = 0;
			}
		}
		if (pad == 2) {
			buf[out++] = (uint8_t)(acc >> 4);
		} else if (pad == 1) {
			buf[out++] = (uint8_t)(acc >> 10);
			buf[out++] = (uint8_t)(acc >> 2);
		}
		*len = out;
		return NULL;
	}
	memcpy(buf, text, n);
	*len = n;
	return NULL;
}

int tg_config_decode_secret(const char *text, uint8_t **out, size_t *len)
{
	uint8_t *buf = malloc(strlen(text) + 1);
	if (!buf)
		return -1;
	if (decode_secret(text, buf, len)) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static bool all_hex(const char *s, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return s[count] == '\0';
}

static void lowercase(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * RFC 7143 iSCSI names, restricted to ASCII: iqn.YYYY-MM.authority[:anything], eui.<16 hex>,
 * naa.<16|32 hex>. Uppercase letters are accepted and folded, as stringprep would.
 */
static const char *iscsi_name_problem(const char *name)
{
	size_t n = strlen(name);
	if (n > ISCSI_NAME_MAX)
		return "longer than 223 bytes";
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != ':')
			return "only letters, digits, '-', '.' and ':' are allowed";
	if (strncasecmp(name, "iqn.", 4) == 0) {
		const char *d = name + 4;
		bool date_ok = n >= 12 && isdigit((unsigned char)d[0]) &&
			       isdigit((unsigned char)d[1]) && isdigit((unsigned char)d[2]) &&
			       isdigit((unsigned char)d[3]) && d[4] == '-' &&
			       isdigit((unsigned char)d[5]) && isdigit((unsigned char)d[6]);
		int month = date_ok ? (d[5] - '0') * 10 + (d[6] - '0') : 0;
		if (!date_ok || month < 1 || month > 12 || d[7] != '.')
			return "iqn. names need a date: iqn.YYYY-MM.authority[:id]";
		if (!isalnum((unsigned char)d[8]))
			return "iqn. names need a naming authority after the date";
		return NULL;
	}
	if (strncasecmp(name, "eui.", 4) == 0)
		return all_hex(name + 4, 16) ? NULL : "eui. names need exactly 16 hex digits";
	if (strncasecmp(name, "naa.", 4) == 0)
		return all_hex(name + 4, 16) || all_hex(name + 4, 32)
			       ? NULL
			       : "naa. names need exactly 16 or 32 hex digits";
	return "must start with iqn., eui. or naa.";
}

static bool is_srp_id(const char *text)
{
	return text[0] == '0' && text[1] == 'x' && all_hex(text + 2, 32);
}

/* Initiators are iSCSI names or SRP initiator port ids; both are stored lowercase. */
static const char *check_initiator(char *item, char *why, size_t why_len)
{
	if (!(item[0] == '0' && (item[1] == 'x' || item[1] == 'X'))) {
		const char *problem = iscsi_name_problem(item);
		if (!problem) {
			lowercase(item);
			return NULL;
		}
		snprintf(why, why_len,
			 "\"%.230s\" is neither an iSCSI name (%s) nor an SRP initiator id "
			 "(0x followed by 32 hex digits)",
			 item, problem);
		return why;
	}
	if (is_srp_id(item)) {
		lowercase(item);
		return NULL;
	}
	snprintf(why, why_len,
		 "\"%.230s\" is neither an iSCSI name nor an SRP initiator id "
		 "(0x followed by 32 hex digits)",
		 item);
	return why;
}

static const char *check_transport_name(char *item, char *why, size_t why_len)
{
	if (strcmp(item, "iscsi") == 0 || strcmp(item, "iser") == 0 || strcmp(item, "srp") == 0)
		return NULL;
	return "unknown transport (known: iscsi, iser, srp)";
}

static bool valid_hostname(const char *host)
{
	size_t n = strlen(host), label = 0;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		if (c == '.') {
			if (label == 0 || host[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return host[n - 1] != '-' && host[n - 1] != '.';
}

/* "host", "host:port", "[v6]" or "[v6]:port"; default_port 0 means the port is required. */
static const char *parse_portal(const char *text, uint16_t default_port, struct cfg_portal *out)
{
	char host[sizeof(out->host)];
	const char *port_text = NULL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return "missing ']' after IPv6 address";
		size_t len = (size_t)(close - text - 1);
		if (len == 0 || len >= sizeof(host))
			return "bad IPv6 address";
		memcpy(host, text + 1, len);
		host[len] = '\0';
		struct in6_addr addr6;
		if (inet_pton(AF_INET6, host, &addr6) != 1)
			return "bad IPv6 address";
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0')
			return "expected ':' after ']'";
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			return "IPv6 addresses must be in brackets, e.g. \"[::1]:3260\"";
		size_t len = colon ? (size_t)(colon - text) : strlen(text);
		if (len == 0)
			return "missing host";
		if (len >= sizeof(host))
			return "host name too long";
		memcpy(host, text, len);
		host[len] = '\0';
		if (colon)
			port_text = colon + 1;
		if (strspn(host, "0123456789.") == len) {
			struct in_addr addr4;
			if (inet_pton(AF_INET, host, &addr4) != 1)
				return "bad IPv4 address";
		} else if (!valid_hostname(host)) {
			return "bad host name";
		}
	}
	unsigned long port = default_port;
	if (port_text) {
		if (!port_text[0] || strspn(port_text, "0123456789") != strlen(port_text) ||
		    strlen(port_text) > 5)
			return "port must be a number from 1 to 65535";
		port = strtoul(port_text, NULL, 10);
		if (port < 1 || port > 65535)
			return "port must be a number from 1 to 65535";
	} else if (default_port == 0) {
		return "a port is required here (host:port)";
	}
	snprintf(out->host, sizeof(out->host), "%s", host);
	out->port = (uint16_t)port;
	return NULL;
}

static int load_listen(struct loader *ld, const config_setting_t *transports, const char *name,
		       const char *const *transport_keys, uint16_t default_port,
		       struct cfg_portal_list *out)
{
	char key[KEY_MAX];
	const config_setting_t *s = config_setting_get_member(transports, name);
	if (!s)
		return 0;
	join_key(key, "transports", name);
	if (check_group(ld, s, key, transport_keys))
		return -1;
	char **items = NULL;
	size_t count = 0;
	int rc = read_string_array(ld, s, key, "listen", true, NULL, &items, &count, NULL);
	if (rc <= 0)
		return rc;
	const config_setting_t *listen = config_setting_get_member(s, "listen");
	char listen_key[KEY_MAX];
	join_key(listen_key, key, "listen");
	out->items = calloc(count ? count : 1, sizeof(*out->items));
	if (!out->items) {
		free_strings(items, count);
		return fail_oom(ld, listen, listen_key);
	}
	rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		const config_setting_t *elem = config_setting_get_elem(listen, (unsigned)i);
		char elem_key[KEY_MAX];
		join_index(elem_key, listen_key, (int)i);
		struct cfg_portal *portal = &out->items[i];
		const char *why = parse_portal(items[i], default_port, portal);
		if (why) {
			rc = fail(ld, elem, elem_key, "bad listen address \"%s\": %s", items[i], why);
			break;
		}
		portal->line = (int)config_setting_source_line(elem);
		out->count = i + 1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(out->items[j].host, portal->host) == 0 &&
			    out->items[j].port == portal->port) {
				rc = fail(ld, elem, elem_key, "duplicate listen address \"%s\"",
					  items[i]);
				break;
			}
		}
	}
	free_strings(items, count);
	return rc;
}

/* Decodes one CHAP secret into *bytes (caller frees) and enforces the minimum length. */
static int check_secret(struct loader *ld, const config_setting_t *chap, const char *chap_key,
			const char *name, const char *text, uint8_t **bytes, size_t *len)
{
	const config_setting_t *where = config_setting_get_member(chap, name);
	char key[KEY_MAX];
	join_key(key, chap_key, name);
	*bytes = malloc(strlen(text) + 1);
	if (!*bytes)
		return fail_oom(ld, where, key);
	const char *why = decode_secret(text, *bytes, len);
	if (why)
		return fail(ld, where, key, "%s", why);
	if (*len < MIN_CHAP_SECRET)
		return fail(ld, where, key, "CHAP secret is %zu bytes, needs at least %u", *len,
			    MIN_CHAP_SECRET);
	return 0;
}

static int load_chap(struct loader *ld, const config_setting_t *s, const char *key,
		     struct cfg_chap *chap)
{
	static const char *const chap_keys[] = {
		"user", "secret", "mutual_user", "mutual_secret", NULL,
	};
	if (check_group(ld, s, key, chap_keys))
		return -1;
	chap->present = true;
	chap->line = (int)config_setting_source_line(s);
	if (read_string_copy(ld, s, key, "user", true, &chap->user) < 0 ||
	    read_string_copy(ld, s, key, "secret", true, &chap->secret) < 0)
		return -1;
	bool has_mutual_user = config_setting_get_member(s, "mutual_user") != NULL;
	bool has_mutual_secret = config_setting_get_member(s, "mutual_secret") != NULL;
	if (read_string_copy(ld, s, key, "mutual_user", has_mutual_secret, &chap->mutual_user) < 0 ||
	    read_string_copy(ld, s, key, "mutual_secret", has_mutual_user, &chap->mutual_secret) < 0)
		return -1;

	uint8_t *secret = NULL, *mutual = NULL;
	size_t secret_len = 0, mutual_len = 0;
	int rc = check_secret(ld, s, key, "secret", chap->secret, &secret, &secret_len);
	if (rc == 0 && chap->mutual_secret)
		rc = check_secret(ld, s, key, "mutual_secret", chap->mutual_secret, &mutual,
				  &mutual_len);
	/* RFC 7143: a secret used to authenticate initiators must never authenticate the target. */
	if (rc == 0 && mutual && secret_len == mutual_len &&
	    memcmp(secret, mutual, secret_len) == 0) {
		char secret_key[KEY_MAX];
		join_key(secret_key, key, "mutual_secret");
		rc = fail(ld, config_setting_get_member(s, "mutual_secret"), secret_key,
			  "mutual_secret must differ from secret");
	}
	free(secret);
	free(mutual);
	return rc;
}

/* "0-3, 6" for a message: the CPUs this process may run on. */
static void format_cpu_set(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int cpu = 0; cpu < CPU_SETSIZE && used < len; cpu++) {
		if (!CPU_ISSET(cpu, set) || (cpu > 0 && CPU_ISSET(cpu - 1, set)))
			continue;
		int last = cpu;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		const char *sep = used ? ", " : "";
		int n = last > cpu ? snprintf(buf + used, len - used, "%s%d-%d", sep, cpu, last)
				   : snprintf(buf + used, len - used, "%s%d", sep, cpu);
		used += n > 0 ? (size_t)n : 0;
	}
}

/* global.io_thread_cpus: an array of CPU numbers, each one targed may run on here (checked now,
 * so that a typo stops the start with the line rather than failing a thread later). */
static int read_io_thread_cpus(struct loader *ld, const config_setting_t *g)
{
	char key[KEY_MAX];
	const config_setting_t *s = NULL;
	int rc = lookup(ld, g, "global", "io_thread_cpus", false, &s, key);
	if (rc <= 0)
		return rc;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail_type(ld, s, key, "an array [ ... ] of CPU numbers");
	unsigned n = (unsigned)config_setting_length(s);
	if (n == 0 || n > IO_THREADS_MAX)
		return fail(ld, s, key, "must list between 1 and %d CPUs, got %u", IO_THREADS_MAX, n);
	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return fail(ld, s, key, "cannot read the CPUs targed may run on: %s", strerror(errno));
	unsigned *cpus = calloc(n, sizeof(*cpus));
	if (!cpus)
		return fail_oom(ld, s, key);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, i);
		char elem_key[KEY_MAX];
		join_index(elem_key, key, (int)i);
		if (!is_integer(elem)) {
			free(cpus);
			return fail_type(ld, elem, elem_key, "a CPU number");
		}
		long long cpu = config_setting_get_int64(elem);
		if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET((int)cpu, &allowed)) {
			char list[200];
			format_cpu_set(&allowed, list, sizeof(list));
			free(cpus);
			return fail(ld, elem, elem_key,
				    "CPU %lld is not one targed may run on here (allowed: %s)", cpu, list);
		}
		cpus[i] = (unsigned)cpu;
	}
	free(ld->config->io_thread_cpus);
	ld->config->io_thread_cpus = cpus;
	ld->config->io_thread_cpu_count = n;
	return 0;
}

static int load_global(struct loader *ld, const config_setting_t *root)
{
	static const char *const global_keys[] = {
		"log_level",	 "control_socket", "io_threads", "io_thread_cpus",
		"buffer_memory", "discovery_auth", NULL,
	};
	const config_setting_t *g = config_setting_get_member(root, "global");
	if (!g)
		return 0;
	if (check_group(ld, g, "global", global_keys))
		return -1;
	const char *level = NULL;
	const config_setting_t *where = NULL;
	int rc = read_string(ld, g, "global", "log_level", false, &level, &where);
	if (rc < 0)
		return -1;
	if (rc > 0 && !tg_log_level_parse(level, &ld->config->log_level))
		return fail(ld, where, "global.log_level",
			    "invalid log level \"%s\" (expected error, warn, info or debug)", level);

	const char *socket_path = NULL;
	rc = read_string(ld, g, "global", "control_socket", false, &socket_path, &where);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(ld, where, "global.control_socket",
				    "too long for a UNIX socket path (at most %zu bytes)",
				    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		char *copy = strdup(socket_path);
		if (!copy)
			return fail_oom(ld, where, "global.control_socket");
		free(ld->config->control_socket);
		ld->config->control_socket = copy;
		ld->config->control_socket_set = true;
	}

	long long threads = 0;
	rc = read_int(ld, g, "global", "io_threads", false, 1, IO_THREADS_MAX, &threads, NULL);
	if (rc < 0)
		return -1;
	if (rc > 0)
		ld->config->io_threads = (unsigned)threads;

	if (read_io_thread_cpus(ld, g))
		return -1;

	rc = read_size(ld, g, "global", "buffer_memory", &ld->config->buffer_memory, &where);
	if (rc < 0)
		return -1;
	/* Below this one command of the largest size would not fit beside a few others. */
	if (rc > 0 && ld->config->buffer_memory < BUFFER_MEMORY_MIN)
		return fail(ld, where, "global.buffer_memory", "must be at least 16M (got %llu bytes)",
			    (unsigned long long)ld->config->buffer_memory);

	const config_setting_t *auth = config_setting_get_member(g, "discovery_auth");
	if (auth && load_chap(ld, auth, "global.discovery_auth", &ld->config->discovery_auth))
		return -1;
	return 0;
}

static int load_transports(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "iscsi", "iser", "srp", NULL };
	const config_setting_t *t = config_setting_get_member(root, "transports");
	if (!t)
		return 0;
	if (check_group(ld, t, "transports", keys))
		return -1;
	static const char *const rdma_keys[] = { "listen", NULL };
	/* Login timeout and session limit are iSCSI-layer settings: they cover iSER logins too. */
	static const char *const iscsi_keys[] = { "listen", "login_timeout", "max_sessions", NULL };
	if (load_listen(ld, t, "iscsi", iscsi_keys, DEFAULT_ISCSI_PORT, &ld->config->iscsi_listen) < 0 ||
	    load_listen(ld, t, "iser", rdma_keys, DEFAULT_ISCSI_PORT, &ld->config->iser_listen) < 0 ||
	    load_listen(ld, t, "srp", rdma_keys, 0, &ld->config->srp_listen) < 0)
		return -1;
	const config_setting_t *iscsi = config_setting_get_member(t, "iscsi");
	if (!iscsi)
		return 0;
	long long value;
	int rc = read_int(ld, iscsi, "transports.iscsi", "login_timeout", false, 0,
			  LOGIN_TIMEOUT_MAX, &value, NULL);
	if (rc < 0)
		return -1;
	if (rc > 0)
		ld->config->iscsi_login_timeout = (unsigned)value;
	rc = read_int(ld, iscsi, "transports.iscsi", "max_sessions", false, 0, MAX_SESSIONS_MAX,
		      &value, NULL);
	if (rc < 0)
		return -1;
	if (rc > 0)
		ld->config->max_sessions = (unsigned)value;
	return 0;
}

/* Returns the list setting, NULL when absent; *bad set on a wrong type. */
static const config_setting_t *get_list(struct loader *ld, const config_setting_t *parent,
					const char *key, const char *name, bool *bad)
{
	const config_setting_t *s = config_setting_get_member(parent, name);
	*bad = false;
	if (!s)
		return NULL;
	if (!config_setting_is_list(s)) {
		char child[KEY_MAX];
		join_key(child, key, name);
		fail_type(ld, s, child, "a list ( ... ) of groups");
		*bad = true;
		return NULL;
	}
	return s;
}

/*
 * get_list, and a zeroed array for the list's *count elements. NULL when the list is absent
 * (*bad false) or after an error was reported (*bad true).
 */
static void *get_list_array(struct loader *ld, const config_setting_t *parent, const char *key,
			    const char *name, size_t elem_size, const config_setting_t **list,
			    size_t *count, bool *bad)
{
	*list = get_list(ld, parent, key, name, bad);
	if (!*list)
		return NULL;
	*count = (size_t)config_setting_length(*list);
	void *array = calloc(*count ? *count : 1, elem_size);
	if (!array) {
		char child[KEY_MAX];
		join_key(child, key, name);
		fail_oom(ld, *list, child);
		*bad = true;
	}
	return array;
}

/* Reports the "name" of the list element s (at key) as taken by the element defined at first_line. */
static int fail_duplicate_name(struct loader *ld, const config_setting_t *s, const char *key,
			       const char *what, const char *name, int first_line)
{
	char child[KEY_MAX];
	join_key(child, key, "name");
	return fail(ld, config_setting_get_member(s, "name"), child,
		    "duplicate %s name \"%s\" (first defined at line %d)", what, name, first_line);
}

static bool name_in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static int load_protection(struct loader *ld, const config_setting_t *dev_setting,
			   const char *dev_key, struct cfg_device *dev)
{
	static const char *const keys[] = { "type", "pi_path", "host_guard", NULL };
	static const char *const pi_backends[] = { "file", "block", "thin", NULL };
	const config_setting_t *p = config_setting_get_member(dev_setting, "protection");
	if (!p)
		return 0;
	char key[KEY_MAX];
	join_key(key, dev_key, "protection");
	if (check_group(ld, p, key, keys))
		return -1;
	if (!name_in(dev->backend, pi_backends))
		return fail(ld, p, key,
			    "protection is not supported by backend \"%s\" (only file, block, thin)",
			    dev->backend);
	char type_key[KEY_MAX];
	join_key(type_key, key, "type");
	const config_setting_t *type = config_setting_get_member(p, "type");
	if (!type)
		return fail(ld, p, type_key, "missing required key");
	if (!is_integer(type))
		return fail_type(ld, type, type_key, "an integer");
	long long value = config_setting_get_int64(type);
	if (int_literal_truncated(ld, type) || value < 1 || value > 3)
		return fail(ld, type, type_key, "protection type must be 1, 2 or 3, got %lld", value);
	dev->protection_type = (int)value;
	if (read_string_copy(ld, p, key, "pi_path", false, &dev->pi_path) < 0)
		return -1;
	const char *guard = NULL;
	const config_setting_t *where = NULL;
	int rc = read_string(ld, p, key, "host_guard", false, &guard, &where);
	if (rc <= 0)
		return rc;
	char guard_key[KEY_MAX];
	join_key(guard_key, key, "host_guard");
	const struct tg_pi_profile *profile = tg_pi_profile_find(guard);
	if (!profile)
		return fail(ld, where, guard_key, "unknown PI profile \"%s\" (t10dif-crc16 or ip-checksum)",
			    guard);
	dev->pi_host_guard = strdup(profile->name);
	return dev->pi_host_guard ? 0 : fail_oom(ld, where, guard_key);
}

static int load_device(struct loader *ld, const config_setting_t *s, const char *key,
		       struct cfg_device *dev)
{
	static const char *const keys[] = {
		"name", "backend", "path", "size", "block_size", "direct", "read_only",
		"removable", "chunk_size", "serial", "protection", NULL,
	};
	if (check_group(ld, s, key, keys))
		return -1;
	dev->line = (int)config_setting_source_line(s);
	const config_setting_t *where = NULL;
	char child[KEY_MAX];
	if (read_string_copy(ld, s, key, "name", true, &dev->name) < 0)
		return -1;
	join_key(child, key, "name");
	where = config_setting_get_member(s, "name");
	if (strlen(dev->name) > DEVICE_NAME_MAX)
		return fail(ld, where, child, "device name longer than %u bytes", DEVICE_NAME_MAX);
	if (strspn(dev->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") !=
	    strlen(dev->name))
		return fail(ld, where, child,
			    "device name \"%s\" may only hold letters, digits, '_', '.', ':' and '-'",
			    dev->name);

	if (read_string_copy(ld, s, key, "backend", true, &dev->backend) < 0)
		return -1;
	if (!name_in(dev->backend, known_backends)) {
		join_key(child, key, "backend");
		return fail(ld, config_setting_get_member(s, "backend"), child,
			    "unknown backend \"%s\" (known: file, block, thin, passthrough, tape, cdrom)",
			    dev->backend);
	}
	if (read_string_copy(ld, s, key, "path", true, &dev->path) < 0)
		return -1;

	const config_setting_t *size_where = NULL;
	int rc = read_size(ld, s, key, "size", &dev->size, &size_where);
	if (rc < 0)
		return -1;
	if (rc > 0 && strcmp(dev->backend, "passthrough") == 0) {
		join_key(child, key, "size");
		return fail(ld, size_where, child,
			    "size is not supported by backend \"passthrough\" (the device decides)");
	}
	long long block_size = 0;
	rc = read_int(ld, s, key, "block_size", false, 0, UINT32_MAX, &block_size, &where);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (block_size != 512 && block_size != 1024 && block_size != 2048 &&
		    block_size != 4096) {
			join_key(child, key, "block_size");
			return fail(ld, where, child,
				    "block_size must be 512, 1024, 2048 or 4096, got %lld", block_size);
		}
		dev->block_size = (uint32_t)block_size;
	}
	/* Tapes hold variable-length records, so their capacity need not be whole blocks. */
	uint32_t unit = dev->block_size ? dev->block_size : SMALLEST_BLOCK_SIZE;
	if (dev->size && dev->size % unit && strcmp(dev->backend, "tape") != 0) {
		join_key(child, key, "size");
		return fail(ld, size_where, child,
			    "size %llu is not a multiple of the block size %u",
			    (unsigned long long)dev->size, unit);
	}
	rc = read_bool(ld, s, key, "direct", &dev->direct);
	if (rc < 0)
		return -1;
	dev->direct_set = rc > 0;
	if (read_bool(ld, s, key, "read_only", &dev->read_only) < 0)
		return -1;
	rc = read_bool(ld, s, key, "removable", &dev->removable);
	if (rc < 0)
		return -1;
	if (rc > 0 && dev->removable && !name_in(dev->backend, disk_backends)) {
		join_key(child, key, "removable");
		return fail(ld, config_setting_get_member(s, "removable"), child,
			    "removable is only valid for disk backends (file, block, thin)");
	}

	rc = read_size(ld, s, key, "chunk_size", &dev->chunk_size, &where);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		join_key(child, key, "chunk_size");
		if (strcmp(dev->backend, "thin") != 0)
			return fail(ld, where, child,
				    "chunk_size is only valid for backend \"thin\"");
		if (dev->chunk_size % unit)
			return fail(ld, where, child,
				    "chunk_size %llu is not a multiple of the block size %u",
				    (unsigned long long)dev->chunk_size, unit);
	}

	const char *serial = NULL;
	rc = read_string(ld, s, key, "serial", false, &serial, &where);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		join_key(child, key, "serial");
		if (strlen(serial) > SERIAL_MAX)
			return fail(ld, where, child, "serial longer than %u bytes", SERIAL_MAX);
		for (const char *p = serial; *p; p++)
			if (*p < 0x21 || *p > 0x7e)
				return fail(ld, where, child,
					    "serial may only hold printable ASCII without spaces");
		dev->serial = strdup(serial);
		if (!dev->serial)
			return fail_oom(ld, where, child);
	}
	return load_protection(ld, s, key, dev);
}

static int load_devices(struct loader *ld, const config_setting_t *root)
{
	struct tg_config *c = ld->config;
	const config_setting_t *list;
	size_t n;
	bool bad;
	c->devices = get_list_array(ld, root, "", "devices", sizeof(*c->devices), &list, &n, &bad);
	if (!c->devices)
		return bad ? -1 : 0;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		char key[KEY_MAX];
		join_index(key, "devices", (int)i);
		c->device_count = i + 1;
		struct cfg_device *dev = &c->devices[i];
		if (load_device(ld, s, key, dev))
			return -1;
		for (size_t j = 0; j < i; j++) {
			char child[KEY_MAX];
			if (strcmp(c->devices[j].name, dev->name) == 0)
				return fail_duplicate_name(ld, s, key, "device", dev->name,
							   c->devices[j].line);
			if (strcmp(c->devices[j].path, dev->path) == 0) {
				join_key(child, key, "path");
				return fail(ld, config_setting_get_member(s, "path"), child,
					    "path \"%s\" is already used by device \"%s\"", dev->path,
					    c->devices[j].name);
			}
		}
	}
	return 0;
}

static int load_groups(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "name", "initiators", NULL };
	struct tg_config *c = ld->config;
	const config_setting_t *list;
	size_t n;
	bool bad;
	c->groups = get_list_array(ld, root, "", "initiator_groups", sizeof(*c->groups), &list, &n, &bad);
	if (!c->groups)
		return bad ? -1 : 0;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		char key[KEY_MAX];
		join_index(key, "initiator_groups", (int)i);
		c->group_count = i + 1;
		struct cfg_group *group = &c->groups[i];
		if (check_group(ld, s, key, keys))
			return -1;
		group->line = (int)config_setting_source_line(s);
		if (read_string_copy(ld, s, key, "name", true, &group->name) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->groups[j].name, group->name) == 0)
				return fail_duplicate_name(ld, s, key, "group", group->name,
							   c->groups[j].line);
		if (read_string_array(ld, s, key, "initiators", true, check_initiator,
				      &group->initiators, &group->initiator_count, NULL) < 0)
			return -1;
	}
	return 0;
}

static int load_luns(struct loader *ld, const config_setting_t *parent, const char *parent_key,
		     bool required, struct cfg_lun_list *out)
{
	static const char *const keys[] = { "lun", "device", "read_only", NULL };
	char key[KEY_MAX];
	join_key(key, parent_key, "luns");
	const config_setting_t *list = config_setting_get_member(parent, "luns");
	if (!list)
		return required ? fail(ld, parent, key, "missing required key") : 0;
	if (!config_setting_is_list(list))
		return fail_type(ld, list, key, "a list ( ... ) of groups");
	size_t n = (size_t)config_setting_length(list);
	out->items = calloc(n ? n : 1, sizeof(*out->items));
	if (!out->items)
		return fail_oom(ld, list, key);
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		char lun_key[KEY_MAX], child[KEY_MAX];
		join_index(lun_key, key, (int)i);
		out->count = i + 1;
		struct cfg_lun *lun = &out->items[i];
		if (check_group(ld, s, lun_key, keys))
			return -1;
		lun->line = (int)config_setting_source_line(s);
		long long number = 0;
		const config_setting_t *lun_where = NULL;
		join_key(child, lun_key, "lun");
		lun_where = config_setting_get_member(s, "lun");
		if (!lun_where)
			return fail(ld, s, child, "missing required key");
		if (!is_integer(lun_where))
			return fail_type(ld, lun_where, child, "an integer");
		number = config_setting_get_int64(lun_where);
		if (int_literal_truncated(ld, lun_where) || number < 0 || number > MAX_LUN)
			return fail(ld, lun_where, child, "LUN %lld out of range 0..%u", number,
				    MAX_LUN);
		lun->lun = (uint64_t)number;
		for (size_t j = 0; j < i; j++)
			if (out->items[j].lun == lun->lun)
				return fail(ld, lun_where, child,
					    "duplicate LUN %lld (first mapped at line %d)", number,
					    out->items[j].line);
		if (read_string_copy(ld, s, lun_key, "device", true, &lun->device) < 0)
			return -1;
		if (!tg_config_find_device(ld->config, lun->device)) {
			join_key(child, lun_key, "device");
			return fail(ld, config_setting_get_member(s, "device"), child,
				    "unknown device \"%s\"", lun->device);
		}
		if (read_bool(ld, s, lun_key, "read_only", &lun->read_only) < 0)
			return -1;
	}
	return 0;
}

static int load_access(struct loader *ld, const config_setting_t *s, const char *key,
		       struct cfg_access *rule)
{
	static const char *const keys[] = { "group", "initiators", "luns", NULL };
	if (check_group(ld, s, key, keys))
		return -1;
	rule->line = (int)config_setting_source_line(s);
	bool has_group = config_setting_get_member(s, "group") != NULL;
	bool has_initiators = config_setting_get_member(s, "initiators") != NULL;
	if (has_group && has_initiators)
		return fail(ld, s, key, "give either group or initiators, not both");
	if (!has_group && !has_initiators)
		return fail(ld, s, key, "an access rule needs either group or initiators");
	if (has_group) {
		if (read_string_copy(ld, s, key, "group", true, &rule->group) < 0)
			return -1;
		bool found = false;
		for (size_t i = 0; i < ld->config->group_count && !found; i++)
			found = strcmp(ld->config->groups[i].name, rule->group) == 0;
		if (!found) {
			char child[KEY_MAX];
			join_key(child, key, "group");
			return fail(ld, config_setting_get_member(s, "group"), child,
				    "unknown initiator group \"%s\"", rule->group);
		}
	} else {
		const config_setting_t *where = NULL;
		if (read_string_array(ld, s, key, "initiators", true, check_initiator,
				      &rule->initiators, &rule->initiator_count, &where) < 0)
			return -1;
		if (rule->initiator_count == 0) {
			char child[KEY_MAX];
			join_key(child, key, "initiators");
			return fail(ld, where, child, "initiators must name at least one initiator");
		}
	}
	return load_luns(ld, s, key, true, &rule->luns);
}

static int load_target(struct loader *ld, const config_setting_t *s, const char *key,
		       struct cfg_target *target)
{
	static const char *const keys[] = {
		"name", "transports", "chap", "luns", "access", "srp_port_id", NULL,
	};
	if (check_group(ld, s, key, keys))
		return -1;
	target->line = (int)config_setting_source_line(s);
	char child[KEY_MAX];
	if (read_string_copy(ld, s, key, "name", true, &target->name) < 0)
		return -1;
	const char *problem = iscsi_name_problem(target->name);
	if (problem) {
		join_key(child, key, "name");
		return fail(ld, config_setting_get_member(s, "name"), child,
			    "invalid iSCSI target name \"%s\": %s", target->name, problem);
	}
	lowercase(target->name);

	char **names = NULL;
	size_t count = 0;
	const config_setting_t *where = NULL;
	int rc = read_string_array(ld, s, key, "transports", false, check_transport_name, &names,
				   &count, &where);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		target->transports = TG_TRANSPORT_ISCSI;
	} else {
		for (size_t i = 0; i < count; i++) {
			if (strcmp(names[i], "iscsi") == 0)
				target->transports |= TG_TRANSPORT_ISCSI;
			else if (strcmp(names[i], "iser") == 0)
				target->transports |= TG_TRANSPORT_ISER;
			else
				target->transports |= TG_TRANSPORT_SRP;
		}
		free_strings(names, count);
		if (count == 0) {
			join_key(child, key, "transports");
			return fail(ld, where, child, "transports must name at least one transport");
		}
	}

	const config_setting_t *chap = config_setting_get_member(s, "chap");
	if (chap) {
		join_key(child, key, "chap");
		if (load_chap(ld, chap, child, &target->chap))
			return -1;
	}

	if (load_luns(ld, s, key, false, &target->luns))
		return -1;

	const config_setting_t *access;
	size_t n;
	bool bad;
	target->access = get_list_array(ld, s, key, "access", sizeof(*target->access), &access, &n,
					&bad);
	if (bad)
		return -1;
	if (target->access) {
		join_key(child, key, "access");
		for (size_t i = 0; i < n; i++) {
			char rule_key[KEY_MAX];
			join_index(rule_key, child, (int)i);
			target->access_count = i + 1;
			if (load_access(ld, config_setting_get_elem(access, (unsigned)i), rule_key,
					&target->access[i]))
				return -1;
		}
	}

	rc = read_string_copy(ld, s, key, "srp_port_id", false, &target->srp_port_id);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		join_key(child, key, "srp_port_id");
		where = config_setting_get_member(s, "srp_port_id");
		if (!is_srp_id(target->srp_port_id))
			return fail(ld, where, child,
				    "SRP port id \"%s\" must be 0x followed by 32 hex digits",
				    target->srp_port_id);
		if (!(target->transports & TG_TRANSPORT_SRP))
			return fail(ld, where, child,
				    "srp_port_id given but transports does not include \"srp\"");
		lowercase(target->srp_port_id);
	}
	return 0;
}

static int load_targets(struct loader *ld, const config_setting_t *root)
{
	struct tg_config *c = ld->config;
	const config_setting_t *list;
	size_t n;
	bool bad;
	c->targets = get_list_array(ld, root, "", "targets", sizeof(*c->targets), &list, &n, &bad);
	if (!c->targets)
		return bad ? -1 : 0;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		char key[KEY_MAX], child[KEY_MAX];
		join_index(key, "targets", (int)i);
		c->target_count = i + 1;
		struct cfg_target *target = &c->targets[i];
		if (load_target(ld, s, key, target))
			return -1;
		for (size_t j = 0; j < i; j++) {
			const struct cfg_target *other = &c->targets[j];
			if (strcmp(other->name, target->name) == 0)
				return fail_duplicate_name(ld, s, key, "target", target->name,
							   other->line);
			if (target->srp_port_id && other->srp_port_id &&
			    strcmp(other->srp_port_id, target->srp_port_id) == 0) {
				join_key(child, key, "srp_port_id");
				return fail(ld, config_setting_get_member(s, "srp_port_id"), child,
					    "SRP port id already used by target \"%s\"", other->name);
			}
		}
	}
	return 0;
}

static int load_root(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = {
		"global", "transports", "devices", "initiator_groups", "targets", NULL,
	};
	if (check_group(ld, root, "", keys))
		return -1;
	/* Order matters: LUNs refer to devices and access rules to groups. */
	if (load_global(ld, root) || load_transports(ld, root) || load_devices(ld, root) ||
	    load_groups(ld, root) || load_targets(ld, root))
		return -1;
	return 0;
}

int tg_config_load(const char *path, struct tg_config **out, char *err, size_t errlen)
{
	struct loader ld = { .path = path, .err = err, .errlen = errlen };
	if (err && errlen)
		err[0] = '\0';

	/* libconfig only says "file I/O error"; errno from our own open says why. */
	FILE *probe = fopen(path, "r");
	if (!probe) {
		int saved = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s:0: (file): cannot read: %s", path, strerror(saved));
		return -1;
	}
	fclose(probe);

	ld.config = calloc(1, sizeof(*ld.config));
	char *path_copy = strdup(path);
	char *dir_copy = strdup(path);
	if (!ld.config || !path_copy || !dir_copy) {
		free(ld.config);
		free(path_copy);
		free(dir_copy);
		if (err && errlen)
			snprintf(err, errlen, "%s:0: (file): out of memory", path);
		return -1;
	}
	ld.config->path = path_copy;
	ld.config->log_level = TG_LOG_INFO;
	ld.config->io_threads = 1;
	ld.config->iscsi_login_timeout = DEFAULT_LOGIN_TIMEOUT;
	ld.config->control_socket = strdup("var/targed.sock");

	config_t lc;
	config_init(&lc);
	ld.include_dir = dirname(dir_copy);
	config_set_include_dir(&lc, ld.include_dir);
	int rc = 0;
	if (!ld.config->control_socket) {
		rc = fail(&ld, NULL, "(file)", "out of memory");
	} else if (!config_read_file(&lc, path)) {
		char file_buf[4096];
		if (err && errlen)
			snprintf(err, errlen, "%s:%d: (syntax): %s",
				 source_name(&ld, config_error_file(&lc), file_buf, sizeof(file_buf)),
				 config_error_line(&lc), config_error_text(&lc));
		rc = -1;
	} else {
		rc = load_root(&ld, config_root_setting(&lc));
	}
	config_destroy(&lc);
	free(dir_copy);
	if (rc) {
		tg_config_free(ld.config);
		return -1;
	}
	*out = ld.config;
	return 0;
}

static void free_luns(struct cfg_lun_list *luns)
{
	for (size_t i = 0; i < luns->count; i++)
		free(luns->items[i].device);
	free(luns->items);
}

static void free_chap(struct cfg_chap *chap)
{
	free(chap->user);
	free(chap->secret);
	free(chap->mutual_user);
	free(chap->mutual_secret);
}

void tg_config_free(struct tg_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->device_count; i++) {
		struct cfg_device *dev = &config->devices[i];
		free(dev->name);
		free(dev->backend);
		free(dev->path);
		free(dev->pi_path);
		free(dev->pi_host_guard);
		free(dev->serial);
	}
	free(config->devices);
	for (size_t i = 0; i < config->group_count; i++) {
		free(config->groups[i].name);
		free_strings(config->groups[i].initiators, config->groups[i].initiator_count);
	}
	free(config->groups);
	for (size_t i = 0; i < config->target_count; i++) {
		struct cfg_target *target = &config->targets[i];
		free(target->name);
		free_chap(&target->chap);
		free_luns(&target->luns);
		for (size_t j = 0; j < target->access_count; j++) {
			free(target->access[j].group);
			free_strings(target->access[j].initiators, target->access[j].initiator_count);
			free_luns(&target->access[j].luns);
		}
		free(target->access);
		free(target->srp_port_id);
	}
	free(config->targets);
	free_chap(&config->discovery_auth);
	free(config->iscsi_listen.items);
	free(config->iser_listen.items);
	free(config->srp_listen.items);
	free(config->control_socket);
	free(config->io_thread_cpus);
	free(config->path);
	free(config);
}

const struct cfg_device *tg_config_find_device(const struct tg_config *config, const char *name)
{
	for (size_t i = 0; i < config->device_count; i++)
		if (config->devices[i].name && strcmp(config->devices[i].name, name) == 0)
			return &config->devices[i];
	return NULL;
}
