/* The table of storage backends that a device's `backend` key can name. */
#include <stddef.h>
#include <string.h>

#include "core/device.h"

/* A new backend adds its ops table's name to this list. */
#define DEV_BACKENDS(X) \
	X(dev_file_ops) \
	X(dev_block_ops)

#define DEV_DECLARE(ops) extern const struct dev_backend_ops ops;
DEV_BACKENDS(DEV_DECLARE)

static const struct dev_backend_ops *const backends[] = {
#define DEV_ENTRY(ops) &ops,
	DEV_BACKENDS(DEV_ENTRY)
};

const struct dev_backend_ops *dev_backend_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}
