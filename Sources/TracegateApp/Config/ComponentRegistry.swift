import TracegateCore
import TracegateExporters
import TracegateProcessors
import TracegateReceivers

/// A configured receiver: its factory and the settings it read.
public typealias ReceiverSettings = ConfiguredComponent<any ReceiverFactory>
/// A configured processor: its factory and the settings it read.
public typealias ProcessorSettings = ConfiguredComponent<any ProcessorFactory>
/// A configured exporter: its factory and the settings it read.
public typealias ExporterSettings = ConfiguredComponent<any ExporterFactory>

/// Every component type, by kind: the one list a new component is added to
/// (besides its own folder, which holds its settings, factory and code).
/// The order is the order of "known types" in error messages.
public enum ComponentRegistry {
    public static let receivers: [any ReceiverFactory] = [OTLPReceiverFactory()]

    public static let processors: [any ProcessorFactory] = [
        Processors.batch, Processors.attributes, Processors.resource, Processors.filter, Processors.routing,
        Processors.memoryLimiter, Processors.probabilisticSampler, Processors.tailSampling, Processors.spanMetrics,
        Processors.serviceGraph,
    ]

    public static let exporters: [any ExporterFactory] = [
        Exporters.postgres, Exporters.otlpHTTP, Exporters.otlpGRPC, ConclusionExporterFactory(), LoadBalancingExporterFactory(),
        Exporters.debug, Exporters.file, Exporters.nop,
    ]

    static func readReceiver(_ id: ComponentID, _ map: ConfigMap) -> ReceiverSettings? {
        guard let factory = find(id, map, receivers, \.type) else { return nil }
        return ReceiverSettings(factory: factory, config: factory.readSettings(map))
    }

    static func readProcessor(_ id: ComponentID, _ map: ConfigMap) -> ProcessorSettings? {
        guard let factory = find(id, map, processors, \.type) else { return nil }
        return ProcessorSettings(factory: factory, config: factory.readSettings(map))
    }

    static func readExporter(_ id: ComponentID, _ map: ConfigMap) -> ExporterSettings? {
        guard let factory = find(id, map, exporters, \.type) else { return nil }
        return ExporterSettings(factory: factory, config: factory.readSettings(map))
    }

    private static func find<F>(_ id: ComponentID, _ map: ConfigMap, _ factories: [F], _ type: (F) -> String) -> F? {
        if let factory = factories.first(where: { type($0) == id.type }) { return factory }
        map.diagnostics.report(
            line: map.line, path: map.path,
            "unknown component type '\(id.type)'; known types: \(factories.map(type).joined(separator: ", "))")
        return nil
    }
}
