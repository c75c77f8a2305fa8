#include <zlib.h>

// inflateInit2 is a macro in zlib.h; Swift cannot call macros.
static inline int tg_inflate_init_gzip(z_stream *stream) {
    // 15 window bits + 32: accept both gzip and zlib headers.
    return inflateInit2(stream, 15 + 32);
}

// deflateInit2 is a macro too: gzip framing (15 window bits + 16), default level.
static inline int tg_deflate_init_gzip(z_stream *stream) {
    return deflateInit2(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
