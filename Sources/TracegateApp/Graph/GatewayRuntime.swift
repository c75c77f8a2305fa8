#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TracegateCore
import TracegateExporters

/// Runs a `PipelineGraph` and replaces it on reload.
///
/// Each exporter (its services and its queue), each receiver (its
/// listeners) and each generation of processors runs in a service group of
/// its own, so a reload can start what is new before it stops what is gone,
/// in the order that loses nothing:
///
/// 1. start the new exporters' queues and services, then the new processors;
/// 2. start the new receivers and point the kept ones at the new pipelines:
///    from here on every request goes to the new graph;
/// 3. stop the receivers that are gone, close the old pipelines (offers in
///    progress finish), stop the old processors (batches flush into the
///    queues they fed, kept or retiring), and stop the exporters that are gone
///    or replaced (their queues drain all at once, until one deadline
///    `shutdown_timeout` after step 3 began, `DrainDeadline`).
///
/// Shutdown is step 3 for everything. An actor: reloads and the shutdown run
/// one at a time.
actor GatewayRuntime {
    private var graph: PipelineGraph?
    private var config: TracegateConfig
    private let logger: Logger
    /// What telemetry reads between reloads (queues for `/metrics`, sinks for `/ready`).
    nonisolated let current = Mutex<(queues: [String: SendingQueue], sinks: [any ExternalSink])>(([:], []))
    /// By queue: its consumers (`QueueService`).
    private var queueGroups: [ObjectIdentifier: RunningGroup] = [:]
    /// By queue: the services of the exporter behind it (maintenance, …).
    private var serviceGroups: [ObjectIdentifier: RunningGroup] = [:]
    /// Services of exporters replaced behind a kept queue, stopped at `retire`.
    private var retiringServices: [RunningGroup] = []
    /// By receiver route: its listeners.
    private var receiverGroups: [ObjectIdentifier: RunningGroup] = [:]
    private var processorGroup: RunningGroup?
    private let reloads: Counter
    private let failedReloads: Counter
    /// The threads every queue's exports block on, for the whole run.
    private let threads = ExportThreadPool()
    /// One deadline for every queue a shutdown (or a reload) drains.
    private let drainDeadline: DrainDeadline

    init(config: TracegateConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        drainDeadline = DrainDeadline(timeout: config.telemetry.shutdownTimeout)
        reloads = Counter(label: "tracegate_config_reloads_total", dimensions: [("result", "applied")])
        failedReloads = Counter(label: "tracegate_config_reloads_total", dimensions: [("result", "failed")])
    }

    /// Builds the first graph (binding the receivers' ports) and checks the
    /// sinks; throws what must stop the start.
    func prepare() async throws -> PipelineGraph {
        let built = try await PipelineGraph.build(config, logger: logger, threads: threads, drainDeadline: drainDeadline)
        // A thread per consumer: no exporter's export waits for another's.
        threads.start(threads: Self.consumers(of: built))
        do {
            try await Self.prepareSinks(built, logger: logger)
        } catch {
            await built.release()
            throw error
        }
        graph = built
        // Before the services start: /ready expects these sinks from the first probe.
        current.withLock { $0 = (built.queues, built.sinks) }
        return built
    }

    /// Starts what `prepare` built.
    func start() async {
        guard let graph else { return }
        commit(graph, replacing: nil)
    }

    /// Rereads `file` and applies it; an invalid or unbuildable file changes
    /// nothing. Returns whether it was applied.
    @discardableResult
    func reload(file: String, environment: [String: String]) async -> Bool {
        guard let running = graph else { return false }
        let next: TracegateConfig
        do {
            next = try TracegateConfig.load(file: file, environment: environment)
        } catch let errors as ConfigErrors {
            for problem in errors.problems { logger.error("reload refused: \(problem.description)") }
            logger.error("configuration not reloaded: \(errors.problems.count) problem\(errors.problems.count == 1 ? "" : "s") in \(file); the running configuration is unchanged")
            failedReloads.increment()
            return false
        } catch {
            logger.error("configuration not reloaded: \(error); the running configuration is unchanged")
            failedReloads.increment()
            return false
        }
        if next.telemetry != config.telemetry {
            logger.warning("service.telemetry changed: it is applied at the next restart, not by a reload")
        }
        if next.extensions != config.extensions {
            logger.warning("extensions changed: they are applied at the next restart, not by a reload")
        }
        let built: PipelineGraph
        do {
            built = try await PipelineGraph.build(next, logger: logger, previous: running, threads: threads, drainDeadline: drainDeadline)
        } catch {
            logger.error("configuration not reloaded: \(error); the running configuration is unchanged")
            failedReloads.increment()
            return false
        }
        do {
            try await Self.prepareSinks(built, onlyNew: true, logger: logger)
        } catch {
            await built.release()
            logger.error("configuration not reloaded: \(error); the running configuration is unchanged")
            failedReloads.increment()
            return false
        }
        if Self.consumers(of: built) > threads.threadCount {
            logger.info(
                "the reloaded configuration has more queue consumers than the export threads started with the gateway; they share them until a restart",
                metadata: ["consumers": "\(Self.consumers(of: built))", "threads": "\(threads.threadCount)"])
        }
        commit(built, replacing: running)
        await retire(running, replacedBy: built)
        graph = built
        var applied = next
        applied.telemetry = config.telemetry
        applied.extensions = config.extensions
        config = applied
        reloads.increment()
        logger.info(
            "configuration reloaded",
            metadata: [
                "pipelines": "\(next.pipelines.map(\.id).joined(separator: ","))",
                "exporters_kept": "\(built.exporters.values.filter { $0.reused && !$0.swapped }.count)",
                "exporters_started": "\(built.exporters.values.filter { !$0.reused || $0.swapped }.count)",
                "receivers_kept": "\(built.receivers.values.filter(\.reused).count)",
                "receivers_started": "\(built.receivers.values.filter { !$0.reused }.count)",
            ])
        return true
    }

    /// Stops everything, receivers first and queues last.
    func stop() async {
        guard let running = graph else { return }
        await retire(running, replacedBy: nil)
        graph = nil
    }

    /// The new graph's exporters and processors start, then its receivers
    /// take the traffic.
    private func commit(_ next: PipelineGraph, replacing previous: PipelineGraph?) {
        for name in next.exporters.keys.sorted() {
            let exporter = next.exporters[name]!
            let id = ObjectIdentifier(exporter.queue)
            if !exporter.reused {
                serviceGroups[id] = RunningGroup(exporter.built.services, logger: logger)
                queueGroups[id] = RunningGroup([QueueService(queue: exporter.queue, drainDeadline: drainDeadline)], logger: logger)
            } else if exporter.swapped {
                if let old = serviceGroups[id] { retiringServices.append(old) }
                serviceGroups[id] = RunningGroup(exporter.built.services, logger: logger)
                exporter.queue.replaceExporter(exporter.built.exporter)
            }
        }
        let oldProcessors = processorGroup
        processorGroup = RunningGroup(next.processors, logger: logger)
        if let oldProcessors { retiringProcessors = oldProcessors }
        current.withLock { $0 = (next.queues, next.sinks) }
        for update in next.pendingUpdates {
            do {
                try update.new.factory.update(update.listeners, from: update.old.config, to: update.new.config)
            } catch {
                // Files were checked when the configuration loaded; one that
                // changed since leaves the listener as it was.
                logger.error("receiver settings not applied; it keeps the previous ones", metadata: ["receiver": "\(update.name)", "error": "\(error)"])
            }
        }
        for name in next.receivers.keys.sorted() {
            let receiver = next.receivers[name]!
            if receiver.reused {
                receiver.route.retarget(receiver.pipelines)
            } else {
                receiverGroups[ObjectIdentifier(receiver.route)] = RunningGroup(receiver.listeners, logger: logger)
            }
        }
    }

    /// The processors of the graph being replaced, between `commit` and `retire`.
    private var retiringProcessors: RunningGroup?

    /// Stops what `old` ran and `next` does not: receivers, then pipelines
    /// and processors, then exporters. With `next` nil, everything.
    private func retire(_ old: PipelineGraph, replacedBy next: PipelineGraph?) async {
        // One deadline from here for every queue that drains below (the
        // exporters' queues, then the queues exporters run themselves): the
        // whole stop takes at most one `shutdown_timeout`.
        drainDeadline.begin()
        let keptRoutes = Set((next?.receivers.values.map { ObjectIdentifier($0.route) }) ?? [])
        let goneReceivers = old.receivers.values.map { ObjectIdentifier($0.route) }.filter { !keptRoutes.contains($0) }
        await withTaskGroup(of: Void.self) { group in
            for id in goneReceivers {
                if let running = receiverGroups.removeValue(forKey: id) { group.addTask { await running.stop() } }
            }
        }
        for pipeline in old.pipelines { await pipeline.close() }
        if next == nil {
            await processorGroup?.stop()
            processorGroup = nil
        } else {
            await retiringProcessors?.stop()
            retiringProcessors = nil
        }
        let kept = Set((next?.exporters.values.map { ObjectIdentifier($0.queue) }) ?? [])
        let gone = old.exporters.values.map { ObjectIdentifier($0.queue) }.filter { !kept.contains($0) }
        // Queues drain first (all at once, one deadline), then the services
        // of their exporters and of exporters replaced behind kept queues stop.
        await withTaskGroup(of: Void.self) { group in
            for id in gone {
                if let running = queueGroups.removeValue(forKey: id) { group.addTask { await running.stop() } }
            }
        }
        let services = gone.compactMap { serviceGroups.removeValue(forKey: $0) } + retiringServices
        retiringServices = []
        await withTaskGroup(of: Void.self) { group in
            for running in services { group.addTask { await running.stop() } }
        }
    }

    /// Consumers of the graph's queues (and of the endpoint queues of its
    /// load balancers with a static list): each export blocks a thread.
    private static func consumers(of graph: PipelineGraph) -> Int {
        graph.exporters.values.reduce(0) { total, exporter in
            let endpoints = (exporter.built.exporter as? LoadBalancingExporter)?.endpointQueues ?? []
            return total + exporter.queue.config.numConsumers + endpoints.reduce(0) { $0 + $1.config.numConsumers }
        }
    }

    /// Connects to each sink (on a thread: libpq blocks) before the graph
    /// takes traffic: a schema newer than this binary stops the start or the
    /// reload; a database that is down only delays the first export.
    private static func prepareSinks(_ graph: PipelineGraph, onlyNew: Bool = false, logger: Logger) async throws {
        for name in graph.exporters.keys.sorted() {
            let exporter = graph.exporters[name]!
            guard let sink = exporter.built.sink, !(onlyNew && exporter.reused && !exporter.swapped) else { continue }
            let outcome: Result<String?, any Error> = await onThread(name: "tg-prepare") { Result { try sink.prepareForStart() } }
            if let problem = try outcome.get() {
                logger.warning("PostgreSQL is not reachable yet; spans will queue until it is", metadata: ["exporter": "\(sink.id)", "error": "\(problem)"])
            }
        }
    }
}

/// Services run by a service group of their own, in a detached task: a
/// reload stops them on its own schedule, and the gateway's shutdown reaches
/// them only through `GatewayRuntime.stop`, in its order.
final class RunningGroup: Sendable {
    private let group: ServiceGroup?
    private let task: Task<Void, Never>?

    init(_ services: [any Service], logger: Logger) {
        guard !services.isEmpty else {
            group = nil
            task = nil
            return
        }
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [], logger: logger))
        self.group = group
        // Detached: a child would inherit the gateway's graceful-shutdown
        // context and stop with it, out of order.
        task = Task.detached {
            do {
                try await group.run()
            } catch {
                logger.error("a component stopped with an error", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Shuts its services down, last started first, and waits for them.
    func stop() async {
        await group?.triggerGracefulShutdown()
        await task?.value
    }
}
