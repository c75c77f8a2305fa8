import TracegateCore

extension Processors {
    /// `routing`: sends each span to the exporters its attribute value names.
    /// It replaces the pipeline's fan-out, so it is the last processor.
    public static let routing = ProcessorType("routing", choosesExporters: true, read: RoutingProcessorConfig.read) { config, context in
        BuiltProcessor(consumer: RoutingProcessor(id: context.id, config: config, exporters: context.exporters))
    }
}

extension RoutingProcessorConfig: ComponentConfig {}
