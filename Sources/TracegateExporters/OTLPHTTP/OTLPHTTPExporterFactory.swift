import TracegateCore

extension Exporters {
    /// `otlphttp`: forwards to another OTLP/HTTP receiver.
    public static let otlpHTTP = ExporterType("otlphttp", read: { OTLPHTTPExporterConfig.read($0) }) { config, context in
        BuiltExporter(
            exporter: OTLPHTTPExporter(id: context.id, config: config, logger: context.logger), sendingQueue: config.sendingQueue, retry: config.retry)
    }
}

extension OTLPHTTPExporterConfig: ComponentConfig {}
