/* I_T nexus creation, the global nexus registry, and per-LUN unit attention queues. */
#include "core/nexus.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/device.h"
#include "core/reservation.h"

/* The registry is touched on login/logout and device-wide UAs only, never per command. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tg_nexus *registry;
static atomic_uint_fast64_t next_id = 1;

/*
 * Initiator ports that have had a nexus with a target since the daemon started, so that a new
 * nexus can tell I_T NEXUS LOSS from POWER ON. Bounded: a port pushed out only reports the
 * more general POWER ON, RESET OR BUS DEVICE RESET OCCURRED next time.
 */
#define SEEN_PORTS_MAX 1024
struct seen_port {
	const struct tg_target *target;
	char initiator_port[sizeof(((struct tg_nexus *)0)->initiator_port)];
};
static struct seen_port seen_ports[SEEN_PORTS_MAX];
static size_t seen_count, seen_next;

struct tg_nexus *tg_nexus_create(struct tg_target *target, enum tg_transport_kind transport,
				 const char *initiator_name, const char *initiator_port)
{
	const struct tg_lun_map *map = tg_target_resolve_view(target, initiator_name);
	if (!map)
		return NULL;
	struct tg_nexus *nexus = calloc(1, sizeof(*nexus));
	if (!nexus)
		return NULL;
	nexus->ua = calloc(map->count ? map->count : 1, sizeof(*nexus->ua));
	if (!nexus->ua) {
		free(nexus);
		return NULL;
	}
	nexus->id = atomic_fetch_add(&next_id, 1);
	nexus->transport = transport;
	nexus->target = target;
	nexus->map = map;
	snprintf(nexus->initiator_name, sizeof(nexus->initiator_name), "%s", initiator_name);
	snprintf(nexus->initiator_port, sizeof(nexus->initiator_port), "%s",
		 initiator_port ? initiator_port : initiator_name);
	pthread_mutex_init(&nexus->lock, NULL);
	pthread_mutex_lock(&registry_lock);
	nexus->next_global = registry;
	registry = nexus;
	pthread_mutex_unlock(&registry_lock);
	return nexus;
}

void tg_nexus_destroy(struct tg_nexus *nexus)
{
	if (!nexus)
		return;
	/* The end of an I_T nexus releases what SPC ties to it (SPC-2 reservations); persistent
	 * registrations stay, keyed by the port names. Before the registry lock: it takes
	 * dev->lock, which comes first in the lock order. */
	tg_pr_nexus_lost(nexus);
	pthread_mutex_lock(&registry_lock);
	for (struct tg_nexus **p = &registry; *p; p = &(*p)->next_global) {
		if (*p == nexus) {
			*p = nexus->next_global;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_destroy(&nexus->lock);
	free(nexus->ua);
	free(nexus);
}

static bool seen_before(const struct tg_nexus *nexus)
{
	for (size_t i = 0; i < seen_count; i++)
		if (seen_ports[i].target == nexus->target &&
		    strcasecmp(seen_ports[i].initiator_port, nexus->initiator_port) == 0)
			return true;
	struct seen_port *slot = &seen_ports[seen_next];
	seen_next = (seen_next + 1) % SEEN_PORTS_MAX;
	if (seen_count < SEEN_PORTS_MAX)
		seen_count++;
	slot->target = nexus->target;
	snprintf(slot->initiator_port, sizeof(slot->initiator_port), "%s", nexus->initiator_port);
	return false;
}

void tg_nexus_login(struct tg_nexus *nexus)
{
	pthread_mutex_lock(&registry_lock);
	bool again = seen_before(nexus);
	pthread_mutex_unlock(&registry_lock);
	tg_ua_establish_all(nexus, again ? TG_SR_UA_NEXUS_LOSS : TG_SR_UA_POWER_ON_RESET);
}

void tg_nexus_target_port(const struct tg_nexus *nexus, char *buf, size_t len)
{
	snprintf(buf, len, "%s,t,0x%04x", nexus->target && nexus->target->name ? nexus->target->name
										: "",
		 nexus->target ? nexus->target->tpgt : 0);
}

void tg_nexus_for_each_mapping(const struct tg_device *dev,
			       void (*fn)(struct tg_nexus *nexus, size_t lun_index, void *arg),
			       void *arg)
{
	pthread_mutex_lock(&registry_lock);
	for (struct tg_nexus *n = registry; n; n = n->next_global)
		for (size_t i = 0; i < n->map->count; i++)
			if (n->map->entries[i].dev == dev)
				fn(n, i, arg);
	pthread_mutex_unlock(&registry_lock);
}

void tg_nexus_for_each_of_target(const struct tg_target *target,
				 void (*fn)(struct tg_nexus *nexus, size_t lun_index, void *arg),
				 void *arg)
{
	pthread_mutex_lock(&registry_lock);
	for (struct tg_nexus *n = registry; n; n = n->next_global)
		if (n->target == target)
			for (size_t i = 0; i < n->map->count; i++)
				fn(n, i, arg);
	pthread_mutex_unlock(&registry_lock);
}

void tg_nexus_for_each(void (*fn)(struct tg_nexus *nexus, void *arg), void *arg)
{
	pthread_mutex_lock(&registry_lock);
	for (struct tg_nexus *n = registry; n; n = n->next_global)
		fn(n, arg);
	pthread_mutex_unlock(&registry_lock);
}

static bool is_reset_class(enum tg_sense_reason reason)
{
	return reason == TG_SR_UA_POWER_ON_RESET || reason == TG_SR_UA_BUS_RESET ||
	       reason == TG_SR_UA_TARGET_RESET || reason == TG_SR_UA_DEVICE_INTERNAL_RESET ||
	       reason == TG_SR_UA_NEXUS_LOSS;
}

/*
 * Queue rules (SAM-5 5.14): a condition already pending is not queued
 * twice; a reset-class condition (ASC 29h) is reported before anything else and one of them
 * says all there is to say, so a second one is not added; when the queue is full a reset still
 * gets in at the cost of the newest other condition, anything else is dropped.
 */
static void ua_queue_locked(struct tg_ua_queue *q, enum tg_sense_reason reason)
{
	bool reset = is_reset_class(reason);
	for (unsigned i = 0; i < q->count; i++)
		if (q->pending[i] == reason || (reset && is_reset_class(q->pending[i])))
			return;
	if (!reset) {
		if (q->count < TG_UA_QUEUE_MAX)
			q->pending[q->count++] = reason;
		return;
	}
	if (q->count == TG_UA_QUEUE_MAX)
		q->count--;
	memmove(q->pending + 1, q->pending, (size_t)q->count * sizeof(q->pending[0]));
	q->pending[0] = reason;
	q->count++;
}

void tg_ua_establish(struct tg_nexus *nexus, size_t lun_index, enum tg_sense_reason reason)
{
	pthread_mutex_lock(&nexus->lock);
	if (lun_index < nexus->map->count)
		ua_queue_locked(&nexus->ua[lun_index], reason);
	pthread_mutex_unlock(&nexus->lock);
}

void tg_ua_establish_all(struct tg_nexus *nexus, enum tg_sense_reason reason)
{
	pthread_mutex_lock(&nexus->lock);
	for (size_t i = 0; i < nexus->map->count; i++)
		ua_queue_locked(&nexus->ua[i], reason);
	pthread_mutex_unlock(&nexus->lock);
}

void tg_ua_establish_device(const struct tg_device *dev, enum tg_sense_reason reason,
			    const struct tg_nexus *except)
{
	pthread_mutex_lock(&registry_lock);
	for (struct tg_nexus *n = registry; n; n = n->next_global) {
		if (n == except)
			continue;
		for (size_t i = 0; i < n->map->count; i++)
			if (n->map->entries[i].dev == dev)
				tg_ua_establish(n, i, reason);
	}
	pthread_mutex_unlock(&registry_lock);
}

static void ua_remove_locked(struct tg_ua_queue *q, enum tg_sense_reason reason)
{
	uint8_t kept = 0;
	for (uint8_t j = 0; j < q->count; j++)
		if (q->pending[j] != reason)
			q->pending[kept++] = q->pending[j];
	q->count = kept;
}

void tg_ua_clear(struct tg_nexus *nexus, enum tg_sense_reason reason)
{
	pthread_mutex_lock(&nexus->lock);
	for (size_t i = 0; i < nexus->map->count; i++)
		ua_remove_locked(&nexus->ua[i], reason);
	pthread_mutex_unlock(&nexus->lock);
}

enum tg_sense_reason tg_ua_take(struct tg_nexus *nexus, size_t lun_index)
{
	enum tg_sense_reason reason = TG_SR_OK;
	pthread_mutex_lock(&nexus->lock);
	struct tg_ua_queue *q = lun_index < nexus->map->count ? &nexus->ua[lun_index] : NULL;
	if (q && q->count) {
		reason = q->pending[0];
		memmove(q->pending, q->pending + 1, (size_t)(q->count - 1) * sizeof(q->pending[0]));
		q->count--;
		/* SAM-5 (LUICLR = 1): reported on one LUN, it is reported on none of the others. */
		if (reason == TG_SR_UA_REPORTED_LUNS_CHANGED)
			for (size_t i = 0; i < nexus->map->count; i++)
				ua_remove_locked(&nexus->ua[i], reason);
	}
	pthread_mutex_unlock(&nexus->lock);
	return reason;
}

bool tg_ua_pending(const struct tg_nexus *nexus, size_t lun_index)
{
	struct tg_nexus *n = (struct tg_nexus *)nexus; /* the lock is not part of the value */
	pthread_mutex_lock(&n->lock);
	bool pending = lun_index < n->map->count && n->ua[lun_index].count > 0;
	pthread_mutex_unlock(&n->lock);
	return pending;
}

static bool same_inventory(const struct tg_lun_map *a, const struct tg_lun_map *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (a->entries[i].lun != b->entries[i].lun || a->entries[i].dev != b->entries[i].dev)
			return false;
	return true;
}

int tg_nexus_remap(struct tg_nexus *nexus, const struct tg_lun_map *map)
{
	struct tg_ua_queue *ua = calloc(map->count ? map->count : 1, sizeof(*ua));
	if (!ua)
		return -1;
	/* The registry lock keeps device-wide walks (which read n->map) off the swap; the nexus
	 * lock keeps commands from seeing the new map before its UAs are in place. */
	pthread_mutex_lock(&registry_lock);
	pthread_mutex_lock(&nexus->lock);
	const struct tg_lun_map *old = nexus->map;
	bool inventory_changed = !same_inventory(old, map);
	for (size_t i = 0; i < map->count; i++) {
		/* A LUN that keeps its number and device is the same logical unit: what it still
		 * has to report (a reset, a reservation preempted) must not be lost in the swap. */
		const struct tg_lun_entry *before = tg_lun_map_find(old, map->entries[i].lun);
		if (before && before->dev == map->entries[i].dev)
			ua[i] = nexus->ua[before - old->entries];
		if (inventory_changed)
			ua_queue_locked(&ua[i], TG_SR_UA_REPORTED_LUNS_CHANGED);
		else if (before->read_only != map->entries[i].read_only)
			ua_queue_locked(&ua[i], TG_SR_UA_MODE_PARAMETERS_CHANGED);
	}
	struct tg_ua_queue *old_ua = nexus->ua;
	nexus->map = map;
	nexus->ua = ua;
	pthread_mutex_unlock(&nexus->lock);
	pthread_mutex_unlock(&registry_lock);
	free(old_ua);
	return 0;
}
