#include "CTracegateShims.h"

#include <stdint.h>
#include <stdlib.h>

struct tg_arena_block {
    tg_arena_block *next;
    /* payload follows, aligned to max_align_t */
};

#define TG_ALIGN 16u
#define TG_HEADER ((sizeof(tg_arena_block) + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1))

static int tg_arena_grow(tg_arena *arena, size_t at_least) {
    size_t size = arena->capacity ? arena->capacity * 2 : 4096;
    if (size < at_least) size = at_least;
    tg_arena_block *block = malloc(TG_HEADER + size);
    if (block == NULL) {
        arena->failed = 1;
        return 0;
    }
    block->next = arena->head;
    arena->head = block;
    arena->used = 0;
    arena->capacity = size;
    arena->total += TG_HEADER + size;
    return 1;
}

static void *tg_arena_alloc(void *data, size_t size) {
    tg_arena *arena = data;
    size_t rounded = (size + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1);
    if (arena->head == NULL || arena->capacity - arena->used < rounded) {
        if (!tg_arena_grow(arena, rounded)) return NULL;
    }
    void *result = (char *)arena->head + TG_HEADER + arena->used;
    arena->used += rounded;
    return result;
}

/* Individual frees are no-ops: the arena is released as a whole. */
static void tg_arena_free(void *data, void *pointer) {
    (void)data;
    (void)pointer;
}

void tg_arena_init(tg_arena *arena, size_t initial) {
    arena->head = NULL;
    arena->used = 0;
    arena->capacity = 0;
    arena->total = 0;
    arena->failed = 0;
    arena->allocator.alloc = tg_arena_alloc;
    arena->allocator.free = tg_arena_free;
    arena->allocator.allocator_data = arena;
    if (initial > 0) tg_arena_grow(arena, initial);
}

void tg_arena_destroy(tg_arena *arena) {
    tg_arena_block *block = arena->head;
    while (block != NULL) {
        tg_arena_block *next = block->next;
        free(block);
        block = next;
    }
    arena->head = NULL;
    arena->used = 0;
    arena->capacity = 0;
}

void *tg_arena_alloc_bytes(tg_arena *arena, size_t size) {
    return tg_arena_alloc(arena, size);
}
