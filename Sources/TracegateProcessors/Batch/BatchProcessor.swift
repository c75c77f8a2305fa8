import ServiceLifecycle
import Synchronization
import TracegateCore

/// Merges incoming batches until `send_batch_size` spans are waiting or the
/// oldest has waited `timeout`, then passes them on (split to
/// `send_batch_max_size`). Producers never wait: `consume` only appends under a
/// lock; the timer lives in `run()`, which flushes what is left on shutdown.
public final class BatchProcessor: SpanConsumer, Service {
    private struct State {
        var pending = SpanBatch()
        var count = 0
        var generation = 0
        var firstArrival: ContinuousClock.Instant?
    }

    public let config: BatchProcessorConfig
    private let next: any SpanConsumer
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Int>
    private let wake: AsyncStream<Int>.Continuation

    public init(config: BatchProcessorConfig, next: any SpanConsumer) {
        self.config = config
        self.next = next
        (wakeups, wake) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func consume(_ batch: SpanBatch) {
        let count = batch.spanCount
        guard count > 0 else { return }
        let (ready, startedBatch): (SpanBatch?, Int?) = state.withLock { s in
            let wasEmpty = s.count == 0
            s.pending.append(contentsOf: batch)
            s.count += count
            if s.count >= config.sendBatchSize {
                return (take(&s), nil)
            }
            if wasEmpty {
                s.firstArrival = .now
                return (nil, s.generation)
            }
            return (nil, nil)
        }
        if let ready { emit(ready) }
        if let startedBatch { wake.yield(startedBatch) }
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// Sends whatever is waiting now.
    public func flush() {
        let ready = state.withLock { s in s.count > 0 ? take(&s) : nil }
        if let ready { emit(ready) }
    }

    public func run() async throws {
        for await generation in wakeups.cancelOnGracefulShutdown() {
            let deadline = state.withLock { s in s.generation == generation ? s.firstArrival : nil }
            guard let deadline else { continue }  // already sent because it filled up
            // Shutdown must not wait out the timer: the spans are sent at once.
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(until: deadline + self.config.timeout, clock: .continuous)
            }
            let ready = state.withLock { s in s.generation == generation && s.count > 0 ? take(&s) : nil }
            if let ready { emit(ready) }
        }
        flush()
    }

    private func take(_ s: inout State) -> SpanBatch {
        let out = s.pending
        s.pending = SpanBatch()
        s.count = 0
        s.generation &+= 1
        s.firstArrival = nil
        return out
    }

    private func emit(_ batch: SpanBatch) {
        if config.sendBatchMaxSize > 0 {
            for piece in batch.split(maxSpans: config.sendBatchMaxSize) { next.consume(piece) }
        } else {
            next.consume(batch)
        }
    }
}
