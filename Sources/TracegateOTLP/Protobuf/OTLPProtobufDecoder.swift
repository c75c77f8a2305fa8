import COTLP
import CProtobufC
import CTracegateShims
import TracegateCore

/// Decodes `ExportTraceServiceRequest` protobuf bytes with protobuf-c into the
/// span model. The C message lives in a per-request arena that is released as
/// a whole before this returns; nothing C escapes.
///
/// Nesting: protobuf-c has no recursion limit, so our protos declare
/// AnyValue's array and kvlist values as bytes (the same wire format). Its
/// unpack then recurses at most six messages deep, whatever the request; the
/// mapping unpacks nested values one level at a time and stops at
/// `NestingLimit.levels` (see AnyValue+Proto.swift). Only a refused request
/// is walked again (otlp_nesting.c, iteratively) to say where the limit was
/// passed. A request within the limit pays nothing for it.
public enum OTLPProtobufDecoder {
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(OTLPDecodeError) -> DecodedRequest {
        let arena = UnsafeMutablePointer<tg_arena>.allocate(capacity: 1)
        // Unpacked messages take a few times their wire size; start there so a
        // typical request needs one block.
        tg_arena_init(arena, max(4096, bytes.count * 4))
        defer {
            // Every block of the message is released here; protobuf-c's
            // free_unpacked would only walk the tree calling the arena's no-op free.
            tg_arena_destroy(arena)
            arena.deallocate()
        }
        guard
            let request = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                tg_arena_allocator(arena), bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        else {
            if arena.pointee.failed != 0 { throw OTLPDecodeError("out of memory while decoding the request") }
            throw OTLPDecodeError(invalidMessage)
        }
        let strings = StringTable()
        strings.allocator = tg_arena_allocator(arena)
        let decoded = convert(request, strings: strings)
        if strings.nestingPassed {
            try checkNesting(bytes)
            // The walk found nothing (it cannot disagree, but say so rather than accept).
            throw OTLPDecodeError(NestingLimit.message(at: nil))
        }
        if strings.nestedMalformed {
            if arena.pointee.failed != 0 { throw OTLPDecodeError("out of memory while decoding the request") }
            throw OTLPDecodeError(invalidMessage)
        }
        return decoded
    }

    static let invalidMessage = "request body is not a valid ExportTraceServiceRequest protobuf message"


    public static func decode(_ bytes: [UInt8]) throws(OTLPDecodeError) -> DecodedRequest {
        let result: Result<DecodedRequest, OTLPDecodeError> = bytes.withUnsafeBytes { buffer in
            do throws(OTLPDecodeError) { return .success(try decode(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Says where a request the mapping found nested past
    /// `NestingLimit.levels` passed it.
    static func checkNesting(_ bytes: UnsafeRawBufferPointer) throws(OTLPDecodeError) {
        var report = tg_nesting_report()
        let outcome = tg_otlp_check_nesting(
            bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, Int32(NestingLimit.levels), &report)
        switch outcome {
        case TG_NESTING_OK: return
        case TG_NESTING_TOO_DEEP: throw OTLPDecodeError(NestingLimit.message(at: NestingLimit.path(report)))
        default: throw OTLPDecodeError(invalidMessage)
        }
    }

    static func convert(_ request: UnsafePointer<CRequest>, strings: StringTable) -> DecodedRequest {
        let r = request.pointee
        var builder = DecodedRequestBuilder(resourceCapacity: r.n_resource_spans)
        for resourceIndex in 0..<r.n_resource_spans {
            guard let rsPointer = r.resource_spans[resourceIndex] else { continue }
            let rs = rsPointer.pointee
            var out = ResourceSpans(resource: Resource(proto: rs.resource, strings: strings), schemaURL: strings.string(rs.schema_url))
            out.scopeSpans.reserveCapacity(rs.n_scope_spans)
            for scopeIndex in 0..<rs.n_scope_spans {
                guard let ssPointer = rs.scope_spans[scopeIndex] else { continue }
                let ss = ssPointer.pointee
                // Each span is made in its place in the array: no copy of the
                // (large) struct, no capacity check per span.
                let spans = [Span](unsafeUninitializedCapacity: ss.n_spans) { buffer, initialized in
                    for spanIndex in 0..<ss.n_spans {
                        guard let spanPointer = ss.spans[spanIndex] else { continue }
                        do throws(SpanRejection) {
                            (buffer.baseAddress! + initialized).initialize(to: try Span(proto: spanPointer, strings: strings))
                            initialized += 1
                        } catch {
                            builder.reject(resource: resourceIndex, scope: scopeIndex, span: spanIndex, error)
                        }
                    }
                }
                // A scope without valid spans is left out (by the builder too);
                // skipping it here saves mapping its scope.
                if !spans.isEmpty {
                    out.scopeSpans.append(
                        ScopeSpans(scope: InstrumentationScope(proto: ss.scope, strings: strings), schemaURL: strings.string(ss.schema_url), spans: spans))
                }
            }
            builder.append(out)
        }
        var decoded = builder.finish()
        decoded.repairedStrings = strings.repaired
        return decoded
    }
}
