import Metrics
import ServiceLifecycle
import Synchronization
import TracegateCore

/// Tail sampling: holds each trace's spans until the trace concludes (idle for
/// `decision_wait`, capped by `max_trace_duration`), then keeps or drops the
/// whole trace by its policies. `consume` only files spans under a lock; the
/// deadlines are driven by `run()`, which decides every held trace on
/// graceful shutdown.
///
/// Held spans keep the room reserved for them in the exporter queues until
/// they are passed on or given back with `discard`, so `sending_queue.queue_size`
/// must cover `decision_wait` × the span rate.
public final class TailSamplingProcessor: SpanConsumer, Service {
    public let id: String
    public let config: TailSamplingConfig
    private let next: any SpanConsumer
    private let state: Mutex<TailSamplingState>
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let metrics: TailSamplingMetrics
    /// What decision_wait and the other waits are measured on (a manual clock in tests).
    private let clock: any WaitClock

    public init(id: String, config: TailSamplingConfig, next: any SpanConsumer, clock: any WaitClock = SystemClock()) {
        self.id = id
        self.clock = clock
        self.config = config
        self.next = next
        state = Mutex(TailSamplingState(config: config))
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        metrics = TailSamplingMetrics(processor: id, policies: config.policies.map(\.name))
    }

    public func consume(_ batch: SpanBatch) {
        guard !batch.isEmpty else { return }
        let (out, held, bytes) = state.withLock { s in (s.ingest(batch, now: clock.now), s.tracesHeld, s.bytesHeld) }
        deliver(out, held: held, bytes: bytes)
        // New deadlines are never earlier than the ones already scheduled, so
        // the timer only needs a nudge when it may be idle.
        if out.startedTraces > 0 { wake.yield() }
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// Traces held now.
    public var tracesHeld: Int { state.withLock { $0.tracesHeld } }

    public func run() async throws {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            while var deadline = state.withLock({ $0.nextWake() }) {
                // A root span arriving meanwhile may set a deadline earlier
                // than this one, but never earlier than its arrival plus
                // decision_wait_after_root: waking that often misses none.
                if config.decisionWaitAfterRoot > .zero { deadline = min(deadline, clock.now + config.decisionWaitAfterRoot) }
                do {
                    try await cancelWhenGracefulShutdown { [deadline, clock] in
                        try await clock.sleep(until: deadline)
                    }
                } catch {
                    break
                }
                let (out, held, bytes) = state.withLock { s in (s.expire(now: clock.now), s.tracesHeld, s.bytesHeld) }
                deliver(out, held: held, bytes: bytes)
            }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
        }
        // Nothing is dropped at shutdown without a decision.
        let (out, held, bytes) = state.withLock { s in (s.decideAll(now: clock.now), s.tracesHeld, s.bytesHeld) }
        deliver(out, held: held, bytes: bytes)
    }

    private func deliver(_ out: TailSamplingState.Output, held: Int, bytes: Int) {
        metrics.record(out, held: held, bytes: bytes)
        if out.droppedSpans > 0 { next.discard(out.droppedSpans) }
        if out.keptSpans > 0 { next.consume(out.kept) }
    }
}

/// The `tracegate_sampler_*` metrics of one tail_sampling processor.
struct TailSamplingMetrics: Sendable {
    private let keptByPolicy: [Counter]
    private let dropped: Counter
    private let early: Counter
    private let spanCap: Counter
    private let lateKept: Counter
    private let lateDropped: Counter
    private let held: Gauge
    private let bytes: Gauge

    init(processor: String, policies: [String]) {
        keptByPolicy = policies.map {
            Counter(label: "tracegate_sampler_decisions_total", dimensions: [("processor", processor), ("policy", $0), ("decision", "sampled")])
        }
        dropped = Counter(
            label: "tracegate_sampler_decisions_total", dimensions: [("processor", processor), ("policy", ""), ("decision", "not_sampled")])
        early = Counter(label: "tracegate_sampler_early_decisions_total", dimensions: [("processor", processor)])
        spanCap = Counter(label: "tracegate_sampler_span_cap_decisions_total", dimensions: [("processor", processor)])
        lateKept = Counter(label: "tracegate_sampler_late_spans_total", dimensions: [("processor", processor), ("decision", "sampled")])
        lateDropped = Counter(label: "tracegate_sampler_late_spans_total", dimensions: [("processor", processor), ("decision", "not_sampled")])
        held = Gauge(label: "tracegate_sampler_traces_held", dimensions: [("processor", processor)])
        bytes = Gauge(label: "tracegate_sampler_bytes_held", dimensions: [("processor", processor)])
    }

    func record(_ out: TailSamplingState.Output, held heldNow: Int, bytes bytesNow: Int) {
        for decision in out.decisions {
            if let i = decision { keptByPolicy[i].increment() } else { dropped.increment() }
        }
        if out.earlyDecisions > 0 { early.increment(by: Int64(out.earlyDecisions)) }
        if out.spanCapDecisions > 0 { spanCap.increment(by: Int64(out.spanCapDecisions)) }
        if out.lateKeptSpans > 0 { lateKept.increment(by: Int64(out.lateKeptSpans)) }
        if out.lateDroppedSpans > 0 { lateDropped.increment(by: Int64(out.lateDroppedSpans)) }
        held.record(heldNow)
        bytes.record(bytesNow)
    }
}
