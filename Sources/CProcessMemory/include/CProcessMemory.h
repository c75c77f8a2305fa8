#ifndef TRACEGATE_PROCESS_MEMORY_H
#define TRACEGATE_PROCESS_MEMORY_H

#include <stddef.h>

/// Bytes the allocator has handed out and not yet taken back (glibc:
/// mallinfo2's uordblks + hblkhd); 0 where that is unknown.
size_t tg_heap_in_use(void);

/// Returns free heap memory to the system (glibc malloc_trim(0)); 0 elsewhere.
int tg_heap_trim(void);

/// Caps glibc's malloc arenas (M_ARENA_MAX); 0 when not supported.
int tg_heap_limit_arenas(int arenas);

#endif
