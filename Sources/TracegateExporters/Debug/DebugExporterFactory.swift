import TracegateCore

extension Exporters {
    /// `debug`: writes the spans that flow to the log.
    public static let debug = ExporterType("debug", read: DebugExporterConfig.read) { config, context in
        BuiltExporter(exporter: DebugExporter(id: context.id, config: config, logger: context.logger))
    }
}

extension DebugExporterConfig: ComponentConfig {}
