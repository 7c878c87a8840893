/* Device creation from a config entry: backend lookup, stable identity (NAA, serial), open and close. */
#include "core/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "core/pi.h"
#include "core/reservation.h"
#include "core/scsi.h"

/*
 * IEEE company ID in the NAA 6 designator. 0x0A7467 is not registered to anyone: its first
 * octet has the low nibble 1010b that marks a CID (a locally administered identifier space),
 * so it cannot collide with a real manufacturer's OUI. The remaining 100 bits hash the
 * configured serial, else the device name: identity survives restarts, and survives a rename
 * only when `serial` is set.
 */
#define TG_NAA_COMPANY_ID 0x0a7467ull
#define TG_NAA_TYPE_IEEE_REGISTERED_EXTENDED 0x6ull

/* FNV-1a, then the splitmix64 finaliser so that close names differ in every bit. */
static uint64_t identity_hash(const char *text, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static void derive_identity(struct tg_device *dev, const char *serial_override)
{
	const char *source = serial_override && serial_override[0] ? serial_override : dev->name;
	uint64_t high = identity_hash(source, 0);
	uint64_t low = identity_hash(source, 0x7461726765ull); /* any second seed will do */
	dev->naa = TG_NAA_TYPE_IEEE_REGISTERED_EXTENDED << 60 | TG_NAA_COMPANY_ID << 36 |
		   (high & 0xfffffffffull);
	dev->naa_ext = low;
	if (serial_override && serial_override[0])
		snprintf(dev->serial, sizeof(dev->serial), "%s", serial_override);
	else
		snprintf(dev->serial, sizeof(dev->serial), "%016llx", (unsigned long long)high);
}

static void device_free(struct tg_device *dev)
{
	tg_pr_detach(dev);
	pthread_mutex_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->lba_locks.mutex);
	free(dev->name);
	free(dev->pi_path);
	free(dev);
}

struct tg_device *tg_device_open(const struct cfg_device *cfg, char *err, size_t errlen)
{
	const struct dev_backend_ops *ops = dev_backend_find(cfg->backend);
	if (!ops) {
		snprintf(err, errlen, "device %s: unknown backend \"%s\"", cfg->name, cfg->backend);
		return NULL;
	}
	struct tg_device *dev = calloc(1, sizeof(*dev));
	if (!dev) {
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		return NULL;
	}
	pthread_mutex_init(&dev->lock, NULL);
	pthread_mutex_init(&dev->lba_locks.mutex, NULL);
	dev->name = strdup(cfg->name);
	dev->pi_path = cfg->pi_path ? strdup(cfg->pi_path) : NULL;
	if (!dev->name || (cfg->pi_path && !dev->pi_path)) {
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		device_free(dev);
		return NULL;
	}
	dev->ops = ops;
	/* Defaults the backend's open may override (a tape or CD backend sets its own type). */
	dev->peripheral_type = SCSI_TYPE_DISK;
	dev->backend_read_only = cfg->read_only;
	dev->removable = cfg->removable;
	dev->protection_type = cfg->protection_type;
	dev->pi_host_profile = tg_pi_profile_find(cfg->pi_host_guard);
	derive_identity(dev, cfg->serial);

	if (ops->open(dev, cfg, err, errlen) != 0) {
		device_free(dev);
		return NULL;
	}
	/* The SBC paths divide by the block size and treat num_blocks - 1 as the last LBA. */
	if (dev->peripheral_type == SCSI_TYPE_DISK &&
	    (dev->block_size < 512 || (dev->block_size & (dev->block_size - 1)) ||
	     dev->num_blocks == 0)) {
		snprintf(err, errlen, "device %s: backend %s reported block size %u, %llu blocks",
			 cfg->name, ops->name, dev->block_size, (unsigned long long)dev->num_blocks);
		tg_device_close(dev);
		return NULL;
	}
	/* Configured protection that the backend cannot keep would be advertised and not given. */
	if (cfg->protection_type && !dev->pi_capable) {
		snprintf(err, errlen, "device %s: backend %s cannot keep protection information",
			 cfg->name, ops->name);
		tg_device_close(dev);
		return NULL;
	}
	if (dev->pi_capable) {
		char pi[256];
		tg_pi_describe(dev, pi, sizeof(pi));
		tg_info("device", "%s: %s", dev->name, pi);
	}
	/* Registrations an earlier run persisted (APTPL) are back before any nexus exists. */
	char why[512] = "";
	if (tg_pr_attach(dev, cfg->path, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "device %s: persistent reservations: %s", cfg->name, why);
		tg_device_close(dev);
		return NULL;
	}
	return dev;
}

void tg_device_close(struct tg_device *dev)
{
	if (!dev)
		return;
	if (dev->ops && dev->ops->close)
		dev->ops->close(dev);
	device_free(dev);
}
