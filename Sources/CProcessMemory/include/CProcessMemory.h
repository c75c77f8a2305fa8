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

/// Unmaps the pages of the process's read-only file mappings (program text,
/// read-only data of the executable and its libraries) that were never
/// written, with madvise(MADV_DONTNEED): they stay in the page cache, and the
/// next access maps them again with a minor fault. A mapping with private
/// (copy-on-write) pages, such as relocated data made read-only afterwards,
/// is left alone: dropping those pages would lose the writes. Returns the
/// resident bytes of the mappings released; 0 where /proc/self/smaps cannot
/// be read. Linux only.
size_t tg_release_clean_file_pages(void);

#endif
