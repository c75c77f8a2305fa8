import ServiceLifecycle
import Synchronization
import TracegateCore

/// Merges incoming batches until `send_batch_size` spans are waiting or the
/// oldest has waited `timeout`, then passes them on (split to
/// `send_batch_max_size`). Producers never wait: `consume` only appends under a
/// lock; the timer lives in `run()`, which flushes what is left on shutdown.
///
/// With `metadata_keys`, spans are batched separately per distinct
/// combination of those resource attributes, each pending batch with its own
/// size and timeout. At most `metadata_cardinality_limit` such batches wait at
/// once; spans of a further combination share one overflow batch.
public final class BatchProcessor: SpanConsumer, Service {
    /// Which pending batch spans belong to.
    enum PartitionKey: Hashable {
        /// The values of `metadata_keys` (nil for an absent attribute); empty
        /// without metadata keys.
        case values([AnyValue?])
        /// Combinations beyond the cardinality limit.
        case overflow
    }

    private struct Pending {
        var batch = SpanBatch()
        var count = 0
        var generation: Int
        var firstArrival: ContinuousClock.Instant
    }

    private struct State {
        var pending: [PartitionKey: Pending] = [:]
        var nextGeneration = 0
    }

    /// A pending batch's deadline to check. Every batch has the same timeout,
    /// so wake-ups arrive in deadline order and the timer handles them FIFO.
    private struct Wake {
        var key: PartitionKey
        var generation: Int
    }

    public let config: BatchProcessorConfig
    private let next: any SpanConsumer
    /// What `timeout` is measured on (a manual clock in tests).
    private let clock: any WaitClock
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Wake>
    private let wake: AsyncStream<Wake>.Continuation

    public init(config: BatchProcessorConfig, next: any SpanConsumer, clock: any WaitClock = SystemClock()) {
        self.config = config
        self.next = next
        self.clock = clock
        (wakeups, wake) = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .unbounded)
    }

    public func consume(_ batch: SpanBatch) {
        guard batch.spanCount > 0 else { return }
        if config.metadataKeys.isEmpty {
            add(batch, count: batch.spanCount, key: .values([]))
            return
        }
        for (key, part) in partitions(of: batch) { add(part, count: part.spanCount, key: key) }
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// Sends whatever is waiting now.
    public func flush() {
        let ready = state.withLock { s in
            let all = s.pending.values.filter { $0.count > 0 }.sorted { $0.generation < $1.generation }.map(\.batch)
            s.pending.removeAll()
            return all
        }
        for batch in ready { emit(batch) }
    }

    public func run() async throws {
        for await w in wakeups.cancelOnGracefulShutdown() {
            let deadline = state.withLock { s in s.pending[w.key].flatMap { $0.generation == w.generation ? $0.firstArrival : nil } }
            guard let deadline else { continue }  // already sent because it filled up
            // Shutdown must not wait out the timer: the spans are sent at once.
            try? await cancelWhenGracefulShutdown {
                try await self.clock.sleep(until: deadline + self.config.timeout)
            }
            let ready = state.withLock { s in take(&s, w.key, generation: w.generation) }
            if let ready { emit(ready) }
        }
        flush()
    }

    /// Appends to the pending batch of `key` (or the overflow batch when the
    /// key is new and the limit is reached); sends it when it is full.
    private func add(_ batch: SpanBatch, count: Int, key: PartitionKey) {
        let (ready, started): (SpanBatch?, Wake?) = state.withLock { s in
            var key = key
            if s.pending[key] == nil && key != .values([]) && s.pending.count >= config.metadataCardinalityLimit {
                key = .overflow
            }
            var started: Wake?
            if s.pending[key] == nil {
                s.pending[key] = Pending(generation: s.nextGeneration, firstArrival: clock.now)
                started = Wake(key: key, generation: s.nextGeneration)
                s.nextGeneration &+= 1
            }
            s.pending[key]!.batch.append(contentsOf: batch)
            s.pending[key]!.count += count
            if s.pending[key]!.count >= config.sendBatchSize {
                return (s.pending.removeValue(forKey: key)!.batch, nil)
            }
            return (nil, started)
        }
        if let ready { emit(ready) }
        if let started { wake.yield(started) }
    }

    private func take(_ s: inout State, _ key: PartitionKey, generation: Int) -> SpanBatch? {
        guard let p = s.pending[key], p.generation == generation else { return nil }
        s.pending.removeValue(forKey: key)
        return p.count > 0 ? p.batch : nil
    }

    /// Groups a batch's resources by the values of `metadata_keys`.
    func partitions(of batch: SpanBatch) -> [(PartitionKey, SpanBatch)] {
        var order: [PartitionKey] = []
        var groups: [PartitionKey: SpanBatch] = [:]
        for rs in batch.resourceSpans where rs.spanCount > 0 {
            let key = PartitionKey.values(config.metadataKeys.map { rs.resource.attributes[key: $0] })
            if groups[key] == nil {
                order.append(key)
                groups[key] = SpanBatch()
            }
            groups[key]!.resourceSpans.append(rs)
        }
        return order.map { ($0, groups[$0]!) }
    }

    private func emit(_ batch: SpanBatch) {
        if config.sendBatchMaxSize > 0 {
            for piece in batch.split(maxSpans: config.sendBatchMaxSize) {
                Self.sendSizes.record(piece.spanCount)
                next.consume(piece)
            }
        } else {
            Self.sendSizes.record(batch.spanCount)
            next.consume(batch)
        }
    }
}
