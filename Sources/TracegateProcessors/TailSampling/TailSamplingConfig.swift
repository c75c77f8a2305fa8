import TracegateCore

/// Settings of the `tail_sampling` processor: how long traces are held, the
/// memory they may take, and the policies that decide them.
public struct TailSamplingConfig: Sendable, Equatable {
    /// A trace is decided when no span of it has arrived for this long.
    public var decisionWait: Duration = .seconds(30)
    /// A trace is decided at the latest this long after its first span, even
    /// while spans keep arriving (later spans follow the decision).
    public var maxTraceDuration: Duration = .seconds(300)
    /// Traces held at once; above it the oldest undecided trace is decided early.
    public var numTraces: Int = 50_000
    /// Estimated bytes held at once (see `SpanBatch.estimatedByteSize`); above
    /// it the oldest undecided traces are decided early.
    public var maxBytes: Int = 256 << 20
    /// A trace holding this many spans is decided at once on them (later
    /// spans follow the decision), so one huge trace cannot fill `num_traces`
    /// or `max_bytes` and push others into early decisions; 0: no cap.
    public var maxSpansPerTrace: Int = 0
    /// A trace is decided this long after its root span (no parent) arrived,
    /// without waiting for `decision_wait` of quiet; zero: off. SDKs export
    /// the root last, so most traces are then decided soon after they end.
    public var decisionWaitAfterRoot: Duration = .zero
    /// Kept decisions remembered for late spans (`decision_cache.sampled_cache_size`).
    public var sampledCacheSize: Int = 100_000
    /// Dropped decisions remembered for late spans (`decision_cache.non_sampled_cache_size`).
    public var nonSampledCacheSize: Int = 100_000
    /// Span attribute set to the name of the policy that kept the trace; empty
    /// to leave spans unchanged.
    public var policyAttribute: String = "sampling.policy"
    /// The policies, tried in order; the first that matches keeps the trace.
    public var policies: [SamplingPolicy] = []

    public init() {}

    public static func read(_ map: ConfigMap) -> TailSamplingConfig {
        var c = TailSamplingConfig()
        c.decisionWait = map.duration("decision_wait", default: c.decisionWait)
        c.maxTraceDuration = map.duration("max_trace_duration", default: c.maxTraceDuration)
        c.numTraces = map.int("num_traces", default: c.numTraces, range: 1...100_000_000)
        c.maxBytes = map.byteSize("max_bytes", default: c.maxBytes)
        c.maxSpansPerTrace = map.int("max_spans_per_trace", default: c.maxSpansPerTrace, range: 0...100_000_000)
        c.decisionWaitAfterRoot = map.duration("decision_wait_after_root", default: c.decisionWaitAfterRoot)
        if c.decisionWaitAfterRoot < .zero { map.report("decision_wait_after_root", "must not be negative") }
        let cache = map.map("decision_cache")
        c.sampledCacheSize = cache.int("sampled_cache_size", default: c.sampledCacheSize, range: 0...100_000_000)
        c.nonSampledCacheSize = cache.int("non_sampled_cache_size", default: c.nonSampledCacheSize, range: 0...100_000_000)
        cache.finish()
        c.policyAttribute = map.string("policy_attribute", default: c.policyAttribute)
        if c.decisionWait <= .zero { map.report("decision_wait", "must be greater than zero") }
        if c.maxTraceDuration < c.decisionWait { map.report("max_trace_duration", "must be at least decision_wait") }
        if c.decisionWaitAfterRoot > c.maxTraceDuration {
            map.report("decision_wait_after_root", "must not be more than max_trace_duration (\(c.maxTraceDuration))")
        }
        if c.maxBytes <= 0 { map.report("max_bytes", "must be greater than zero") }
        if let list = map.value("policies")?.mapList() {
            c.policies = readPolicies(list)
            if list.isEmpty { map.report("policies", "at least one policy is required") }
        } else if !map.has("policies") {
            map.report("policies", "at least one policy is required")
        }
        var seen: Set<String> = []
        for p in c.policies where !seen.insert(p.name).inserted {
            map.report("policies", "duplicate policy name '\(p.name)'")
        }
        map.finish()
        return c
    }

    static func readPolicies(_ maps: [ConfigMap], depth: Int = 0) -> [SamplingPolicy] {
        maps.compactMap { readPolicy($0, depth: depth) }
    }

    static let policyTypes = [
        "always_sample", "status_code", "latency", "string_attribute", "numeric_attribute", "boolean_attribute",
        "span_count", "probabilistic", "rate_limiting", "and", "composite",
    ]

    /// One `{name, type, <type>: {...}}` entry; nested `and`/`composite` go one level deep.
    static func readPolicy(_ map: ConfigMap, depth: Int) -> SamplingPolicy? {
        let name = map.string("name") ?? ""
        if name.isEmpty { map.report("name", "is required") }
        guard let type = map.string("type") else {
            map.report("type", "is required; one of \(policyTypes.joined(separator: ", "))")
            map.finish()
            return nil
        }
        let settings = map.map(type)
        var rule: SamplingPolicy.Rule?
        switch type {
        case "always_sample":
            rule = .alwaysSample
        case "status_code":
            var codes: [StatusCode] = []
            for (text, _) in settings.stringList("status_codes") ?? [] {
                switch text.uppercased() {
                case "ERROR": codes.append(.error)
                case "OK": codes.append(.ok)
                case "UNSET": codes.append(.unset)
                default: settings.report("status_codes", "unknown status code '\(text)'; use ERROR, OK or UNSET")
                }
            }
            if codes.isEmpty { settings.report("status_codes", "at least one status code is required") }
            rule = .statusCode(codes)
        case "latency":
            let threshold = settings.int("threshold_ms", default: -1, range: 0...Int(Int32.max))
            let upper = settings.int("upper_threshold_ms", default: 0, range: 0...Int(Int32.max))
            let measureText = settings.string("measure", default: "trace")
            let measure = SamplingPolicy.LatencyMeasure(rawValue: measureText)
            if measure == nil { settings.report("measure", "must be trace, root or any_span, got '\(measureText)'") }
            if threshold < 0 { settings.report("threshold_ms", "is required") }
            if upper > 0 && upper < threshold { settings.report("upper_threshold_ms", "must be 0 or at least threshold_ms") }
            rule = .latency(
                threshold: .milliseconds(max(threshold, 0)), upper: upper > 0 ? .milliseconds(upper) : nil,
                measure: measure ?? .trace)
        case "string_attribute":
            let key = requiredKey(settings)
            var values: Set<String> = []
            var patterns: [CompiledRegex] = []
            let regex = settings.bool("enabled_regex_matching", default: false)
            let items = settings.value("values")?.items() ?? []
            if items.isEmpty { settings.report("values", "at least one value is required") }
            for item in items {
                if regex {
                    if let r = CompiledRegex.read(item) { patterns.append(r) }
                } else if let s = item.string() {
                    values.insert(s)
                }
            }
            rule = .stringAttribute(key: key, values: values, patterns: patterns, invert: settings.bool("invert_match", default: false))
        case "numeric_attribute":
            let key = requiredKey(settings)
            let min = settings.number("min_value") ?? -.infinity
            let max = settings.number("max_value") ?? .infinity
            if !settings.has("min_value") && !settings.has("max_value") {
                settings.report("min_value", "min_value or max_value is required")
            }
            if min > max { settings.report("max_value", "must be at least min_value") }
            rule = .numericAttribute(key: key, min: min, max: Swift.max(min, max), invert: settings.bool("invert_match", default: false))
        case "boolean_attribute":
            let key = requiredKey(settings)
            if !settings.has("value") { settings.report("value", "is required (true or false)") }
            rule = .booleanAttribute(
                key: key, value: settings.bool("value", default: true), invert: settings.bool("invert_match", default: false))
        case "span_count":
            let min = settings.int("min_spans", default: 1, range: 0...Int(Int32.max))
            let max = settings.int("max_spans", default: 0, range: 0...Int(Int32.max))
            if max > 0 && max < min { settings.report("max_spans", "must be 0 (no maximum) or at least min_spans") }
            rule = .spanCount(min: min, max: max > 0 ? max : nil)
        case "probabilistic":
            if !settings.has("sampling_percentage") { settings.report("sampling_percentage", "is required (0 to 100)") }
            rule = .probabilistic(
                percentage: settings.percentage("sampling_percentage") ?? 0, salt: settings.string("hash_salt", default: ""))
        case "rate_limiting":
            if !settings.has("spans_per_second") { settings.report("spans_per_second", "is required") }
            rule = .rateLimiting(spansPerSecond: settings.int("spans_per_second", default: 0, range: 1...Int(Int32.max)))
        case "and":
            rule = .and(subPolicies(settings, "and_sub_policy", depth: depth))
        case "composite":
            let total = settings.int("max_total_spans_per_second", default: 0, range: 1...Int(Int32.max))
            if !settings.has("max_total_spans_per_second") { settings.report("max_total_spans_per_second", "is required") }
            var subs = subPolicies(settings, "composite_sub_policy", depth: depth)
            if let order = settings.stringList("policy_order") {
                let byName = Dictionary(subs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                var ordered: [SamplingPolicy] = []
                for (n, _) in order {
                    if let p = byName[n] { ordered.append(p) } else { settings.report("policy_order", "no sub-policy named '\(n)'") }
                }
                subs = ordered + subs.filter { p in !ordered.contains { $0.name == p.name } }
            }
            var allocation: [String: Double] = [:]
            for entry in settings.value("rate_allocation")?.mapList() ?? [] {
                let policy = entry.string("policy") ?? ""
                if !subs.contains(where: { $0.name == policy }) { entry.report("policy", "no sub-policy named '\(policy)'") }
                allocation[policy] = entry.percentage("percent") ?? 0
                entry.finish()
            }
            if allocation.values.reduce(0, +) > 100 { settings.report("rate_allocation", "percentages add up to more than 100") }
            rule = .composite(maxTotalSpansPerSecond: total, subPolicies: subs, allocation: allocation)
        default:
            map.report("type", "unknown policy type '\(type)'; one of \(policyTypes.joined(separator: ", "))")
        }
        settings.finish()
        map.finish()
        guard let rule, !name.isEmpty else { return nil }
        return SamplingPolicy(name: name, rule: rule)
    }

    private static func requiredKey(_ settings: ConfigMap) -> String {
        let key = settings.string("key") ?? ""
        if key.isEmpty { settings.report("key", "is required") }
        return key
    }

    private static func subPolicies(_ settings: ConfigMap, _ key: String, depth: Int) -> [SamplingPolicy] {
        guard depth == 0 else {
            settings.report(key, "and/composite policies cannot be nested more than one level")
            return []
        }
        guard let list = settings.value(key)?.mapList(), !list.isEmpty else {
            settings.report(key, "at least one sub-policy is required")
            return []
        }
        return readPolicies(list, depth: depth + 1)
    }
}
