/* iSCSI text keys and login parameter negotiation (RFC 7143 sections 6 and 13): pure functions. */
#ifndef ISCSI_PARAMS_H
#define ISCSI_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISCSI_NAME_MAX 224
#define ISCSI_KEY_MAX 63
#define ISCSI_VALUE_MAX 8192

/* A growing buffer of "key=value\0" pairs for a Login/Text response data segment. */
struct iscsi_text_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool overflow; /* something did not fit (caller then fails the exchange) */
};

/* The buffer owns data: start from an all-zero struct (data NULL) or malloc'ed memory,
 * release with iscsi_text_buf_free. It grows up to ISCSI_TEXT_BUF_MAX bytes; a pair that
 * would pass that (or an allocation failure) sets overflow and nothing more is added. */
#define ISCSI_TEXT_BUF_MAX (1u << 20)
void iscsi_text_buf_free(struct iscsi_text_buf *buf);
void iscsi_text_add(struct iscsi_text_buf *buf, const char *key, const char *value);
void iscsi_text_add_u32(struct iscsi_text_buf *buf, const char *key, uint32_t value);

/*
 * Calls fn(arg, key, value) for each "key=value" of a data segment (NUL separated; the last
 * pair may lack its NUL). Returns 0, -1 if a pair is malformed (no '=', empty key, key longer
 * than ISCSI_KEY_MAX, value longer than ISCSI_VALUE_MAX), or fn's first non-zero return.
 */
int iscsi_text_foreach(const uint8_t *data, size_t len,
		       int (*fn)(void *arg, const char *key, const char *value), void *arg);

enum iscsi_session_type { ISCSI_SESSION_NORMAL = 0, ISCSI_SESSION_DISCOVERY = 1 };

/* Operational parameters in force for a session/connection (RFC 7143 defaults at init). */
struct iscsi_params {
	uint32_t max_xmit_dsl;      /* the initiator's MaxRecvDataSegmentLength: our send limit */
	uint32_t max_recv_dsl;      /* our MaxRecvDataSegmentLength as declared */
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t max_outstanding_r2t;
	uint32_t max_connections;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t error_recovery_level;
	bool initial_r2t;
	bool immediate_data;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	bool header_digest;         /* CRC32C */
	bool data_digest;           /* CRC32C */
	/* iSER (RFC 7145) */
	bool rdma_extensions;
	uint32_t initiator_recv_dsl;
	uint32_t target_recv_dsl;
	uint32_t max_outstanding_unexpected_pdus;
};

/* What this target is willing to do; configured per portal/transport. */
struct iscsi_target_limits {
	uint32_t max_recv_dsl;         /* we declare this (default 262144) */
	uint32_t max_burst_length;     /* upper bound we accept (default 1 MiB) */
	uint32_t first_burst_length;   /* upper bound we accept (default 65536) */
	uint32_t max_outstanding_r2t;  /* upper bound (default 16) */
	uint32_t max_connections;      /* upper bound (default 1) */
	uint32_t error_recovery_level; /* upper bound (default 0) */
	bool allow_header_digest;
	bool allow_data_digest;
	bool want_initial_r2t;         /* we prefer Yes (result is OR) — default false */
	bool allow_immediate_data;     /* result is AND — default true */
	bool rdma;                     /* this is an iSER connection */
	/* iSER (RFC 7145 6.4): the unexpected PDUs our posted receives can absorb at once, the
	 * bound answered for MaxOutstandingUnexpectedPDUs; 0 = none of our own (default). */
	uint32_t max_outstanding_unexpected_pdus;
};

void iscsi_target_limits_default(struct iscsi_target_limits *limits);

/* Keys an initiator declares in the login that are not operational parameters. */
struct iscsi_login_keys {
	char initiator_name[ISCSI_NAME_MAX + 1];
	char initiator_alias[256];
	char target_name[ISCSI_NAME_MAX + 1];
	bool have_initiator_name;
	bool have_target_name;
	bool have_session_type;
	enum iscsi_session_type session_type;
};

/* Extracts InitiatorName/InitiatorAlias/TargetName/SessionType from a login data segment.
 * Returns 0, or -1 if a value is malformed (e.g. unknown SessionType, name too long). */
int iscsi_login_keys_parse(const uint8_t *data, size_t len, struct iscsi_login_keys *out);

enum iscsi_auth_choice { ISCSI_AUTH_NONE = 0, ISCSI_AUTH_CHAP = 1 };

struct iscsi_negotiation {
	struct iscsi_target_limits limits;
	enum iscsi_session_type session_type;
	bool auth_required;            /* the target demands CHAP */
	enum iscsi_auth_choice auth;   /* result of AuthMethod */
	bool auth_negotiated;
	struct iscsi_params params;
	uint64_t answered;             /* bit per key already negotiated (a repeat is an error) */
	bool declared_max_recv_dsl;    /* we have sent our MaxRecvDataSegmentLength */
};

void iscsi_negotiation_init(struct iscsi_negotiation *neg, const struct iscsi_target_limits *limits,
			    enum iscsi_session_type type);

/*
 * Answers every key of one Login (or Text) request data segment, updating neg->params and
 * appending the responses to resp: results of negotiated keys, "NotUnderstood" for unknown
 * keys, "Irrelevant" where the RFC says so (e.g. operational keys in a discovery session),
 * "Reject" for out-of-range values. InitiatorName/TargetName/SessionType/InitiatorAlias are
 * accepted silently; AuthMethod picks CHAP or None according to auth_required (answering
 * Reject when no acceptable method was offered). Security keys CHAP_* are not handled here.
 * `security_stage` says which login stage the request is in (operational keys in the
 * security stage are allowed, as the RFC permits).
 * Returns 0, or -1 with err set when the login must fail (login status 0x02 0x07 initiator
 * error for malformed or repeated keys; auth_failure set when no AuthMethod could be agreed).
 */
int iscsi_negotiate(struct iscsi_negotiation *neg, const uint8_t *req, size_t req_len,
		    bool security_stage, struct iscsi_text_buf *resp, bool *auth_failure,
		    char *err, size_t errlen);

/* Declarations the target must make before going to full feature phase if it has not yet
 * (MaxRecvDataSegmentLength, and for iSER TargetRecvDataSegmentLength). */
void iscsi_negotiation_finish(struct iscsi_negotiation *neg, struct iscsi_text_buf *resp);

#endif
