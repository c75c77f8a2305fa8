import TracegateCore
import TracegateExporters
import TracegateProcessors
import TracegateReceivers

/// The settings of a configured receiver, by type.
public enum ReceiverSettings: Sendable, Equatable {
    case otlp(OTLPReceiverConfig)
}

/// The settings of a configured processor, by type.
public enum ProcessorSettings: Sendable, Equatable {
    case batch(BatchProcessorConfig)
}

/// The settings of a configured exporter, by type.
public enum ExporterSettings: Sendable, Equatable {
    case postgres(PostgresExporterConfig)
    /// Accepts and discards everything: for benchmarks and pipeline tests.
    case nop
}

/// Which component types exist, and how each reads its configuration. Adding
/// a component type means one case here and one in `PipelineGraph`.
enum ComponentRegistry {
    static let receiverTypes = ["otlp"]
    static let processorTypes = ["batch"]
    static let exporterTypes = ["postgres", "nop"]

    static func readReceiver(_ id: ComponentID, _ map: ConfigMap) -> ReceiverSettings? {
        switch id.type {
        case "otlp": return .otlp(OTLPReceiverConfig.read(map))
        default:
            unknownType(map, id, receiverTypes)
            return nil
        }
    }

    static func readProcessor(_ id: ComponentID, _ map: ConfigMap) -> ProcessorSettings? {
        switch id.type {
        case "batch": return .batch(BatchProcessorConfig.read(map))
        default:
            unknownType(map, id, processorTypes)
            return nil
        }
    }

    static func readExporter(_ id: ComponentID, _ map: ConfigMap) -> ExporterSettings? {
        switch id.type {
        case "postgres": return .postgres(PostgresExporterConfig.read(map))
        case "nop":
            map.finish()
            return .nop
        default:
            unknownType(map, id, exporterTypes)
            return nil
        }
    }

    private static func unknownType(_ map: ConfigMap, _ id: ComponentID, _ known: [String]) {
        map.diagnostics.report(line: map.line, path: map.path, "unknown component type '\(id.type)'; known types: \(known.joined(separator: ", "))")
    }
}
