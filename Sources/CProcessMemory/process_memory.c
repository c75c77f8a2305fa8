#define _GNU_SOURCE /* pthread_setname_np */
#include "CProcessMemory.h"

#include <pthread.h>
#include <string.h>

#include <stdlib.h> /* defines __GLIBC__ on glibc systems */

#if defined(__GLIBC__)
#include <malloc.h>

size_t tg_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

int tg_heap_trim(void) { return malloc_trim(0); }

int tg_heap_limit_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }

int tg_set_thread_name(const char *name) {
    /* Linux takes at most 15 bytes and a NUL; cut rather than fail. */
    char cut[16];
    strncpy(cut, name, sizeof cut - 1);
    cut[sizeof cut - 1] = 0;
    return pthread_setname_np(pthread_self(), cut);
}
#else
int tg_set_thread_name(const char *name) { (void)name; return 0; }
size_t tg_heap_in_use(void) { return 0; }
int tg_heap_trim(void) { return 0; }
int tg_heap_limit_arenas(int arenas) { (void)arenas; return 0; }
#endif

#if defined(__linux__)
#include <stdio.h>
#include <stdint.h>
#include <sys/mman.h>

size_t tg_release_clean_file_pages(void) {
    FILE *smaps = fopen("/proc/self/smaps", "re");
    if (smaps == NULL) return 0;
    /* A mapping's counters follow its header line; decide when the next
     * header (or the end) comes, and release after the file is closed so
     * that reading it never races with the unmapping. */
    enum { most = 4096 };
    struct range { uintptr_t start, end; size_t rss; };
    struct range *chosen = malloc(most * sizeof *chosen);
    if (chosen == NULL) {
        fclose(smaps);
        return 0;
    }
    size_t count = 0;
    uintptr_t start = 0, end = 0;
    int eligible = 0;
    size_t rss = 0, anonymous = 0;
    char line[4096];
    for (;;) {
        int more = fgets(line, sizeof line, smaps) != NULL;
        unsigned long a, b;
        char perms[8];
        int path = 0;
        int header = more && sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &a, &b, perms, &path) >= 3;
        if (!more || header) {
            if (eligible && anonymous == 0 && rss > 0 && count < most) {
                chosen[count].start = start;
                chosen[count].end = end;
                chosen[count].rss = rss;
                count++;
            }
            if (!more) break;
            start = a;
            end = b;
            /* File-backed (a path, not [heap] or [vdso]) and never writable. */
            eligible = perms[1] != 'w' && path > 0 && line[path] == '/';
            rss = 0;
            anonymous = 0;
            continue;
        }
        size_t kib;
        if (sscanf(line, "Rss: %zu kB", &kib) == 1) rss = kib * 1024;
        else if (sscanf(line, "Anonymous: %zu kB", &kib) == 1) anonymous = kib;
    }
    fclose(smaps);
    size_t released = 0;
    for (size_t i = 0; i < count; i++) {
        if (madvise((void *)chosen[i].start, chosen[i].end - chosen[i].start, MADV_DONTNEED) == 0) released += chosen[i].rss;
    }
    free(chosen);
    return released;
}
#else
size_t tg_release_clean_file_pages(void) { return 0; }
#endif
