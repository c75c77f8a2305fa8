#include "CTracegateShims.h"

/* CRC-32C with the processor's own instruction (SSE 4.2 `crc32` on x86-64,
 * the CRC extension on 64-bit Arm): one instruction per eight bytes. The
 * write-ahead log checksums every record of a persistent queue on the
 * receiver's thread; the table-driven loop in Swift stays as the fallback for
 * processors without it. */

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_instruction(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n > 0) {
        c32 = _mm_crc32_u8(c32, *p++);
        n--;
    }
    return c32;
}

int tg_crc32c_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>

static uint32_t crc32c_instruction(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        crc = __crc32cb(crc, *p++);
        n--;
    }
    return crc;
}

int tg_crc32c_available(void) { return 1; }

#else
static uint32_t crc32c_instruction(uint32_t crc, const unsigned char *p, size_t n) {
    (void)p;
    (void)n;
    return crc;
}

int tg_crc32c_available(void) { return 0; }
#endif

uint32_t tg_crc32c(const void *bytes, size_t count) {
    return ~crc32c_instruction(0xFFFFFFFFu, (const unsigned char *)bytes, count);
}
