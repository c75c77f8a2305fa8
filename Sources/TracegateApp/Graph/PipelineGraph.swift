import Logging
import ServiceLifecycle
import TracegateCore
import TracegateProcessors

/// The running form of a configuration: exporters with their queues,
/// processors chained per pipeline, receivers feeding their pipelines. Every
/// component is built by its factory (`ComponentRegistry`); the graph only
/// wires what they built.
///
/// `services` lists them downstream first; `ServiceGroup` starts in that order
/// and shuts down in reverse, so receivers stop before the batches flush and
/// the batches flush before the queues drain: nothing is sent into a stopped
/// stage.
public struct PipelineGraph {
    public var queues: [String: SendingQueue] = [:]
    /// Databases and services outside the process: checked before the
    /// receivers open their ports, then probed for `/ready`.
    public var sinks: [any ExternalSink] = []
    /// What runs beside the exporters (partition maintenance, conclusion
    /// timers, load-balancer endpoint queues): started before the sending
    /// queues, stopped after they drained.
    public var exporterServices: [any Service] = []
    public var processors: [any Service] = []
    public var receivers: [any ReceiverService] = []
    public var pipelines: [Pipeline] = []
    public let shutdownTimeout: Duration

    public var services: [any Service] {
        exporterServices + queues.keys.sorted().map { QueueService(queue: queues[$0]!, timeout: shutdownTimeout) as any Service } + processors
            + [PipelineCloser(pipelines: pipelines)] + receivers.map { $0 as any Service }
    }

    /// Builds every component. Receivers bind their sockets here, so a port
    /// in use fails the start rather than the first request.
    public static func build(_ config: TracegateConfig, logger: Logger) async throws -> PipelineGraph {
        var graph = PipelineGraph(shutdownTimeout: config.telemetry.shutdownTimeout)
        let exporters = try graph.buildExporters(config, logger: logger)
        for p in config.pipelines {
            graph.pipelines.append(graph.buildPipeline(p, config, exporters: exporters, logger: logger))
        }
        for name in Set(config.pipelines.flatMap(\.receivers)).sorted() {
            let settings = config.receivers[name]!
            let ingress = PipelineIngress(
                pipelines: zip(config.pipelines, graph.pipelines).filter { $0.0.receivers.contains(name) }.map(\.1))
            var receiverLogger = logger
            receiverLogger[metadataKey: "receiver"] = "\(name)"
            graph.receivers += try await settings.factory.build(
                settings: settings.config, ReceiverContext(id: name, logger: receiverLogger, ingress: ingress))
        }
        return graph
    }

    /// Every exporter of some pipeline, with its sending queue.
    private mutating func buildExporters(_ config: TracegateConfig, logger: Logger) throws -> [String: BuiltExporter] {
        var built: [String: BuiltExporter] = [:]
        let names = Set(config.pipelines.flatMap(\.exporters)).sorted()
        for name in names {
            let settings = config.exporters[name]!
            let parts = try settings.factory.build(
                settings: settings.config, ExporterContext(id: name, logger: logger, shutdownTimeout: shutdownTimeout))
            exporterServices += parts.services
            if let sink = parts.sink { sinks.append(sink) }
            built[name] = parts
        }
        let coalesce = Self.coalesceSpans(config, built)
        for name in names {
            let parts = built[name]!
            queues[name] = SendingQueue(
                exporter: parts.exporter, config: parts.sendingQueue, retry: parts.retry, logger: logger,
                persistence: try Self.openPersistence(exporter: name, parts.sendingQueue, logger: logger), coalesceSpans: coalesce[name] ?? 0)
        }
        watchBacklogs(config, built)
        return built
    }

    /// A pipeline's processors chained in order, ending in its exporters.
    private mutating func buildPipeline(
        _ p: PipelineConfig, _ config: TracegateConfig, exporters: [String: BuiltExporter], logger: Logger
    ) -> Pipeline {
        let queues = p.exporters.map { self.queues[$0]! }
        let hoisted = Self.hoistedBatch(p, config, exporters)  // see PipelineGraph+PersistentQueue.swift
        var next: any SpanConsumer = exporterEntry(p, config, queues, hoisted: hoisted)
        var gates: [any AdmissionGate] = []
        for name in p.processors.reversed() {
            let settings = config.processors[name]!
            // Applied behind the persistent queues instead.
            if hoisted != nil && settings.config(as: BatchProcessorConfig.self) != nil { continue }
            var processorLogger = logger
            processorLogger[metadataKey: "processor"] = "\(name)"
            let targets = settings.factory.choosesExporters ? exporterTargets(p.exporters, hoisted: hoisted) : []
            let built = settings.factory.build(
                settings: settings.config, ProcessorContext(id: name, logger: processorLogger, next: next, exporters: targets))
            if let service = built.service { processors.append(service) }
            if let gate = built.gate { gates.append(gate) }
            next = built.consumer
        }
        return Pipeline(id: p.id, entry: next, queues: queues, gates: gates)
    }

    /// Hands each exporter that waits for backlogs (conclusion) the queues it
    /// waits for: its own, or those of the exporters of a type in the same
    /// pipelines.
    private func watchBacklogs(_ config: TracegateConfig, _ built: [String: BuiltExporter]) {
        for name in built.keys.sorted() {
            guard let need = built[name]!.backlog else { continue }
            switch need.source {
            case .ownQueue:
                need.watch(queues[name]!)
            case .pipelineExporters(let type):
                var feeding: Set<String> = []
                for p in config.pipelines where p.exporters.contains(name) {
                    for e in p.exporters where config.exporters[e]!.factory.type == type { feeding.insert(e) }
                }
                for e in feeding.sorted() { need.watch(queues[e]!) }
            }
        }
    }
}

/// Runs a sending queue's consumers until shutdown, then drains it.
struct QueueService: Service {
    let queue: SendingQueue
    let timeout: Duration

    func run() async throws {
        queue.start()
        try? await gracefulShutdown()
        await queue.shutdown(deadline: .now + timeout)
    }
}
