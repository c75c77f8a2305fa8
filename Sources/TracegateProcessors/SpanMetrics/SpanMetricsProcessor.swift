import Metrics
import ServiceLifecycle
import Synchronization
import TracegateCore

/// `spanmetrics`: passes every span on unchanged and counts it into RED
/// metrics (`SpanMetricsState`), served on the telemetry `/metrics`. Placed
/// after a sampler, it counts each kept span for the spans it stands for.
public final class SpanMetricsProcessor: SpanConsumer, Service {
    public let id: String
    private let next: any SpanConsumer
    private let state: Mutex<SpanMetricsState>
    private let overflow: Counter
    private let metrics: RenderedMetrics

    public init(id: String, config: SpanMetricsConfig, next: any SpanConsumer, metrics: RenderedMetrics = .shared) {
        self.id = id
        self.next = next
        self.state = Mutex(SpanMetricsState(config: config))
        self.metrics = metrics
        overflow = Counter(label: "tracegate_spanmetrics_overflow_spans_total", dimensions: [("processor", id)])
    }

    public func consume(_ batch: SpanBatch) {
        let now = ContinuousClock.now
        let overflowed = state.withLock { s in
            let before = s.overflowSpans
            s.record(batch, now: now)
            return s.overflowSpans - before
        }
        if overflowed > 0 { overflow.increment(by: overflowed) }
        next.consume(batch)
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// The Prometheus text of its series.
    public func render() -> String { state.withLock { $0.render() } }

    /// Serves its series on `/metrics` until shutdown and expires idle ones.
    public func run() async throws {
        metrics.register("spanmetrics/\(id)", owner: self) { [weak self] in self?.render() ?? "" }
        defer { metrics.unregister("spanmetrics/\(id)", owner: self) }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            state.withLock { $0.expire(now: .now) }
        }
    }
}
