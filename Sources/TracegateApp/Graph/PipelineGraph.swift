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
            + receivers.map { $0 as any Service } + grpcReceivers.map { $0 as any Service }
    }

    /// Builds every component. Receivers bind their sockets here, so a port
    /// in use fails the start rather than the first request.
    public static func build(_ config: TracegateConfig, logger: Logger) async throws -> PipelineGraph {
        var graph = PipelineGraph(shutdownTimeout: config.telemetry.shutdownTimeout)
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
            case .nop:
                exporter = NopExporter(id: name)
            }
            graph.queues[name] = SendingQueue(exporter: exporter, config: queueConfig, retry: retry, logger: logger)
        }
        for p in config.pipelines {
            let queues = p.exporters.map { graph.queues[$0]! }
            var next: any SpanConsumer = FanOut(queues)
            for name in p.processors.reversed() {
                switch config.processors[name]! {
                case .batch(let c):
                    let batch = BatchProcessor(config: c, next: next)
                    graph.processors.append(batch)
                    next = batch
                }
            }
            graph.pipelines.append(Pipeline(id: p.id, entry: next, queues: queues))
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
