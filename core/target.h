/* Targets, LUN maps and access rules: how an I_T nexus resolves to the LUNs it may see. */
#ifndef TG_TARGET_H
#define TG_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tg_device;

struct tg_lun_entry {
	uint64_t lun;
	struct tg_device *dev;
	bool read_only;
};

/* An immutable, sorted-by-LUN list of mapped devices. */
struct tg_lun_map {
	size_t count;
	struct tg_lun_entry *entries;
};

const struct tg_lun_entry *tg_lun_map_find(const struct tg_lun_map *map, uint64_t lun);

struct tg_chap_secret {
	char *user;
	uint8_t *secret;
	size_t secret_len;
};

struct tg_chap_config {
	bool enabled;          /* initiator must authenticate to the target */
	struct tg_chap_secret target_auth;  /* what the initiator proves (user/secret) */
	bool mutual;           /* target must also authenticate to the initiator */
	struct tg_chap_secret mutual_auth;  /* what the target proves (mutual_user/mutual_secret) */
};

/* An access rule: the initiators it names (groups already expanded) and their LUN map. */
struct tg_access_rule {
	char **initiators;
	size_t initiator_count;
	struct tg_lun_map map;
};

enum tg_transport_kind {
	TG_TRANSPORT_ISCSI = 1u << 0,
	TG_TRANSPORT_ISER = 1u << 1,
	TG_TRANSPORT_SRP = 1u << 2,
};

struct tg_target {
	char *name;
	unsigned transports;      /* mask of tg_transport_kind */
	uint16_t tpgt;
	struct tg_lun_map luns;   /* seen by initiators no rule names; count 0 = refuse them */
	struct tg_access_rule *rules;
	size_t rule_count;
	struct tg_chap_config chap;
	char *srp_port_id;        /* optional, "0x" + 32 hex digits */
};

/*
 * The LUN map an initiator may see through target: the first rule naming it, else the
 * target's default LUNs; NULL when the initiator may not log in at all.
 * Initiator names compare case-insensitively (iSCSI names are normalised lowercase).
 */
const struct tg_lun_map *tg_target_resolve_view(const struct tg_target *target,
						const char *initiator_name);

#endif
