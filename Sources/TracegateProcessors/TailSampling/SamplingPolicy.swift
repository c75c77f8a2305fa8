import TracegateCore

/// One entry of `tail_sampling.policies`: a name (recorded on kept spans) and
/// the rule that decides whether a trace matches.
public struct SamplingPolicy: Sendable, Equatable {
    public var name: String
    public var rule: Rule

    public init(name: String, rule: Rule) {
        self.name = name
        self.rule = rule
    }

    /// Which duration the `latency` policy compares with its threshold.
    public enum LatencyMeasure: String, Sendable, Equatable {
        /// From the earliest span start to the latest span end (the collector's).
        case trace
        /// The root span's duration (no match when the root has not arrived).
        case root
        /// The longest span's duration.
        case anySpan = "any_span"
    }

    /// The policy types and their settings.
    public indirect enum Rule: Sendable, Equatable {
        /// Matches every trace.
        case alwaysSample
        /// Matches when some span has one of these status codes.
        case statusCode([StatusCode])
        /// Matches when the measured duration is at least `threshold` (and at
        /// most `upper`, when set).
        case latency(threshold: Duration, upper: Duration?, measure: LatencyMeasure)
        /// Matches when some span or resource has `key` with a string value
        /// equal to one of `values` or matching one of `patterns`; `invert`
        /// matches the traces where none does.
        case stringAttribute(key: String, values: Set<String>, patterns: [CompiledRegex], invert: Bool)
        /// Matches when some span or resource has `key` with a number in `min...max`.
        case numericAttribute(key: String, min: Double, max: Double, invert: Bool)
        /// Matches when some span or resource has `key` set to `value`.
        case booleanAttribute(key: String, value: Bool, invert: Bool)
        /// Matches when the trace has between `min` and `max` spans (what has
        /// arrived when the decision is taken).
        case spanCount(min: Int, max: Int?)
        /// Matches a fixed share of traces, the same ones on every replica:
        /// consistent by trace id when `salt` is empty, else a hash of salt and id.
        case probabilistic(percentage: Double, salt: String)
        /// Matches while fewer than `spansPerSecond` spans were sampled by this
        /// policy in the current second.
        case rateLimiting(spansPerSecond: Int)
        /// Matches when every sub-policy matches.
        case and([SamplingPolicy])
        /// Tries the sub-policies in order; one that matches keeps the trace
        /// while its share of `maxTotalSpansPerSecond` (percent by name in
        /// `allocation`; unlisted sub-policies share what is left) lasts.
        case composite(maxTotalSpansPerSecond: Int, subPolicies: [SamplingPolicy], allocation: [String: Double])
    }
}

/// What the policies look at: the spans of one trace that have arrived.
public struct TraceView {
    public let traceID: TraceID
    public let batch: SpanBatch
    public let spanCount: Int

    public init(traceID: TraceID, batch: SpanBatch, spanCount: Int) {
        self.traceID = traceID
        self.batch = batch
        self.spanCount = spanCount
    }

    /// True when some span (or the resource that sent it) satisfies `test` for `key`.
    func anyAttribute(_ key: String, _ test: (AnyValue) -> Bool) -> Bool {
        for rs in batch.resourceSpans {
            if let v = rs.resource.attributes[key: key], test(v) { return true }
            for ss in rs.scopeSpans {
                for span in ss.spans {
                    if let v = span.attributes[key: key], test(v) { return true }
                }
            }
        }
        return false
    }

    func anySpan(_ test: (Span) -> Bool) -> Bool {
        for rs in batch.resourceSpans {
            for ss in rs.scopeSpans where ss.spans.contains(where: test) { return true }
        }
        return false
    }
}
