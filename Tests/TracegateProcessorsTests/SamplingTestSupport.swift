import TracegateCore
@testable import TracegateProcessors

/// SplitMix64: a small PRNG with a fixed seed, so statistical tests see the
/// same trace ids on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func traceID() -> TraceID { TraceID(high: next(), low: next()) }
}

/// A span with the fields the samplers look at.
func sampleSpan(
    _ trace: TraceID, _ span: UInt64, parent: UInt64? = nil, name: String = "op", start: UInt64 = 1_000, end: UInt64 = 2_000,
    status: StatusCode = .unset, attributes: [Attribute] = [], traceState: String = ""
) -> Span {
    Span(
        traceID: trace, spanID: SpanID(span), parentSpanID: parent.map(SpanID.init), traceState: traceState, name: name,
        startTimeUnixNano: start, endTimeUnixNano: end, attributes: attributes, status: SpanStatus(code: status))
}

/// One batch of spans from one service.
func serviceBatch(_ service: String, _ spans: [Span], resource: [Attribute] = []) -> SpanBatch {
    SpanBatch(resourceSpans: [
        ResourceSpans(
            resource: Resource(attributes: [Attribute("service.name", .string(service))] + resource),
            scopeSpans: [ScopeSpans(spans: spans)])
    ])
}

/// Reads `yaml` as a component's settings; returns the value and the problems.
func readConfig<T>(_ yaml: String, _ read: (ConfigMap) -> T) -> (T?, [String]) {
    let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: [:])
    guard let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) else {
        return (nil, diagnostics.problems.map(\.description))
    }
    let value = read(root)
    return (value, diagnostics.problems.map(\.description))
}

extension SpanBatch {
    var allSpans: [Span] {
        var out: [Span] = []
        forEachSpan { _, _, span in out.append(span) }
        return out
    }
}
