/* Access-rule matching and LUN map lookup. */
#include "core/target.h"

#include <strings.h>

const struct tg_lun_entry *tg_lun_map_find(const struct tg_lun_map *map, uint64_t lun)
{
	size_t lo = 0, hi = map->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (map->entries[mid].lun == lun)
			return &map->entries[mid];
		if (map->entries[mid].lun < lun)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct tg_lun_map *tg_target_resolve_view(const struct tg_target *target,
						const char *initiator_name)
{
	for (size_t r = 0; r < target->rule_count; r++) {
		const struct tg_access_rule *rule = &target->rules[r];
		for (size_t i = 0; i < rule->initiator_count; i++)
			if (strcasecmp(rule->initiators[i], initiator_name) == 0)
				return &rule->map;
	}
	return target->luns.count ? &target->luns : NULL;
}
