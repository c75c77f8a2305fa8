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
