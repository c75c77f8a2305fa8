import TracegateCore

/// `otlp`: forwards to another OTLP/gRPC receiver, as the collector's `otlp` exporter.
public struct OTLPGRPCExporterFactory: ExporterFactory {
    public let type = "otlp"

    public init() {}

    public func read(_ map: ConfigMap) -> OTLPGRPCExporterConfig { OTLPGRPCExporterConfig.read(map) }

    public func build(_ config: OTLPGRPCExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        BuiltExporter(
            exporter: try OTLPGRPCExporter(id: context.id, config: config, logger: context.logger),
            sendingQueue: config.sendingQueue, retry: config.retry)
    }
}

extension OTLPGRPCExporterConfig: ComponentConfig {}
