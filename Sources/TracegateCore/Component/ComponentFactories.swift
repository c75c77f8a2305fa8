import Logging
import ServiceLifecycle

// The three kinds of component, in the shape of the OpenTelemetry
// Collector's `factory.go`: each type has one factory in its folder that
// names the type, reads its settings (reporting every problem with file and
// line) and builds what runs. `ComponentRegistry` (TracegateApp) lists them;
// nothing else knows a component by its type.
//
// A factory reads into its own `Config`; the pipeline graph holds settings as
// `any ComponentConfig` beside the factory that read them, and the erased
// entry points below hand them back to that same factory, which is why their
// casts cannot fail.

/// Builds one receiver type: the listeners that feed the pipelines naming it.
public protocol ReceiverFactory: Sendable {
    associatedtype Config: ComponentConfig
    /// The type in the file: `otlp`.
    var type: String { get }
    func read(_ map: ConfigMap) -> Config
    /// Binds its sockets here, so that a port in use fails the start rather
    /// than the first request.
    func build(_ config: Config, _ context: ReceiverContext) async throws -> [any ReceiverService]
    /// Whether running listeners built from `old` can take the settings
    /// `new` without closing their sockets (same addresses, same protocols).
    /// When not, a reload that changes them needs a restart.
    func canUpdate(from old: Config, to new: Config) -> Bool
    /// Gives running listeners the settings `new`; connections accepted from
    /// now on use them. Only called when `canUpdate`. Throws when `new` is
    /// unusable (a certificate that does not load), before changing anything.
    func update(_ listeners: [any ReceiverService], from old: Config, to new: Config) throws
}

extension ReceiverFactory {
    public func canUpdate(from old: Config, to new: Config) -> Bool { false }
    public func update(_ listeners: [any ReceiverService], from old: Config, to new: Config) throws {}
}

/// What a receiver is built with.
public struct ReceiverContext: Sendable {
    /// `otlp`, `otlp/internal`, …
    public let id: String
    public let logger: Logger
    /// The pipelines that list the receiver.
    public let ingress: PipelineIngress

    public init(id: String, logger: Logger, ingress: PipelineIngress) {
        self.id = id
        self.logger = logger
        self.ingress = ingress
    }
}

/// A listening receiver: runs until graceful shutdown, then stops accepting.
public protocol ReceiverService: Service, AnyObject {
    /// Where it listens, for the start-up log: `otlp/http@127.0.0.1:4318`.
    var listeningDescription: String { get }
    /// Closes the socket of a receiver that was built but never run (a
    /// reload that failed after binding it).
    func abandon() async
}

/// Builds one processor type: a stage of a pipeline's chain.
public protocol ProcessorFactory: Sendable {
    associatedtype Config: ComponentConfig
    /// The type in the file: `batch`, `attributes`, …
    var type: String { get }
    /// True for a processor that chooses among the pipeline's exporters
    /// itself (`routing`): it must be the last processor, and it is given the
    /// exporters instead of the pipeline's fan-out to all of them.
    var choosesExporters: Bool { get }
    func read(_ map: ConfigMap) -> Config
    func build(_ config: Config, _ context: ProcessorContext) -> BuiltProcessor
}

extension ProcessorFactory {
    public var choosesExporters: Bool { false }
}

/// What a processor is built with.
public struct ProcessorContext: Sendable {
    public let id: String
    public let logger: Logger
    /// The next stage of the chain (the fan-out to the exporters for the last
    /// processor, unless it `choosesExporters`).
    public let next: any SpanConsumer
    /// The pipeline's exporters by name, for a processor that
    /// `choosesExporters`; empty for the others.
    public let exporters: [(name: String, consumer: any SpanConsumer)]

    public init(id: String, logger: Logger, next: any SpanConsumer, exporters: [(name: String, consumer: any SpanConsumer)] = []) {
        self.id = id
        self.logger = logger
        self.next = next
        self.exporters = exporters
    }
}

/// A built processor.
public struct BuiltProcessor: Sendable {
    /// Where the previous stage sends its spans.
    public var consumer: any SpanConsumer
    /// Runs from start to graceful shutdown, for a processor that holds spans
    /// (batch, tail sampling) or watches something (memory limiter).
    public var service: (any Service)?
    /// Consulted before room is reserved for a request (memory limiter).
    public var gate: (any AdmissionGate)?

    public init(consumer: any SpanConsumer, service: (any Service)? = nil, gate: (any AdmissionGate)? = nil) {
        self.consumer = consumer
        self.service = service
        self.gate = gate
    }

    /// A processor that is a service as well (batch, tail sampling).
    public static func service<P: SpanConsumer & Service>(_ processor: P) -> BuiltProcessor {
        BuiltProcessor(consumer: processor, service: processor)
    }
}

/// Builds one exporter type: what its sending queue's consumers call.
public protocol ExporterFactory: Sendable {
    associatedtype Config: ComponentConfig
    /// The type in the file: `postgres`, `otlphttp`, …
    var type: String { get }
    func read(_ map: ConfigMap) -> Config
    func build(_ config: Config, _ context: ExporterContext) throws -> BuiltExporter
}

/// What an exporter is built with.
public struct ExporterContext: Sendable {
    public let id: String
    public let logger: Logger
    /// `service.telemetry.shutdown_timeout`, for exporters that drain queues
    /// of their own (loadbalancing).
    public let shutdownTimeout: Duration
    /// The deadline of the gateway's drain in progress, for exporters that
    /// drain queues of their own at shutdown: theirs ends with the others.
    public let drainDeadline: DrainDeadline
    /// The gateway's export threads, for exporters with queues of their own.
    public let threads: ExportThreadPool?

    public init(
        id: String, logger: Logger, shutdownTimeout: Duration, drainDeadline: DrainDeadline? = nil, threads: ExportThreadPool? = nil
    ) {
        self.id = id
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        self.drainDeadline = drainDeadline ?? DrainDeadline(timeout: shutdownTimeout)
        self.threads = threads
    }
}

/// A built exporter, and what the graph must set up around it.
public struct BuiltExporter: Sendable {
    public var exporter: any SpanExporter
    public var sendingQueue: SendingQueueConfig
    public var retry: RetryPolicy
    /// Run beside the exporter: started before its sending queue and stopped
    /// after it drained (partition maintenance, conclusion timers, the
    /// load balancer's endpoint queues).
    public var services: [any Service]
    /// A database or service outside the process that the start checks and
    /// `/ready` probes.
    public var sink: (any ExternalSink)?
    /// Sending queues whose backlog holds this exporter's work back.
    public var backlog: BacklogNeed?

    public init(
        exporter: any SpanExporter, sendingQueue: SendingQueueConfig = SendingQueueConfig(), retry: RetryPolicy = RetryPolicy(),
        services: [any Service] = [], sink: (any ExternalSink)? = nil, backlog: BacklogNeed? = nil
    ) {
        self.exporter = exporter
        self.sendingQueue = sendingQueue
        self.retry = retry
        self.services = services
        self.sink = sink
        self.backlog = backlog
    }
}

/// A sink outside the process: checked once before the receivers open their
/// ports, then probed for `/ready`.
public protocol ExternalSink: Sendable {
    var id: String { get }
    /// Blocks (libpq): called off the event loops. Throws what must stop the
    /// start (a schema newer than this binary); returns a problem that only
    /// delays the first export (a database that is down).
    func prepareForStart() throws -> String?
    /// nil when reachable now, else the problem. Blocks.
    func probeReachability() -> String?
}

/// Which sending queues' acknowledged-but-unstored spans an exporter waits
/// for (a conclusion waits until every span of the trace is stored), and how
/// to hand each queue to it.
public struct BacklogNeed: Sendable {
    public enum Source: Sendable, Equatable {
        /// The exporter's own queue (it stores what it observes).
        case ownQueue
        /// The queues of the exporters of this type in the same pipelines
        /// (it reads what they store).
        case pipelineExporters(type: String)
    }

    public let source: Source
    public let watch: @Sendable (SendingQueue) -> Void

    public init(source: Source, watch: @escaping @Sendable (SendingQueue) -> Void) {
        self.source = source
        self.watch = watch
    }
}

// The erased entry points: called on `any …Factory` with settings that the
// same factory read.

extension ReceiverFactory {
    public func readSettings(_ map: ConfigMap) -> any ComponentConfig { read(map) }
    public func build(settings: any ComponentConfig, _ context: ReceiverContext) async throws -> [any ReceiverService] {
        try await build(settings as! Config, context)
    }
    public func canUpdate(from old: any ComponentConfig, to new: any ComponentConfig) -> Bool {
        canUpdate(from: old as! Config, to: new as! Config)
    }
    public func update(_ listeners: [any ReceiverService], from old: any ComponentConfig, to new: any ComponentConfig) throws {
        try update(listeners, from: old as! Config, to: new as! Config)
    }
}

extension ProcessorFactory {
    public func readSettings(_ map: ConfigMap) -> any ComponentConfig { read(map) }
    public func build(settings: any ComponentConfig, _ context: ProcessorContext) -> BuiltProcessor {
        build(settings as! Config, context)
    }
}

extension ExporterFactory {
    public func readSettings(_ map: ConfigMap) -> any ComponentConfig { read(map) }
    public func build(settings: any ComponentConfig, _ context: ExporterContext) throws -> BuiltExporter {
        try build(settings as! Config, context)
    }
}
