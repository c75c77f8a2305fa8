import TracegateCore

/// Settings of the `spanmetrics` processor (the keys and defaults of the
/// Collector's spanmetrics connector, where it has them).
public struct SpanMetricsConfig: Sendable, Equatable {
    /// An extra label: a span attribute (or, when the span lacks it, a
    /// resource attribute) and the value used when neither has it (no
    /// default: the label is left out of that series).
    public struct Dimension: Sendable, Equatable {
        public var name: String
        public var defaultValue: String?

        public init(name: String, defaultValue: String? = nil) {
            self.name = name
            self.defaultValue = defaultValue
        }
    }

    public enum Unit: String, Sendable, Equatable {
        case ms
        case s
    }

    /// `namespace`: the metric names' prefix, dots becoming underscores.
    public var namespace = "traces.span.metrics"
    /// `histogram.unit`: `ms` (default) or `s`.
    public var unit = Unit.ms
    /// `histogram.explicit.buckets`: upper bounds of the duration histogram.
    public var buckets: [Duration] = SpanMetricsConfig.defaultBuckets
    /// `dimensions`: labels beyond service, span name, kind and status.
    public var dimensions: [Dimension] = []
    /// `cardinality_limit`: label sets kept; spans of further ones go to one
    /// series labelled `otel_metric_overflow="true"` (0: no limit).
    public var cardinalityLimit = 5000
    /// `metrics_expiration`: a series that received no span for this long is
    /// dropped (zero: never).
    public var metricsExpiration: Duration = .zero

    public static let defaultBuckets: [Duration] = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000].map {
        .milliseconds($0)
    }

    public init() {}

    public static func read(_ map: ConfigMap) -> SpanMetricsConfig {
        var c = SpanMetricsConfig()
        c.namespace = map.string("namespace", default: c.namespace)
        if c.namespace.isEmpty || !c.namespace.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_") })
            || c.namespace.first?.isNumber == true
        {
            map.report("namespace", "must be letters, digits, dots and underscores, not starting with a digit")
        }
        if map.has("histogram") {
            let histogram = map.map("histogram")
            if let s = histogram.string("unit") {
                if let unit = Unit(rawValue: s) { c.unit = unit } else { histogram.report("unit", "expected ms or s, got '\(s)'") }
            }
            if histogram.has("explicit") {
                let explicit = histogram.map("explicit")
                if let list = explicit.value("buckets")?.items() {
                    var buckets: [Duration] = []
                    for item in list {
                        guard let d = item.duration() else { continue }
                        if d <= .zero {
                            item.reportProblem("bucket bounds must be greater than zero")
                        } else if let last = buckets.last, d <= last {
                            item.reportProblem("bucket bounds must increase")
                        } else {
                            buckets.append(d)
                        }
                    }
                    if list.isEmpty { explicit.report("buckets", "must list at least one bound") }
                    if !buckets.isEmpty { c.buckets = buckets }
                }
                explicit.finish()
            }
            histogram.finish()
        }
        if let list = map.value("dimensions")?.mapList() {
            var seen: Set<String> = ["service.name", "span.name", "span.kind", "status.code"]
            for item in list {
                let name = item.string("name", default: "")
                if name.isEmpty {
                    item.report("name", "is required")
                } else if !seen.insert(name).inserted {
                    item.report("name", "\(name) is already a label")
                } else {
                    c.dimensions.append(Dimension(name: name, defaultValue: item.string("default")))
                }
                item.finish()
            }
        }
        c.cardinalityLimit = map.int("cardinality_limit", default: c.cardinalityLimit, range: 0...10_000_000)
        c.metricsExpiration = map.duration("metrics_expiration", default: c.metricsExpiration)
        if c.metricsExpiration < .zero { map.report("metrics_expiration", "must not be negative") }
        map.finish()
        return c
    }
}
