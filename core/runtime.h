/* The live objects built from a validated config: opened devices and resolved targets. */
#ifndef TG_RUNTIME_H
#define TG_RUNTIME_H

#include <stddef.h>

#include "core/device.h"
#include "core/target.h"

struct tg_config;

struct tg_runtime {
	const struct tg_config *config;
	struct tg_device **devices;
	size_t device_count;
	struct tg_target *targets;
	size_t target_count;
	struct tg_chap_config discovery_chap;
};

/* Opens every device and builds every target's LUN maps and rules. On failure nothing stays
 * open and err names the device or target. */
int tg_runtime_build(const struct tg_config *config, struct tg_runtime **out, char *err,
		     size_t errlen);
void tg_runtime_destroy(struct tg_runtime *runtime);
struct tg_target *tg_runtime_find_target(const struct tg_runtime *runtime, const char *name);

#endif
