/* Handing memory that sessions no longer use back to the kernel. */
#ifndef TG_MEM_H
#define TG_MEM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * glibc keeps freed heap memory mapped and resident: after a thousand sessions log out, the
 * daemon would stay at its peak size. Transports report the bytes of each session they free;
 * once TG_MEM_TRIM_BYTES have piled up since the last trim, or when the caller has no session
 * left (`idle`), the free pages go back to the kernel (malloc_trim). Session ends are rare
 * next to commands, so the walk over the heap this costs is off the I/O path.
 */
#define TG_MEM_TRIM_BYTES ((size_t)16 << 20)
void tg_mem_released(size_t bytes, bool idle);

/* Trims done so far (for tests and statistics). */
unsigned long tg_mem_trims(void);

#endif
