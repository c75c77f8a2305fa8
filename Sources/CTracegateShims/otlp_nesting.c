#include "CTracegateShims.h"

/* The message types of an OTLP trace export request, as far as they nest
 * messages. Status and EntityRef hold no message fields: they are leaves, and
 * so is every string, bytes and scalar field. */
enum {
    TG_M_REQUEST,
    TG_M_RESOURCE_SPANS,
    TG_M_RESOURCE,
    TG_M_SCOPE_SPANS,
    TG_M_SCOPE,
    TG_M_SPAN,
    TG_M_EVENT,
    TG_M_LINK,
    TG_M_KEY_VALUE,
    TG_M_ANY_VALUE,
    TG_M_ARRAY_VALUE,
    TG_M_KEY_VALUE_LIST,
    TG_M_LEAF,
};

/* The type of the message in field `field` of a message of type `type`, or -1
 * when that field is not a message (or is unknown: protobuf-c keeps unknown
 * fields as bytes without parsing them). Field numbers from the OTLP protos. */
static int tg_child_type(int type, uint64_t field) {
    switch (type) {
    case TG_M_REQUEST: return field == 1 ? TG_M_RESOURCE_SPANS : -1;
    case TG_M_RESOURCE_SPANS: return field == 1 ? TG_M_RESOURCE : field == 2 ? TG_M_SCOPE_SPANS : -1;
    case TG_M_RESOURCE: return field == 1 ? TG_M_KEY_VALUE : field == 3 ? TG_M_LEAF : -1;
    case TG_M_SCOPE_SPANS: return field == 1 ? TG_M_SCOPE : field == 2 ? TG_M_SPAN : -1;
    case TG_M_SCOPE: return field == 3 ? TG_M_KEY_VALUE : -1;
    case TG_M_SPAN:
        switch (field) {
        case 9: return TG_M_KEY_VALUE;
        case 11: return TG_M_EVENT;
        case 13: return TG_M_LINK;
        case 15: return TG_M_LEAF;
        default: return -1;
        }
    case TG_M_EVENT: return field == 3 ? TG_M_KEY_VALUE : -1;
    case TG_M_LINK: return field == 4 ? TG_M_KEY_VALUE : -1;
    case TG_M_KEY_VALUE: return field == 2 ? TG_M_ANY_VALUE : -1;
    case TG_M_ANY_VALUE: return field == 5 ? TG_M_ARRAY_VALUE : field == 6 ? TG_M_KEY_VALUE_LIST : -1;
    case TG_M_ARRAY_VALUE: return field == 1 ? TG_M_ANY_VALUE : -1;
    case TG_M_KEY_VALUE_LIST: return field == 1 ? TG_M_KEY_VALUE : -1;
    default: return -1;
    }
}

/* Reads a varint at *pos (before end); 0 when it is truncated or longer than
 * ten bytes, as protobuf-c refuses it too. */
static inline int tg_varint(const uint8_t *data, size_t *pos, size_t end, uint64_t *out) {
    uint64_t value = 0;
    size_t p = *pos;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (p >= end) return 0;
        uint8_t b = data[p++];
        value |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *pos = p;
            *out = value;
            return 1;
        }
    }
    return 0;
}

/* Runs only for a request the decoder already refused as too deep (see
 * OTLPProtobufDecoder), to say where: no pass of it is on the hot path. */
int tg_otlp_check_nesting(const uint8_t *data, size_t size, int limit, tg_nesting_report *report) {
    /* One frame per message being read: where it ends and its type. Level 0
     * is the request; a frame is pushed only for a message that could nest
     * past the limit, so the stack never holds more than limit + 1 frames. */
    size_t ends[TG_NESTING_MAX_LIMIT + 2];
    uint8_t types[TG_NESTING_MAX_LIMIT + 2];
    /* Per level on the reported path: how many times each field number has
     * been seen in the message of that level (OTLP's message fields are all
     * below 16), which is the index of a repeated element. */
    uint32_t seen[TG_NESTING_PATH_LEVELS][16];

    report->depth = 0;
    report->levels = 0;
    if (limit < 0 || limit > TG_NESTING_MAX_LIMIT) return TG_NESTING_MALFORMED;
    if (data == NULL) return size == 0 ? TG_NESTING_OK : TG_NESTING_MALFORMED;

    int level = 0;
    ends[0] = size;
    types[0] = TG_M_REQUEST;
    memset(seen[0], 0, sizeof seen[0]);
    size_t pos = 0;

    for (;;) {
        size_t end = ends[level];
        if (pos == end) {
            if (level == 0) return TG_NESTING_OK;
            level--;
            continue;
        }
        /* Keys as protobuf-c reads them: at most five bytes, and only a first
         * byte without field bits is refused; a longer encoding of field 0
         * (0x80 0x00) is an unknown field to it, so it is one here too. */
        if ((data[pos] & 0xf8) == 0) return TG_NESTING_MALFORMED;
        size_t key_start = pos;
        uint64_t key;
        if (!tg_varint(data, &pos, end, &key) || pos - key_start > 5) return TG_NESTING_MALFORMED;
        switch (key & 7) {
        case 0: {
            uint64_t ignored;
            if (!tg_varint(data, &pos, end, &ignored)) return TG_NESTING_MALFORMED;
            break;
        }
        case 1:
            if (end - pos < 8) return TG_NESTING_MALFORMED;
            pos += 8;
            break;
        case 5:
            if (end - pos < 4) return TG_NESTING_MALFORMED;
            pos += 4;
            break;
        case 2: {
            uint64_t length;
            if (!tg_varint(data, &pos, end, &length)) return TG_NESTING_MALFORMED;
            if (length > end - pos) return TG_NESTING_MALFORMED;
            uint64_t field = key >> 3;
            if (level < TG_NESTING_PATH_LEVELS) {
                report->path[level].type = types[level];
                report->path[level].field = (uint32_t)field;
                report->path[level].index = field < 16 ? seen[level][field] : 0;
                if (field < 16) seen[level][field]++;
            }
            /* A nested message costs its parent at least two bytes (a tag and
             * a length), so a message of `length` bytes can hold at most
             * length / 2 more levels: one that cannot pass the limit is
             * skipped unread, which is nearly every attribute value. */
            if ((uint64_t)(level + 1) + length / 2 <= (uint64_t)limit) {
                pos += (size_t)length;
                break;
            }
            int child = tg_child_type(types[level], field);
            if (child < 0) {
                pos += (size_t)length;
                break;
            }
            if (level + 1 > limit) {
                report->depth = level + 1;
                report->levels = level < TG_NESTING_PATH_LEVELS ? level + 1 : TG_NESTING_PATH_LEVELS;
                return TG_NESTING_TOO_DEEP;
            }
            level++;
            ends[level] = pos + (size_t)length;
            types[level] = (uint8_t)child;
            if (level < TG_NESTING_PATH_LEVELS) memset(seen[level], 0, sizeof seen[level]);
            break;
        }
        default:
            /* Groups (3, 4) and the unused wire types 6 and 7: protobuf-c
             * refuses them as well. */
            return TG_NESTING_MALFORMED;
        }
    }
}
