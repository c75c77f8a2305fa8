import TracegateCore

/// `debug`: writes the spans that flow to the log.
public struct DebugExporterFactory: ExporterFactory {
    public let type = "debug"

    public init() {}

    public func read(_ map: ConfigMap) -> DebugExporterConfig { DebugExporterConfig.read(map) }

    public func build(_ config: DebugExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        BuiltExporter(exporter: DebugExporter(id: context.id, config: config, logger: context.logger))
    }
}

extension DebugExporterConfig: ComponentConfig {}
