import TracegateCore

extension Processors {
    /// `attributes`: inserts, updates, deletes, hashes or extracts span
    /// attributes (or resource ones, with `apply_to: resource`).
    public static let attributes = ProcessorType("attributes", read: AttributesProcessorConfig.read, build: buildAttributes)

    /// `resource`: the attributes processor applied to resource attributes.
    public static let resource = ProcessorType("resource", read: AttributesProcessorConfig.readResource, build: buildAttributes)

    @Sendable private static func buildAttributes(_ config: AttributesProcessorConfig, _ context: ProcessorContext) -> BuiltProcessor {
        BuiltProcessor(consumer: AttributesProcessor(config: config, next: context.next))
    }
}

extension AttributesProcessorConfig: ComponentConfig {}
