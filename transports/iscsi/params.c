/* The key=value text codec and the target side of login/text negotiation (RFC 7143 6, 13). */
#include "transports/iscsi/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7143 13 ranges shared by several keys. */
#define DSL_MIN 512u
#define DSL_MAX 0xffffffu          /* 2**24 - 1 */
#define TIME2_MAX 3600u
#define COUNT16_MAX 65535u
#define ERL_MAX 2u
#define PROTOCOL_LEVEL_MAX 31u

/* What we bring to keys the limits do not configure. Time2Wait/Time2Retain are the RFC
 * defaults; in-order data keeps the datamover simple, and with OR the initiator cannot
 * talk us out of it. */
#define OUR_TIME2WAIT 2u
#define OUR_TIME2RETAIN 20u
/* RFC 7144: RFC 7143 is iSCSIProtocolLevel 1, what we implement. */
#define OUR_PROTOCOL_LEVEL 1u

/* ---- text buffer ---- */

void iscsi_text_buf_free(struct iscsi_text_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

static bool text_reserve(struct iscsi_text_buf *buf, size_t need)
{
	if (buf->cap - buf->len >= need)
		return true;
	size_t cap = buf->cap ? buf->cap : 256;
	while (cap - buf->len < need)
		cap *= 2;
	if (cap > ISCSI_TEXT_BUF_MAX)
		cap = ISCSI_TEXT_BUF_MAX;
	uint8_t *data = realloc(buf->data, cap);
	if (data == NULL)
		return false;
	buf->data = data;
	buf->cap = cap;
	return true;
}

void iscsi_text_add(struct iscsi_text_buf *buf, const char *key, const char *value)
{
	if (buf->overflow)
		return;
	size_t klen = strlen(key), vlen = strlen(value);
	size_t need = klen + 1 + vlen + 1;
	/* All or nothing: a half-written pair would be read back as a different key. */
	if (buf->len > ISCSI_TEXT_BUF_MAX || need > ISCSI_TEXT_BUF_MAX - buf->len ||
	    !text_reserve(buf, need)) {
		buf->overflow = true;
		return;
	}
	uint8_t *p = buf->data + buf->len;
	memcpy(p, key, klen);
	p[klen] = '=';
	memcpy(p + klen + 1, value, vlen);
	p[klen + 1 + vlen] = '\0';
	buf->len += need;
}

void iscsi_text_add_u32(struct iscsi_text_buf *buf, const char *key, uint32_t value)
{
	char text[16];
	snprintf(text, sizeof(text), "%u", value);
	iscsi_text_add(buf, key, text);
}

int iscsi_text_foreach(const uint8_t *data, size_t len,
		       int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	char key[ISCSI_KEY_MAX + 1];
	char value[ISCSI_VALUE_MAX + 1];
	size_t pos = 0;
	while (pos < len) {
		const uint8_t *pair = data + pos;
		const uint8_t *nul = memchr(pair, '\0', len - pos);
		size_t pair_len = nul ? (size_t)(nul - pair) : len - pos;
		pos += pair_len + (nul ? 1 : 0);
		/* Stray NULs (e.g. padding counted into the segment length) carry no pair;
		 * skipping them costs nothing and refusing them would gain nothing. */
		if (pair_len == 0)
			continue;
		const uint8_t *eq = memchr(pair, '=', pair_len);
		if (eq == NULL)
			return -1;
		size_t klen = (size_t)(eq - pair), vlen = pair_len - klen - 1;
		if (klen == 0 || klen > ISCSI_KEY_MAX || vlen > ISCSI_VALUE_MAX)
			return -1;
		memcpy(key, pair, klen);
		key[klen] = '\0';
		memcpy(value, eq + 1, vlen);
		value[vlen] = '\0';
		int rc = fn(arg, key, value);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- value syntax (RFC 7143 6.1) ---- */

/* numerical-value: a decimal-constant or a hex-constant ("0x"/"0X" and hex digits), below
 * 2**64. Nothing else may precede or follow (no sign, no blanks). */
static bool parse_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		if (*s == '\0')
			return false;
		for (; *s; s++) {
			unsigned digit;
			if (*s >= '0' && *s <= '9')
				digit = (unsigned)(*s - '0');
			else if (*s >= 'a' && *s <= 'f')
				digit = (unsigned)(*s - 'a' + 10);
			else if (*s >= 'A' && *s <= 'F')
				digit = (unsigned)(*s - 'A' + 10);
			else
				return false;
			if (v >> 60)
				return false;
			v = v << 4 | digit;
		}
	} else {
		if (*s == '\0')
			return false;
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return false;
			unsigned digit = (unsigned)(*s - '0');
			if (v > (UINT64_MAX - digit) / 10)
				return false;
			v = v * 10 + digit;
		}
	}
	*out = v;
	return true;
}

static bool parse_number_in(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	return parse_number(s, out) && *out >= lo && *out <= hi;
}

/* boolean-value is exactly "Yes" or "No" (values are case sensitive, 6.1). */
static bool parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "Yes") == 0)
		*out = true;
	else if (strcmp(s, "No") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* The first value of an initiator's list that is in `ours` (NULL-terminated), honouring
 * the initiator's order of preference as list negotiation requires (6.2.1). */
static const char *list_pick(const char *list, const char *const *ours)
{
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		for (const char *const *o = ours; *o; o++)
			if (strlen(*o) == len && memcmp(p, *o, len) == 0)
				return *o;
		if (comma == NULL)
			return NULL;
		p = comma + 1;
	}
}

/* ---- login keys ---- */

static int copy_bounded(char *dst, size_t cap, const char *value, bool allow_empty)
{
	size_t len = strlen(value);
	if (len >= cap || (len == 0 && !allow_empty))
		return -1;
	memcpy(dst, value, len + 1);
	return 0;
}

static int login_key(void *arg, const char *key, const char *value)
{
	struct iscsi_login_keys *keys = arg;
	if (strcmp(key, "InitiatorName") == 0) {
		if (copy_bounded(keys->initiator_name, sizeof(keys->initiator_name), value, false))
			return -1;
		keys->have_initiator_name = true;
	} else if (strcmp(key, "TargetName") == 0) {
		if (copy_bounded(keys->target_name, sizeof(keys->target_name), value, false))
			return -1;
		keys->have_target_name = true;
	} else if (strcmp(key, "InitiatorAlias") == 0) {
		if (copy_bounded(keys->initiator_alias, sizeof(keys->initiator_alias), value, true))
			return -1;
	} else if (strcmp(key, "SessionType") == 0) {
		if (strcmp(value, "Normal") == 0)
			keys->session_type = ISCSI_SESSION_NORMAL;
		else if (strcmp(value, "Discovery") == 0)
			keys->session_type = ISCSI_SESSION_DISCOVERY;
		else
			return -1;
		keys->have_session_type = true;
	}
	return 0;
}

/* Keys absent from this segment leave `out` as it was, so a login that spreads its
 * declarations over several PDUs accumulates them in one struct (zero it at the start). */
int iscsi_login_keys_parse(const uint8_t *data, size_t len, struct iscsi_login_keys *out)
{
	return iscsi_text_foreach(data, len, login_key, out) == 0 ? 0 : -1;
}

/* ---- negotiation ---- */

void iscsi_target_limits_default(struct iscsi_target_limits *limits)
{
	memset(limits, 0, sizeof(*limits));
	limits->max_recv_dsl = 262144;
	limits->max_burst_length = 1u << 20;
	limits->first_burst_length = 65536;
	limits->max_outstanding_r2t = 16;
	limits->max_connections = 1;
	limits->error_recovery_level = 0;
	limits->allow_header_digest = true;
	limits->allow_data_digest = true;
	limits->want_initial_r2t = false;
	limits->allow_immediate_data = true;
	limits->rdma = false;
}

/* The defaults of RFC 7143 13 (and RFC 7145 6 for the iSER keys): what is in force for
 * every key the login does not mention. */
static void params_default(struct iscsi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_xmit_dsl = 8192;
	p->max_recv_dsl = 8192;
	p->max_burst_length = 262144;
	p->first_burst_length = 65536;
	p->max_outstanding_r2t = 1;
	p->max_connections = 1;
	p->default_time2wait = 2;
	p->default_time2retain = 20;
	p->error_recovery_level = 0;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->data_pdu_in_order = true;
	p->data_sequence_in_order = true;
	p->header_digest = false;
	p->data_digest = false;
	p->rdma_extensions = false;
	p->initiator_recv_dsl = 8192;
	p->target_recv_dsl = 8192;
	p->max_outstanding_unexpected_pdus = 0;
}

void iscsi_negotiation_init(struct iscsi_negotiation *neg, const struct iscsi_target_limits *limits,
			    enum iscsi_session_type type)
{
	memset(neg, 0, sizeof(*neg));
	if (limits != NULL)
		neg->limits = *limits;
	else
		iscsi_target_limits_default(&neg->limits);
	neg->session_type = type;
	neg->auth = ISCSI_AUTH_NONE;
	params_default(&neg->params);
}

enum key_id {
	K_HEADER_DIGEST,
	K_DATA_DIGEST,
	K_MAX_CONNECTIONS,
	K_INITIAL_R2T,
	K_IMMEDIATE_DATA,
	K_MAX_RECV_DSL,
	K_MAX_BURST_LENGTH,
	K_FIRST_BURST_LENGTH,
	K_DEFAULT_TIME2WAIT,
	K_DEFAULT_TIME2RETAIN,
	K_MAX_OUTSTANDING_R2T,
	K_DATA_PDU_IN_ORDER,
	K_DATA_SEQUENCE_IN_ORDER,
	K_ERROR_RECOVERY_LEVEL,
	K_OF_MARKER,
	K_IF_MARKER,
	K_OF_MARK_INT,
	K_IF_MARK_INT,
	K_TASK_REPORTING,
	K_PROTOCOL_LEVEL,
	K_RDMA_EXTENSIONS,
	K_INITIATOR_RECV_DSL,
	K_TARGET_RECV_DSL,
	K_MAX_OUTSTANDING_UNEXPECTED,
	K_AUTH_METHOD,
	K_TARGET_ALIAS,
	K_TARGET_ADDRESS,
	K_TARGET_PORTAL_GROUP_TAG,
	/* accepted without an answer, never counted as repeats (see key_table) */
	K_INITIATOR_NAME,
	K_INITIATOR_ALIAS,
	K_TARGET_NAME,
	K_SESSION_TYPE,
	K_SEND_TARGETS,
	K_COUNT
};

/* Bit of `answered` recording that we declared TargetRecvDataSegmentLength; the struct
 * has no field of its own for it and key bits stay below K_COUNT. */
#define DECLARED_TARGET_RECV_DSL_BIT 63
_Static_assert(K_COUNT < DECLARED_TARGET_RECV_DSL_BIT, "key bits overlap the declaration bit");

enum key_flag {
	/* RFC 7143 13.x "Irrelevant when: SessionType=Discovery" (and RFC 7145 6.1). */
	KF_DISCOVERY_IRRELEVANT = 1 << 0,
	/* 6.1: a key negotiated or declared twice in one negotiation is an initiator error. */
	KF_ONCE = 1 << 1,
	/* Answered in a first pass, because other keys of the same request depend on the
	 * result: FirstBurstLength is bounded by MaxBurstLength, the iSER keys need
	 * RDMAExtensions=Yes. */
	KF_EARLY = 1 << 2,
};

struct key_def {
	const char *name;
	enum key_id id;
	unsigned flags;
};

static const struct key_def key_table[] = {
	{ "HeaderDigest", K_HEADER_DIGEST, KF_ONCE },
	{ "DataDigest", K_DATA_DIGEST, KF_ONCE },
	{ "MaxConnections", K_MAX_CONNECTIONS, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "InitialR2T", K_INITIAL_R2T, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "ImmediateData", K_IMMEDIATE_DATA, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "MaxRecvDataSegmentLength", K_MAX_RECV_DSL, KF_ONCE },
	{ "MaxBurstLength", K_MAX_BURST_LENGTH, KF_ONCE | KF_DISCOVERY_IRRELEVANT | KF_EARLY },
	{ "FirstBurstLength", K_FIRST_BURST_LENGTH, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "DefaultTime2Wait", K_DEFAULT_TIME2WAIT, KF_ONCE },
	{ "DefaultTime2Retain", K_DEFAULT_TIME2RETAIN, KF_ONCE },
	{ "MaxOutstandingR2T", K_MAX_OUTSTANDING_R2T, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "DataPDUInOrder", K_DATA_PDU_IN_ORDER, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "DataSequenceInOrder", K_DATA_SEQUENCE_IN_ORDER, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "ErrorRecoveryLevel", K_ERROR_RECOVERY_LEVEL, KF_ONCE },
	{ "OFMarker", K_OF_MARKER, KF_ONCE },
	{ "IFMarker", K_IF_MARKER, KF_ONCE },
	{ "OFMarkInt", K_OF_MARK_INT, KF_ONCE },
	{ "IFMarkInt", K_IF_MARK_INT, KF_ONCE },
	{ "TaskReporting", K_TASK_REPORTING, KF_ONCE | KF_DISCOVERY_IRRELEVANT },
	{ "iSCSIProtocolLevel", K_PROTOCOL_LEVEL, KF_ONCE },
	{ "RDMAExtensions", K_RDMA_EXTENSIONS, KF_ONCE | KF_DISCOVERY_IRRELEVANT | KF_EARLY },
	{ "InitiatorRecvDataSegmentLength", K_INITIATOR_RECV_DSL, KF_ONCE },
	{ "TargetRecvDataSegmentLength", K_TARGET_RECV_DSL, KF_ONCE },
	{ "MaxOutstandingUnexpectedPDUs", K_MAX_OUTSTANDING_UNEXPECTED, KF_ONCE },
	{ "AuthMethod", K_AUTH_METHOD, KF_ONCE },
	{ "TargetAlias", K_TARGET_ALIAS, KF_ONCE },
	{ "TargetAddress", K_TARGET_ADDRESS, 0 },
	{ "TargetPortalGroupTag", K_TARGET_PORTAL_GROUP_TAG, KF_ONCE },
	/* The identity keys are parsed by iscsi_login_keys_parse; the login layer checks
	 * them. They are not repeat-checked here because initiators in the field (older
	 * libiscsi) send InitiatorName again in the operational stage. */
	{ "InitiatorName", K_INITIATOR_NAME, 0 },
	{ "InitiatorAlias", K_INITIATOR_ALIAS, 0 },
	{ "TargetName", K_TARGET_NAME, 0 },
	{ "SessionType", K_SESSION_TYPE, 0 },
	/* Answered by the Text request handler, which owns the target list. */
	{ "SendTargets", K_SEND_TARGETS, 0 },
};

static const struct key_def *key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(key_table) / sizeof(key_table[0]); i++)
		if (strcmp(key_table[i].name, name) == 0)
			return &key_table[i];
	return NULL;
}

struct negotiate_ctx {
	struct iscsi_negotiation *neg;
	struct iscsi_text_buf *resp;
	bool security_stage;
	enum { PASS_CHECK, PASS_EARLY, PASS_REST } pass;
	bool auth_failure;
	char *err;
	size_t errlen;
};

static int fail(struct negotiate_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct negotiate_ctx *ctx, const char *fmt, ...)
{
	if (ctx->err != NULL && ctx->errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ctx->err, ctx->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void answer(struct negotiate_ctx *ctx, const char *key, const char *value)
{
	iscsi_text_add(ctx->resp, key, value);
}

static uint32_t clamp_u32(uint64_t v, uint64_t lo, uint64_t hi)
{
	return (uint32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Result functions Minimum and, with use_max, Maximum (6.2.2): an out-of-range offer is
 * answered Reject and changes nothing. `ours` is kept inside the key's range so a bad limit
 * cannot produce an inadmissible answer. */
static void negotiate_number(struct negotiate_ctx *ctx, const char *key, const char *value,
			     uint32_t lo, uint32_t hi, uint32_t ours, bool use_max,
			     uint32_t *result)
{
	uint64_t offered;
	if (!parse_number_in(value, lo, hi, &offered)) {
		answer(ctx, key, "Reject");
		return;
	}
	ours = clamp_u32(ours, lo, hi);
	bool take_offered = use_max ? offered > ours : offered < ours;
	*result = take_offered ? (uint32_t)offered : ours;
	iscsi_text_add_u32(ctx->resp, key, *result);
}

static void negotiate_min(struct negotiate_ctx *ctx, const char *key, const char *value,
			  uint32_t lo, uint32_t hi, uint32_t ours, uint32_t *result)
{
	negotiate_number(ctx, key, value, lo, hi, ours, false, result);
}

static void negotiate_max(struct negotiate_ctx *ctx, const char *key, const char *value,
			  uint32_t lo, uint32_t hi, uint32_t ours, uint32_t *result)
{
	negotiate_number(ctx, key, value, lo, hi, ours, true, result);
}

/* Boolean keys with result function OR (use_or) or AND. */
static void negotiate_bool(struct negotiate_ctx *ctx, const char *key, const char *value,
			   bool use_or, bool ours, bool *result)
{
	bool offered;
	if (!parse_bool(value, &offered)) {
		answer(ctx, key, "Reject");
		return;
	}
	*result = use_or ? (offered || ours) : (offered && ours);
	answer(ctx, key, *result ? "Yes" : "No");
}

static void negotiate_digest(struct negotiate_ctx *ctx, const char *key, const char *value,
			     bool allow_crc32c, bool *result)
{
	static const char *const with_crc[] = { "CRC32C", "None", NULL };
	static const char *const without_crc[] = { "None", NULL };
	const char *pick = list_pick(value, allow_crc32c ? with_crc : without_crc);
	if (pick == NULL) {
		answer(ctx, key, "Reject");
		return;
	}
	*result = strcmp(pick, "CRC32C") == 0;
	answer(ctx, key, pick);
}

static void declare_max_recv_dsl(struct negotiate_ctx *ctx)
{
	struct iscsi_negotiation *neg = ctx->neg;
	if (neg->declared_max_recv_dsl)
		return;
	neg->params.max_recv_dsl = clamp_u32(neg->limits.max_recv_dsl, DSL_MIN, DSL_MAX);
	iscsi_text_add_u32(ctx->resp, "MaxRecvDataSegmentLength", neg->params.max_recv_dsl);
	neg->declared_max_recv_dsl = true;
}

static void declare_target_recv_dsl(struct iscsi_negotiation *neg, struct iscsi_text_buf *resp)
{
	uint64_t bit = 1ull << DECLARED_TARGET_RECV_DSL_BIT;
	if (neg->answered & bit)
		return;
	neg->params.target_recv_dsl = clamp_u32(neg->limits.max_recv_dsl, DSL_MIN, DSL_MAX);
	iscsi_text_add_u32(resp, "TargetRecvDataSegmentLength", neg->params.target_recv_dsl);
	neg->answered |= bit;
}

static void fix_first_burst(struct iscsi_params *p)
{
	/* 13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. */
	if (p->first_burst_length > p->max_burst_length)
		p->first_burst_length = p->max_burst_length;
}

static int negotiate_auth_method(struct negotiate_ctx *ctx, const char *value)
{
	struct iscsi_negotiation *neg = ctx->neg;
	/* AuthMethod belongs to the security stage (6.3.2 / 12.1); offered later, the
	 * authentication it would choose can no longer happen. */
	if (!ctx->security_stage)
		return fail(ctx, "AuthMethod outside the security stage");
	/* We offer exactly one method: CHAP where the target demands it, else None. */
	static const char *const chap[] = { "CHAP", NULL };
	static const char *const none[] = { "None", NULL };
	const char *pick = list_pick(value, neg->auth_required ? chap : none);
	if (pick == NULL) {
		answer(ctx, "AuthMethod", "Reject");
		ctx->auth_failure = true;
		return fail(ctx, "no acceptable AuthMethod in \"%s\"", value);
	}
	neg->auth = neg->auth_required ? ISCSI_AUTH_CHAP : ISCSI_AUTH_NONE;
	neg->auth_negotiated = true;
	answer(ctx, "AuthMethod", pick);
	return 0;
}

/* Keys that exist only on an iSER connection that agreed to RDMAExtensions=Yes. */
static int negotiate_iser_key(struct negotiate_ctx *ctx, const struct key_def *def,
			      const char *value)
{
	struct iscsi_params *p = &ctx->neg->params;
	/* RFC 7145 6.2-6.4: "Irrelevant when: RDMAExtensions=No" — and on a TCP
	 * connection it can never be Yes. */
	if (!ctx->neg->limits.rdma || !p->rdma_extensions) {
		answer(ctx, def->name, "Irrelevant");
		return 0;
	}
	uint64_t v;
	switch (def->id) {
	case K_INITIATOR_RECV_DSL:
		/* Declarative: recorded, not answered. */
		if (!parse_number_in(value, DSL_MIN, DSL_MAX, &v))
			answer(ctx, def->name, "Reject");
		else
			p->initiator_recv_dsl = (uint32_t)v;
		return 0;
	case K_TARGET_RECV_DSL:
		/* The target's own declaration is what binds; an initiator's value only
		 * prompts it. */
		if (!parse_number_in(value, DSL_MIN, DSL_MAX, &v))
			answer(ctx, def->name, "Reject");
		else
			declare_target_recv_dsl(ctx->neg, ctx->resp);
		return 0;
	case K_MAX_OUTSTANDING_UNEXPECTED:
		/* 0 or 2..2**32-1, Minimum with 0 meaning unlimited on either side. */
		if (!parse_number(value, &v) || v == 1 || v > UINT32_MAX) {
			answer(ctx, def->name, "Reject");
			return 0;
		}
		/* RFC 7145 6.4: 0 is "no limit" on either side; the result is the smaller. */
		uint32_t ours = ctx->neg->limits.max_outstanding_unexpected_pdus;
		if (v == 0 || (ours != 0 && ours < v))
			v = ours;
		p->max_outstanding_unexpected_pdus = (uint32_t)v;
		iscsi_text_add_u32(ctx->resp, def->name, (uint32_t)v);
		return 0;
	default:
		return 0;
	}
}

static int negotiate_key(struct negotiate_ctx *ctx, const struct key_def *def, const char *value)
{
	struct iscsi_negotiation *neg = ctx->neg;
	struct iscsi_params *p = &neg->params;
	const struct iscsi_target_limits *lim = &neg->limits;

	if ((def->flags & KF_DISCOVERY_IRRELEVANT) && neg->session_type == ISCSI_SESSION_DISCOVERY) {
		answer(ctx, def->name, "Irrelevant");
		return 0;
	}
	switch (def->id) {
	case K_HEADER_DIGEST:
		negotiate_digest(ctx, def->name, value, lim->allow_header_digest, &p->header_digest);
		return 0;
	case K_DATA_DIGEST:
		negotiate_digest(ctx, def->name, value, lim->allow_data_digest, &p->data_digest);
		return 0;
	case K_MAX_CONNECTIONS:
		negotiate_min(ctx, def->name, value, 1, COUNT16_MAX, lim->max_connections,
			      &p->max_connections);
		return 0;
	case K_INITIAL_R2T:
		negotiate_bool(ctx, def->name, value, true, lim->want_initial_r2t, &p->initial_r2t);
		return 0;
	case K_IMMEDIATE_DATA:
		negotiate_bool(ctx, def->name, value, false, lim->allow_immediate_data,
			       &p->immediate_data);
		return 0;
	case K_MAX_RECV_DSL: {
		/* Declarative (13.12): the initiator's value bounds what we send; ours is a
		 * separate declaration, made once. */
		uint64_t v;
		if (parse_number_in(value, DSL_MIN, DSL_MAX, &v))
			p->max_xmit_dsl = (uint32_t)v;
		else
			answer(ctx, def->name, "Reject");
		declare_max_recv_dsl(ctx);
		return 0;
	}
	case K_MAX_BURST_LENGTH:
		negotiate_min(ctx, def->name, value, DSL_MIN, DSL_MAX, lim->max_burst_length,
			      &p->max_burst_length);
		fix_first_burst(p);
		return 0;
	case K_FIRST_BURST_LENGTH: {
		uint32_t ours = lim->first_burst_length;
		if (ours > p->max_burst_length)
			ours = p->max_burst_length;
		negotiate_min(ctx, def->name, value, DSL_MIN, DSL_MAX, ours, &p->first_burst_length);
		return 0;
	}
	case K_DEFAULT_TIME2WAIT:
		negotiate_max(ctx, def->name, value, 0, TIME2_MAX, OUR_TIME2WAIT,
			      &p->default_time2wait);
		return 0;
	case K_DEFAULT_TIME2RETAIN:
		negotiate_min(ctx, def->name, value, 0, TIME2_MAX, OUR_TIME2RETAIN,
			      &p->default_time2retain);
		return 0;
	case K_MAX_OUTSTANDING_R2T:
		negotiate_min(ctx, def->name, value, 1, COUNT16_MAX, lim->max_outstanding_r2t,
			      &p->max_outstanding_r2t);
		return 0;
	case K_DATA_PDU_IN_ORDER:
		negotiate_bool(ctx, def->name, value, true, true, &p->data_pdu_in_order);
		return 0;
	case K_DATA_SEQUENCE_IN_ORDER:
		negotiate_bool(ctx, def->name, value, true, true, &p->data_sequence_in_order);
		return 0;
	case K_ERROR_RECOVERY_LEVEL:
		negotiate_min(ctx, def->name, value, 0, ERL_MAX, lim->error_recovery_level,
			      &p->error_recovery_level);
		return 0;
	case K_OF_MARKER:
	case K_IF_MARKER: {
		/* RFC 3720 markers (dropped by RFC 7143): result AND, and we have none. */
		bool offered;
		answer(ctx, def->name, parse_bool(value, &offered) ? "No" : "Reject");
		return 0;
	}
	case K_OF_MARK_INT:
	case K_IF_MARK_INT:
		/* Meaningless once the markers are off. */
		answer(ctx, def->name, "Irrelevant");
		return 0;
	case K_TASK_REPORTING: {
		/* 13.23: ResponseFence and FastAbort change TMF semantics we do not
		 * implement; RFC3720 is the only value we may select. */
		static const char *const ours[] = { "RFC3720", NULL };
		const char *pick = list_pick(value, ours);
		answer(ctx, def->name, pick ? pick : "Reject");
		return 0;
	}
	case K_PROTOCOL_LEVEL: {
		uint32_t level = 0;
		negotiate_min(ctx, def->name, value, 0, PROTOCOL_LEVEL_MAX, OUR_PROTOCOL_LEVEL, &level);
		return 0;
	}
	case K_RDMA_EXTENSIONS:
		/* RFC 7145 6.1: result AND; only an iSER connection can say Yes. */
		negotiate_bool(ctx, def->name, value, false, lim->rdma, &p->rdma_extensions);
		return 0;
	case K_INITIATOR_RECV_DSL:
	case K_TARGET_RECV_DSL:
	case K_MAX_OUTSTANDING_UNEXPECTED:
		return negotiate_iser_key(ctx, def, value);
	case K_AUTH_METHOD:
		return negotiate_auth_method(ctx, value);
	case K_TARGET_ALIAS:
	case K_TARGET_ADDRESS:
	case K_TARGET_PORTAL_GROUP_TAG:
		/* 13.6, 13.8, 13.9: only a target sends these; from an initiator they
		 * cannot apply to anything (6.2: "Irrelevant"). */
		answer(ctx, def->name, "Irrelevant");
		return 0;
	case K_INITIATOR_NAME:
	case K_INITIATOR_ALIAS:
	case K_TARGET_NAME:
	case K_SESSION_TYPE:
	case K_SEND_TARGETS:
	case K_COUNT:
		return 0;
	}
	return 0;
}

static bool is_security_key(const char *key)
{
	/* CHAP_A/I/C/N/R are carried by the security stage and answered by the CHAP
	 * exchange, not by operational negotiation. */
	return strncmp(key, "CHAP_", 5) == 0;
}

static int negotiate_one(void *arg, const char *key, const char *value)
{
	struct negotiate_ctx *ctx = arg;
	const struct key_def *def = key_find(key);

	switch (ctx->pass) {
	case PASS_CHECK:
		/* Only this pass looks for repeats, so a failing request has answered
		 * nothing and the later passes see each key once. */
		if (def != NULL && (def->flags & KF_ONCE)) {
			uint64_t bit = 1ull << def->id;
			if (ctx->neg->answered & bit)
				return fail(ctx, "key %s negotiated twice", key);
			ctx->neg->answered |= bit;
		}
		return 0;
	case PASS_EARLY:
		if (def == NULL || !(def->flags & KF_EARLY))
			return 0;
		return negotiate_key(ctx, def, value);
	case PASS_REST:
		break;
	}
	if (def == NULL) {
		if (is_security_key(key))
			return 0;
		/* 6.2 / 13.5.x: unknown keys, including the X- and X# extension spaces we
		 * implement none of, are answered NotUnderstood. */
		answer(ctx, key, "NotUnderstood");
		return 0;
	}
	if (def->flags & KF_EARLY)
		return 0;
	return negotiate_key(ctx, def, value);
}

int iscsi_negotiate(struct iscsi_negotiation *neg, const uint8_t *req, size_t req_len,
		    bool security_stage, struct iscsi_text_buf *resp, bool *auth_failure,
		    char *err, size_t errlen)
{
	struct negotiate_ctx ctx = {
		.neg = neg,
		.resp = resp,
		.security_stage = security_stage,
		.pass = PASS_CHECK,
		.err = err,
		.errlen = errlen,
	};
	if (auth_failure != NULL)
		*auth_failure = false;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	int rc = iscsi_text_foreach(req, req_len, negotiate_one, &ctx);
	if (rc == 0) {
		ctx.pass = PASS_EARLY;
		rc = iscsi_text_foreach(req, req_len, negotiate_one, &ctx);
	}
	if (rc == 0) {
		ctx.pass = PASS_REST;
		rc = iscsi_text_foreach(req, req_len, negotiate_one, &ctx);
	}
	fix_first_burst(&neg->params);
	if (auth_failure != NULL)
		*auth_failure = ctx.auth_failure;
	if (rc != 0) {
		/* A malformed pair makes foreach fail without calling us: say so. */
		if (err != NULL && errlen > 0 && err[0] == '\0')
			snprintf(err, errlen, "malformed key=value text");
		return -1;
	}
	return 0;
}

void iscsi_negotiation_finish(struct iscsi_negotiation *neg, struct iscsi_text_buf *resp)
{
	struct negotiate_ctx ctx = { .neg = neg, .resp = resp };
	declare_max_recv_dsl(&ctx);
	if (neg->limits.rdma && neg->params.rdma_extensions)
		declare_target_recv_dsl(neg, resp);
	fix_first_burst(&neg->params);
}
