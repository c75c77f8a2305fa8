import TracegateCore

/// `spanmetrics`: RED metrics (calls, errors, durations) from the spans that pass.
public struct SpanMetricsFactory: ProcessorFactory {
    public let type = "spanmetrics"

    public init() {}

    public func read(_ map: ConfigMap) -> SpanMetricsConfig { SpanMetricsConfig.read(map) }

    public func build(_ config: SpanMetricsConfig, _ context: ProcessorContext) -> BuiltProcessor {
        .service(SpanMetricsProcessor(id: context.id, config: config, next: context.next))
    }
}

extension SpanMetricsConfig: ComponentConfig {}
