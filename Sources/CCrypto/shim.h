// libcrypto (OpenSSL 3, Debian's libssl-dev): SHA-256 and HMAC-SHA256 for
// Sources/TracegateCore/Digests.swift. libcurl already loads libcrypto, so
// this adds no library to the process. The wrappers give Swift fixed-size,
// typed calls instead of OpenSSL's int lengths and NULL-for-empty rules.
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

// out must hold 32 bytes. Returns 1 on success.
static inline int tg_sha256(const unsigned char *data, size_t length, unsigned char *out) {
    static const unsigned char empty = 0;
    return SHA256(data ? data : &empty, length, out) != NULL;
}

// out must hold 32 bytes. Returns 1 on success, 0 when the key is too long
// for HMAC()'s int length (never for a key read from a configuration file).
static inline int tg_hmac_sha256(const unsigned char *key, size_t key_length,
                                 const unsigned char *data, size_t length, unsigned char *out) {
    static const unsigned char empty = 0;
    unsigned int out_length = 0;
    if (key_length > 0x7fffffff) return 0;
    return HMAC(EVP_sha256(), key ? key : &empty, (int)key_length, data ? data : &empty, length,
                out, &out_length) != NULL && out_length == 32;
}
