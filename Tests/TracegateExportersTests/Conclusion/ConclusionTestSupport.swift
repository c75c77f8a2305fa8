import TracegateCore
@testable import TracegateExporters

/// A deterministic random source for backoff jitter (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64 = 42) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A batch of one service's spans.
func conclusionBatch(_ spans: [Span], service: String = "checkout") -> SpanBatch {
    SpanBatch(resourceSpans: [
        ResourceSpans(
            resource: Resource(attributes: [Attribute("service.name", .string(service))]),
            scopeSpans: [ScopeSpans(spans: spans)])
    ])
}

func testSpan(_ trace: UInt64, _ id: UInt64, parent: UInt64? = nil, name: String = "op", error: Bool = false) -> Span {
    var span = Span(
        traceID: TraceID(high: 1, low: trace), spanID: SpanID(id), parentSpanID: parent.map(SpanID.init), name: name,
        startTimeUnixNano: 1_700_000_000_000_000_000 + id * 1000, endTimeUnixNano: 1_700_000_000_002_000_000 + id * 1000)
    if error { span.status.code = .error }
    return span
}

func sampleConclusion(_ trace: String = "0123456789abcdef0123456789abcdef") -> TraceConclusion {
    TraceConclusion(
        traceID: trace, rootName: "GET \"/cart\"", rootService: "checkout", services: ["billing", "checkout"], spanCount: 3,
        errorCount: 1, start: "2023-11-14T22:13:20.000000Z", end: "2023-11-14T22:13:20.002500Z", durationMs: 2.5, status: "error",
        complete: false, missingParents: ["00000000000000aa"], updated: false)
}
