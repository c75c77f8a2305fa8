import TracegateCore

/// `loadbalancing`: spreads spans over OTLP/gRPC or OTLP/HTTP endpoints by trace id.
public struct LoadBalancingExporterFactory: ExporterFactory {
    public let type = "loadbalancing"

    public init() {}

    public func read(_ map: ConfigMap) -> LoadBalancingExporterConfig { LoadBalancingExporterConfig.read(map) }

    public func build(_ config: LoadBalancingExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        // `protocol.otlp` took the OTLP/HTTP settings before it meant gRPC (as
        // in the collector); such a file still reads, so say what it does now.
        if case .otlp = config.endpointProtocol,
            config.dns?.port == 4318 || config.hostnames.contains(where: { $0.hasSuffix(":4318") || $0.hasSuffix(":4318/") })
        {
            context.logger.warning(
                "protocol.otlp sends OTLP/gRPC, but an endpoint uses 4318, the OTLP/HTTP port; for OTLP/HTTP write protocol.otlphttp",
                metadata: ["exporter": "\(context.id)"])
        }
        let balancer = LoadBalancingExporter(id: context.id, config: config, logger: context.logger, threads: context.threads)
        return BuiltExporter(
            exporter: balancer, sendingQueue: config.sendingQueue, retry: config.retry,
            // Its endpoint queues start before and stop after its own queue.
            services: [LoadBalancingService(exporter: balancer, drainDeadline: context.drainDeadline, logger: context.logger)])
    }
}

extension LoadBalancingExporterConfig: ComponentConfig {}
