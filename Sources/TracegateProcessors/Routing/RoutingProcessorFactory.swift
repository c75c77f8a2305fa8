import TracegateCore

/// `routing`: sends each span to the exporters its attribute value names.
/// It replaces the pipeline's fan-out, so it is the last processor.
public struct RoutingProcessorFactory: ProcessorFactory {
    public let type = "routing"
    public let choosesExporters = true

    public init() {}

    public func read(_ map: ConfigMap) -> RoutingProcessorConfig { RoutingProcessorConfig.read(map) }

    public func build(_ config: RoutingProcessorConfig, _ context: ProcessorContext) -> BuiltProcessor {
        BuiltProcessor(consumer: RoutingProcessor(id: context.id, config: config, exporters: context.exporters))
    }
}

extension RoutingProcessorConfig: ComponentConfig {}
