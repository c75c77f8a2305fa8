import TracegateCore

/// `filter`: drops the spans that match a condition.
public struct FilterProcessorFactory: ProcessorFactory {
    public let type = "filter"

    public init() {}

    public func read(_ map: ConfigMap) -> FilterProcessorConfig { FilterProcessorConfig.read(map) }

    public func build(_ config: FilterProcessorConfig, _ context: ProcessorContext) -> BuiltProcessor {
        BuiltProcessor(consumer: FilterProcessor(id: context.id, config: config, next: context.next))
    }
}

extension FilterProcessorConfig: ComponentConfig {}
