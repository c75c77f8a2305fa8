import TracegateCore

/// `otlphttp`: forwards to another OTLP/HTTP receiver.
public struct OTLPHTTPExporterFactory: ExporterFactory {
    public let type = "otlphttp"

    public init() {}

    public func read(_ map: ConfigMap) -> OTLPHTTPExporterConfig { OTLPHTTPExporterConfig.read(map) }

    public func build(_ config: OTLPHTTPExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        BuiltExporter(
            exporter: OTLPHTTPExporter(id: context.id, config: config, logger: context.logger),
            sendingQueue: config.sendingQueue, retry: config.retry)
    }
}

extension OTLPHTTPExporterConfig: ComponentConfig {}
