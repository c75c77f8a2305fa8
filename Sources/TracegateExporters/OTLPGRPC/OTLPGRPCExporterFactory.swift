import TracegateCore

extension Exporters {
    /// `otlp`: forwards to another OTLP/gRPC receiver, as the collector's `otlp` exporter.
    public static let otlpGRPC = ExporterType("otlp", read: { OTLPGRPCExporterConfig.read($0) }) { config, context in
        BuiltExporter(
            exporter: try OTLPGRPCExporter(id: context.id, config: config, logger: context.logger), sendingQueue: config.sendingQueue,
            retry: config.retry)
    }
}

extension OTLPGRPCExporterConfig: ComponentConfig {}
