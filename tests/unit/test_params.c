/* Unit tests of the iSCSI key=value codec and of login/text parameter negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transports/iscsi/params.h"

/* A request segment from a string literal whose pairs are separated by "\0". */
#define SEG(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* The value the response gives `key`, or NULL; fails the test if it appears twice. */
static const char *resp_get(const struct iscsi_text_buf *buf, const char *key)
{
	const char *found = NULL;
	size_t klen = strlen(key);
	for (size_t pos = 0; pos < buf->len;) {
		const char *pair = (const char *)buf->data + pos;
		size_t len = strlen(pair);
		if (strncmp(pair, key, klen) == 0 && pair[klen] == '=') {
			assert_null(found);
			found = pair + klen + 1;
		}
		pos += len + 1;
	}
	return found;
}

static size_t resp_pairs(const struct iscsi_text_buf *buf)
{
	size_t n = 0;
	for (size_t pos = 0; pos < buf->len; pos += strlen((const char *)buf->data + pos) + 1)
		n++;
	return n;
}

struct fixture {
	struct iscsi_target_limits limits;
	struct iscsi_negotiation neg;
	struct iscsi_text_buf resp;
	bool auth_failure;
	char err[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	iscsi_target_limits_default(&f->limits);
	iscsi_negotiation_init(&f->neg, &f->limits, ISCSI_SESSION_NORMAL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	iscsi_text_buf_free(&f->resp);
	free(f);
	return 0;
}

static void reinit(struct fixture *f, enum iscsi_session_type type)
{
	iscsi_negotiation_init(&f->neg, &f->limits, type);
	iscsi_text_buf_free(&f->resp);
}

static int nego(struct fixture *f, const uint8_t *req, size_t len)
{
	return iscsi_negotiate(&f->neg, req, len, false, &f->resp, &f->auth_failure, f->err,
			       sizeof(f->err));
}

static int nego_security(struct fixture *f, const uint8_t *req, size_t len)
{
	return iscsi_negotiate(&f->neg, req, len, true, &f->resp, &f->auth_failure, f->err,
			       sizeof(f->err));
}

/* Negotiates one key=value on a fresh normal session and returns the answer. */
static const char *answer_for(struct fixture *f, const char *key, const char *value)
{
	char req[256];
	int n = snprintf(req, sizeof(req), "%s=%s", key, value);
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, (const uint8_t *)req, (size_t)n + 1), 0);
	return resp_get(&f->resp, key);
}

/* ---- text codec ---- */

struct collected {
	char keys[8][64];
	char values[8][64];
	int count;
	int stop_at;
};

static int collect(void *arg, const char *key, const char *value)
{
	struct collected *c = arg;
	if (c->count == c->stop_at)
		return 7;
	snprintf(c->keys[c->count], sizeof(c->keys[0]), "%s", key);
	snprintf(c->values[c->count], sizeof(c->values[0]), "%s", value);
	c->count++;
	return 0;
}

static void test_text_add_and_foreach_round_trip(void **state)
{
	struct iscsi_text_buf buf = { 0 };
	iscsi_text_add(&buf, "TargetAlias", "disk one");
	iscsi_text_add_u32(&buf, "MaxRecvDataSegmentLength", 262144);
	iscsi_text_add(&buf, "Empty", "");
	iscsi_text_add(&buf, "Eq", "a=b");
	assert_false(buf.overflow);
	const char expected[] = "TargetAlias=disk one\0MaxRecvDataSegmentLength=262144\0Empty=\0Eq=a=b";
	assert_int_equal(buf.len, sizeof(expected));
	assert_memory_equal(buf.data, expected, sizeof(expected));

	struct collected c = { .stop_at = -1 };
	assert_int_equal(iscsi_text_foreach(buf.data, buf.len, collect, &c), 0);
	assert_int_equal(c.count, 4);
	assert_string_equal(c.keys[1], "MaxRecvDataSegmentLength");
	assert_string_equal(c.values[1], "262144");
	assert_string_equal(c.values[2], "");
	/* only the first '=' separates */
	assert_string_equal(c.keys[3], "Eq");
	assert_string_equal(c.values[3], "a=b");
	iscsi_text_buf_free(&buf);
	assert_null(buf.data);
	assert_int_equal(buf.len, 0);
}

static void test_foreach_last_pair_without_nul_and_stray_nuls(void **state)
{
	struct collected c = { .stop_at = -1 };
	assert_int_equal(iscsi_text_foreach(SEG("A=1\0\0B=2"), collect, &c), 0);
	assert_int_equal(c.count, 2);
	assert_string_equal(c.keys[1], "B");
	assert_string_equal(c.values[1], "2");
	c.count = 0;
	assert_int_equal(iscsi_text_foreach(SEG("A=1\0\0\0"), collect, &c), 0);
	assert_int_equal(c.count, 1);
	c.count = 0;
	assert_int_equal(iscsi_text_foreach(NULL, 0, collect, &c), 0);
	assert_int_equal(c.count, 0);
}

static void test_foreach_malformed(void **state)
{
	struct collected c = { .stop_at = -1 };
	assert_int_equal(iscsi_text_foreach(SEG("A=1\0NoEquals\0"), collect, &c), -1);
	c.count = 0;
	assert_int_equal(iscsi_text_foreach(SEG("=value\0"), collect, &c), -1);
	assert_int_equal(c.count, 0);

	char key[ISCSI_KEY_MAX + 4];
	memset(key, 'K', ISCSI_KEY_MAX);
	strcpy(key + ISCSI_KEY_MAX, "=1");
	assert_int_equal(iscsi_text_foreach((const uint8_t *)key, strlen(key), collect, &c), 0);
	memset(key, 'K', ISCSI_KEY_MAX + 1);
	strcpy(key + ISCSI_KEY_MAX + 1, "=1");
	assert_int_equal(iscsi_text_foreach((const uint8_t *)key, strlen(key), collect, &c), -1);

	size_t big = ISCSI_VALUE_MAX + 3;
	char *pair = malloc(big + 1);
	memcpy(pair, "V=", 2);
	memset(pair + 2, 'x', ISCSI_VALUE_MAX);
	assert_int_equal(iscsi_text_foreach((const uint8_t *)pair, ISCSI_VALUE_MAX + 2, collect, &c),
			 0);
	pair[ISCSI_VALUE_MAX + 2] = 'x';
	assert_int_equal(iscsi_text_foreach((const uint8_t *)pair, ISCSI_VALUE_MAX + 3, collect, &c),
			 -1);
	free(pair);
}

static void test_foreach_stops_on_callback_result(void **state)
{
	struct collected c = { .stop_at = 1 };
	assert_int_equal(iscsi_text_foreach(SEG("A=1\0B=2\0C=3\0"), collect, &c), 7);
	assert_int_equal(c.count, 1);
}

static void test_text_buf_overflow_is_sticky_and_whole(void **state)
{
	struct iscsi_text_buf buf = { 0 };
	char *value = malloc(ISCSI_TEXT_BUF_MAX);
	memset(value, 'v', ISCSI_TEXT_BUF_MAX - 10);
	value[ISCSI_TEXT_BUF_MAX - 10] = '\0';
	iscsi_text_add(&buf, "K", value); /* K= + value + NUL = MAX - 7 bytes */
	assert_false(buf.overflow);
	size_t len = buf.len;
	iscsi_text_add(&buf, "Key", "12345"); /* 10 bytes: does not fit */
	assert_true(buf.overflow);
	assert_int_equal(buf.len, len);
	iscsi_text_add(&buf, "A", ""); /* would fit, but overflow is sticky */
	assert_int_equal(buf.len, len);
	assert_true(buf.cap <= ISCSI_TEXT_BUF_MAX);
	free(value);
	iscsi_text_buf_free(&buf);
	assert_false(buf.overflow);
}

/* ---- login keys ---- */

static void test_login_keys_parse(void **state)
{
	struct iscsi_login_keys keys;
	memset(&keys, 0, sizeof(keys));
	assert_int_equal(iscsi_login_keys_parse(
				 SEG("InitiatorName=iqn.2026-11.example:host\0InitiatorAlias=host\0"
				     "SessionType=Normal\0TargetName=iqn.2026-11.org.targe:d0\0"
				     "AuthMethod=None\0"),
				 &keys),
			 0);
	assert_true(keys.have_initiator_name);
	assert_string_equal(keys.initiator_name, "iqn.2026-11.example:host");
	assert_string_equal(keys.initiator_alias, "host");
	assert_true(keys.have_target_name);
	assert_string_equal(keys.target_name, "iqn.2026-11.org.targe:d0");
	assert_true(keys.have_session_type);
	assert_int_equal(keys.session_type, ISCSI_SESSION_NORMAL);

	/* later PDUs add to what the first declared */
	assert_int_equal(iscsi_login_keys_parse(SEG("SessionType=Discovery\0"), &keys), 0);
	assert_int_equal(keys.session_type, ISCSI_SESSION_DISCOVERY);
	assert_string_equal(keys.initiator_name, "iqn.2026-11.example:host");
}

static void test_login_keys_malformed(void **state)
{
	struct iscsi_login_keys keys;
	memset(&keys, 0, sizeof(keys));
	assert_int_equal(iscsi_login_keys_parse(SEG("SessionType=Bogus\0"), &keys), -1);
	assert_int_equal(iscsi_login_keys_parse(SEG("SessionType=normal\0"), &keys), -1);
	assert_int_equal(iscsi_login_keys_parse(SEG("InitiatorName=\0"), &keys), -1);
	assert_int_equal(iscsi_login_keys_parse(SEG("TargetName=\0"), &keys), -1);
	assert_int_equal(iscsi_login_keys_parse(SEG("garbage\0"), &keys), -1);

	char req[ISCSI_NAME_MAX + 32];
	int n = snprintf(req, sizeof(req), "InitiatorName=");
	memset(req + n, 'a', ISCSI_NAME_MAX);
	req[n + ISCSI_NAME_MAX] = '\0';
	assert_int_equal(iscsi_login_keys_parse((const uint8_t *)req, strlen(req) + 1, &keys), 0);
	assert_int_equal(strlen(keys.initiator_name), ISCSI_NAME_MAX);
	req[n + ISCSI_NAME_MAX] = 'a';
	req[n + ISCSI_NAME_MAX + 1] = '\0';
	assert_int_equal(iscsi_login_keys_parse((const uint8_t *)req, strlen(req) + 1, &keys), -1);
}

/* ---- negotiation: defaults and a typical login ---- */

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	const struct iscsi_params *p = &f->neg.params;
	assert_int_equal(p->max_xmit_dsl, 8192);
	assert_int_equal(p->max_recv_dsl, 8192);
	assert_int_equal(p->max_burst_length, 262144);
	assert_int_equal(p->first_burst_length, 65536);
	assert_int_equal(p->max_outstanding_r2t, 1);
	assert_int_equal(p->max_connections, 1);
	assert_int_equal(p->default_time2wait, 2);
	assert_int_equal(p->default_time2retain, 20);
	assert_int_equal(p->error_recovery_level, 0);
	assert_true(p->initial_r2t);
	assert_true(p->immediate_data);
	assert_true(p->data_pdu_in_order);
	assert_true(p->data_sequence_in_order);
	assert_false(p->header_digest);
	assert_false(p->data_digest);
	assert_false(p->rdma_extensions);
	assert_int_equal(p->initiator_recv_dsl, 8192);
	assert_int_equal(p->target_recv_dsl, 8192);
	assert_false(f->neg.declared_max_recv_dsl);
	assert_int_equal(f->neg.answered, 0);

	struct iscsi_target_limits l;
	iscsi_target_limits_default(&l);
	assert_int_equal(l.max_recv_dsl, 262144);
	assert_int_equal(l.max_burst_length, 1048576);
	assert_int_equal(l.first_burst_length, 65536);
	assert_int_equal(l.max_outstanding_r2t, 16);
	assert_int_equal(l.max_connections, 1);
	assert_int_equal(l.error_recovery_level, 0);
	assert_false(l.want_initial_r2t);
	assert_true(l.allow_immediate_data);
	assert_false(l.rdma);
}

static void test_linux_initiator_operational_stage(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("HeaderDigest=None\0DataDigest=None\0"
				     "MaxRecvDataSegmentLength=262144\0ImmediateData=Yes\0"
				     "InitialR2T=No\0MaxBurstLength=16776192\0"
				     "FirstBurstLength=262144\0MaxConnections=1\0"
				     "DefaultTime2Wait=2\0DefaultTime2Retain=0\0"
				     "MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
				     "DataSequenceInOrder=Yes\0ErrorRecoveryLevel=0\0"
				     "IFMarker=No\0OFMarker=No\0")),
			 0);
	const struct iscsi_text_buf *r = &f->resp;
	assert_string_equal(resp_get(r, "HeaderDigest"), "None");
	assert_string_equal(resp_get(r, "DataDigest"), "None");
	assert_string_equal(resp_get(r, "MaxRecvDataSegmentLength"), "262144");
	assert_string_equal(resp_get(r, "ImmediateData"), "Yes");
	assert_string_equal(resp_get(r, "InitialR2T"), "No");
	assert_string_equal(resp_get(r, "MaxBurstLength"), "1048576");
	assert_string_equal(resp_get(r, "FirstBurstLength"), "65536");
	assert_string_equal(resp_get(r, "MaxConnections"), "1");
	assert_string_equal(resp_get(r, "DefaultTime2Wait"), "2");
	assert_string_equal(resp_get(r, "DefaultTime2Retain"), "0");
	assert_string_equal(resp_get(r, "MaxOutstandingR2T"), "1");
	assert_string_equal(resp_get(r, "DataPDUInOrder"), "Yes");
	assert_string_equal(resp_get(r, "DataSequenceInOrder"), "Yes");
	assert_string_equal(resp_get(r, "ErrorRecoveryLevel"), "0");
	assert_string_equal(resp_get(r, "IFMarker"), "No");
	assert_string_equal(resp_get(r, "OFMarker"), "No");
	assert_int_equal(resp_pairs(r), 16);

	const struct iscsi_params *p = &f->neg.params;
	assert_int_equal(p->max_xmit_dsl, 262144);
	assert_int_equal(p->max_recv_dsl, 262144);
	assert_int_equal(p->max_burst_length, 1048576);
	assert_int_equal(p->first_burst_length, 65536);
	assert_false(p->initial_r2t);
	assert_true(p->immediate_data);
	assert_int_equal(p->default_time2retain, 0);
	assert_true(f->neg.declared_max_recv_dsl);

	/* finish has nothing left to declare */
	size_t len = f->resp.len;
	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_int_equal(f->resp.len, len);
}

/* ---- per-key rules ---- */

static void test_digest_lists(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(answer_for(f, "HeaderDigest", "CRC32C,None"), "CRC32C");
	assert_true(f->neg.params.header_digest);
	assert_string_equal(answer_for(f, "HeaderDigest", "None,CRC32C"), "None");
	assert_false(f->neg.params.header_digest);
	assert_string_equal(answer_for(f, "DataDigest", "Adler,CRC32C"), "CRC32C");
	assert_true(f->neg.params.data_digest);
	assert_string_equal(answer_for(f, "DataDigest", "Adler"), "Reject");
	assert_false(f->neg.params.data_digest);
	assert_string_equal(answer_for(f, "DataDigest", ""), "Reject");
	assert_string_equal(answer_for(f, "DataDigest", "crc32c"), "Reject");

	f->limits.allow_header_digest = false;
	assert_string_equal(answer_for(f, "HeaderDigest", "CRC32C,None"), "None");
	assert_false(f->neg.params.header_digest);
	assert_string_equal(answer_for(f, "HeaderDigest", "CRC32C"), "Reject");
	/* the other digest is unaffected */
	assert_string_equal(answer_for(f, "DataDigest", "CRC32C"), "CRC32C");
	f->limits.allow_data_digest = false;
	assert_string_equal(answer_for(f, "DataDigest", "CRC32C,None"), "None");
}

static void test_numeric_min_keys(void **state)
{
	struct fixture *f = *state;
	f->limits.max_connections = 4;
	assert_string_equal(answer_for(f, "MaxConnections", "8"), "4");
	assert_int_equal(f->neg.params.max_connections, 4);
	assert_string_equal(answer_for(f, "MaxConnections", "2"), "2");
	assert_string_equal(answer_for(f, "MaxConnections", "0"), "Reject");
	assert_string_equal(answer_for(f, "MaxConnections", "65536"), "Reject");
	assert_int_equal(f->neg.params.max_connections, 1); /* a Reject changes nothing */

	assert_string_equal(answer_for(f, "MaxBurstLength", "512"), "512");
	assert_string_equal(answer_for(f, "MaxBurstLength", "511"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "16777215"), "1048576");
	assert_string_equal(answer_for(f, "MaxBurstLength", "16777216"), "Reject");

	assert_string_equal(answer_for(f, "FirstBurstLength", "4096"), "4096");
	assert_string_equal(answer_for(f, "FirstBurstLength", "262144"), "65536");
	assert_string_equal(answer_for(f, "FirstBurstLength", "100"), "Reject");

	f->limits.max_outstanding_r2t = 8;
	assert_string_equal(answer_for(f, "MaxOutstandingR2T", "16"), "8");
	assert_string_equal(answer_for(f, "MaxOutstandingR2T", "0"), "Reject");
	assert_string_equal(answer_for(f, "MaxOutstandingR2T", "65535"), "8");

	assert_string_equal(answer_for(f, "DefaultTime2Retain", "30"), "20");
	assert_string_equal(answer_for(f, "DefaultTime2Retain", "0"), "0");
	assert_string_equal(answer_for(f, "DefaultTime2Retain", "3601"), "Reject");

	f->limits.error_recovery_level = 1;
	assert_string_equal(answer_for(f, "ErrorRecoveryLevel", "2"), "1");
	assert_int_equal(f->neg.params.error_recovery_level, 1);
	assert_string_equal(answer_for(f, "ErrorRecoveryLevel", "0"), "0");
	assert_string_equal(answer_for(f, "ErrorRecoveryLevel", "3"), "Reject");
}

static void test_numeric_max_key(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(answer_for(f, "DefaultTime2Wait", "0"), "2");
	assert_string_equal(answer_for(f, "DefaultTime2Wait", "10"), "10");
	assert_int_equal(f->neg.params.default_time2wait, 10);
	assert_string_equal(answer_for(f, "DefaultTime2Wait", "3600"), "3600");
	assert_string_equal(answer_for(f, "DefaultTime2Wait", "3601"), "Reject");
}

static void test_number_syntax(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(answer_for(f, "MaxBurstLength", "0x1000"), "4096");
	assert_string_equal(answer_for(f, "MaxBurstLength", "0X1000"), "4096");
	assert_string_equal(answer_for(f, "MaxBurstLength", "0xaBc0"), "43968");
	assert_string_equal(answer_for(f, "MaxBurstLength", "0x"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", ""), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", " 4096"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "+4096"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "-4096"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "4096 "), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "4096k"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "0b4096"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "0x1g"), "Reject");
	/* values past 2**64 overflow rather than wrap into range */
	assert_string_equal(answer_for(f, "MaxBurstLength", "18446744073709555712"), "Reject");
	assert_string_equal(answer_for(f, "MaxBurstLength", "0x10000000000001000"), "Reject");
	/* past 2**32 but below 2**64 is just out of range */
	assert_string_equal(answer_for(f, "MaxBurstLength", "4294971392"), "Reject");
}

static void test_boolean_keys(void **state)
{
	struct fixture *f = *state;
	/* InitialR2T: OR with our preference */
	f->limits.want_initial_r2t = false;
	assert_string_equal(answer_for(f, "InitialR2T", "No"), "No");
	assert_false(f->neg.params.initial_r2t);
	assert_string_equal(answer_for(f, "InitialR2T", "Yes"), "Yes");
	f->limits.want_initial_r2t = true;
	assert_string_equal(answer_for(f, "InitialR2T", "No"), "Yes");
	assert_true(f->neg.params.initial_r2t);

	/* ImmediateData: AND */
	f->limits.allow_immediate_data = true;
	assert_string_equal(answer_for(f, "ImmediateData", "Yes"), "Yes");
	assert_string_equal(answer_for(f, "ImmediateData", "No"), "No");
	assert_false(f->neg.params.immediate_data);
	f->limits.allow_immediate_data = false;
	assert_string_equal(answer_for(f, "ImmediateData", "Yes"), "No");
	assert_false(f->neg.params.immediate_data);

	/* in-order keys: OR with our Yes */
	assert_string_equal(answer_for(f, "DataPDUInOrder", "No"), "Yes");
	assert_true(f->neg.params.data_pdu_in_order);
	assert_string_equal(answer_for(f, "DataSequenceInOrder", "No"), "Yes");

	/* booleans are exactly Yes or No */
	assert_string_equal(answer_for(f, "InitialR2T", "yes"), "Reject");
	assert_string_equal(answer_for(f, "ImmediateData", "1"), "Reject");
	assert_string_equal(answer_for(f, "DataPDUInOrder", "Yes "), "Reject");
	assert_string_equal(answer_for(f, "DataPDUInOrder", ""), "Reject");
}

static void test_max_recv_dsl_declaration(void **state)
{
	struct fixture *f = *state;
	f->limits.max_recv_dsl = 65536;
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("MaxRecvDataSegmentLength=8192\0")), 0);
	assert_int_equal(f->neg.params.max_xmit_dsl, 8192);
	assert_int_equal(f->neg.params.max_recv_dsl, 65536);
	/* the only answer is our own declaration */
	assert_string_equal(resp_get(&f->resp, "MaxRecvDataSegmentLength"), "65536");
	assert_int_equal(resp_pairs(&f->resp), 1);

	/* declared once per negotiation */
	iscsi_text_buf_free(&f->resp);
	assert_int_equal(nego(f, SEG("MaxBurstLength=65536\0")), 0);
	assert_null(resp_get(&f->resp, "MaxRecvDataSegmentLength"));
	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_null(resp_get(&f->resp, "MaxRecvDataSegmentLength"));

	/* out of range: Reject, the initiator's limit stays the default, we still declare */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("MaxRecvDataSegmentLength=100\0")), 0);
	assert_int_equal(f->neg.params.max_xmit_dsl, 8192);
	assert_true(f->neg.declared_max_recv_dsl);

	/* an initiator that never mentions it still gets our declaration at the end */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("InitialR2T=Yes\0")), 0);
	assert_null(resp_get(&f->resp, "MaxRecvDataSegmentLength"));
	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_string_equal(resp_get(&f->resp, "MaxRecvDataSegmentLength"), "65536");
	assert_int_equal(f->neg.params.max_recv_dsl, 65536);

	/* a limit outside the RFC range is clamped into it */
	f->limits.max_recv_dsl = 1u << 30;
	reinit(f, ISCSI_SESSION_NORMAL);
	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_string_equal(resp_get(&f->resp, "MaxRecvDataSegmentLength"), "16777215");
}

static void test_first_burst_bounded_by_max_burst(void **state)
{
	struct fixture *f = *state;
	f->limits.first_burst_length = 1u << 20;
	reinit(f, ISCSI_SESSION_NORMAL);
	/* FirstBurstLength comes first, but MaxBurstLength of the same request bounds it */
	assert_int_equal(nego(f, SEG("FirstBurstLength=262144\0MaxBurstLength=16384\0")), 0);
	assert_string_equal(resp_get(&f->resp, "MaxBurstLength"), "16384");
	assert_string_equal(resp_get(&f->resp, "FirstBurstLength"), "16384");
	assert_int_equal(f->neg.params.first_burst_length, 16384);

	/* MaxBurstLength in a later request still pulls FirstBurstLength down */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("FirstBurstLength=131072\0")), 0);
	assert_string_equal(resp_get(&f->resp, "FirstBurstLength"), "131072");
	assert_int_equal(nego(f, SEG("MaxBurstLength=8192\0")), 0);
	assert_int_equal(f->neg.params.first_burst_length, 8192);

	/* without MaxBurstLength the default 262144 bounds it */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("FirstBurstLength=1048576\0")), 0);
	assert_string_equal(resp_get(&f->resp, "FirstBurstLength"), "262144");
}

static void test_markers(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(answer_for(f, "OFMarker", "Yes"), "No");
	assert_string_equal(answer_for(f, "IFMarker", "No"), "No");
	assert_string_equal(answer_for(f, "IFMarker", "maybe"), "Reject");
	assert_string_equal(answer_for(f, "OFMarkInt", "2048~8192"), "Irrelevant");
	assert_string_equal(answer_for(f, "IFMarkInt", "2048"), "Irrelevant");
}

static void test_task_reporting_and_protocol_level(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(answer_for(f, "TaskReporting", "FastAbort,RFC3720"), "RFC3720");
	assert_string_equal(answer_for(f, "TaskReporting", "RFC3720"), "RFC3720");
	assert_string_equal(answer_for(f, "TaskReporting", "ResponseFence,FastAbort"), "Reject");
	assert_string_equal(answer_for(f, "iSCSIProtocolLevel", "2"), "1");
	assert_string_equal(answer_for(f, "iSCSIProtocolLevel", "1"), "1");
	assert_string_equal(answer_for(f, "iSCSIProtocolLevel", "0"), "0");
	assert_string_equal(answer_for(f, "iSCSIProtocolLevel", "31"), "1");
	assert_string_equal(answer_for(f, "iSCSIProtocolLevel", "32"), "Reject");
}

static void test_unknown_and_extension_keys(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("X-com.example.Foo=1\0X#org.example.Bar=2\0Bogus=3\0"
				     "maxburstlength=512\0CHAP_A=5\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "X-com.example.Foo"), "NotUnderstood");
	assert_string_equal(resp_get(&f->resp, "X#org.example.Bar"), "NotUnderstood");
	assert_string_equal(resp_get(&f->resp, "Bogus"), "NotUnderstood");
	/* keys are case sensitive */
	assert_string_equal(resp_get(&f->resp, "maxburstlength"), "NotUnderstood");
	/* CHAP keys are the CHAP exchange's to answer */
	assert_null(resp_get(&f->resp, "CHAP_A"));
	assert_int_equal(resp_pairs(&f->resp), 4);
	/* unknown keys may repeat without failing (they are not negotiated) */
	assert_int_equal(nego(f, SEG("Bogus=4\0")), 0);
}

static void test_identity_and_target_only_keys(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("InitiatorName=iqn.2026-11.example:h\0InitiatorAlias=h\0"
				     "TargetName=iqn.2026-11.org.targe:d\0SessionType=Normal\0"
				     "TargetAlias=x\0TargetAddress=1.2.3.4:3260,1\0"
				     "TargetPortalGroupTag=1\0SendTargets=All\0")),
			 0);
	assert_null(resp_get(&f->resp, "InitiatorName"));
	assert_null(resp_get(&f->resp, "InitiatorAlias"));
	assert_null(resp_get(&f->resp, "TargetName"));
	assert_null(resp_get(&f->resp, "SessionType"));
	assert_null(resp_get(&f->resp, "SendTargets"));
	assert_string_equal(resp_get(&f->resp, "TargetAlias"), "Irrelevant");
	assert_string_equal(resp_get(&f->resp, "TargetAddress"), "Irrelevant");
	assert_string_equal(resp_get(&f->resp, "TargetPortalGroupTag"), "Irrelevant");
	assert_int_equal(resp_pairs(&f->resp), 3);
	/* initiators that repeat their identity in the next stage are not failed */
	assert_int_equal(nego(f, SEG("InitiatorName=iqn.2026-11.example:h\0")), 0);
}

static void test_repeated_keys_fail(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("MaxBurstLength=512\0InitialR2T=Yes\0MaxBurstLength=1024\0")),
			 -1);
	assert_non_null(strstr(f->err, "MaxBurstLength"));

	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("HeaderDigest=None\0")), 0);
	assert_int_equal(nego(f, SEG("HeaderDigest=None\0")), -1);
	assert_non_null(strstr(f->err, "HeaderDigest"));

	/* a repeat fails the request before any key of it is answered */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("ImmediateData=No\0DataDigest=None\0DataDigest=None\0")), -1);
	assert_null(resp_get(&f->resp, "ImmediateData"));
	assert_true(f->neg.params.immediate_data);

	/* repeats of declarative and iSER keys are caught too */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("MaxRecvDataSegmentLength=8192\0"
				     "MaxRecvDataSegmentLength=8192\0")),
			 -1);
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("RDMAExtensions=No\0RDMAExtensions=No\0")), -1);
}

static void test_malformed_request_fails(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("MaxBurstLength=512\0JustAKey\0")), -1);
	assert_true(f->err[0] != '\0');
	/* nothing of a malformed request takes effect, not even the keys before the fault */
	assert_int_equal(f->resp.len, 0);
	assert_int_equal(f->neg.params.max_burst_length, 262144);
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("=1\0")), -1);
	/* nothing was answered */
	assert_int_equal(f->resp.len, 0);
}

static void test_discovery_session(void **state)
{
	struct fixture *f = *state;
	reinit(f, ISCSI_SESSION_DISCOVERY);
	assert_int_equal(nego(f, SEG("HeaderDigest=CRC32C,None\0DataDigest=None\0"
				     "MaxRecvDataSegmentLength=32768\0DefaultTime2Wait=0\0"
				     "DefaultTime2Retain=0\0ErrorRecoveryLevel=0\0"
				     "MaxConnections=1\0InitialR2T=Yes\0ImmediateData=Yes\0"
				     "MaxBurstLength=262144\0FirstBurstLength=65536\0"
				     "MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
				     "DataSequenceInOrder=Yes\0TaskReporting=RFC3720\0"
				     "RDMAExtensions=Yes\0iSCSIProtocolLevel=1\0")),
			 0);
	const struct iscsi_text_buf *r = &f->resp;
	/* still negotiated in discovery */
	assert_string_equal(resp_get(r, "HeaderDigest"), "CRC32C");
	assert_string_equal(resp_get(r, "DataDigest"), "None");
	assert_string_equal(resp_get(r, "MaxRecvDataSegmentLength"), "262144");
	assert_int_equal(f->neg.params.max_xmit_dsl, 32768);
	assert_string_equal(resp_get(r, "DefaultTime2Wait"), "2");
	assert_string_equal(resp_get(r, "DefaultTime2Retain"), "0");
	assert_string_equal(resp_get(r, "ErrorRecoveryLevel"), "0");
	assert_string_equal(resp_get(r, "iSCSIProtocolLevel"), "1");
	/* irrelevant in discovery */
	const char *irrelevant[] = { "MaxConnections",	  "InitialR2T",		"ImmediateData",
				     "MaxBurstLength",	  "FirstBurstLength",	"MaxOutstandingR2T",
				     "DataPDUInOrder",	  "DataSequenceInOrder", "TaskReporting",
				     "RDMAExtensions" };
	for (size_t i = 0; i < sizeof(irrelevant) / sizeof(irrelevant[0]); i++)
		assert_string_equal(resp_get(r, irrelevant[i]), "Irrelevant");
	/* and the session parameters stay at their defaults */
	assert_int_equal(f->neg.params.max_burst_length, 262144);
	assert_true(f->neg.params.initial_r2t);
	assert_false(f->neg.params.rdma_extensions);
	/* repeats are still errors in discovery */
	assert_int_equal(nego(f, SEG("MaxConnections=1\0")), -1);
}

/* ---- authentication ---- */

static void test_auth_method_without_chap(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego_security(f, SEG("AuthMethod=CHAP,None\0")), 0);
	assert_string_equal(resp_get(&f->resp, "AuthMethod"), "None");
	assert_true(f->neg.auth_negotiated);
	assert_int_equal(f->neg.auth, ISCSI_AUTH_NONE);
	assert_false(f->auth_failure);

	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego_security(f, SEG("AuthMethod=CHAP\0")), -1);
	assert_string_equal(resp_get(&f->resp, "AuthMethod"), "Reject");
	assert_true(f->auth_failure);
	assert_false(f->neg.auth_negotiated);
}

static void test_auth_method_chap_required(void **state)
{
	struct fixture *f = *state;
	f->neg.auth_required = true;
	assert_int_equal(nego_security(f, SEG("AuthMethod=None,SRP,CHAP\0")), 0);
	assert_string_equal(resp_get(&f->resp, "AuthMethod"), "CHAP");
	assert_int_equal(f->neg.auth, ISCSI_AUTH_CHAP);
	assert_true(f->neg.auth_negotiated);
	assert_false(f->auth_failure);

	reinit(f, ISCSI_SESSION_NORMAL);
	f->neg.auth_required = true;
	assert_int_equal(nego_security(f, SEG("AuthMethod=None\0")), -1);
	assert_string_equal(resp_get(&f->resp, "AuthMethod"), "Reject");
	assert_true(f->auth_failure);
	assert_true(f->err[0] != '\0');
}

static void test_auth_method_outside_security_stage(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("AuthMethod=None\0")), -1);
	assert_false(f->auth_failure);
	assert_false(f->neg.auth_negotiated);
}

static void test_operational_keys_in_security_stage(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego_security(f, SEG("AuthMethod=None\0HeaderDigest=None\0"
					      "MaxRecvDataSegmentLength=65536\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "HeaderDigest"), "None");
	assert_int_equal(f->neg.params.max_xmit_dsl, 65536);
}

/* ---- iSER (RFC 7145) ---- */

static void test_iser_keys_on_tcp(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nego(f, SEG("RDMAExtensions=Yes\0InitiatorRecvDataSegmentLength=8192\0"
				     "TargetRecvDataSegmentLength=8192\0"
				     "MaxOutstandingUnexpectedPDUs=16\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "RDMAExtensions"), "No");
	assert_false(f->neg.params.rdma_extensions);
	assert_string_equal(resp_get(&f->resp, "InitiatorRecvDataSegmentLength"), "Irrelevant");
	assert_string_equal(resp_get(&f->resp, "TargetRecvDataSegmentLength"), "Irrelevant");
	assert_string_equal(resp_get(&f->resp, "MaxOutstandingUnexpectedPDUs"), "Irrelevant");
	/* no declaration of ours follows on TCP (resp_get fails on a second occurrence) */
	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_string_equal(resp_get(&f->resp, "TargetRecvDataSegmentLength"), "Irrelevant");
}

static void test_iser_keys_on_rdma(void **state)
{
	struct fixture *f = *state;
	f->limits.rdma = true;
	f->limits.max_recv_dsl = 131072;
	reinit(f, ISCSI_SESSION_NORMAL);
	/* the iSER keys come before RDMAExtensions, which still decides for them */
	assert_int_equal(nego(f, SEG("InitiatorRecvDataSegmentLength=65536\0"
				     "MaxOutstandingUnexpectedPDUs=32\0RDMAExtensions=Yes\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "RDMAExtensions"), "Yes");
	assert_true(f->neg.params.rdma_extensions);
	/* declarative: recorded, not answered */
	assert_null(resp_get(&f->resp, "InitiatorRecvDataSegmentLength"));
	assert_int_equal(f->neg.params.initiator_recv_dsl, 65536);
	assert_string_equal(resp_get(&f->resp, "MaxOutstandingUnexpectedPDUs"), "32");
	assert_int_equal(f->neg.params.max_outstanding_unexpected_pdus, 32);

	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_string_equal(resp_get(&f->resp, "TargetRecvDataSegmentLength"), "131072");
	assert_int_equal(f->neg.params.target_recv_dsl, 131072);
	/* declared once */
	iscsi_negotiation_finish(&f->neg, &f->resp);
	assert_string_equal(resp_get(&f->resp, "TargetRecvDataSegmentLength"), "131072");
}

static void test_iser_key_ranges(void **state)
{
	struct fixture *f = *state;
	f->limits.rdma = true;
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("RDMAExtensions=Yes\0InitiatorRecvDataSegmentLength=100\0"
				     "MaxOutstandingUnexpectedPDUs=1\0"
				     "TargetRecvDataSegmentLength=4096\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "InitiatorRecvDataSegmentLength"), "Reject");
	assert_int_equal(f->neg.params.initiator_recv_dsl, 8192);
	assert_string_equal(resp_get(&f->resp, "MaxOutstandingUnexpectedPDUs"), "Reject");
	/* the initiator's TargetRecvDataSegmentLength prompts our declaration */
	assert_string_equal(resp_get(&f->resp, "TargetRecvDataSegmentLength"), "262144");

	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("RDMAExtensions=Yes\0MaxOutstandingUnexpectedPDUs=0\0")), 0);
	assert_string_equal(resp_get(&f->resp, "MaxOutstandingUnexpectedPDUs"), "0");
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("RDMAExtensions=Yes\0"
				     "MaxOutstandingUnexpectedPDUs=4294967296\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "MaxOutstandingUnexpectedPDUs"), "Reject");

	/* RDMAExtensions=No on an iSER connection makes the keys irrelevant */
	reinit(f, ISCSI_SESSION_NORMAL);
	assert_int_equal(nego(f, SEG("RDMAExtensions=No\0InitiatorRecvDataSegmentLength=8192\0")),
			 0);
	assert_string_equal(resp_get(&f->resp, "RDMAExtensions"), "No");
	assert_string_equal(resp_get(&f->resp, "InitiatorRecvDataSegmentLength"), "Irrelevant");
}

static void test_null_limits_use_defaults(void **state)
{
	struct iscsi_negotiation neg;
	iscsi_negotiation_init(&neg, NULL, ISCSI_SESSION_NORMAL);
	assert_int_equal(neg.limits.max_recv_dsl, 262144);
	struct iscsi_text_buf resp = { 0 };
	/* err and auth_failure are optional */
	assert_int_equal(iscsi_negotiate(&neg, SEG("Foo\0"), false, &resp, NULL, NULL, 0), -1);
	assert_int_equal(iscsi_negotiate(&neg, SEG("MaxConnections=5\0"), false, &resp, NULL, NULL, 0),
			 0);
	assert_string_equal(resp_get(&resp, "MaxConnections"), "1");
	iscsi_text_buf_free(&resp);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_add_and_foreach_round_trip),
		cmocka_unit_test(test_foreach_last_pair_without_nul_and_stray_nuls),
		cmocka_unit_test(test_foreach_malformed),
		cmocka_unit_test(test_foreach_stops_on_callback_result),
		cmocka_unit_test(test_text_buf_overflow_is_sticky_and_whole),
		cmocka_unit_test(test_login_keys_parse),
		cmocka_unit_test(test_login_keys_malformed),
		T(test_defaults),
		T(test_linux_initiator_operational_stage),
		T(test_digest_lists),
		T(test_numeric_min_keys),
		T(test_numeric_max_key),
		T(test_number_syntax),
		T(test_boolean_keys),
		T(test_max_recv_dsl_declaration),
		T(test_first_burst_bounded_by_max_burst),
		T(test_markers),
		T(test_task_reporting_and_protocol_level),
		T(test_unknown_and_extension_keys),
		T(test_identity_and_target_only_keys),
		T(test_repeated_keys_fail),
		T(test_malformed_request_fails),
		T(test_discovery_session),
		T(test_auth_method_without_chap),
		T(test_auth_method_chap_required),
		T(test_auth_method_outside_security_stage),
		T(test_operational_keys_in_security_stage),
		T(test_iser_keys_on_tcp),
		T(test_iser_keys_on_rdma),
		T(test_iser_key_ranges),
		cmocka_unit_test(test_null_limits_use_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
