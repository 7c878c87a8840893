/* Builds the runtime (devices, targets, LUN maps, access rules) from the config model. */
#include "core/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

static struct tg_device *find_device(const struct tg_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->device_count; i++)
		if (strcmp(rt->devices[i]->name, name) == 0)
			return rt->devices[i];
	return NULL;
}

static int compare_lun(const void *a, const void *b)
{
	const struct tg_lun_entry *x = a, *y = b;
	return x->lun < y->lun ? -1 : x->lun > y->lun;
}

static int build_map(const struct tg_runtime *rt, const struct cfg_lun_list *list,
		     struct tg_lun_map *map)
{
	map->count = list->count;
	map->entries = calloc(list->count ? list->count : 1, sizeof(*map->entries));
	if (!map->entries)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		map->entries[i].lun = list->items[i].lun;
		map->entries[i].dev = find_device(rt, list->items[i].device);
		map->entries[i].read_only = list->items[i].read_only;
		if (!map->entries[i].dev)
			return -1;
	}
	qsort(map->entries, map->count, sizeof(*map->entries), compare_lun);
	return 0;
}

static int build_chap(const struct cfg_chap *cfg, struct tg_chap_config *chap)
{
	memset(chap, 0, sizeof(*chap));
	if (!cfg->present || !cfg->user)
		return 0;
	chap->enabled = true;
	chap->target_auth.user = strdup(cfg->user);
	if (tg_config_decode_secret(cfg->secret, &chap->target_auth.secret,
				  &chap->target_auth.secret_len) != 0)
		return -1;
	if (cfg->mutual_user) {
		chap->mutual = true;
		chap->mutual_auth.user = strdup(cfg->mutual_user);
		if (tg_config_decode_secret(cfg->mutual_secret, &chap->mutual_auth.secret,
					  &chap->mutual_auth.secret_len) != 0)
			return -1;
	}
	return 0;
}

static void free_chap(struct tg_chap_config *chap)
{
	free(chap->target_auth.user);
	free(chap->target_auth.secret);
	free(chap->mutual_auth.user);
	free(chap->mutual_auth.secret);
}

static const struct cfg_group *find_group(const struct tg_config *config, const char *name)
{
	for (size_t i = 0; i < config->group_count; i++)
		if (strcmp(config->groups[i].name, name) == 0)
			return &config->groups[i];
	return NULL;
}

static int build_rule(const struct tg_runtime *rt, const struct cfg_access *cfg,
		      struct tg_access_rule *rule)
{
	char *const *names = cfg->initiators;
	size_t count = cfg->initiator_count;
	if (cfg->group) {
		const struct cfg_group *group = find_group(rt->config, cfg->group);
		if (!group)
			return -1;
		names = group->initiators;
		count = group->initiator_count;
	}
	rule->initiators = calloc(count ? count : 1, sizeof(char *));
	if (!rule->initiators)
		return -1;
	rule->initiator_count = count;
	for (size_t i = 0; i < count; i++)
		rule->initiators[i] = strdup(names[i]);
	return build_map(rt, &cfg->luns, &rule->map);
}

int tg_runtime_build(const struct tg_config *config, struct tg_runtime **out, char *err,
		     size_t errlen)
{
	struct tg_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -1;
	rt->config = config;
	rt->devices = calloc(config->device_count ? config->device_count : 1, sizeof(*rt->devices));
	rt->targets = calloc(config->target_count ? config->target_count : 1, sizeof(*rt->targets));
	if (!rt->devices || !rt->targets)
		goto fail;
	for (size_t i = 0; i < config->device_count; i++) {
		char why[512] = "";
		struct tg_device *dev = tg_device_open(&config->devices[i], why, sizeof(why));
		if (!dev) {
			snprintf(err, errlen, "%s:%d: device \"%s\": %s", config->path,
				 config->devices[i].line, config->devices[i].name, why);
			goto fail;
		}
		rt->devices[rt->device_count++] = dev;
	}
	for (size_t i = 0; i < config->target_count; i++) {
		const struct cfg_target *ct = &config->targets[i];
		struct tg_target *t = &rt->targets[rt->target_count++];
		t->name = strdup(ct->name);
		t->transports = ct->transports;
		t->tpgt = 1;
		t->srp_port_id = ct->srp_port_id ? strdup(ct->srp_port_id) : NULL;
		if (build_map(rt, &ct->luns, &t->luns) != 0 || build_chap(&ct->chap, &t->chap) != 0)
			goto target_fail;
		t->rules = calloc(ct->access_count ? ct->access_count : 1, sizeof(*t->rules));
		if (!t->rules)
			goto target_fail;
		for (size_t r = 0; r < ct->access_count; r++) {
			t->rule_count++;
			if (build_rule(rt, &ct->access[r], &t->rules[r]) != 0)
				goto target_fail;
		}
		continue;
target_fail:
		snprintf(err, errlen, "%s:%d: target \"%s\": cannot build its LUN maps or CHAP",
			 config->path, ct->line, ct->name);
		goto fail;
	}
	if (build_chap(&config->discovery_auth, &rt->discovery_chap) != 0) {
		snprintf(err, errlen, "%s: global.discovery_auth: bad secret", config->path);
		goto fail;
	}
	*out = rt;
	return 0;
fail:
	tg_runtime_destroy(rt);
	return -1;
}

void tg_runtime_destroy(struct tg_runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->target_count; i++) {
		struct tg_target *t = &rt->targets[i];
		free(t->name);
		free(t->srp_port_id);
		free(t->luns.entries);
		for (size_t r = 0; r < t->rule_count; r++) {
			for (size_t n = 0; n < t->rules[r].initiator_count; n++)
				free(t->rules[r].initiators[n]);
			free(t->rules[r].initiators);
			free(t->rules[r].map.entries);
		}
		free(t->rules);
		free_chap(&t->chap);
	}
	free_chap(&rt->discovery_chap);
	for (size_t i = 0; i < rt->device_count; i++)
		tg_device_close(rt->devices[i]);
	free(rt->devices);
	free(rt->targets);
	free(rt);
}

struct tg_target *tg_runtime_find_target(const struct tg_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->target_count; i++)
		if (strcasecmp(rt->targets[i].name, name) == 0)
			return &rt->targets[i];
	return NULL;
}
