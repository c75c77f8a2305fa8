import TracegateCore

/// `nop`: accepts and discards everything; for benchmarks and pipeline tests.
public struct NopExporterFactory: ExporterFactory {
    public let type = "nop"

    public init() {}

    public func read(_ map: ConfigMap) -> NopExporterConfig {
        map.finish()
        return NopExporterConfig()
    }

    public func build(_ config: NopExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        BuiltExporter(exporter: NopExporter(id: context.id))
    }
}

/// `nop` has no settings.
public struct NopExporterConfig: ComponentConfig, Equatable {}
