#ifndef TRACEGATE_SHIMS_H
#define TRACEGATE_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>

/// A bump allocator for one protobuf-c unpack. Every allocation of the unpacked
/// message comes from a few large blocks, and the whole message is released at
/// once by tg_arena_destroy. protobuf-c's default allocator does one malloc per
/// field value, which dominates unpack time for span-heavy requests.
typedef struct tg_arena_block tg_arena_block;

typedef struct tg_arena {
    tg_arena_block *head;   /* newest block; older ones linked behind it */
    size_t used;            /* bytes used in head */
    size_t capacity;        /* usable bytes in head */
    size_t total;           /* bytes obtained from malloc, for metrics */
    int failed;             /* set when malloc failed */
    ProtobufCAllocator allocator;
} tg_arena;

/// Prepares an arena whose first block holds at least `initial` bytes.
void tg_arena_init(tg_arena *arena, size_t initial);

/// Frees every block. The arena can be initialised again afterwards.
void tg_arena_destroy(tg_arena *arena);

/// Allocates `size` bytes (16-byte aligned) that live as long as the arena;
/// NULL when memory is exhausted. Used to build messages for packing.
void *tg_arena_alloc_bytes(tg_arena *arena, size_t size);

/// The allocator to pass to protobuf-c; valid while the arena lives.
static inline ProtobufCAllocator *tg_arena_allocator(tg_arena *arena) {
    return &arena->allocator;
}

/// Whether this processor computes CRC-32C with an instruction of its own
/// (SSE 4.2 on x86-64, the CRC extension on 64-bit Arm); tg_crc32c needs it.
int tg_crc32c_available(void);

/// The CRC-32C (Castagnoli) of `count` bytes, with that instruction. Only
/// when tg_crc32c_available() returned 1.
uint32_t tg_crc32c(const void *bytes, size_t count);

/// The high bit of each byte of `w` that is zero (and possibly of bytes above
/// the lowest zero byte, which are then wrongly marked): nonzero exactly when
/// `w` holds a zero byte, and exact for the lowest one. The scans below use it
/// to find a NUL eight bytes at a time.
static inline uint64_t tg_zero_bytes(uint64_t w) {
    return (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
}

/// For the decoder's string table, in one pass over `n` >= 8 bytes: their
/// tg_bytes_flags (the return value) and a 64-bit hash of them (`*hash`, never
/// 0, which marks an empty slot), eight bytes per multiply. A tail shorter
/// than eight bytes is read as the last eight bytes, overlapping the word
/// before: one load instead of a copy of a variable length (a call to memcpy).
static inline unsigned tg_bytes_flags_hash(const void *data, size_t n, uint64_t *hash) {
    const unsigned char *p = (const unsigned char *)data;
    const uint64_t highs = 0x8080808080808080ULL;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    uint64_t any = 0, zero = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __builtin_memcpy(&w, p + i, 8);
        any |= w;
        zero |= tg_zero_bytes(w);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    if (i < n) {
        __builtin_memcpy(&w, p + n - 8, 8);
        any |= w;
        zero |= tg_zero_bytes(w);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }
    *hash = h | 1;
    return (zero ? 1u : 0u) | ((any & highs) ? 2u : 0u);
}

/// Whether `n` >= 8 bytes at `a` and `b` are equal, compared a word at a time
/// (the last word overlapping the one before), without a call to memcmp.
static inline int tg_bytes_equal(const void *a, const void *b, size_t n) {
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    uint64_t x, y, diff = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __builtin_memcpy(&x, p + i, 8);
        __builtin_memcpy(&y, q + i, 8);
        diff |= x ^ y;
    }
    if (i < n) {
        __builtin_memcpy(&x, p + n - 8, 8);
        __builtin_memcpy(&y, q + n - 8, 8);
        diff |= x ^ y;
    }
    return diff == 0;
}

/// The length of the NUL-terminated string `s` and, when it is shorter than 16
/// bytes, its bytes zero-padded into `*low` and `*high` (little-endian machines;
/// elsewhere both stay 0 and the caller falls back to the bytes): one pass
/// instead of strlen plus a copy, for the decoder's short-string cache.
/// protobuf-c gives strings without their length; nearly all of a span's are
/// short (keys, names, enums as text).
///
/// The 16 bytes at `s` are read at once when they cannot cross a page, which
/// may read past the string's allocation (never past its page): hence no
/// AddressSanitizer here. Bytes after the NUL are masked off.
#if defined(__clang__)
__attribute__((no_sanitize("address")))
#endif
static inline size_t tg_cstr_scan(const char *s, uint64_t *low, uint64_t *high) {
    *low = 0;
    *high = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (((uintptr_t)s & 4095u) <= 4096u - 16u) {
        uint64_t a, b;
        __builtin_memcpy(&a, s, 8);
        uint64_t zero = tg_zero_bytes(a);
        if (zero != 0) {
            size_t n = (size_t)__builtin_ctzll(zero) >> 3;
            *low = n == 0 ? 0 : a & (~0ULL >> (64 - 8 * n));
            return n;
        }
        __builtin_memcpy(&b, s + 8, 8);
        zero = tg_zero_bytes(b);
        if (zero != 0) {
            size_t n = (size_t)__builtin_ctzll(zero) >> 3;
            *low = a;
            *high = n == 0 ? 0 : b & (~0ULL >> (64 - 8 * n));
            return 8 + n;
        }
        return 16 + strlen(s + 16);
    }
    size_t n = strlen(s);
    if (n < 16) {
        unsigned char bytes[16] = {0};
        __builtin_memcpy(bytes, s, n);
        __builtin_memcpy(low, bytes, 8);
        __builtin_memcpy(high, bytes + 8, 8);
    }
    return n;
#else
    return strlen(s);
#endif
}

/// The deepest nesting limit tg_otlp_check_nesting accepts.
#define TG_NESTING_MAX_LIMIT 1000
/// How many levels of the path to the offending message a report keeps.
#define TG_NESTING_PATH_LEVELS 16

#define TG_NESTING_OK 0
#define TG_NESTING_TOO_DEEP 1
#define TG_NESTING_MALFORMED 2

/// One level of the path to where a nesting limit was passed: the message
/// type at that level (see otlp_nesting.c), the field of it that leads on, and
/// that field's index among its repeated occurrences.
typedef struct tg_nesting_step {
    uint32_t type;
    uint32_t field;
    uint32_t index;
} tg_nesting_step;

typedef struct tg_nesting_report {
    /// The level of the first message found past the limit (the request is 0).
    int depth;
    /// How many entries of `path` are filled: levels 0 ..< levels.
    int levels;
    tg_nesting_step path[TG_NESTING_PATH_LEVELS];
} tg_nesting_report;

/// Walks the wire bytes of an ExportTraceServiceRequest, iteratively and only
/// into fields the OTLP trace schema declares as messages, and says whether any
/// message is nested more than `limit` levels below the request, and where.
/// The decoder calls it only for a request it refused as too deep, to name
/// the attribute. TG_NESTING_MALFORMED means bytes protobuf-c refuses too (a
/// truncated or overlong varint or length, a key over five bytes, a group, a
/// first key byte without field bits).
int tg_otlp_check_nesting(const uint8_t *data, size_t size, int limit, tg_nesting_report *report);

/// 1 when built with AddressSanitizer, which must not see tg_short_words
/// read past a string's end.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ADDRESS_SANITIZER 1
#endif
#endif
#if !defined(TG_ADDRESS_SANITIZER) && defined(__SANITIZE_ADDRESS__)
#define TG_ADDRESS_SANITIZER 1
#endif
#ifndef TG_ADDRESS_SANITIZER
#define TG_ADDRESS_SANITIZER 0
#endif

/// Bit 0: the `n` bytes hold a NUL; bit 1: a byte above 0x7F (maybe not UTF-8).
static inline unsigned tg_bytes_flags(const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    const uint64_t highs = 0x8080808080808080ULL;
    uint64_t any = 0, zero = 0;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        any |= w;
        zero |= tg_zero_bytes(w);
        p += 8;
        n -= 8;
    }
    unsigned flags = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0) flags |= 1u;
        if (p[i] & 0x80u) flags |= 2u;
    }
    if (zero) flags |= 1u;
    if (any & highs) flags |= 2u;
    return flags;
}

/// A string of n < 16 bytes zero-padded into `*low` and `*high` for the
/// decoder's short-string cache (little-endian order), and its
/// tg_bytes_flags: the cache keys only strings whose flags are 0, since a NUL
/// would make two strings of different lengths the same words.
static inline unsigned tg_short_words(const void *data, size_t n, uint64_t *low, uint64_t *high) {
    uint64_t a = 0, b = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !TG_ADDRESS_SANITIZER
    if (((uintptr_t)data & 4095u) <= 4096u - 16u) {
        /* Two loads and masks instead of a copy of n bytes: reading past the
         * end stays within the page, and the bytes past n are cleared. */
        __builtin_memcpy(&a, data, 8);
        __builtin_memcpy(&b, (const unsigned char *)data + 8, 8);
        if (n < 8) {
            a &= n == 0 ? 0 : ~0ULL >> (64 - 8 * n);
            b = 0;
        } else {
            b &= n == 8 ? 0 : ~0ULL >> (64 - 8 * (n - 8));
        }
    } else
#endif
    {
        unsigned char bytes[16] = {0};
        memcpy(bytes, data, n);
        memcpy(&a, bytes, 8);
        memcpy(&b, bytes + 8, 8);
    }
    *low = a;
    *high = b;
    const uint64_t highs = 0x8080808080808080ULL;
    unsigned flags = ((a | b) & highs) ? 2u : 0u;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* A NUL among the first n bytes: the lowest zero byte of the zero-padded
     * sixteen lies below n (the zero-byte test is exact for the lowest one). */
    uint64_t za = tg_zero_bytes(a);
    size_t first_zero;
    if (za != 0) {
        first_zero = (size_t)__builtin_ctzll(za) >> 3;
    } else {
        uint64_t zb = tg_zero_bytes(b);
        first_zero = zb != 0 ? 8 + ((size_t)__builtin_ctzll(zb) >> 3) : 16;
    }
    if (first_zero < n) flags |= 1u;
#else
    if (memchr(data, 0, n) != NULL) flags |= 1u;
#endif
    return flags;
}

#endif
