import TracegateCore

/// The series of the `spanmetrics` processor: calls and a duration histogram
/// per label set, in the names and labels of the Collector's spanmetrics
/// connector (behind its Prometheus exporter), so dashboards built for it
/// work. Pure: the caller gives the time; `SpanMetricsProcessor` locks it.
///
/// Each span counts `1 / p`, where `p` is the sampling probability its
/// `tracestate` carries (`ot=th:…`, OpenTelemetry consistent sampling): a
/// span kept by a 10% sampler stands for ten, so rates stay right behind a
/// sampler. Counts are therefore fractional.
public struct SpanMetricsState: Sendable {
    public let config: SpanMetricsConfig
    private let prefix: String
    private let bounds: [Double]
    private let labelNames: [String]
    private var series: [Key: Series] = [:]
    private var overflow: Series?
    /// Spans that went to the overflow series.
    public private(set) var overflowSpans = 0

    /// A series' label values: the four the Collector always has, kept as
    /// they come (kind and status as numbers), and the configured dimensions
    /// (an empty array, no allocation, when there are none).
    struct Key: Hashable, Sendable {
        var service: String
        var name: String
        var kind: Int32
        var status: Int32
        var dimensions: [String]

        var values: [String] {
            [service, name, SpanMetricsState.kindName(SpanKind(rawValue: kind)),
             SpanMetricsState.statusName(StatusCode(rawValue: status))] + dimensions
        }
    }

    struct Series: Sendable {
        var calls = 0.0
        var sum = 0.0
        /// Per bound, not cumulative; the last slot is +Inf.
        var buckets: [Double]
        var lastSeen: ContinuousClock.Instant
    }

    public init(config: SpanMetricsConfig) {
        self.config = config
        prefix = config.namespace.replacing(".", with: "_")
        let scale = config.unit == .ms ? 1e3 : 1.0
        bounds = config.buckets.map { Double($0.components.seconds) * scale + Double($0.components.attoseconds) / 1e18 * scale }
        labelNames = ["service_name", "span_name", "span_kind", "status_code"] + config.dimensions.map { Self.labelName($0.name) }
    }

    public var seriesCount: Int { series.count }

    /// Counts the spans of `batch`.
    public mutating func record(_ batch: SpanBatch, now: ContinuousClock.Instant) {
        for rs in batch.resourceSpans {
            let service = rs.resource.serviceName
            for ss in rs.scopeSpans {
                // In place: `for span in spans` would copy each span (a
                // retain and release per field).
                ss.spans.withUnsafeBufferPointer { spans in
                    for i in spans.indices {
                        record(spans.baseAddress! + i, service: service, resource: rs.resource.attributes, now: now)
                    }
                }
            }
        }
    }

    private mutating func record(_ span: UnsafePointer<Span>, service: String, resource: [Attribute], now: ContinuousClock.Instant) {
        var key = Key(
            service: service, name: span.pointee.name, kind: span.pointee.kind.rawValue,
            status: span.pointee.status.code.rawValue, dimensions: [])
        if !config.dimensions.isEmpty {
            key.dimensions.reserveCapacity(config.dimensions.count)
            for dimension in config.dimensions {
                if let value = span.pointee.attributes[key: dimension.name] ?? resource[key: dimension.name] {
                    key.dimensions.append(Self.text(value))
                } else {
                    key.dimensions.append(dimension.defaultValue ?? "")
                }
            }
        }
        let weight = Self.weight(span.pointee.traceState)
        let seconds = Double(span.pointee.durationNanos) / 1e9
        let value = config.unit == .ms ? seconds * 1e3 : seconds
        if config.cardinalityLimit > 0, series.count >= config.cardinalityLimit, series[key] == nil {
            var o = overflow ?? Series(buckets: Array(repeating: 0, count: bounds.count + 1), lastSeen: now)
            Self.add(&o, value: value, weight: weight, bounds: bounds, now: now)
            overflow = o
            overflowSpans += 1
            return
        }
        // Updated in place: one hash lookup, and no copy of the buckets.
        let bounds = self.bounds
        Self.add(
            &series[key, default: Series(buckets: Array(repeating: 0, count: bounds.count + 1), lastSeen: now)],
            value: value, weight: weight, bounds: bounds, now: now)
    }

    private static func add(_ s: inout Series, value: Double, weight: Double, bounds: [Double], now: ContinuousClock.Instant) {
        s.calls += weight
        s.sum += value * weight
        // Prometheus buckets are `le` (less than or equal).
        let slot = bounds.firstIndex { value <= $0 } ?? bounds.count
        s.buckets[slot] += weight
        s.lastSeen = now
    }

    /// Drops the series that received no span for `metrics_expiration`.
    public mutating func expire(now: ContinuousClock.Instant) {
        guard config.metricsExpiration > .zero else { return }
        series = series.filter { now - $0.value.lastSeen < config.metricsExpiration }
        if let o = overflow, now - o.lastSeen >= config.metricsExpiration { overflow = nil }
    }

    /// The Prometheus text of every series.
    public func render() -> String {
        guard !series.isEmpty || overflow != nil else { return "" }
        let calls = "\(prefix)_calls_total"
        let duration = "\(prefix)_duration_\(config.unit == .ms ? "milliseconds" : "seconds")"
        let keys = series.keys.map { ($0, $0.values) }.sorted { $0.1.lexicographicallyPrecedes($1.1) }
        var out = "# HELP \(calls) Spans counted by the spanmetrics processor, scaled by their sampling probability.\n# TYPE \(calls) counter\n"
        for (key, values) in keys { out += "\(calls){\(labels(values))} \(Self.number(series[key]!.calls))\n" }
        if let o = overflow { out += "\(calls){otel_metric_overflow=\"true\"} \(Self.number(o.calls))\n" }
        out += "# HELP \(duration) Span durations, scaled by their sampling probability.\n# TYPE \(duration) histogram\n"
        for (key, values) in keys { out += histogram(duration, labels(values), series[key]!) }
        if let o = overflow { out += histogram(duration, "otel_metric_overflow=\"true\"", o) }
        return out
    }

    private func histogram(_ name: String, _ labels: String, _ s: Series) -> String {
        var out = ""
        var cumulative = 0.0
        for (i, bound) in bounds.enumerated() {
            cumulative += s.buckets[i]
            out += "\(name)_bucket{\(labels),le=\"\(Self.number(bound))\"} \(Self.number(cumulative))\n"
        }
        cumulative += s.buckets[bounds.count]
        out += "\(name)_bucket{\(labels),le=\"+Inf\"} \(Self.number(cumulative))\n"
        out += "\(name)_sum{\(labels)} \(Self.number(s.sum))\n"
        out += "\(name)_count{\(labels)} \(Self.number(s.calls))\n"
        return out
    }

    private func labels(_ values: [String]) -> String {
        zip(labelNames, values).filter { !$0.1.isEmpty || $0.0 == "span_name" }.map { "\($0.0)=\"\(Self.escape($0.1))\"" }
            .joined(separator: ",")
    }

    /// `http.method` → `http_method`: Prometheus label names are
    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    static func labelName(_ attribute: String) -> String {
        var out = String(attribute.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        if out.first?.isNumber == true { out = "key_" + out }
        return out
    }

    /// Label values escape backslash, quote and newline (the text format's rules).
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func text(_ value: AnyValue) -> String {
        switch value {
        case .string(let s): s
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        default: ""
        }
    }

    /// `1 / p` for the probability in `ot=th:…`; 1 without one (or for a
    /// threshold that keeps nothing, which a kept span cannot have had).
    static func weight(_ traceState: String) -> Double {
        guard !traceState.isEmpty, let threshold = OTelTraceState(traceState).threshold else { return 1 }
        let p = threshold.probability
        return p > 0 ? 1 / p : 1
    }

    /// The Collector's names: `SPAN_KIND_SERVER`, …
    static func kindName(_ kind: SpanKind) -> String {
        switch kind {
        case .internal: "SPAN_KIND_INTERNAL"
        case .server: "SPAN_KIND_SERVER"
        case .client: "SPAN_KIND_CLIENT"
        case .producer: "SPAN_KIND_PRODUCER"
        case .consumer: "SPAN_KIND_CONSUMER"
        default: "SPAN_KIND_UNSPECIFIED"
        }
    }

    static func statusName(_ code: StatusCode) -> String {
        switch code {
        case .ok: "STATUS_CODE_OK"
        case .error: "STATUS_CODE_ERROR"
        default: "STATUS_CODE_UNSET"
        }
    }
}
