/* The validated configuration model that targed builds from a libconfig file before starting. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

struct cfg_portal {
	char host[256];  /* numeric or name; IPv6 without brackets */
	uint16_t port;
	int line;
};

struct cfg_portal_list {
	struct cfg_portal *items;
	size_t count;
};

struct cfg_device {
	char *name;
	char *backend;          /* "file" | "block" | "thin" | "passthrough" | "tape" | "cdrom" */
	char *path;
	uint64_t size;          /* bytes; 0 = not given (use the existing file/device size) */
	uint32_t block_size;    /* 0 = not given (backend default: 512 for files) */
	bool direct;            /* O_DIRECT; default false for files, true for block devices */
	bool direct_set;        /* whether `direct` appeared in the file */
	bool read_only;
	bool removable;         /* disks: the medium can be ejected and loaded (RMB) */
	uint64_t chunk_size;    /* thin: allocation unit */
	int protection_type;    /* 0 none, 1..3 */
	char *pi_path;          /* default PATH.pi */
	char *pi_host_guard;    /* protection.host_guard: PI profile on the wire; NULL = t10dif-crc16 */
	char *serial;           /* optional unit serial number override */
	int line;
};

struct cfg_lun {
	uint64_t lun;
	char *device;           /* name of a cfg_device */
	bool read_only;
	int line;
};

struct cfg_lun_list {
	struct cfg_lun *items;
	size_t count;
};

struct cfg_chap {
	bool present;
	char *user;
	char *secret;           /* as written: plain text, or 0x-prefixed hex, or 0b-prefixed base64 */
	char *mutual_user;
	char *mutual_secret;
	int line;
};

struct cfg_group {
	char *name;
	char **initiators;
	size_t initiator_count;
	int line;
};

struct cfg_access {
	char *group;            /* either group or initiators, not both */
	char **initiators;
	size_t initiator_count;
	struct cfg_lun_list luns;
	int line;
};

struct cfg_target {
	char *name;
	unsigned transports;    /* mask of tg_transport_kind; default: iSCSI only */
	struct cfg_chap chap;
	struct cfg_lun_list luns;
	struct cfg_access *access;
	size_t access_count;
	char *srp_port_id;
	int line;
};

struct tg_config {
	char *path;             /* the file it came from, for messages */
	enum tg_log_level log_level;
	char *control_socket;
	unsigned io_threads;
	unsigned *io_thread_cpus;     /* CPUs the I/O loops are pinned to, in order; NULL = none */
	unsigned io_thread_cpu_count;
	bool control_socket_set;      /* named in the file, not the default */
	uint64_t buffer_memory;       /* data-buffer budget in bytes; 0 = a quarter of the RAM */
	unsigned iscsi_login_timeout; /* s a connection may take to log in; 0 = no limit */
	unsigned max_sessions;        /* iSCSI and iSER sessions at once; 0 = no limit */
	struct cfg_chap discovery_auth;
	struct cfg_portal_list iscsi_listen;
	struct cfg_portal_list iser_listen;
	struct cfg_portal_list srp_listen;
	struct cfg_device *devices;
	size_t device_count;
	struct cfg_group *groups;
	size_t group_count;
	struct cfg_target *targets;
	size_t target_count;
};

/*
 * Parses and validates path. On success returns 0 and *out. On failure returns -1 and writes
 * "FILE:LINE: message naming the key" into err. Never touches live state.
 */
int tg_config_load(const char *path, struct tg_config **out, char *err, size_t errlen);
void tg_config_free(struct tg_config *config);

/* Parses "512", "4K", "1G", "2T" (powers of 1024). Returns false on garbage or overflow. */
bool tg_config_parse_size(const char *text, uint64_t *out);

const struct cfg_device *tg_config_find_device(const struct tg_config *config, const char *name);

/*
 * Decodes a CHAP secret as written in the file (plain text, "0x" hex or "0b" base64, RFC 7143
 * binary-value) into malloc'd bytes. Returns 0, or -1 on a malformed encoding or no memory.
 */
int tg_config_decode_secret(const char *text, uint8_t **out, size_t *len);

#endif
