import TracegateCore

extension Processors {
    /// `servicegraph`: request, failure and latency metrics per client → server edge.
    public static let serviceGraph = ProcessorType("servicegraph", read: ServiceGraphConfig.read) { config, context in
        .service(ServiceGraphProcessor(id: context.id, config: config, next: context.next))
    }
}

extension ServiceGraphConfig: ComponentConfig {}
