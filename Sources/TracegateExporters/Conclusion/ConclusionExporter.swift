import Logging
import ServiceLifecycle
import TracegateCore

/// `conclusion/<name>`: sees every span of its pipelines, detects traces that
/// concluded (no span for `inactivity`; incomplete ones wait up to
/// `max_wait`), and POSTs a notification for each to `endpoint`, retried with
/// backoff and dead-lettered after `retry.max_attempts`. See
/// `PostgresConclusionStore` and `MemoryConclusionStore` for the two stores.
public final class ConclusionExporter: SpanExporter {
    public let id: String
    public let config: ConclusionExporterConfig
    private let store: any ConclusionStore
    /// The queues whose backlog holds conclusions back; the graph fills it.
    public let backlogs = BacklogWatch()

    /// `clock`: what its loops read the time from and sleep on (tests pass a `ManualClock`).
    public init(id: String, config: ConclusionExporterConfig, logger: Logger, clock: any WaitClock = SystemClock()) {
        self.id = id
        self.config = config
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        let metrics = ConclusionMetrics(exporter: id, latePolicy: config.lateSpans.rawValue)
        switch config.store {
        case .postgres: store = PostgresConclusionStore(id: id, config: config, logger: logger, metrics: metrics, backlogs: backlogs, clock: clock)
        case .memory: store = MemoryConclusionStore(id: id, config: config, logger: logger, metrics: metrics, backlogs: backlogs, clock: clock)
        }
    }

    /// Only records the batch's traces; never fails, never blocks for long.
    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        store.observe(batch)
    }

    public func close() {}

    /// Runs the store's loops (timers, delivery) until `stop`.
    func run() async { await store.run() }

    /// Ends `run` once a POST in flight (if any) ended and was recorded.
    func stop() { store.stop() }
}
