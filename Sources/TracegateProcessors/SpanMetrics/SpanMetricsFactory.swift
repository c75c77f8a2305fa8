import TracegateCore

extension Processors {
    /// `spanmetrics`: RED metrics (calls, errors, durations) from the spans that pass.
    public static let spanMetrics = ProcessorType("spanmetrics", read: SpanMetricsConfig.read) { config, context in
        .service(SpanMetricsProcessor(id: context.id, config: config, next: context.next))
    }
}

extension SpanMetricsConfig: ComponentConfig {}
