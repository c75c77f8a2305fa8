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
    /// Changes span or resource attributes (`attributes`, and `resource`
    /// whose `apply_to` defaults to resource).
    case attributes(AttributesProcessorConfig)
    /// Drops spans matching a condition (`filter`).
    case filter(FilterProcessorConfig)
    /// Chooses exporters by an attribute value (`routing`).
    case routing(RoutingProcessorConfig)
    /// Refuses new data above a heap limit (`memory_limiter`).
    case memoryLimiter(MemoryLimiterConfig)
    /// Keeps a share of traces by trace id (`probabilistic_sampler`).
    case probabilisticSampler(ProbabilisticSamplerConfig)
    /// Holds traces until they conclude and keeps them by policy (`tail_sampling`).
    case tailSampling(TailSamplingConfig)
}

/// The settings of a configured exporter, by type.
public enum ExporterSettings: Sendable, Equatable {
    case postgres(PostgresExporterConfig)
    /// Forwards to another OTLP/HTTP receiver (`otlphttp`).
    case otlphttp(OTLPHTTPExporterConfig)
    /// Notifies an HTTP endpoint of concluded traces (`conclusion`).
    case conclusion(ConclusionExporterConfig)
    /// Spreads spans over OTLP/HTTP endpoints by trace id (`loadbalancing`).
    case loadbalancing(LoadBalancingExporterConfig)
    /// Accepts and discards everything: for benchmarks and pipeline tests.
    case nop
}

/// Which component types exist, and how each reads its configuration. Adding
/// a component type means one case here and one in `PipelineGraph`.
enum ComponentRegistry {
    static let receiverTypes = ["otlp"]
    static let processorTypes = ["batch", "attributes", "resource", "filter", "routing", "memory_limiter", "probabilistic_sampler", "tail_sampling"]
    static let exporterTypes = ["postgres", "otlphttp", "conclusion", "loadbalancing", "nop"]

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
        case "attributes": return .attributes(AttributesProcessorConfig.read(map))
        case "resource": return .attributes(AttributesProcessorConfig.readResource(map))
        case "filter": return .filter(FilterProcessorConfig.read(map))
        case "routing": return .routing(RoutingProcessorConfig.read(map))
        case "memory_limiter": return .memoryLimiter(MemoryLimiterConfig.read(map))
        case "probabilistic_sampler": return .probabilisticSampler(ProbabilisticSamplerConfig.read(map))
        case "tail_sampling": return .tailSampling(TailSamplingConfig.read(map))
        default:
            unknownType(map, id, processorTypes)
            return nil
        }
    }

    static func readExporter(_ id: ComponentID, _ map: ConfigMap) -> ExporterSettings? {
        switch id.type {
        case "postgres": return .postgres(PostgresExporterConfig.read(map))
        case "otlphttp": return .otlphttp(OTLPHTTPExporterConfig.read(map))
        case "conclusion": return .conclusion(ConclusionExporterConfig.read(map))
        case "loadbalancing": return .loadbalancing(LoadBalancingExporterConfig.read(map))
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
