#ifndef TRACEGATE_PROCESS_MEMORY_H
#define TRACEGATE_PROCESS_MEMORY_H

#include <stddef.h>

/// Bytes the allocator has handed out and not yet taken back (glibc:
/// mallinfo2's uordblks + hblkhd); 0 where that is unknown.
size_t tg_heap_in_use(void);

/// Returns free heap memory to the system (glibc malloc_trim(0)); 0 elsewhere.
int tg_heap_trim(void);

/// Names the calling thread for top -H and /proc/PID/task/*/comm (the first
/// 15 bytes, which may cut a UTF-8 character); 0 on success or where unsupported.
int tg_set_thread_name(const char *name);

/// Caps glibc's malloc arenas (M_ARENA_MAX); 0 when not supported.
int tg_heap_limit_arenas(int arenas);

#endif
