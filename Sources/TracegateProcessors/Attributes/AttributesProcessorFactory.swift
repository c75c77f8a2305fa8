import TracegateCore

/// `attributes`: inserts, updates, deletes, hashes or extracts span
/// attributes (or resource ones, with `apply_to: resource`).
public struct AttributesProcessorFactory: ProcessorFactory {
    public let type = "attributes"

    public init() {}

    public func read(_ map: ConfigMap) -> AttributesProcessorConfig { AttributesProcessorConfig.read(map) }

    public func build(_ config: AttributesProcessorConfig, _ context: ProcessorContext) -> BuiltProcessor {
        BuiltProcessor(consumer: AttributesProcessor(config: config, next: context.next))
    }
}

/// `resource`: the attributes processor applied to resource attributes.
public struct ResourceProcessorFactory: ProcessorFactory {
    public let type = "resource"

    public init() {}

    public func read(_ map: ConfigMap) -> AttributesProcessorConfig { AttributesProcessorConfig.readResource(map) }

    public func build(_ config: AttributesProcessorConfig, _ context: ProcessorContext) -> BuiltProcessor {
        BuiltProcessor(consumer: AttributesProcessor(config: config, next: context.next))
    }
}

extension AttributesProcessorConfig: ComponentConfig {}
