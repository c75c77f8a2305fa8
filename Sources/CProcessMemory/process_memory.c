#include "CProcessMemory.h"

#include <stdlib.h> /* defines __GLIBC__ on glibc systems */

#if defined(__GLIBC__)
#include <malloc.h>

size_t tg_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

int tg_heap_trim(void) { return malloc_trim(0); }

int tg_heap_limit_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
#else
size_t tg_heap_in_use(void) { return 0; }
int tg_heap_trim(void) { return 0; }
int tg_heap_limit_arenas(int arenas) { (void)arenas; return 0; }
#endif
