/* Returning freed session memory to the kernel in batches (see core/mem.h). */
#include "core/mem.h"

#include <malloc.h>
#include <stdatomic.h>

static atomic_size_t released_since_trim;
static atomic_ulong trims;

void tg_mem_released(size_t bytes, bool idle)
{
	size_t total = atomic_fetch_add(&released_since_trim, bytes) + bytes;
	if (!idle && total < TG_MEM_TRIM_BYTES)
		return;
	/* Two threads crossing the mark together both trim: harmless, and rare. */
	atomic_store(&released_since_trim, 0);
	malloc_trim(0);
	atomic_fetch_add(&trims, 1);
}

unsigned long tg_mem_trims(void) { return atomic_load(&trims); }
