/* SPC-2 RESERVE/RELEASE and SPC-4 persistent reservations: per-device state, the conflict check, PR IN/OUT. */
#include "core/reservation.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "core/cmd.h"
#include "core/device.h"
#include "core/log.h"
#include "core/nexus.h"
#include "core/scsi.h"
#include "core/task.h"
#include "core/tmf.h"

/* Registrations one logical unit keeps; more get INSUFFICIENT REGISTRATION RESOURCES. */
#define PR_MAX_REGISTRATIONS 1024
/* Largest PERSISTENT RESERVE OUT parameter list taken (SPEC_I_PT lists of TransportIDs). */
#define PR_MAX_PARAM_LIST 65536u
#define PR_BASIC_PARAM_LEN 24u

/*
 * The state behind dev->shared (device.h). The two flags mirror "a reservation exists" so that
 * the dispatch check of an unreserved device costs two loads.
 */
struct tg_device_shared {
	atomic_bool spc2_reserved;
	atomic_bool pr_reserved;
	/* SPC-2: the I_T nexus holding RESERVE(6)/(10), by its port names. Guarded by spc2_lock
	 * (not dev->lock) so that the end of a nexus can release it without walking the nexus's
	 * LUN map, which may already be gone. */
	bool spc2_held;
	char spc2_initiator[TG_PR_NAME_MAX];
	char spc2_target[TG_PR_NAME_MAX];
	struct tg_device_shared *next_spc2; /* on spc2_holders while held */
	/* SPC-4 persistent reservations, guarded by dev->lock. */
	uint32_t generation;
	uint8_t type; /* TG_PR_TYPE_NONE: no persistent reservation */
	bool aptpl;
	struct tg_pr_record *regs;
	size_t count, cap;
	char *path; /* <data>.pr; NULL when this device cannot persist (PTPL_C = 0) */
};

/* Who sends a command: the I_T nexus in the terms registrations use. */
struct pr_port {
	const struct tg_nexus *nexus;
	char initiator[TG_PR_NAME_MAX]; /* initiator port name */
	const char *name;               /* iSCSI name (or SRP port id) without the ISID */
	char target[TG_PR_NAME_MAX];    /* target port name */
	uint16_t rtpi;
	uint8_t protocol;
};

static void port_of(const struct tg_nexus *nexus, struct pr_port *port)
{
	port->nexus = nexus;
	snprintf(port->initiator, sizeof(port->initiator), "%s", nexus->initiator_port);
	port->name = nexus->initiator_name;
	tg_nexus_target_port(nexus, port->target, sizeof(port->target));
	port->rtpi = nexus->target ? nexus->target->tpgt : 0;
	port->protocol = nexus->transport == TG_TRANSPORT_SRP ? TG_PROTOCOL_SRP : TG_PROTOCOL_ISCSI;
}

static bool names_port(const char *initiator)
{
	return strcasestr(initiator, ",i,0x") != NULL;
}

/* Does registration rec cover the I_T nexus of port? */
static bool reg_covers(const struct tg_pr_record *rec, const struct pr_port *port)
{
	bool initiator = strcasecmp(rec->initiator, port->initiator) == 0 ||
			 (!names_port(rec->initiator) && strcasecmp(rec->initiator, port->name) == 0);
	return initiator && (rec->all_tg_pt || strcasecmp(rec->target, port->target) == 0);
}

/* The initiator part of a registration, without its ISID. */
static void base_name(const char *initiator, char *out, size_t len)
{
	snprintf(out, len, "%s", initiator);
	char *sep = strcasestr(out, ",i,0x");
	if (sep)
		*sep = '\0';
}

/* Do two registrations cover a common I_T nexus? */
static bool regs_overlap(const struct tg_pr_record *a, const struct tg_pr_record *b)
{
	bool initiator = strcasecmp(a->initiator, b->initiator) == 0;
	if (!initiator && (!names_port(a->initiator) || !names_port(b->initiator))) {
		char x[TG_PR_NAME_MAX], y[TG_PR_NAME_MAX];
		base_name(a->initiator, x, sizeof(x));
		base_name(b->initiator, y, sizeof(y));
		initiator = strcasecmp(x, y) == 0;
	}
	return initiator && (a->all_tg_pt || b->all_tg_pt || strcasecmp(a->target, b->target) == 0);
}

static bool all_registrants(uint8_t type)
{
	return type == TG_PR_TYPE_WRITE_EXCLUSIVE_ALL_REGISTRANTS ||
	       type == TG_PR_TYPE_EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

static bool valid_type(uint8_t type)
{
	switch (type) {
	case TG_PR_TYPE_WRITE_EXCLUSIVE:
	case TG_PR_TYPE_EXCLUSIVE_ACCESS:
	case TG_PR_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
	case TG_PR_TYPE_EXCLUSIVE_ACCESS_REGISTRANTS_ONLY:
	case TG_PR_TYPE_WRITE_EXCLUSIVE_ALL_REGISTRANTS:
	case TG_PR_TYPE_EXCLUSIVE_ACCESS_ALL_REGISTRANTS:
		return true;
	default:
		return false;
	}
}

static void update_reserved(struct tg_device_shared *sh)
{
	atomic_store_explicit(&sh->pr_reserved, sh->type != TG_PR_TYPE_NONE, memory_order_release);
}

/* The devices with an SPC-2 reservation; a leaf lock (taken after dev->lock, never before). */
static pthread_mutex_t spc2_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tg_device_shared *spc2_holders;

/* spc2_lock held. */
static void spc2_drop_locked(struct tg_device_shared *sh)
{
	if (!sh->spc2_held)
		return;
	for (struct tg_device_shared **p = &spc2_holders; *p; p = &(*p)->next_spc2) {
		if (*p == sh) {
			*p = sh->next_spc2;
			break;
		}
	}
	sh->next_spc2 = NULL;
	sh->spc2_held = false;
	atomic_store_explicit(&sh->spc2_reserved, false, memory_order_release);
}

/* spc2_lock held. */
static void spc2_take_locked(struct tg_device_shared *sh, const char *initiator, const char *target)
{
	snprintf(sh->spc2_initiator, sizeof(sh->spc2_initiator), "%s", initiator);
	snprintf(sh->spc2_target, sizeof(sh->spc2_target), "%s", target);
	if (!sh->spc2_held) {
		sh->spc2_held = true;
		sh->next_spc2 = spc2_holders;
		spc2_holders = sh;
	}
	atomic_store_explicit(&sh->spc2_reserved, true, memory_order_release);
}

/* The state of dev, created on first use for devices that were never attached (tests). The
 * caller holds dev->lock. */
static struct tg_device_shared *shared_locked(struct tg_device *dev)
{
	if (!dev->shared)
		dev->shared = calloc(1, sizeof(struct tg_device_shared));
	return dev->shared;
}

static ssize_t find_reg(const struct tg_device_shared *sh, const struct pr_port *port)
{
	for (size_t i = 0; i < sh->count; i++)
		if (reg_covers(&sh->regs[i], port))
			return (ssize_t)i;
	return -1;
}

static bool is_holder(const struct tg_device_shared *sh, ssize_t reg)
{
	if (reg < 0 || sh->type == TG_PR_TYPE_NONE)
		return false;
	return all_registrants(sh->type) || sh->regs[reg].holder;
}

/* spc2_lock held. */
static bool spc2_holder_locked(const struct tg_device_shared *sh, const char *initiator,
			       const char *target)
{
	return sh->spc2_held && strcasecmp(sh->spc2_initiator, initiator) == 0 &&
	       strcasecmp(sh->spc2_target, target) == 0;
}

/* Whether an SPC-2 reservation exists that port does not hold. */
static bool spc2_blocks(struct tg_device_shared *sh, const struct pr_port *port)
{
	if (!atomic_load_explicit(&sh->spc2_reserved, memory_order_acquire))
		return false;
	pthread_mutex_lock(&spc2_lock);
	bool blocks = sh->spc2_held && !spc2_holder_locked(sh, port->initiator, port->target);
	pthread_mutex_unlock(&spc2_lock);
	return blocks;
}

/* ---- the conflict check (SPC-4 5.13.1, table 63 and SBC-3 table 13) ---- */

enum access { ACCESS_READ, ACCESS_WRITE };

/*
 * Whether a command of class `access` from a nexus that does not hold the reservation passes
 * a persistent reservation of `type`. The holder always passes; for the all-registrants
 * types every registrant is a holder.
 */
static bool pr_allows(uint8_t type, enum access access, bool registered)
{
	switch (type) {
	case TG_PR_TYPE_WRITE_EXCLUSIVE:
		return access == ACCESS_READ;
	case TG_PR_TYPE_EXCLUSIVE_ACCESS:
		return false;
	case TG_PR_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
	case TG_PR_TYPE_WRITE_EXCLUSIVE_ALL_REGISTRANTS:
		return registered || access == ACCESS_READ;
	case TG_PR_TYPE_EXCLUSIVE_ACCESS_REGISTRANTS_ONLY:
	case TG_PR_TYPE_EXCLUSIVE_ACCESS_ALL_REGISTRANTS:
		return registered;
	default:
		return true;
	}
}

enum tg_sense_reason tg_pr_check(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	struct tg_device_shared *sh = dev->shared;
	if (!sh || (!atomic_load_explicit(&sh->spc2_reserved, memory_order_acquire) &&
		    !atomic_load_explicit(&sh->pr_reserved, memory_order_acquire)))
		return TG_SR_OK;
	unsigned flags = task->cmd->flags;
	struct pr_port port;
	port_of(task->nexus, &port);
	/* SPC-2: only commands that describe the unit get through; RESERVE, RELEASE and the PR
	 * commands apply their own rules. */
	if (spc2_blocks(sh, &port))
		return (flags & (TG_CMD_ANY_LUN | TG_CMD_PR_SELF)) ? TG_SR_OK
								    : TG_SR_RESERVATION_CONFLICT;
	if (flags & (TG_CMD_CONFLICT_FREE | TG_CMD_PR_SELF))
		return TG_SR_OK;
	bool allowed = true;
	pthread_mutex_lock(&dev->lock);
	if (sh->type != TG_PR_TYPE_NONE) {
		ssize_t reg = find_reg(sh, &port);
		enum access access = (flags & TG_CMD_PR_READ) ? ACCESS_READ : ACCESS_WRITE;
		allowed = is_holder(sh, reg) || pr_allows(sh->type, access, reg >= 0);
	}
	pthread_mutex_unlock(&dev->lock);
	return allowed ? TG_SR_OK : TG_SR_RESERVATION_CONFLICT;
}

/* ---- resets and nexus loss ---- */

void tg_pr_lun_reset(struct tg_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	struct tg_device_shared *sh = dev->shared;
	if (sh) {
		pthread_mutex_lock(&spc2_lock);
		spc2_drop_locked(sh);
		pthread_mutex_unlock(&spc2_lock);
	}
	pthread_mutex_unlock(&dev->lock);
}

void tg_pr_nexus_lost(struct tg_nexus *nexus)
{
	struct pr_port port;
	port_of(nexus, &port);
	pthread_mutex_lock(&spc2_lock);
	for (struct tg_device_shared *sh = spc2_holders, *next; sh; sh = next) {
		next = sh->next_spc2;
		if (spc2_holder_locked(sh, port.initiator, port.target))
			spc2_drop_locked(sh);
	}
	pthread_mutex_unlock(&spc2_lock);
}

/* ---- attach, detach, persistence ---- */

static void image_of(const struct tg_device_shared *sh, struct tg_pr_image *image)
{
	image->generation = sh->generation;
	image->type = sh->type;
	image->aptpl = sh->aptpl;
	image->records = sh->regs;
	image->count = sh->count;
}

int tg_pr_attach(struct tg_device *dev, const char *data_path, char *err, size_t errlen)
{
	struct tg_device_shared *sh = calloc(1, sizeof(*sh));
	if (!sh) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Character and block device nodes have no "beside" that survives a reboot. */
	if (data_path && strncmp(data_path, "/dev/", 5) != 0) {
		size_t len = strlen(data_path) + 4;
		sh->path = malloc(len);
		if (!sh->path) {
			free(sh);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(sh->path, len, "%s.pr", data_path);
		struct tg_pr_image image;
		int rc = tg_pr_store_load(sh->path, &image, err, errlen);
		if (rc == 0) {
			sh->generation = image.generation;
			sh->type = image.type;
			sh->aptpl = image.aptpl;
			sh->regs = image.records;
			sh->count = sh->cap = image.count;
			tg_info("pr", "device %s: %zu registration(s)%s restored from %s", dev->name,
				sh->count, sh->type ? " and a reservation" : "", sh->path);
		} else if (rc != -ENOENT) {
			if (rc != -EINVAL)
				snprintf(err, errlen, "%s: %s", sh->path, strerror(-rc));
			free(sh->path);
			free(sh);
			return -1;
		}
	}
	update_reserved(sh);
	dev->shared = sh;
	return 0;
}

void tg_pr_detach(struct tg_device *dev)
{
	struct tg_device_shared *sh = dev->shared;
	if (!sh)
		return;
	pthread_mutex_lock(&spc2_lock);
	spc2_drop_locked(sh);
	pthread_mutex_unlock(&spc2_lock);
	free(sh->regs);
	free(sh->path);
	free(sh);
	dev->shared = NULL;
}

/* ---- effects applied once the state has changed ---- */

/* A unit attention for the nexuses a registration covered, and whether their tasks go. */
struct pr_effect {
	struct tg_pr_record rec;
	enum tg_sense_reason ua;
};

struct pr_effects {
	struct pr_effect *items;
	size_t count, cap;
	const struct tg_nexus *issuer;
	bool abort; /* PREEMPT AND ABORT: the tasks of the preempted nexuses go too */
	bool oom;
};

static void effect_add(struct pr_effects *fx, const struct tg_pr_record *rec,
		       enum tg_sense_reason ua)
{
	if (fx->count == fx->cap) {
		size_t cap = fx->cap ? 2 * fx->cap : 8;
		struct pr_effect *items = realloc(fx->items, cap * sizeof(*items));
		if (!items) {
			fx->oom = true;
			return;
		}
		fx->items = items;
		fx->cap = cap;
	}
	fx->items[fx->count].rec = *rec;
	fx->items[fx->count].ua = ua;
	fx->count++;
}

static void nexus_port(const struct tg_nexus *nexus, struct pr_port *port)
{
	port_of(nexus, port);
}

static void apply_effects_to(struct tg_nexus *nexus, size_t lun_index, void *arg)
{
	struct pr_effects *fx = arg;
	if (nexus == fx->issuer)
		return;
	struct pr_port port;
	nexus_port(nexus, &port);
	for (size_t i = 0; i < fx->count; i++)
		if (reg_covers(&fx->items[i].rec, &port))
			tg_ua_establish(nexus, lun_index, fx->items[i].ua);
}

static bool preempted_nexus(const struct tg_nexus *nexus, void *arg)
{
	struct pr_effects *fx = arg;
	if (nexus == fx->issuer)
		return false;
	struct pr_port port;
	nexus_port(nexus, &port);
	for (size_t i = 0; i < fx->count; i++)
		if (fx->items[i].ua == TG_SR_UA_REGISTRATIONS_PREEMPTED &&
		    reg_covers(&fx->items[i].rec, &port))
			return true;
	return false;
}

static void tasks_cleared(struct tg_nexus *nexus, size_t lun_index, void *arg)
{
	(void)arg;
	/* TAS = 0: the preempted nexus's tasks end without status (SPC-4 5.13.11.4.4). */
	tg_ua_establish(nexus, lun_index, TG_SR_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
}

/* ---- registrations ---- */

static int reg_append(struct tg_device_shared *sh, const struct tg_pr_record *rec)
{
	if (sh->count >= PR_MAX_REGISTRATIONS)
		return -1;
	if (sh->count == sh->cap) {
		size_t cap = sh->cap ? 2 * sh->cap : 8;
		struct tg_pr_record *regs = realloc(sh->regs, cap * sizeof(*regs));
		if (!regs)
			return -1;
		sh->regs = regs;
		sh->cap = cap;
	}
	sh->regs[sh->count++] = *rec;
	return 0;
}

static void reg_remove(struct tg_device_shared *sh, size_t index)
{
	memmove(sh->regs + index, sh->regs + index + 1,
		(sh->count - index - 1) * sizeof(sh->regs[0]));
	sh->count--;
}

static void release_reservation(struct tg_device_shared *sh)
{
	sh->type = TG_PR_TYPE_NONE;
	for (size_t i = 0; i < sh->count; i++)
		sh->regs[i].holder = false;
}

/*
 * Removes registration `index` (unregistering, or preempted). Losing its holder releases a
 * reservation (SPC-4 5.13.11.3): for the registrants-only types the others hear of it; an
 * all-registrants reservation only goes with the last registrant.
 */
static void unregister(struct tg_device_shared *sh, size_t index, struct pr_effects *fx,
		       bool notify_release)
{
	bool was_holder = is_holder(sh, (ssize_t)index);
	uint8_t type = sh->type;
	reg_remove(sh, index);
	if (!was_holder)
		return;
	if (all_registrants(type)) {
		if (sh->count == 0)
			release_reservation(sh);
		return;
	}
	release_reservation(sh);
	if (notify_release && (type == TG_PR_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY ||
			       type == TG_PR_TYPE_EXCLUSIVE_ACCESS_REGISTRANTS_ONLY))
		for (size_t i = 0; i < sh->count; i++)
			effect_add(fx, &sh->regs[i], TG_SR_UA_RESERVATIONS_RELEASED);
}

static void record_for(const struct pr_port *port, uint64_t key, bool all_tg_pt,
		       struct tg_pr_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->key = key;
	snprintf(rec->initiator, sizeof(rec->initiator), "%s", port->initiator);
	snprintf(rec->target, sizeof(rec->target), "%s", port->target);
	rec->rtpi = port->rtpi;
	rec->protocol = port->protocol;
	rec->all_tg_pt = all_tg_pt;
}

/* ---- TransportIDs (SPC-4 7.6.4) ---- */

enum { TID_FORMAT_NAME = 0x00, TID_FORMAT_PORT = 0x40 };

/* Parses one TransportID at p (avail bytes) into rec->initiator/protocol; returns its length,
 * or 0 when it is malformed or of a protocol no transport here speaks. */
static size_t parse_transport_id(const uint8_t *p, size_t avail, struct tg_pr_record *rec)
{
	if (avail < 4)
		return 0;
	uint8_t protocol = p[0] & 0x0f, format = p[0] & 0xc0;
	if (protocol == TG_PROTOCOL_ISCSI) {
		size_t len = 4u + get_be16(p + 2);
		if (len > avail || len < 24 || (len % 4) != 0)
			return 0;
		const char *name = (const char *)p + 4;
		size_t n = strnlen(name, len - 4);
		if (n == 0 || n == len - 4 || n >= TG_PR_NAME_MAX)
			return 0; /* empty, or not NUL-terminated */
		const char *sep = strcasestr(name, ",i,0x");
		if (format == TID_FORMAT_NAME ? sep != NULL : format != TID_FORMAT_PORT || !sep ||
								      strlen(sep + 5) != 12)
			return 0;
		memcpy(rec->initiator, name, n);
		rec->initiator[n] = '\0';
		rec->protocol = TG_PROTOCOL_ISCSI;
		return len;
	}
	if (protocol == TG_PROTOCOL_SRP) {
		if (avail < 24 || format != 0)
			return 0;
		char *out = rec->initiator;
		out += sprintf(out, "0x");
		for (int i = 8; i < 24; i++)
			out += sprintf(out, "%02x", p[i]);
		rec->protocol = TG_PROTOCOL_SRP;
		return 24;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Writes the TransportID of a registration at out; returns its length. */
static size_t build_transport_id(const struct tg_pr_record *rec, uint8_t *out)
{
	if (rec->protocol == TG_PROTOCOL_SRP) {
		memset(out, 0, 24);
		out[0] = TG_PROTOCOL_SRP;
		const char *hex = rec->initiator + (strncasecmp(rec->initiator, "0x", 2) == 0 ? 2 : 0);
		for (int i = 0; i < 16 && hex[2 * i] && hex[2 * i + 1]; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			out[8 + i] = (uint8_t)((hi < 0 ? 0 : hi) << 4 | (lo < 0 ? 0 : lo));
		}
		return 24;
	}
	size_t n = strlen(rec->initiator) + 1;
	size_t body = (n + 3) & ~(size_t)3;
	if (body < 20)
		body = 20;
	memset(out, 0, 4 + body);
	out[0] = (uint8_t)((names_port(rec->initiator) ? TID_FORMAT_PORT : TID_FORMAT_NAME) |
			   TG_PROTOCOL_ISCSI);
	put_be16(out + 2, (uint16_t)body);
	memcpy(out + 4, rec->initiator, n);
	return 4 + body;
}

static size_t transport_id_len(const struct tg_pr_record *rec)
{
	if (rec->protocol == TG_PROTOCOL_SRP)
		return 24;
	size_t body = (strlen(rec->initiator) + 1 + 3) & ~(size_t)3;
	return 4 + (body < 20 ? 20 : body);
}

/* ---- SPC-2 RESERVE / RELEASE ---- */

enum { RESERVE10_3RDPTY = 0x10, RESERVE10_LONGID = 0x02 };

static enum tg_sense_reason parse_reserve_release(struct tg_task *task)
{
	task->dir = TG_DIR_NONE;
	task->scsi_len = 0;
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	/* Third-party and extent reservations (the only uses of byte 1) are not supported. */
	uint8_t byte1 = task->cdb[1];
	if (byte1) {
		bool third_party = task->cmd->cdb_len == 10 && (byte1 & RESERVE10_3RDPTY);
		return tg_cmd_invalid_field(task, 1, third_party ? 4 : -1);
	}
	return TG_SR_OK;
}

enum tg_sense_reason tg_pr_parse_reserve(struct tg_task *task) { return parse_reserve_release(task); }
enum tg_sense_reason tg_pr_parse_release(struct tg_task *task) { return parse_reserve_release(task); }

/*
 * SPC-3 5.6.3 with CRH = 1: while any registration exists RESERVE and RELEASE conflict, except
 * that the persistent reservation holder gets GOOD and nothing changes.
 */
static bool pr_blocks_spc2(const struct tg_device_shared *sh, const struct pr_port *port,
			   enum tg_sense_reason *reason)
{
	if (sh->count == 0)
		return false;
	*reason = is_holder(sh, find_reg(sh, port)) ? TG_SR_OK : TG_SR_RESERVATION_CONFLICT;
	return true;
}

void tg_pr_reserve(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	struct pr_port port;
	port_of(task->nexus, &port);
	enum tg_sense_reason reason = TG_SR_OK;
	pthread_mutex_lock(&dev->lock);
	struct tg_device_shared *sh = shared_locked(dev);
	if (!sh) {
		reason = TG_SR_INTERNAL_TARGET_FAILURE;
	} else if (pr_blocks_spc2(sh, &port, &reason)) {
		/* reason set */
	} else {
		pthread_mutex_lock(&spc2_lock);
		if (sh->spc2_held && !spc2_holder_locked(sh, port.initiator, port.target))
			reason = TG_SR_RESERVATION_CONFLICT;
		else
			spc2_take_locked(sh, port.initiator, port.target);
		pthread_mutex_unlock(&spc2_lock);
	}
	pthread_mutex_unlock(&dev->lock);
	tg_task_complete(task, reason);
}

void tg_pr_release(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	struct pr_port port;
	port_of(task->nexus, &port);
	enum tg_sense_reason reason = TG_SR_OK;
	pthread_mutex_lock(&dev->lock);
	struct tg_device_shared *sh = dev->shared;
	if (sh && !pr_blocks_spc2(sh, &port, &reason)) {
		/* A RELEASE from anyone else is a no-op with GOOD status (SPC-2 7.17). */
		pthread_mutex_lock(&spc2_lock);
		if (spc2_holder_locked(sh, port.initiator, port.target))
			spc2_drop_locked(sh);
		pthread_mutex_unlock(&spc2_lock);
	}
	pthread_mutex_unlock(&dev->lock);
	tg_task_complete(task, reason);
}

/* ---- PERSISTENT RESERVE IN (SPC-4 6.15) ---- */

enum {
	RC_CRH = 0x10,
	RC_SIP_C = 0x08,
	RC_ATP_C = 0x04,
	RC_PTPL_C = 0x01,
	RC_TMV = 0x80,
	RC_PTPL_A = 0x01,
	/* ALLOW COMMANDS 011b: TEST UNIT READY passes both exclusive types; MODE SENSE, READ
	 * BUFFER, RECEIVE COPY RESULTS, REPORT SUPPORTED OPERATION CODES and similar reads pass
	 * Write Exclusive (they carry TG_CMD_PR_READ). */
	RC_ALLOW_COMMANDS = 0x3 << 4,
	FS_ALL_TG_PT = 0x02,
	FS_R_HOLDER = 0x01,
};

enum tg_sense_reason tg_pr_parse_in(struct tg_task *task)
{
	task->dir = TG_DIR_READ;
	task->scsi_len = get_be16(task->cdb + 7);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	if ((task->cdb[1] & 0x1f) > TG_PR_READ_FULL_STATUS)
		return tg_cmd_invalid_field(task, 1, 4);
	if (task->cdb[1] & 0xe0)
		return tg_cmd_invalid_field(task, 1, 7);
	return TG_SR_OK;
}

/* Builds the PR IN response for sa from sh (dev->lock held); returns its length or 0 on OOM. */
static uint8_t *build_in(const struct tg_device_shared *sh, uint8_t sa, size_t *len)
{
	size_t cap = 8;
	switch (sa) {
	case TG_PR_READ_KEYS:
		cap = 8 + 8 * sh->count;
		break;
	case TG_PR_READ_RESERVATION:
		cap = 8 + 16;
		break;
	case TG_PR_REPORT_CAPABILITIES:
		cap = 8;
		break;
	case TG_PR_READ_FULL_STATUS:
		for (size_t i = 0; i < sh->count; i++)
			cap += 24 + transport_id_len(&sh->regs[i]);
		break;
	}
	uint8_t *buf = calloc(1, cap);
	if (!buf)
		return NULL;
	size_t off = 8;
	switch (sa) {
	case TG_PR_READ_KEYS:
		put_be32(buf, sh->generation);
		for (size_t i = 0; i < sh->count; i++, off += 8)
			put_be64(buf + off, sh->regs[i].key);
		put_be32(buf + 4, (uint32_t)(off - 8));
		break;
	case TG_PR_READ_RESERVATION:
		put_be32(buf, sh->generation);
		if (sh->type != TG_PR_TYPE_NONE) {
			uint64_t key = 0; /* all-registrants types report key 0 (SPC-4 6.15.3.2) */
			for (size_t i = 0; i < sh->count && !all_registrants(sh->type); i++)
				if (sh->regs[i].holder)
					key = sh->regs[i].key;
			put_be64(buf + 8, key);
			buf[8 + 13] = sh->type; /* SCOPE 0h: logical unit */
			off += 16;
		}
		put_be32(buf + 4, (uint32_t)(off - 8));
		break;
	case TG_PR_REPORT_CAPABILITIES:
		put_be16(buf, 8);
		buf[2] = RC_CRH | RC_SIP_C | RC_ATP_C | (sh->path ? RC_PTPL_C : 0);
		buf[3] = RC_TMV | RC_ALLOW_COMMANDS | (sh->aptpl ? RC_PTPL_A : 0);
		buf[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
		buf[5] = 0x01;                              /* EX_AC_AR */
		off = 8;
		break;
	case TG_PR_READ_FULL_STATUS:
		put_be32(buf, sh->generation);
		for (size_t i = 0; i < sh->count; i++) {
			const struct tg_pr_record *rec = &sh->regs[i];
			uint8_t *d = buf + off;
			bool holder = is_holder(sh, (ssize_t)i);
			put_be64(d, rec->key);
			d[12] = (uint8_t)((rec->all_tg_pt ? FS_ALL_TG_PT : 0) | (holder ? FS_R_HOLDER : 0));
			if (holder)
				d[13] = sh->type;
			put_be16(d + 18, rec->all_tg_pt ? 0 : rec->rtpi);
			size_t tid = build_transport_id(rec, d + 24);
			put_be32(d + 20, (uint32_t)tid);
			off += 24 + tid;
		}
		put_be32(buf + 4, (uint32_t)(off - 8));
		break;
	}
	*len = off;
	return buf;
}

void tg_pr_in(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	struct pr_port port;
	port_of(task->nexus, &port);
	uint8_t sa = task->cdb[1] & 0x1f;
	size_t len = 0;
	uint8_t *buf = NULL;
	enum tg_sense_reason reason = TG_SR_OK;
	pthread_mutex_lock(&dev->lock);
	struct tg_device_shared *sh = shared_locked(dev);
	if (!sh)
		reason = TG_SR_INTERNAL_TARGET_FAILURE;
	else if (spc2_blocks(sh, &port))
		reason = TG_SR_RESERVATION_CONFLICT; /* SPC-4 5.13.3: SPC-2 reservations win */
	else if (!(buf = build_in(sh, sa, &len)))
		reason = TG_SR_INTERNAL_TARGET_FAILURE;
	pthread_mutex_unlock(&dev->lock);
	if (reason != TG_SR_OK) {
		tg_task_complete(task, reason);
		return;
	}
	tg_task_reply(task, buf, len, get_be16(task->cdb + 7));
	free(buf);
}

/* ---- PERSISTENT RESERVE OUT (SPC-4 6.16, 5.13.5 - 5.13.11) ---- */

enum {
	PO_SPEC_I_PT = 0x08,
	PO_ALL_TG_PT = 0x04,
	PO_APTPL = 0x01,
	PO_MOVE_UNREG = 0x02,
};

struct prout_params {
	uint8_t sa, scope, type;
	uint64_t key, sa_key;
	bool spec_i_pt, all_tg_pt, aptpl, unreg;
	uint16_t rtpi;
	const uint8_t *tids; /* TransportIDs (SPEC_I_PT, REGISTER AND MOVE) */
	size_t tids_len;
};

enum tg_sense_reason tg_pr_parse_out(struct tg_task *task)
{
	const uint8_t *cdb = task->cdb;
	task->dir = TG_DIR_WRITE;
	task->scsi_len = get_be32(cdb + 5);
	enum tg_sense_reason reason = tg_cmd_check_control(task);
	if (reason != TG_SR_OK)
		return reason;
	uint8_t sa = cdb[1] & 0x1f, scope = cdb[2] >> 4, type = cdb[2] & 0x0f;
	if (sa > TG_PR_REGISTER_AND_MOVE)
		return tg_cmd_invalid_field(task, 1, 4);
	bool typed = sa == TG_PR_RESERVE || sa == TG_PR_RELEASE || sa == TG_PR_PREEMPT ||
		     sa == TG_PR_PREEMPT_AND_ABORT;
	if (typed && scope != 0)
		return tg_cmd_invalid_field(task, 2, 7);
	if (typed && !valid_type(type))
		return tg_cmd_invalid_field(task, 2, 3);
	if (task->scsi_len > PR_MAX_PARAM_LIST)
		return tg_cmd_invalid_field(task, 5, -1);
	/* Only REGISTER with SPEC_I_PT and REGISTER AND MOVE carry more than the basic list;
	 * those are checked once the data is here. */
	if (task->scsi_len < PR_BASIC_PARAM_LEN ||
	    (task->scsi_len != PR_BASIC_PARAM_LEN && sa != TG_PR_REGISTER &&
	     sa != TG_PR_REGISTER_AND_MOVE))
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	return TG_SR_OK;
}

static enum tg_sense_reason param_field(struct tg_task *task, uint16_t byte, int8_t bit)
{
	task->sense_info.has_field_pointer = true;
	task->sense_info.field_in_cdb = false;
	task->sense_info.field_byte = byte;
	task->sense_info.field_bit = bit;
	return TG_SR_INVALID_FIELD_IN_PARAM_LIST;
}

static enum tg_sense_reason read_params(struct tg_task *task, struct prout_params *p)
{
	const uint8_t *d = task->data.base;
	size_t len = task->data.len;
	memset(p, 0, sizeof(*p));
	p->sa = task->cdb[1] & 0x1f;
	p->scope = task->cdb[2] >> 4;
	p->type = task->cdb[2] & 0x0f;
	if (len < PR_BASIC_PARAM_LEN)
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	p->key = get_be64(d);
	p->sa_key = get_be64(d + 8);
	if (p->sa == TG_PR_REGISTER_AND_MOVE) {
		p->unreg = d[17] & PO_MOVE_UNREG;
		p->aptpl = d[17] & PO_APTPL;
		p->rtpi = get_be16(d + 18);
		uint32_t tids_len = get_be32(d + 20);
		if ((uint64_t)PR_BASIC_PARAM_LEN + tids_len != len)
			return TG_SR_PARAM_LIST_LENGTH_ERROR;
		p->tids = d + 24;
		p->tids_len = tids_len;
		return TG_SR_OK;
	}
	p->spec_i_pt = d[20] & PO_SPEC_I_PT;
	p->all_tg_pt = d[20] & PO_ALL_TG_PT;
	p->aptpl = d[20] & PO_APTPL;
	bool registering = p->sa == TG_PR_REGISTER || p->sa == TG_PR_REGISTER_AND_IGNORE;
	if (p->spec_i_pt && p->sa != TG_PR_REGISTER)
		return param_field(task, 20, 3);
	/* SPC-4 6.16.3: ALL_TG_PT means something only when registering. */
	if (!registering)
		p->all_tg_pt = false;
	if (p->spec_i_pt) {
		if (len < PR_BASIC_PARAM_LEN + 4)
			return TG_SR_PARAM_LIST_LENGTH_ERROR;
		uint32_t tids_len = get_be32(d + 24);
		if ((uint64_t)PR_BASIC_PARAM_LEN + 4 + tids_len != len)
			return TG_SR_PARAM_LIST_LENGTH_ERROR;
		p->tids = d + 28;
		p->tids_len = tids_len;
	} else if (len != PR_BASIC_PARAM_LEN) {
		return TG_SR_PARAM_LIST_LENGTH_ERROR;
	}
	return TG_SR_OK;
}

/* What one PROUT changes, kept aside so that a failed save can put the state back. */
struct pr_snapshot {
	uint32_t generation;
	uint8_t type;
	bool aptpl;
	struct tg_pr_record *regs;
	size_t count;
};

static int snapshot_take(const struct tg_device_shared *sh, struct pr_snapshot *snap)
{
	snap->generation = sh->generation;
	snap->type = sh->type;
	snap->aptpl = sh->aptpl;
	snap->count = sh->count;
	snap->regs = NULL;
	if (sh->count) {
		snap->regs = malloc(sh->count * sizeof(*snap->regs));
		if (!snap->regs)
			return -1;
		memcpy(snap->regs, sh->regs, sh->count * sizeof(*snap->regs));
	}
	return 0;
}

static void snapshot_restore(struct tg_device_shared *sh, struct pr_snapshot *snap)
{
	sh->generation = snap->generation;
	sh->type = snap->type;
	sh->aptpl = snap->aptpl;
	if (snap->count)
		memcpy(sh->regs, snap->regs, snap->count * sizeof(*snap->regs));
	sh->count = snap->count;
}

static enum tg_sense_reason apply_aptpl(struct tg_task *task, struct tg_device_shared *sh,
					const struct prout_params *p)
{
	if (p->aptpl && !sh->path)
		return param_field(task, p->sa == TG_PR_REGISTER_AND_MOVE ? 17 : 20, 0);
	sh->aptpl = p->aptpl;
	return TG_SR_OK;
}

/* REGISTER / REGISTER AND IGNORE EXISTING KEY (SPC-4 5.13.5). */
static enum tg_sense_reason do_register(struct tg_task *task, struct tg_device_shared *sh,
					const struct pr_port *port, const struct prout_params *p,
					struct pr_effects *fx)
{
	ssize_t reg = find_reg(sh, port);
	bool ignore = p->sa == TG_PR_REGISTER_AND_IGNORE;
	if (reg < 0) {
		if (!ignore && p->key != 0)
			return TG_SR_RESERVATION_CONFLICT;
		if (p->sa_key == 0)
			return TG_SR_OK; /* nothing to register, nothing changes */
		if (p->aptpl && !sh->path)
			return param_field(task, 20, 0);
		struct tg_pr_record mine;
		record_for(port, p->sa_key, p->all_tg_pt, &mine);
		size_t first_new = sh->count;
		if (reg_append(sh, &mine) != 0)
			return TG_SR_INSUFFICIENT_REGISTRATION_RESOURCES;
		/* SPEC_I_PT: the listed initiator ports are registered as well, all or none. */
		for (size_t off = 0; p->spec_i_pt && off < p->tids_len;) {
			struct tg_pr_record rec = mine;
			size_t n = parse_transport_id(p->tids + off, p->tids_len - off, &rec);
			enum tg_sense_reason bad = TG_SR_OK;
			if (!n)
				bad = param_field(task, (uint16_t)(28 + off), -1);
			for (size_t i = 0; bad == TG_SR_OK && i < sh->count; i++)
				if (regs_overlap(&sh->regs[i], &rec))
					bad = param_field(task, (uint16_t)(28 + off), -1);
			if (bad == TG_SR_OK && reg_append(sh, &rec) != 0)
				bad = TG_SR_INSUFFICIENT_REGISTRATION_RESOURCES;
			if (bad != TG_SR_OK) {
				sh->count = first_new;
				return bad;
			}
			off += n;
		}
		sh->aptpl = p->aptpl;
		sh->generation++;
		return TG_SR_OK;
	}
	if (!ignore && p->key != sh->regs[reg].key)
		return TG_SR_RESERVATION_CONFLICT;
	if (p->spec_i_pt)
		return param_field(task, 20, 3);
	enum tg_sense_reason reason = apply_aptpl(task, sh, p);
	if (reason != TG_SR_OK)
		return reason;
	if (p->sa_key == 0)
		unregister(sh, (size_t)reg, fx, true);
	else
		sh->regs[reg].key = p->sa_key;
	sh->generation++;
	return TG_SR_OK;
}

/* RESERVE (SPC-4 5.13.6). */
static enum tg_sense_reason do_reserve(struct tg_device_shared *sh, ssize_t reg,
				       const struct prout_params *p)
{
	if (sh->type != TG_PR_TYPE_NONE) {
		/* Only the holder may ask again, and only for what it has. */
		if (!is_holder(sh, reg) || sh->type != p->type)
			return TG_SR_RESERVATION_CONFLICT;
		return TG_SR_OK;
	}
	sh->type = p->type;
	sh->regs[reg].holder = true;
	return TG_SR_OK;
}

/* RELEASE (SPC-4 5.13.11.2). */
static enum tg_sense_reason do_release(struct tg_device_shared *sh, ssize_t reg,
				       const struct prout_params *p, struct pr_effects *fx)
{
	if (sh->type == TG_PR_TYPE_NONE || !is_holder(sh, reg))
		return TG_SR_OK;
	if (sh->type != p->type)
		return TG_SR_INVALID_RELEASE_OF_PR;
	uint8_t type = sh->type;
	release_reservation(sh);
	if (type != TG_PR_TYPE_WRITE_EXCLUSIVE && type != TG_PR_TYPE_EXCLUSIVE_ACCESS)
		for (size_t i = 0; i < sh->count; i++)
			if (i != (size_t)reg)
				effect_add(fx, &sh->regs[i], TG_SR_UA_RESERVATIONS_RELEASED);
	return TG_SR_OK;
}

/* CLEAR (SPC-4 5.13.11.3 / 6.16.2). */
static enum tg_sense_reason do_clear(struct tg_device_shared *sh, ssize_t reg,
				     struct pr_effects *fx)
{
	for (size_t i = 0; i < sh->count; i++)
		if (i != (size_t)reg)
			effect_add(fx, &sh->regs[i], TG_SR_UA_RESERVATIONS_PREEMPTED);
	release_reservation(sh);
	sh->count = 0;
	sh->generation++;
	return TG_SR_OK;
}

/* Removes every registration with key (except the issuer's own, `keep`); how many went. */
static size_t remove_key(struct tg_device_shared *sh, uint64_t key, ssize_t *keep,
			 struct pr_effects *fx)
{
	size_t removed = 0;
	for (size_t i = 0; i < sh->count;) {
		if ((ssize_t)i == *keep || sh->regs[i].key != key) {
			i++;
			continue;
		}
		effect_add(fx, &sh->regs[i], TG_SR_UA_REGISTRATIONS_PREEMPTED);
		reg_remove(sh, i);
		if ((ssize_t)i < *keep)
			(*keep)--;
		removed++;
	}
	return removed;
}

/* PREEMPT / PREEMPT AND ABORT (SPC-4 5.13.11.4). */
static enum tg_sense_reason do_preempt(struct tg_task *task, struct tg_device_shared *sh,
				       ssize_t reg, const struct prout_params *p,
				       struct pr_effects *fx)
{
	if (sh->type == TG_PR_TYPE_NONE || (all_registrants(sh->type) && p->sa_key != 0)) {
		/* No reservation to take over (or one every registrant holds): remove the
		 * registrations of that key. */
		if (p->sa_key == 0)
			return param_field(task, 8, -1);
		if (remove_key(sh, p->sa_key, &reg, fx) == 0)
			return TG_SR_RESERVATION_CONFLICT;
		sh->generation++;
		return TG_SR_OK;
	}
	if (all_registrants(sh->type)) {
		/* SARK 0 against an all-registrants reservation: everyone else goes, and the
		 * issuer holds a new reservation of the requested type. */
		for (size_t i = 0; i < sh->count;) {
			if ((ssize_t)i == reg) {
				i++;
				continue;
			}
			effect_add(fx, &sh->regs[i], TG_SR_UA_REGISTRATIONS_PREEMPTED);
			reg_remove(sh, i);
			if ((ssize_t)i < reg)
				reg--;
		}
		release_reservation(sh);
		sh->type = p->type;
		sh->regs[reg].holder = true;
		sh->generation++;
		return TG_SR_OK;
	}
	uint64_t holder_key = 0;
	for (size_t i = 0; i < sh->count; i++)
		if (sh->regs[i].holder)
			holder_key = sh->regs[i].key;
	if (p->sa_key != holder_key) {
		/* Not aimed at the holder: only registrations go, the reservation stays. */
		if (p->sa_key == 0)
			return param_field(task, 8, -1);
		if (remove_key(sh, p->sa_key, &reg, fx) == 0)
			return TG_SR_RESERVATION_CONFLICT;
		sh->generation++;
		return TG_SR_OK;
	}
	uint8_t old_type = sh->type;
	remove_key(sh, p->sa_key, &reg, fx);
	release_reservation(sh);
	sh->type = p->type;
	sh->regs[reg].holder = true;
	if (old_type != p->type)
		for (size_t i = 0; i < sh->count; i++)
			if ((ssize_t)i != reg)
				effect_add(fx, &sh->regs[i], TG_SR_UA_RESERVATIONS_RELEASED);
	sh->generation++;
	return TG_SR_OK;
}

/* REGISTER AND MOVE (SPC-4 5.13.7). */
static enum tg_sense_reason do_register_and_move(struct tg_task *task, struct tg_device_shared *sh,
						 const struct pr_port *port, ssize_t reg,
						 const struct prout_params *p)
{
	if (sh->type == TG_PR_TYPE_NONE || !is_holder(sh, reg) || all_registrants(sh->type))
		return TG_SR_RESERVATION_CONFLICT;
	if (p->sa_key == 0)
		return param_field(task, 8, -1);
	struct tg_pr_record dest;
	memset(&dest, 0, sizeof(dest));
	size_t n = parse_transport_id(p->tids, p->tids_len, &dest);
	if (!n || n != p->tids_len)
		return param_field(task, 24, -1);
	/* The destination target port, named by its relative port identifier: the ports this
	 * nexus's target has (one portal group per target here). */
	if (p->rtpi != port->rtpi)
		return param_field(task, 18, -1);
	snprintf(dest.target, sizeof(dest.target), "%s", port->target);
	dest.rtpi = port->rtpi;
	dest.key = p->sa_key;
	struct pr_port dest_port = *port;
	snprintf(dest_port.initiator, sizeof(dest_port.initiator), "%s", dest.initiator);
	char base[TG_PR_NAME_MAX];
	base_name(dest.initiator, base, sizeof(base));
	dest_port.name = base;
	if (reg_covers(&sh->regs[reg], &dest_port) && names_port(dest.initiator))
		return param_field(task, 24, -1); /* moving to itself */
	if (p->aptpl && !sh->path)
		return param_field(task, 17, 0);
	ssize_t target = find_reg(sh, &dest_port);
	if (target < 0) {
		if (reg_append(sh, &dest) != 0)
			return TG_SR_INSUFFICIENT_REGISTRATION_RESOURCES;
		target = (ssize_t)sh->count - 1;
	}
	sh->regs[reg].holder = false;
	sh->regs[target].holder = true;
	if (p->unreg) {
		reg_remove(sh, (size_t)reg);
	}
	sh->aptpl = p->aptpl;
	sh->generation++;
	return TG_SR_OK;
}

struct prout_pending {
	struct tg_task *task;
	struct pr_effects fx;
};

static void prout_complete_ok(struct tg_task *task) { tg_task_complete(task, TG_SR_OK); }

/* Runs where the last aborted task came back, perhaps another I/O thread: the PERSISTENT
 * RESERVE OUT itself completes on its own loop. */
static void prout_aborts_done(void *priv, enum tg_tmf_result result)
{
	(void)result;
	struct prout_pending *pending = priv;
	struct tg_task *task = pending->task;
	free(pending->fx.items);
	free(pending);
	tg_task_run_on_own_loop(task, prout_complete_ok);
}

void tg_pr_out(struct tg_task *task)
{
	struct tg_device *dev = task->dev;
	struct prout_params p;
	enum tg_sense_reason reason = read_params(task, &p);
	if (reason != TG_SR_OK) {
		tg_task_complete(task, reason);
		return;
	}
	struct pr_port port;
	port_of(task->nexus, &port);
	struct pr_effects fx = { .issuer = task->nexus, .abort = p.sa == TG_PR_PREEMPT_AND_ABORT };
	struct pr_snapshot snap = { 0 };
	bool changed = false;

	pthread_mutex_lock(&dev->lock);
	struct tg_device_shared *sh = shared_locked(dev);
	if (!sh || snapshot_take(sh, &snap) != 0) {
		reason = TG_SR_INTERNAL_TARGET_FAILURE;
		goto out;
	}
	if (spc2_blocks(sh, &port)) {
		reason = TG_SR_RESERVATION_CONFLICT;
		goto out;
	}
	ssize_t reg = find_reg(sh, &port);
	if (p.sa == TG_PR_REGISTER || p.sa == TG_PR_REGISTER_AND_IGNORE) {
		reason = do_register(task, sh, &port, &p, &fx);
	} else if (reg < 0 || sh->regs[reg].key != p.key) {
		/* Every other service action needs a registered nexus naming its own key. */
		reason = TG_SR_RESERVATION_CONFLICT;
	} else {
		switch (p.sa) {
		case TG_PR_RESERVE:
			reason = do_reserve(sh, reg, &p);
			break;
		case TG_PR_RELEASE:
			reason = do_release(sh, reg, &p, &fx);
			break;
		case TG_PR_CLEAR:
			reason = do_clear(sh, reg, &fx);
			break;
		case TG_PR_PREEMPT:
		case TG_PR_PREEMPT_AND_ABORT:
			reason = do_preempt(task, sh, reg, &p, &fx);
			break;
		case TG_PR_REGISTER_AND_MOVE:
			reason = do_register_and_move(task, sh, &port, reg, &p);
			break;
		}
	}
	if (reason == TG_SR_OK && fx.oom)
		reason = TG_SR_INTERNAL_TARGET_FAILURE;
	changed = reason == TG_SR_OK &&
		  (sh->generation != snap.generation || sh->type != snap.type ||
		   sh->aptpl != snap.aptpl || sh->count != snap.count ||
		   (snap.count && memcmp(sh->regs, snap.regs, snap.count * sizeof(*snap.regs))));
	if (changed && sh->path && (sh->aptpl || snap.aptpl)) {
		struct tg_pr_image image;
		image_of(sh, &image);
		int rc = tg_pr_store_save(sh->path, &image);
		if (rc != 0) {
			tg_err("pr", "device %s: cannot save %s: %s", dev->name, sh->path,
				 strerror(-rc));
			reason = TG_SR_INTERNAL_TARGET_FAILURE;
		}
	}
	if (reason != TG_SR_OK) {
		snapshot_restore(sh, &snap);
		fx.count = 0;
		changed = false;
	}
	update_reserved(sh);
out:
	pthread_mutex_unlock(&dev->lock);
	free(snap.regs);
	if (reason != TG_SR_OK || !changed) {
		free(fx.items);
		tg_task_complete(task, reason);
		return;
	}
	if (fx.count)
		tg_nexus_for_each_mapping(dev, apply_effects_to, &fx);
	if (fx.abort && fx.count) {
		struct prout_pending *pending = malloc(sizeof(*pending));
		struct tg_tmf *tmf = pending ? tg_tmf_begin(prout_aborts_done, pending) : NULL;
		if (tmf) {
			pending->task = task;
			pending->fx = fx;
			tg_tmf_abort_matching(tmf, dev, task, preempted_nexus, &pending->fx,
					      tasks_cleared);
			tg_tmf_end(tmf);
			return;
		}
		free(pending);
		tg_warn("pr", "device %s: out of memory: PREEMPT AND ABORT aborts nothing",
			dev->name);
	}
	free(fx.items);
	tg_task_complete(task, TG_SR_OK);
}
