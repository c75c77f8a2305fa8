import TracegateCore

// The rules that decide which spans of a request are kept, shared by every
// decoder (protobuf, JSON) so that the same data gives the same batch and the
// same partial-success report whatever its encoding.

/// Why a span was rejected; becomes part of the partial-success message.
struct SpanRejection: Error {
    var reason: String
}

/// An id field as it arrived, before validation: how many bytes it has and,
/// when that is 8 or 16, their value (8 bytes are in `low`).
struct WireID {
    var count: Int
    var high: UInt64
    var low: UInt64

    static let absent = WireID(count: 0, high: 0, low: 0)

    init(count: Int, high: UInt64, low: UInt64) {
        self.count = count
        self.high = high
        self.low = low
    }

    /// Raw bytes, as protobuf carries them.
    init(bytes: UnsafeRawBufferPointer) {
        self.count = bytes.count
        // Read here rather than through TraceID(bytes:)/SpanID(bytes:): those
        // are calls into another module, three per span.
        switch bytes.count {
        case 16:
            high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        case 8:
            (high, low) = (0, UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        default:
            (high, low) = (0, 0)
        }
    }

    var traceID: TraceID? { count == 16 ? TraceID(high: high, low: low) : nil }
    var spanID: SpanID? { count == 8 ? SpanID(low) : nil }
}

/// The identity of a span that passed validation.
struct ValidSpanIDs {
    var traceID: TraceID
    var spanID: SpanID
    var parentSpanID: SpanID?
}

enum SpanRules {
    /// How many rejection reasons the partial-success message spells out.
    static let reasonsInMessage = 3

    /// The rules of the OTLP and W3C specifications: 16-byte non-zero trace
    /// id, 8-byte non-zero span id, empty or 8-byte parent id (all zeros means
    /// none), and an end that is not before the start.
    static func validate(
        traceID rawTrace: WireID, spanID rawSpan: WireID, parentSpanID rawParent: WireID,
        startTimeUnixNano: UInt64, endTimeUnixNano: UInt64
    ) throws(SpanRejection) -> ValidSpanIDs {
        guard let traceID = rawTrace.traceID else {
            throw SpanRejection(reason: "trace_id must be 16 bytes, got \(rawTrace.count)")
        }
        guard traceID.isValid else { throw SpanRejection(reason: "trace_id is all zeros") }
        guard let spanID = rawSpan.spanID else {
            throw SpanRejection(reason: "span_id must be 8 bytes, got \(rawSpan.count)")
        }
        guard spanID.isValid else { throw SpanRejection(reason: "span_id is all zeros") }
        var parent: SpanID? = nil
        if rawParent.count != 0 {
            guard let id = rawParent.spanID else {
                throw SpanRejection(reason: "parent_span_id must be empty or 8 bytes, got \(rawParent.count)")
            }
            parent = id.isValid ? id : nil
        }
        guard endTimeUnixNano >= startTimeUnixNano else {
            throw SpanRejection(reason: "end_time_unix_nano is before start_time_unix_nano")
        }
        return ValidSpanIDs(traceID: traceID, spanID: spanID, parentSpanID: parent)
    }

    /// A link's ids, or nil when they are malformed: such a link points
    /// nowhere and is counted as dropped rather than rejecting its span.
    static func linkIDs(traceID: WireID, spanID: WireID) -> (TraceID, SpanID)? {
        guard let trace = traceID.traceID, let span = spanID.spanID else { return nil }
        return (trace, span)
    }
}

/// Collects the valid spans of a request and the report of the rejected ones.
struct DecodedRequestBuilder {
    private var result = DecodedRequest(batch: SpanBatch())
    private var reasons: [String] = []

    init(resourceCapacity: Int = 0) {
        result.batch.resourceSpans.reserveCapacity(resourceCapacity)
    }

    /// Counts a rejected span; indices are positions in the request as sent.
    mutating func reject(resource: Int, scope: Int, span: Int, _ rejection: SpanRejection) {
        result.rejectedSpans += 1
        if reasons.count < SpanRules.reasonsInMessage {
            reasons.append("resource_spans[\(resource)].scope_spans[\(scope)].spans[\(span)]: \(rejection.reason)")
        }
    }

    /// Adds a resource's spans, leaving out scopes without a valid span and
    /// the resource when none is left.
    mutating func append(_ resourceSpans: ResourceSpans) {
        var resourceSpans = resourceSpans
        if resourceSpans.scopeSpans.contains(where: \.spans.isEmpty) {
            resourceSpans.scopeSpans.removeAll(where: \.spans.isEmpty)
        }
        if !resourceSpans.scopeSpans.isEmpty { result.batch.resourceSpans.append(resourceSpans) }
    }

    consuming func finish() -> DecodedRequest {
        if result.rejectedSpans > 0 {
            var message = "rejected \(result.rejectedSpans) invalid span\(result.rejectedSpans == 1 ? "" : "s"): "
            message += reasons.joined(separator: "; ")
            if result.rejectedSpans > reasons.count { message += "; …" }
            result.errorMessage = message
        }
        return result
    }
}
