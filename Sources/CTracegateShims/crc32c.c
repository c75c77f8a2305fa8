#include "CTracegateShims.h"

/* CRC-32C with the processor's own instruction (SSE 4.2 `crc32` on x86-64,
 * the CRC extension on 64-bit Arm): one instruction per eight bytes. The
 * write-ahead log checksums every record of a persistent queue on the
 * receiver's thread; the table-driven loop in Swift stays as the fallback for
 * processors without it. */

#if defined(__x86_64__)
#include <nmmintrin.h>
#define TG_CRC_TARGET __attribute__((target("sse4.2")))
#define TG_CRC_STEP8(crc, word) ((uint32_t)_mm_crc32_u64((crc), (word)))
#define TG_CRC_STEP1(crc, byte) _mm_crc32_u8((crc), (byte))
#define TG_CRC_AVAILABLE() (__builtin_cpu_init(), __builtin_cpu_supports("sse4.2"))
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define TG_CRC_TARGET
#define TG_CRC_STEP8(crc, word) __crc32cd((crc), (word))
#define TG_CRC_STEP1(crc, byte) __crc32cb((crc), (byte))
#define TG_CRC_AVAILABLE() 1
#endif

#if defined(TG_CRC_STEP8)
TG_CRC_TARGET
static uint32_t crc32c_instruction(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = TG_CRC_STEP8(crc, word);
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        crc = TG_CRC_STEP1(crc, *p++);
        n--;
    }
    return crc;
}

int tg_crc32c_available(void) { return TG_CRC_AVAILABLE(); }

uint32_t tg_crc32c(const void *bytes, size_t count) {
    return ~crc32c_instruction(0xFFFFFFFFu, (const unsigned char *)bytes, count);
}
#else
int tg_crc32c_available(void) { return 0; }

uint32_t tg_crc32c(const void *bytes, size_t count) {
    (void)bytes;
    (void)count;
    return 0;
}
#endif
