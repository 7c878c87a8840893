/* iSCSI Text requests: SendTargets discovery (RFC 7143 appendix C), filtered by access rules. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/runtime.h"
#include "transports/iscsi/iscsi.h"

struct text_request {
	bool send_targets;
	char send_targets_value[ISCSI_NAME_MAX + 1];
	bool other_keys;
};

static int collect_key(void *arg, const char *key, const char *value)
{
	struct text_request *req = arg;
	if (strcmp(key, "SendTargets") == 0) {
		req->send_targets = true;
		snprintf(req->send_targets_value, sizeof(req->send_targets_value), "%s", value);
	} else {
		req->other_keys = true;
	}
	return 0;
}

/* "addr:port,tpgt" for a portal; a wildcard portal answers with the address the initiator
 * reached us on. */
static void portal_address(const struct iscsi_conn *conn, const struct iscsi_portal *portal,
			   uint16_t tpgt, char *out, size_t len)
{
	const struct sockaddr_storage *ss = &portal->addr;
	bool wildcard = false;
	if (ss->ss_family == AF_INET)
		wildcard = ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	else if (ss->ss_family == AF_INET6)
		wildcard = IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	if (wildcard)
		ss = &conn->local_addr;
	char host[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in *)&portal->addr)->sin_port);
		snprintf(out, len, "%s:%u,%u", host, port, tpgt);
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)&portal->addr)->sin6_port);
		snprintf(out, len, "[%s]:%u,%u", host, port, tpgt);
	}
}

/* The portals of one kind (TCP or iSER) a target is reachable through; an address both kinds
 * listen on is named once (the initiator's iface picks the transport). */
static void add_portals(struct iscsi_conn *conn, const struct tg_target *target,
			const struct iscsi_portal *portals, size_t count, char (*seen)[INET6_ADDRSTRLEN + 32],
			size_t *nseen, size_t max_seen, struct iscsi_text_buf *out)
{
	for (size_t i = 0; i < count; i++) {
		char address[INET6_ADDRSTRLEN + 32];
		portal_address(conn, &portals[i], target->tpgt, address, sizeof(address));
		bool dup = false;
		for (size_t j = 0; j < *nseen && !dup; j++)
			dup = strcmp(seen[j], address) == 0;
		if (dup)
			continue;
		if (*nseen < max_seen)
			memcpy(seen[(*nseen)++], address, sizeof(address));
		iscsi_text_add(out, "TargetAddress", address);
	}
}

static void add_target(struct iscsi_conn *conn, const struct tg_target *target,
		       struct iscsi_text_buf *out)
{
	char seen[16][INET6_ADDRSTRLEN + 32];
	size_t nseen = 0;
	/* The portals belong to the main loop's server (set up before any I/O thread starts,
	 * freed after they have all ended). */
	const struct iscsi_server *owner = iscsi_server_shared(conn->server);
	iscsi_text_add(out, "TargetName", target->name);
	if (target->transports & TG_TRANSPORT_ISCSI)
		add_portals(conn, target, owner->portals, owner->portal_count, seen, &nseen, 16,
			    out);
	if (target->transports & TG_TRANSPORT_ISER)
		add_portals(conn, target, owner->iser_portals, owner->iser_portal_count, seen,
			    &nseen, 16, out);
}

void iscsi_text_handle(struct iscsi_conn *conn, const struct iscsi_hdr *hdr, const uint8_t *data)
{
	if (!iscsi_cmdsn_accept(conn, hdr))
		return;
	struct iscsi_session *session = conn->session;
	struct text_request req = { 0 };
	struct iscsi_text_buf out = { 0 };
	if (iscsi_text_foreach(data, hdr->data_len, collect_key, &req) != 0) {
		tg_warn("iscsi", "%s: malformed Text request", conn->peer);
		iscsi_conn_close(conn, "malformed Text request");
		iscsi_text_buf_free(&out);
		return;
	}
	if (req.send_targets) {
		const struct tg_runtime *rt = conn->server->runtime;
		bool all = strcmp(req.send_targets_value, "All") == 0;
		if (all && session->type != ISCSI_SESSION_DISCOVERY) {
			iscsi_text_add(&out, "SendTargets", "Reject");
		} else {
			for (size_t i = 0; i < rt->target_count; i++) {
				const struct tg_target *t = &rt->targets[i];
				if (!(t->transports & (TG_TRANSPORT_ISCSI | TG_TRANSPORT_ISER)) ||
				    !tg_target_resolve_view(t, session->initiator_name))
					continue;
				bool wanted = all ||
					      (req.send_targets_value[0] == 0 && t == session->target) ||
					      strcasecmp(req.send_targets_value, t->name) == 0;
				if (wanted)
					add_target(conn, t, &out);
			}
		}
	}
	if (req.other_keys)
		tg_debug("iscsi", "%s: Text request keys other than SendTargets ignored", conn->peer);
	uint32_t len = (uint32_t)out.len;
	if (out.overflow || len > session->params.max_xmit_dsl) {
		/* Splitting a long answer over several Text responses is not needed for the
		 * number of targets one daemon serves; say so instead of truncating silently. */
		tg_warn("iscsi", "%s: SendTargets answer too long (%u bytes)", conn->peer, len);
		len = 0;
	}
	uint8_t bhs[ISCSI_BHS_LEN];
	struct iscsi_sn_fields sn;
	iscsi_conn_sn(conn, true, &sn);
	iscsi_build_text_rsp(bhs, true, false, hdr->itt, ISCSI_RESERVED_TAG, len, &sn);
	iscsi_conn_send(conn, bhs, out.data, len, false);
	iscsi_text_buf_free(&out);
}
