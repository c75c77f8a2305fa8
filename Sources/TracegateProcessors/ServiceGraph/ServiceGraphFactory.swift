import TracegateCore

/// `servicegraph`: request, failure and latency metrics per client → server edge.
public struct ServiceGraphFactory: ProcessorFactory {
    public let type = "servicegraph"

    public init() {}

    public func read(_ map: ConfigMap) -> ServiceGraphConfig { ServiceGraphConfig.read(map) }

    public func build(_ config: ServiceGraphConfig, _ context: ProcessorContext) -> BuiltProcessor {
        .service(ServiceGraphProcessor(id: context.id, config: config, next: context.next))
    }
}

extension ServiceGraphConfig: ComponentConfig {}
