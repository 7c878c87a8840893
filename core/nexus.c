/* I_T nexus creation, the global nexus registry, and per-LUN unit attention queues. */
#include "core/nexus.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"

/* The registry is touched on login/logout and device-wide UAs only, never per command. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tg_nexus *registry;
static atomic_uint_fast64_t next_id = 1;

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
	pthread_mutex_lock(&registry_lock);
	for (struct tg_nexus **p = &registry; *p; p = &(*p)->next_global) {
		if (*p == nexus) {
			*p = nexus->next_global;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	free(nexus->ua);
	free(nexus);
}

void tg_ua_establish(struct tg_nexus *nexus, size_t lun_index, enum tg_sense_reason reason)
{
	if (lun_index >= nexus->map->count)
		return;
	struct tg_ua_queue *q = &nexus->ua[lun_index];
	for (unsigned i = 0; i < q->count; i++)
		if (q->pending[i] == reason)
			return;
	if (q->count < TG_UA_QUEUE_MAX)
		q->pending[q->count++] = reason;
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

enum tg_sense_reason tg_ua_take(struct tg_nexus *nexus, size_t lun_index)
{
	if (lun_index >= nexus->map->count)
		return TG_SR_OK;
	struct tg_ua_queue *q = &nexus->ua[lun_index];
	if (!q->count)
		return TG_SR_OK;
	enum tg_sense_reason reason = q->pending[0];
	memmove(q->pending, q->pending + 1, (size_t)(q->count - 1) * sizeof(q->pending[0]));
	q->count--;
	return reason;
}

bool tg_ua_pending(const struct tg_nexus *nexus, size_t lun_index)
{
	return lun_index < nexus->map->count && nexus->ua[lun_index].count > 0;
}
