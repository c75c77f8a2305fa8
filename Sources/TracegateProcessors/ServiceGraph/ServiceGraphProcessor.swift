import Metrics
import ServiceLifecycle
import Synchronization
import TracegateCore

/// `servicegraph`: passes every span on unchanged and pairs client and
/// server spans into the edges of the service graph (`ServiceGraphState`),
/// served on the telemetry `/metrics`.
public final class ServiceGraphProcessor: SpanConsumer, Service {
    public let id: String
    private let next: any SpanConsumer
    private let state: Mutex<ServiceGraphState>
    private let metrics: RenderedMetrics
    private let unpairedClient: Counter
    private let unpairedServer: Counter
    private let dropped: Counter
    /// What the counters above were told, to turn totals into increments.
    private let reported = Mutex((client: 0, server: 0, dropped: 0))

    public init(id: String, config: ServiceGraphConfig, next: any SpanConsumer, metrics: RenderedMetrics = .shared) {
        self.id = id
        self.next = next
        self.state = Mutex(ServiceGraphState(config: config))
        self.metrics = metrics
        unpairedClient = Counter(label: "tracegate_servicegraph_unpaired_spans_total", dimensions: [("processor", id), ("side", "client")])
        unpairedServer = Counter(label: "tracegate_servicegraph_unpaired_spans_total", dimensions: [("processor", id), ("side", "server")])
        dropped = Counter(label: "tracegate_servicegraph_dropped_spans_total", dimensions: [("processor", id)])
    }

    public func consume(_ batch: SpanBatch) {
        let now = ContinuousClock.now
        state.withLock { $0.record(batch, now: now) }
        next.consume(batch)
    }

    public func discard(_ count: Int) { next.discard(count) }

    public func render() -> String { state.withLock { $0.render() } }

    /// Serves its edges on `/metrics` until shutdown and settles expired halves.
    public func run() async throws {
        metrics.register("servicegraph/\(id)", owner: self) { [weak self] in self?.render() ?? "" }
        defer { metrics.unregister("servicegraph/\(id)", owner: self) }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
            let (client, server, drops) = state.withLock { s in
                s.expire(now: .now)
                return (s.unpaired["client", default: 0], s.unpaired["server", default: 0], s.dropped)
            }
            reported.withLock { r in
                if client > r.client { unpairedClient.increment(by: client - r.client) }
                if server > r.server { unpairedServer.increment(by: server - r.server) }
                if drops > r.dropped { dropped.increment(by: drops - r.dropped) }
                r = (client, server, drops)
            }
        }
    }
}
