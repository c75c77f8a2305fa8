import TracegateCore

/// A policy with the state its rule needs (the rate limiters' spans in the
/// current second). A pure value: the caller passes the current second.
public struct PolicyEvaluator: Sendable {
    public let policy: SamplingPolicy
    private var children: [PolicyEvaluator]
    private var second: Int64 = .min
    /// Spans sampled in `second` (rate_limiting, composite total).
    private var spent = 0
    /// Spans sampled in `second` per sub-policy (composite).
    private var childSpent: [Int]
    private let childBudgets: [Int?]

    public init(_ policy: SamplingPolicy) {
        self.policy = policy
        switch policy.rule {
        case .and(let subs):
            children = subs.map(PolicyEvaluator.init)
            childBudgets = []
        case .composite(let total, let subs, let allocation):
            children = subs.map(PolicyEvaluator.init)
            childBudgets = subs.map { sub in allocation[sub.name].map { Int((Double(total) * $0 / 100).rounded(.down)) } }
        default:
            children = []
            childBudgets = []
        }
        childSpent = Array(repeating: 0, count: children.count)
    }

    /// Whether the trace matches; rate-limited rules count what they let through.
    public mutating func evaluate(_ trace: TraceView, second now: Int64) -> Bool {
        switch policy.rule {
        case .alwaysSample:
            return true
        case .statusCode(let codes):
            return trace.anySpan { codes.contains($0.status.code) }
        case .latency(let threshold, let upper, let measure):
            guard let nanos = Self.measure(trace, measure) else { return false }
            let d = Duration.nanoseconds(Int64(clamping: nanos))
            return d >= threshold && (upper.map { d <= $0 } ?? true)
        case .stringAttribute(let key, let values, let patterns, let invert):
            let found = trace.anyAttribute(key) { value in
                guard case .string(let s) = value else { return false }
                return values.contains(s) || patterns.contains { $0.matches(s) }
            }
            return found != invert
        case .numericAttribute(let key, let min, let max, let invert):
            let found = trace.anyAttribute(key) { value in
                switch value {
                case .int(let i): return (min...max).contains(Double(i))
                case .double(let d): return (min...max).contains(d)
                default: return false
                }
            }
            return found != invert
        case .booleanAttribute(let key, let expected, let invert):
            return trace.anyAttribute(key) { $0 == .bool(expected) } != invert
        case .spanCount(let min, let max):
            return trace.spanCount >= min && (max.map { trace.spanCount <= $0 } ?? true)
        case .probabilistic(let percentage, let salt):
            if salt.isEmpty {
                return SamplingThreshold(percentage: percentage, precision: 14).keeps(
                    randomness: SamplingThreshold.randomness(of: trace.traceID))
            }
            return HashSeedSampling.keeps(trace.traceID, percentage: percentage, seed: Self.seed(salt))
        case .rateLimiting(let limit):
            roll(to: now)
            guard spent + trace.spanCount <= limit else { return false }
            spent += trace.spanCount
            return true
        case .and:
            for i in children.indices where !children[i].evaluate(trace, second: now) { return false }
            return !children.isEmpty
        case .composite(let total, _, _):
            roll(to: now)
            guard spent + trace.spanCount <= total else { return false }
            for i in children.indices where children[i].evaluate(trace, second: now) {
                let fits =
                    if let budget = childBudgets[i] {
                        childSpent[i] + trace.spanCount <= budget
                    } else {
                        allocatedAndShared() + trace.spanCount <= total
                    }
                guard fits else { continue }
                childSpent[i] += trace.spanCount
                spent += trace.spanCount
                return true
            }
            return false
        }
    }

    /// The allocated sub-policies' whole shares plus what the unlisted ones
    /// used this second: unlisted sub-policies share the rest of the total.
    private func allocatedAndShared() -> Int {
        var used = 0
        for i in children.indices {
            if let budget = childBudgets[i] { used += budget } else { used += childSpent[i] }
        }
        return used
    }

    private mutating func roll(to now: Int64) {
        guard now != second else { return }
        second = now
        spent = 0
        for i in childSpent.indices { childSpent[i] = 0 }
    }

    private static func measure(_ trace: TraceView, _ measure: SamplingPolicy.LatencyMeasure) -> UInt64? {
        var earliest = UInt64.max
        var latest: UInt64 = 0
        var longest: UInt64?
        var root: UInt64?
        trace.batch.forEachSpan { _, _, span in
            earliest = min(earliest, span.startTimeUnixNano)
            latest = max(latest, span.endTimeUnixNano)
            longest = max(longest ?? 0, span.durationNanos)
            if span.parentSpanID == nil { root = span.durationNanos }
        }
        switch measure {
        case .trace: return latest >= earliest ? latest - earliest : nil
        case .root: return root
        case .anySpan: return longest
        }
    }

    /// A 32-bit seed from a salt string (FNV-1a).
    static func seed(_ salt: String) -> UInt32 { Digests.fnv1a32(salt) }
}
