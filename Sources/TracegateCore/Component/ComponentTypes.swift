// Most components need nothing from their factory but a type name, a settings
// reader and one expression that builds them: `ProcessorType` and
// `ExporterType` are those factories as values, so a component's factory file
// is its name, its reader and its build, and the registry lists the values
// (`Processors.batch`, `Exporters.file`, …). A component with more to say
// (the receivers, `conclusion`, `loadbalancing`) keeps a factory type of its own.

/// The processor types; each folder adds its own.
public enum Processors {}

/// The exporter types; each folder adds its own.
public enum Exporters {}

/// A processor factory given as a value.
public struct ProcessorType<Config: ComponentConfig>: ProcessorFactory {
    public let type: String
    public let choosesExporters: Bool
    private let reader: @Sendable (ConfigMap) -> Config
    private let builder: @Sendable (Config, ProcessorContext) -> BuiltProcessor

    public init(
        _ type: String, choosesExporters: Bool = false, read: @escaping @Sendable (ConfigMap) -> Config,
        build: @escaping @Sendable (Config, ProcessorContext) -> BuiltProcessor
    ) {
        self.type = type
        self.choosesExporters = choosesExporters
        self.reader = read
        self.builder = build
    }

    public func read(_ map: ConfigMap) -> Config { reader(map) }

    public func build(_ config: Config, _ context: ProcessorContext) -> BuiltProcessor { builder(config, context) }
}

/// An exporter factory given as a value.
public struct ExporterType<Config: ComponentConfig>: ExporterFactory {
    public let type: String
    private let reader: @Sendable (ConfigMap) -> Config
    private let builder: @Sendable (Config, ExporterContext) throws -> BuiltExporter

    public init(
        _ type: String, read: @escaping @Sendable (ConfigMap) -> Config,
        build: @escaping @Sendable (Config, ExporterContext) throws -> BuiltExporter
    ) {
        self.type = type
        self.reader = read
        self.builder = build
    }

    public func read(_ map: ConfigMap) -> Config { reader(map) }

    public func build(_ config: Config, _ context: ExporterContext) throws -> BuiltExporter { try builder(config, context) }
}
