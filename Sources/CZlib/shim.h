#include <zlib.h>

// inflateInit2 is a macro in zlib.h; Swift cannot call macros.
static inline int tg_inflate_init_gzip(z_stream *stream) {
    // 15 window bits + 32: accept both gzip and zlib headers.
    return inflateInit2(stream, 15 + 32);
}
