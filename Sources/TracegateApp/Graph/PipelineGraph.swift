import Logging
import ServiceLifecycle
import TracegateCore
import TracegateExporters
import TracegateProcessors
import TracegateReceivers

/// The running form of a configuration: exporters with their queues,
/// processors chained per pipeline, receivers feeding their pipelines.
///
/// `services` lists them downstream first; `ServiceGroup` starts in that order
/// and shuts down in reverse, so receivers stop before the batches flush and
/// the batches flush before the queues drain: nothing is sent into a stopped
/// stage.
public struct PipelineGraph {
    public var queues: [String: SendingQueue] = [:]
    public var postgresExporters: [PostgresExporter] = []
    public var processors: [any Service] = []
    /// Partition creation and retention, one per postgres exporter.
    public var maintenance: [any Service] = []
    public var receivers: [OTLPHTTPReceiver] = []
    public var grpcReceivers: [OTLPGRPCReceiver] = []
    public var pipelines: [Pipeline] = []
    public let shutdownTimeout: Duration

    public var services: [any Service] {
        maintenance + queues.keys.sorted().map { QueueService(queue: queues[$0]!, timeout: shutdownTimeout) as any Service } + processors
            + [PipelineCloser(pipelines: pipelines)] + receivers.map { $0 as any Service } + grpcReceivers.map { $0 as any Service }
    }

    /// Builds every component. Receivers bind their sockets here, so a port
    /// in use fails the start rather than the first request.
    public static func build(_ config: TracegateConfig, logger: Logger) async throws -> PipelineGraph {
        var graph = PipelineGraph(shutdownTimeout: config.telemetry.shutdownTimeout)
        let coalesce = Self.coalesceSpans(config)
        for name in Set(config.pipelines.flatMap(\.exporters)).sorted() {
            let exporter: any SpanExporter
            var queueConfig = SendingQueueConfig()
            var retry = RetryPolicy()
            switch config.exporters[name]! {
            case .postgres(let c):
                let pg = PostgresExporter(id: name, config: c, logger: logger)
                graph.postgresExporters.append(pg)
                graph.maintenance.append(PostgresMaintenanceService(exporter: pg, logger: logger))
                exporter = pg
                queueConfig = c.sendingQueue
                retry = c.retry
            case .otlphttp(let c):
                exporter = OTLPHTTPExporter(id: name, config: c, logger: logger)
                queueConfig = c.sendingQueue
                retry = c.retry
            case .conclusion(let c):
                let conclusion = ConclusionExporter(id: name, config: c, logger: logger)
                // Listed with maintenance: starts before and stops after the queues.
                graph.maintenance.append(ConclusionService(exporter: conclusion))
                exporter = conclusion
                queueConfig = c.sendingQueue
                retry = RetryPolicy(maxElapsedTime: .zero)
            case .loadbalancing(let c):
                let balancer = LoadBalancingExporter(id: name, config: c, logger: logger)
                // Listed with maintenance: its endpoint queues start before and stop after the queues.
                graph.maintenance.append(LoadBalancingService(exporter: balancer, timeout: graph.shutdownTimeout, logger: logger))
                exporter = balancer
                queueConfig = c.sendingQueue
                retry = c.retry
            case .nop:
                exporter = NopExporter(id: name)
            }
            graph.queues[name] = SendingQueue(
                exporter: exporter, config: queueConfig, retry: retry, logger: logger,
                persistence: try Self.openPersistence(exporter: name, queueConfig, logger: logger), coalesceSpans: coalesce[name] ?? 0)
        }
        Self.watchBacklogs(config, graph.queues)
        for p in config.pipelines {
            let queues = p.exporters.map { graph.queues[$0]! }
            let hoisted = Self.hoistedBatch(p, config)  // see PipelineGraph+PersistentQueue.swift
            var next: any SpanConsumer = graph.exporterEntry(p, config, queues, hoisted: hoisted)
            var gates: [any AdmissionGate] = []
            for name in p.processors.reversed() {
                switch config.processors[name]! {
                case .batch(let c):
                    if hoisted != nil { continue }  // applied behind the persistent queues
                    let batch = BatchProcessor(config: c, next: next)
                    graph.processors.append(batch)
                    next = batch
                case .attributes(let c):
                    next = AttributesProcessor(config: c, next: next)
                case .filter(let c):
                    next = FilterProcessor(id: name, config: c, next: next)
                case .routing(let c):
                    // Validated to be the last processor: it replaces the fan-out.
                    next = graph.routingEntry(id: name, c, exporters: p.exporters, hoisted: hoisted)
                case .memoryLimiter(let c):
                    let limiter = MemoryLimiter(id: name, config: c, next: next, logger: logger)
                    graph.processors.append(limiter)
                    gates.append(limiter)
                    next = limiter
                case .probabilisticSampler(let c):
                    next = ProbabilisticSampler(id: name, config: c, next: next)
                case .tailSampling(let c):
                    let sampler = TailSamplingProcessor(id: name, config: c, next: next)
                    graph.processors.append(sampler)
                    next = sampler
                }
            }
            graph.pipelines.append(Pipeline(id: p.id, entry: next, queues: queues, gates: gates))
        }
        for name in Set(config.pipelines.flatMap(\.receivers)).sorted() {
            let ingress = PipelineIngress(
                pipelines: zip(config.pipelines, graph.pipelines).filter { $0.0.receivers.contains(name) }.map(\.1))
            switch config.receivers[name]! {
            case .otlp(let c):
                var receiverLogger = logger
                receiverLogger[metadataKey: "receiver"] = "\(name)"
                if let http = c.http {
                    graph.receivers.append(try await OTLPHTTPReceiver(id: name, config: http, ingress: ingress, logger: receiverLogger))
                }
                if let grpc = c.grpc {
                    graph.grpcReceivers.append(try await OTLPGRPCReceiver(id: name, config: grpc, ingress: ingress, logger: receiverLogger))
                }
            }
        }
        return graph
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

extension PipelineGraph {
    /// Tells each conclusion exporter which queues' acknowledged-but-unstored
    /// spans hold its conclusions back: the postgres store reads what the
    /// postgres exporters of its pipelines stored, so their queues; the memory
    /// store counts what it observed, so its own queue.
    static func watchBacklogs(_ config: TracegateConfig, _ queues: [String: SendingQueue]) {
        for (name, queue) in queues {
            guard let conclusion = queue.exporter as? ConclusionExporter else { continue }
            switch conclusion.config.store {
            case .memory:
                conclusion.backlogs.watch(queue)
            case .postgres:
                var feeding: Set<String> = []
                for p in config.pipelines where p.exporters.contains(name) {
                    for e in p.exporters { if case .postgres = config.exporters[e]! { feeding.insert(e) } }
                }
                for e in feeding.sorted() { conclusion.backlogs.watch(queues[e]!) }
            }
        }
    }
}
