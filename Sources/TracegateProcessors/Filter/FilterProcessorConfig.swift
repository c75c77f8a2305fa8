import TracegateCore

/// Settings of the `filter` processor.
public struct FilterProcessorConfig: Sendable, Equatable {
    /// `drop`: spans for which this condition holds are dropped. Required.
    public var drop: SpanCondition

    public init(drop: SpanCondition) { self.drop = drop }

    public static func read(_ map: ConfigMap) -> FilterProcessorConfig {
        var c = FilterProcessorConfig(drop: .any([]))
        if let value = map.value("drop") {
            if let condition = SpanCondition.read(value) { c.drop = condition }
        } else {
            map.report(nil, "drop is required: the condition of the spans to drop, e.g. drop: { name: \"GET /health\" }")
        }
        map.finish()
        return c
    }
}
