import TracegateCore

extension Processors {
    /// `filter`: drops the spans that match a condition.
    public static let filter = ProcessorType("filter", read: FilterProcessorConfig.read) { config, context in
        BuiltProcessor(consumer: FilterProcessor(id: context.id, config: config, next: context.next))
    }
}

extension FilterProcessorConfig: ComponentConfig {}
