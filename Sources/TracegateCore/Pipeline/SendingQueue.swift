import Foundation
import Logging

/// The `sending_queue` settings of an exporter.
public struct SendingQueueConfig: Sendable, Equatable {
    /// Threads that call the exporter concurrently.
    public var numConsumers: Int
    /// Spans the queue may hold, counting those still in a batch processor
    /// upstream and those being exported. When full, receivers refuse new data.
    public var queueSize: Int

    public init(numConsumers: Int = 2, queueSize: Int = 200_000) {
        self.numConsumers = numConsumers
        self.queueSize = queueSize
    }

    public static func read(_ map: ConfigMap, defaults: SendingQueueConfig) -> SendingQueueConfig {
        var c = defaults
        c.numConsumers = map.int("num_consumers", default: defaults.numConsumers, range: 1...64)
        c.queueSize = map.int("queue_size", default: defaults.queueSize, range: 1...100_000_000)
        map.finish()
        return c
    }
}

/// Counters of one sending queue, read by the metrics endpoint and by tests.
public struct SendingQueueStats: Sendable, Equatable {
    public var queuedSpans = 0
    public var reservedSpans = 0
    public var exportedSpans = 0
    public var droppedSpans = 0
    public var failedAttempts = 0
    public var refusedReservations = 0
}

/// A bounded queue in front of an exporter, drained by its own consumer threads
/// (exporters block in C libraries; they must not run on event loops or in the
/// cooperative pool).
///
/// Capacity is counted in spans and is *reserved* by a pipeline before a receiver
/// acknowledges a request (`tryReserve`), so that every acknowledged span has a
/// place to go: nothing downstream of the acknowledgement can be refused. The
/// reservation is released when the exporter has written the spans (or given up
/// on them, which is logged and counted).
public final class SendingQueue: SpanConsumer, @unchecked Sendable {
    // @unchecked: every mutable field below is read and written only while
    // `condition` is locked.
    private let condition = NSCondition()
    private var batches: [SpanBatch] = []
    private var head = 0
    private var stats = SendingQueueStats()
    private var closing = false
    private var abandoned = false
    private var liveConsumers = 0

    public let exporter: any SpanExporter
    public let config: SendingQueueConfig
    public let retry: RetryPolicy
    private let logger: Logger

    public init(exporter: any SpanExporter, config: SendingQueueConfig, retry: RetryPolicy, logger: Logger) {
        self.exporter = exporter
        self.config = config
        self.retry = retry
        var logger = logger
        logger[metadataKey: "exporter"] = "\(exporter.id)"
        self.logger = logger
    }

    /// Reserves room for `count` spans; false when the queue is full or closing.
    public func tryReserve(_ count: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closing, stats.reservedSpans + count <= config.queueSize else {
            stats.refusedReservations += 1
            return false
        }
        stats.reservedSpans += count
        return true
    }

    /// True when not even one more span fits: a receiver can refuse a request
    /// before reading and decoding it.
    public var isFull: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closing || stats.reservedSpans >= config.queueSize
    }

    /// Gives back reserved room that will not be used (a processor dropped spans,
    /// or another pipeline refused the request).
    public func release(_ count: Int) {
        condition.lock()
        stats.reservedSpans -= count
        condition.unlock()
    }

    public func discard(_ count: Int) {
        guard count > 0 else { return }
        release(count)
    }

    /// Enqueues a batch whose room was reserved.
    public func consume(_ batch: SpanBatch) {
        let count = batch.spanCount
        guard count > 0 else { return }
        condition.lock()
        batches.append(batch)
        stats.queuedSpans += count
        condition.signal()
        condition.unlock()
    }

    public var currentStats: SendingQueueStats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// Starts the consumer threads.
    public func start() {
        condition.lock()
        liveConsumers = config.numConsumers
        condition.unlock()
        for i in 0..<config.numConsumers {
            let thread = Thread { [self] in self.consumerLoop() }
            thread.name = "tg-\(exporter.id)-\(i)"
            thread.start()
        }
    }

    /// Stops taking reservations, lets the consumers drain what is queued, and
    /// returns when they are done or at `deadline`, when retries are abandoned
    /// and whatever is left is logged as lost.
    public func shutdown(deadline: ContinuousClock.Instant) async {
        beginClosing()
        while ContinuousClock.now < deadline {
            if consumersFinished { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let lost = abandon()
        while !consumersFinished { try? await Task.sleep(for: .milliseconds(5)) }
        if lost > 0 {
            logger.error("shutdown deadline passed with spans not exported", metadata: ["spans": "\(lost)"])
        }
        exporter.close()
    }

    private func beginClosing() {
        condition.lock()
        closing = true
        condition.broadcast()
        condition.unlock()
    }

    /// Makes consumers give up retrying; returns the spans not yet exported.
    private func abandon() -> Int {
        condition.lock()
        defer { condition.unlock() }
        abandoned = true
        condition.broadcast()
        return stats.reservedSpans
    }

    private var consumersFinished: Bool {
        condition.lock()
        defer { condition.unlock() }
        return liveConsumers == 0
    }

    private func consumerLoop() {
        while let batch = nextBatch() {
            deliver(batch)
            condition.lock()
            stats.reservedSpans -= batch.spanCount
            condition.unlock()
        }
        condition.lock()
        liveConsumers -= 1
        condition.broadcast()
        condition.unlock()
    }

    private func nextBatch() -> SpanBatch? {
        condition.lock()
        defer { condition.unlock() }
        while head == batches.count && !closing { condition.wait() }
        guard head < batches.count, !abandoned else { return nil }
        let batch = batches[head]
        batches[head] = SpanBatch()
        head += 1
        if head > 1024 && head * 2 > batches.count {
            batches.removeFirst(head)
            head = 0
        }
        stats.queuedSpans -= batch.spanCount
        return batch
    }

    private func deliver(_ batch: SpanBatch) {
        let count = batch.spanCount
        let started = ContinuousClock.now
        var rng = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            do {
                try exporter.export(batch)
                condition.lock()
                stats.exportedSpans += count
                condition.unlock()
                return
            } catch {
                condition.lock()
                stats.failedAttempts += 1
                condition.unlock()
                let elapsed = ContinuousClock.now - started
                let outOfTime = retry.maxElapsedTime > .zero && elapsed >= retry.maxElapsedTime
                if !error.retryable || !retry.enabled || outOfTime {
                    drop(count, because: error.message, retryable: error.retryable)
                    return
                }
                var wait = retry.delay(afterAttempt: attempt, using: &rng)
                if let hint = error.retryAfter, hint > wait { wait = hint }
                attempt += 1
                logger.warning(
                    "export failed, will retry",
                    metadata: ["error": "\(error.message)", "spans": "\(count)", "retry_in": "\(wait)", "attempt": "\(attempt)"])
                if !sleep(for: wait) {
                    drop(count, because: "shutdown deadline passed while retrying: \(error.message)", retryable: true)
                    return
                }
            }
        }
    }

    private func drop(_ count: Int, because reason: String, retryable: Bool) {
        condition.lock()
        stats.droppedSpans += count
        condition.unlock()
        logger.error("dropping spans", metadata: ["spans": "\(count)", "reason": "\(reason)", "retryable": "\(retryable)"])
    }

    /// Waits, waking early only when shutdown abandons retries; false then.
    private func sleep(for duration: Duration) -> Bool {
        let until = Date(timeIntervalSinceNow: duration.timeInterval)
        condition.lock()
        defer { condition.unlock() }
        while !abandoned {
            if !condition.wait(until: until) { return true }
        }
        return false
    }
}
