import COTLP
import CProtobufC
import CTracegateShims

/// protobuf-c's bare unpack of the same bytes the decoder reads, without the
/// model conversion: the yardstick `tracegate-bench decode` measures the
/// decoder against.
public enum ProtobufBaseline {
    public enum Allocator: String, Sendable, CaseIterable {
        /// protobuf-c's default allocator (malloc/free per field).
        case system
        /// A per-request bump arena, as the decoder uses.
        case arena
    }

    /// Unpacks and frees one request; returns its span count (0 when invalid).
    public static func unpack(_ bytes: UnsafeRawBufferPointer, allocator: Allocator) -> Int {
        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        switch allocator {
        case .system:
            guard let request = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(nil, bytes.count, data) else {
                return 0
            }
            defer { opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(request, nil) }
            return spanCount(request)
        case .arena:
            let arena = UnsafeMutablePointer<tg_arena>.allocate(capacity: 1)
            tg_arena_init(arena, max(4096, bytes.count * 4))
            defer {
                tg_arena_destroy(arena)
                arena.deallocate()
            }
            guard let request = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(tg_arena_allocator(arena), bytes.count, data) else {
                return 0
            }
            return spanCount(request)
        }
    }

    /// What the nesting walk says of these bytes: `ok`, `tooDeep` or
    /// `malformed` (for the fuzzer's check that the walk agrees with the
    /// decoder's refusals).
    public static func nestingVerdict(_ bytes: UnsafeRawBufferPointer) -> String {
        var report = tg_nesting_report()
        switch tg_otlp_check_nesting(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, Int32(NestingLimit.levels), &report) {
        case TG_NESTING_OK: return "ok"
        case TG_NESTING_TOO_DEEP: return "tooDeep"
        default: return "malformed"
        }
    }

    private static func spanCount(_ request: UnsafePointer<CRequest>) -> Int {
        var n = 0
        let r = request.pointee
        for i in 0..<r.n_resource_spans {
            guard let rs = r.resource_spans[i]?.pointee else { continue }
            for j in 0..<rs.n_scope_spans { n += rs.scope_spans[j]?.pointee.n_spans ?? 0 }
        }
        return n
    }
}
