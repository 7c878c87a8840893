/* Returning freed session memory to the kernel in batches (see core/mem.h). */
#include "core/mem.h"

#include <malloc.h>
#include <stdatomic.h>

#include "core/log.h"

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
	if (idle && tg_log_enabled(TG_LOG_INFO)) {
		/* What the allocator holds for the daemon with no session: the same after every
		 * round of logins unless something leaks (bench/soak.sh compares them). */
		struct mallinfo2 mi = mallinfo2();
		tg_info("mem", "no session left: heap in use %zu KiB, free %zu KiB",
			(mi.uordblks + mi.hblkhd) >> 10, mi.fordblks >> 10);
	}
}

unsigned long tg_mem_trims(void) { return atomic_load(&trims); }
