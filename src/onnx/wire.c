/* The protobuf wire format, walked before protobuf-c unpacks it, to bound the nesting depth.
 *
 * protobuf-c recurses once per nested message (unpack, merge and free alike) and has no depth
 * limit: 5,000 TypeProto.sequence_type levels in 34 KB overflow an 8 MiB stack, 800 levels in
 * 4.7 KB a 256 KiB thread stack. ONNX has several recursive paths (TypeProto through sequence,
 * map, optional and sparse types; GraphProto → NodeProto → AttributeProto.g / .graphs → GraphProto;
 * tensors and sparse tensors inside attributes of subgraphs). Rather than list them, this walk
 * follows the generated descriptors: every length-delimited field whose descriptor says "message"
 * is entered, anything else is skipped, so every path protobuf-c can recurse along is bounded.
 *
 * The walk is iterative (an explicit stack of CLRNN_OX_MAX_NESTING frames) and mirrors
 * protobuf-c 1.4's framing rules (tags of 1-5 bytes with a non-zero field number in the first
 * byte, varints of at most 10 bytes, length prefixes of at most 5 bytes and INT_MAX, wire types
 * 0, 1, 2 and 5), so what it refuses protobuf-c refuses too. It reads each field header once and
 * skips payloads whole: 5 us on a 6.7 KB LSTM model against 57 us for protobuf-c's unpack, 47 ms
 * against 370 ms on 50 MB of unpacked float_data (its worst case: a field header per 5 bytes). */
#include "onnx_internal.h"

#include <limits.h>

typedef struct wire_frame {
    const ProtobufCMessageDescriptor *desc;
    const uint8_t *end;
} wire_frame;

/* Varint of at most `max` bytes within [p, end); its length, 0 when unterminated. */
static size_t varint(const uint8_t *p, const uint8_t *end, size_t max, uint64_t *value) {
    uint64_t v = 0;
    const size_t avail = (size_t)(end - p);
    for (size_t i = 0; i < max && i < avail; ++i) {
        if (i < 10) v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *value = v;
            return i + 1;
        }
    }
    return 0;
}

clrnn_status clrnn_ox_check_wire(const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
                                 const char *what, int *depth_out) {
    wire_frame stack[CLRNN_OX_MAX_NESTING];
    const uint8_t *const base = data, *p = base;
    int depth = 1, deepest = 1;
    stack[0].desc = desc;
    stack[0].end = base + size;
    const char *bad = NULL;
    while (!bad) {
        while (p == stack[depth - 1].end) /* a message ends exactly where its length said */
            if (--depth == 0) {
                if (depth_out) *depth_out = deepest;
                return CLRNN_OK;
            }
        const uint8_t *const end = stack[depth - 1].end;
        const uint8_t *const field_at = p;
        uint64_t tag, len;
        size_t n;
        if ((*p & 0xf8) == 0 || !(n = varint(p, end, 5, &tag))) {
            bad = "bad field tag";
            break;
        }
        p += n;
        switch (tag & 7) {
        case 0: /* varint */
            if (!(n = varint(p, end, 10, &len))) bad = "unterminated varint";
            p += n;
            break;
        case 1: /* 64-bit */
        case 5: /* 32-bit */
            n = (tag & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < n) bad = "fixed-size field past the end of its message";
            else p += n;
            break;
        case 2: { /* length-delimited: bytes, string, packed numbers or a message */
            if (!(n = varint(p, end, 5, &len)) || len > INT_MAX || len > (size_t)(end - p - (ptrdiff_t)n)) {
                bad = "length-delimited field past the end of its message";
                break;
            }
            p += n;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(stack[depth - 1].desc, (unsigned)(uint32_t)(tag >> 3));
            if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE) {
                p += len;
                break;
            }
            if (depth == CLRNN_OX_MAX_NESTING) {
                const ProtobufCMessageDescriptor *sub = f->descriptor;
                return clrnn_fail(CLRNN_ERR_CORRUPT_FILE,
                                  "%s nests protobuf messages %d levels deep (at byte %zu: %s in field '%s' of %s); "
                                  "clrnn reads at most %d levels", what, depth + 1, (size_t)(field_at - base),
                                  sub->name, f->name, stack[depth - 1].desc->name, CLRNN_OX_MAX_NESTING);
            }
            stack[depth].desc = f->descriptor;
            stack[depth].end = p + len;
            if (++depth > deepest) deepest = depth;
            break;
        }
        default: bad = "unsupported wire type"; break;
        }
        if (bad) p = field_at;
    }
    return clrnn_fail(CLRNN_ERR_CORRUPT_FILE, "not %s (protobuf decoding of %zu bytes failed: %s at byte %zu)", what,
                      size, bad, (size_t)(p - base));
}
