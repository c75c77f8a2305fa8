import TracegateCore

/// `loadbalancing`: spreads spans over OTLP/gRPC or OTLP/HTTP endpoints by trace id.
public struct LoadBalancingExporterFactory: ExporterFactory {
    public let type = "loadbalancing"

    public init() {}

    public func read(_ map: ConfigMap) -> LoadBalancingExporterConfig { LoadBalancingExporterConfig.read(map) }

    public func build(_ config: LoadBalancingExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        let balancer = LoadBalancingExporter(id: context.id, config: config, logger: context.logger)
        return BuiltExporter(
            exporter: balancer, sendingQueue: config.sendingQueue, retry: config.retry,
            // Its endpoint queues start before and stop after its own queue.
            services: [LoadBalancingService(exporter: balancer, timeout: context.shutdownTimeout, logger: context.logger)])
    }
}

extension LoadBalancingExporterConfig: ComponentConfig {}
