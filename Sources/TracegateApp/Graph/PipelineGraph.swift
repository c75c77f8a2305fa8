import Logging
import ServiceLifecycle
import TracegateCore
import TracegateProcessors

/// The components of one configuration, wired: exporters with their queues,
/// processors chained per pipeline, receivers feeding their pipelines. Every
/// component is built by its factory (`ComponentRegistry`); the graph only
/// wires what they built. `GatewayRuntime` runs it.
///
/// Built against the graph that runs (`previous`, on reload), it reuses every
/// exporter and receiver whose settings did not change: the same queue (its
/// write-ahead log, its database connections), the same listening sockets.
/// Pipelines and their processors are always built anew; they are cheap, and
/// the old ones flush into the queues they fed when they retire.
public struct PipelineGraph: Sendable {
    /// An exporter of the configuration, with its sending queue.
    public struct Exporter: Sendable {
        public let settings: ExporterSettings
        public let built: BuiltExporter
        public let queue: SendingQueue
        /// The queue is taken over from the running graph: the settings are
        /// unchanged, or (`swapped`) only the exporter behind a persistent
        /// queue changed.
        public let reused: Bool
        /// A new exporter behind the reused queue (`SendingQueue.replaceExporter`).
        public var swapped = false
    }

    /// A receiver of the configuration, with its listeners.
    public struct Receiver: Sendable {
        public let settings: ReceiverSettings
        public let route: IngressRoute
        public let listeners: [any ReceiverService]
        /// The pipelines that list it, in this graph.
        public let pipelines: [Pipeline]
        public let reused: Bool
    }

    /// Kept receivers whose settings changed: applied when the graph takes
    /// over (`applyReceiverUpdates`), checked when it is built.
    struct ReceiverUpdate: Sendable {
        let name: String
        let listeners: [any ReceiverService]
        let old: ReceiverSettings
        let new: ReceiverSettings
    }

    var pendingUpdates: [ReceiverUpdate] = []

    public var exporters: [String: Exporter] = [:]
    public var processors: [any Service] = []
    public var pipelines: [Pipeline] = []
    public var receivers: [String: Receiver] = [:]
    public let shutdownTimeout: Duration
    /// The threads the queues' exports block on: the gateway's, shared by
    /// every graph it runs (nil: each queue gets threads of its own).
    public let threads: ExportThreadPool?
    /// The gateway's drain deadline, shared by every queue that drains.
    public let drainDeadline: DrainDeadline

    public var queues: [String: SendingQueue] { exporters.mapValues(\.queue) }

    /// Databases and services outside the process: checked before the
    /// receivers open their ports, then probed for `/ready`.
    public var sinks: [any ExternalSink] { exporters.keys.sorted().compactMap { exporters[$0]!.built.sink } }

    /// Builds every component, reusing those of `previous` whose settings did
    /// not change. Receivers bind their sockets here, so a port in use fails
    /// the start (or the reload) rather than the first request. On failure,
    /// whatever was built here is released and `previous` is untouched.
    public static func build(
        _ config: TracegateConfig, logger: Logger, previous: PipelineGraph? = nil, threads: ExportThreadPool? = nil,
        drainDeadline: DrainDeadline? = nil
    ) async throws -> PipelineGraph {
        var graph = PipelineGraph(
            shutdownTimeout: config.telemetry.shutdownTimeout, threads: threads,
            drainDeadline: drainDeadline ?? DrainDeadline(timeout: config.telemetry.shutdownTimeout))
        do {
            try graph.buildExporters(config, logger: logger, previous: previous)
            for p in config.pipelines { graph.pipelines.append(graph.buildPipeline(p, config, logger: logger)) }
            try await graph.buildReceivers(config, logger: logger, previous: previous)
            return graph
        } catch {
            await graph.release()
            throw error
        }
    }

    /// Releases what this graph built and never ran (a failed reload): closes
    /// new listeners and new queues' write-ahead logs.
    func release() async {
        for receiver in receivers.values where !receiver.reused {
            for listener in receiver.listeners { await listener.abandon() }
        }
        for exporter in exporters.values where !exporter.reused {
            await exporter.queue.shutdown(deadline: .now)
        }
    }

    private mutating func buildExporters(_ config: TracegateConfig, logger: Logger, previous: PipelineGraph?) throws {
        var fresh: [String: BuiltExporter] = [:]
        let names = Set(config.pipelines.flatMap(\.exporters)).sorted()
        for name in names {
            let settings = config.exporters[name]!
            if let old = previous?.exporters[name], Self.same(old.settings, settings) {
                exporters[name] = Exporter(settings: settings, built: old.built, queue: old.queue, reused: true)
                continue
            }
            let parts = try settings.factory.build(
                settings: settings.config, ExporterContext(
                    id: name, logger: logger, shutdownTimeout: shutdownTimeout, drainDeadline: drainDeadline, threads: threads))
            if let old = previous?.exporters[name], old.built.sendingQueue.persistent, parts.sendingQueue.persistent,
                old.built.sendingQueue.directory == parts.sendingQueue.directory
            {
                // Its write-ahead log is locked by the running queue, which
                // must go on taking spans until the new pipelines take over:
                // keep the queue and put the new exporter behind it.
                guard parts.sendingQueue == old.built.sendingQueue && parts.retry == old.built.retry else {
                    throw GraphError(
                        description: "exporters.\(name): the sending_queue and retry_on_failure of an exporter with a persistent queue "
                            + "keep their settings until a restart (its queue in \(parts.sendingQueue.directory) is in use); restart to apply, "
                            + "or give the exporter a new name")
                }
                exporters[name] = Exporter(settings: settings, built: parts, queue: old.queue, reused: true, swapped: true)
                continue
            }
            fresh[name] = parts
        }
        var all = fresh
        for (name, exporter) in exporters { all[name] = exporter.built }
        let coalesce = Self.coalescing(config, all)
        for name in fresh.keys.sorted() {
            let parts = fresh[name]!
            let queue = SendingQueue(
                exporter: parts.exporter, config: parts.sendingQueue, retry: parts.retry, logger: logger,
                persistence: try Self.openPersistence(exporter: name, parts.sendingQueue, logger: logger), coalesceSpans: coalesce[name]?.spans ?? 0,
                coalesceTimeout: coalesce[name]?.timeout ?? .zero, threads: threads)
            exporters[name] = Exporter(settings: config.exporters[name]!, built: parts, queue: queue, reused: false)
        }
        watchBacklogs(config)
    }

    private static func same<F>(_ a: ConfiguredComponent<F>, _ b: ConfiguredComponent<F>) -> Bool {
        a.config.isSame(as: b.config)
    }

    /// A pipeline's processors chained in order, ending in its exporters.
    private mutating func buildPipeline(_ p: PipelineConfig, _ config: TracegateConfig, logger: Logger) -> Pipeline {
        let queues = p.exporters.map { exporters[$0]!.queue }
        let hoisted = Self.hoistedBatch(p, config, exporters.mapValues(\.built))  // see PipelineGraph+PersistentQueue.swift
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

    private mutating func buildReceivers(_ config: TracegateConfig, logger: Logger, previous: PipelineGraph?) async throws {
        for name in Set(config.pipelines.flatMap(\.receivers)).sorted() {
            let settings = config.receivers[name]!
            let feeding = zip(config.pipelines, pipelines).filter { $0.0.receivers.contains(name) }.map(\.1)
            if let old = previous?.receivers[name] {
                if Self.same(old.settings, settings) || settings.factory.canUpdate(from: old.settings.config, to: settings.config) {
                    if !Self.same(old.settings, settings) {
                        pendingUpdates.append(ReceiverUpdate(name: name, listeners: old.listeners, old: old.settings, new: settings))
                    }
                    receivers[name] = Receiver(settings: settings, route: old.route, listeners: old.listeners, pipelines: feeding, reused: true)
                    continue
                }
                // New addresses (or protocols): new listeners bind them below,
                // before the old ones close. An address the old listeners
                // still hold fails the bind, and so the reload, with its reason.
            }
            var receiverLogger = logger
            receiverLogger[metadataKey: "receiver"] = "\(name)"
            let route = IngressRoute(feeding)
            let listeners = try await settings.factory.build(
                settings: settings.config, ReceiverContext(id: name, logger: receiverLogger, ingress: PipelineIngress(route: route)))
            receivers[name] = Receiver(settings: settings, route: route, listeners: listeners, pipelines: feeding, reused: false)
        }
    }

    /// Hands each exporter that waits for backlogs (conclusion) the queues it
    /// waits for: its own, or those of the exporters of a type in the same
    /// pipelines. A reused exporter is handed only the queues new in this graph.
    private func watchBacklogs(_ config: TracegateConfig) {
        for name in exporters.keys.sorted() {
            let exporter = exporters[name]!
            guard let need = exporter.built.backlog else { continue }
            // A swapped exporter is a new one: it watches from scratch.
            let fresh = !exporter.reused || exporter.swapped
            switch need.source {
            case .ownQueue:
                if fresh { need.watch(exporter.queue) }
            case .pipelineExporters(let type):
                var feeding: Set<String> = []
                for p in config.pipelines where p.exporters.contains(name) {
                    for e in p.exporters where config.exporters[e]!.factory.type == type { feeding.insert(e) }
                }
                for e in feeding.sorted() where fresh || !exporters[e]!.reused { need.watch(exporters[e]!.queue) }
            }
        }
    }
}

/// Runs a sending queue's consumers until shutdown, then drains it.
struct QueueService: Service {
    let queue: SendingQueue
    /// The gateway's drain: every queue stopped by one shutdown (or one
    /// reload) drains until the same deadline.
    let drainDeadline: DrainDeadline

    func run() async throws {
        queue.start()
        try? await gracefulShutdown()
        await queue.shutdown(deadline: drainDeadline.current().instant)
    }
}
