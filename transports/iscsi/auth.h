/* CHAP authentication (RFC 7143 12.1.3, RFC 1994) in the security stage of an iSCSI login. */
#ifndef ISCSI_AUTH_H
#define ISCSI_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/target.h"

struct iscsi_conn;
struct iscsi_text_buf;

enum iscsi_auth_result {
	ISCSI_AUTH_CONTINUE, /* more security-stage PDUs are needed */
	ISCSI_AUTH_DONE,     /* the initiator (and, if asked, the target) is authenticated */
	ISCSI_AUTH_FAILED,
};

/*
 * Runs one step of the CHAP exchange for a security-stage request whose AuthMethod
 * negotiated to CHAP: reads CHAP_A / CHAP_N / CHAP_R (and CHAP_I / CHAP_C for mutual CHAP)
 * from the request text and appends CHAP_A/CHAP_I/CHAP_C or the mutual CHAP_N/CHAP_R to out.
 * The secrets come from conn->target->chap (or the runtime's discovery_chap when
 * conn->target is NULL). State lives in conn->auth.
 */
enum iscsi_auth_result iscsi_auth_step(struct iscsi_conn *conn, const uint8_t *text, size_t len,
				       struct iscsi_text_buf *out);
bool iscsi_auth_succeeded(const struct iscsi_conn *conn);
void iscsi_auth_free(struct iscsi_conn *conn);

#endif
