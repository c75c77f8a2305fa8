import Logging
import Synchronization
import Metrics

/// The `sending_queue` settings of an exporter.
public struct SendingQueueConfig: Sendable, Equatable {
    /// Threads that call the exporter concurrently.
    public var numConsumers: Int
    /// Spans the queue may hold, counting those still in a batch processor
    /// upstream and those being exported. When full, receivers refuse new data.
    public var queueSize: Int
    /// Keep the queue in a write-ahead log under `directory` as well as in
    /// memory, so that acknowledged spans survive a crash and a restart.
    public var persistent: Bool
    /// Where the persistent queue lives; each exporter gets a subdirectory
    /// named after its id. Required with `persistent: true`.
    public var directory: String
    /// Disk space the persistent queue may use; at this size receivers refuse
    /// new data (503 / UNAVAILABLE) until exports make room.
    public var maxSize: Int
    /// `fdatasync` each record before the client is acknowledged: survives a
    /// power loss, not only a crash, at the cost of a disk flush per request.
    public var fsync: Bool

    public init(numConsumers: Int = 2, queueSize: Int = 200_000, persistent: Bool = false, directory: String = "", maxSize: Int = 1 << 30, fsync: Bool = false) {
        self.numConsumers = numConsumers
        self.queueSize = queueSize
        self.persistent = persistent
        self.directory = directory
        self.maxSize = maxSize
        self.fsync = fsync
    }

    public static func read(_ map: ConfigMap, defaults: SendingQueueConfig) -> SendingQueueConfig {
        var c = defaults
        if !map.bool("enabled", default: true) {
            map.report("enabled", "the sending queue cannot be disabled: it is what acknowledges spans to clients")
        }
        c.numConsumers = map.int("num_consumers", default: defaults.numConsumers, range: 1...64)
        c.queueSize = map.int("queue_size", default: defaults.queueSize, range: 1...100_000_000)
        c.persistent = map.bool("persistent", default: defaults.persistent)
        c.directory = map.string("directory") ?? defaults.directory
        c.maxSize = map.byteSize("max_size", default: defaults.maxSize)
        c.fsync = map.bool("fsync", default: defaults.fsync)
        if c.persistent && c.directory.isEmpty { map.report("directory", "is required with persistent: true") }
        if !c.persistent && map.has("directory") { map.report("directory", "is only used with persistent: true") }
        if c.maxSize < 1 << 20 { map.report("max_size", "must be at least 1MiB") }
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
    /// Reservations refused because the persistent queue reached `max_size`.
    public var refusedDiskFull = 0
    /// Bytes the persistent queue uses on disk (0 in memory).
    public var diskBytes = 0
    /// Groups of records the persistent queue failed to write.
    public var failedWrites = 0

    public init() {}
}

/// The disk side of a persistent queue: its log and the codec of its records.
public struct QueuePersistence {
    public let log: WriteAheadLog
    public let codec: any SpanBatchCodec

    public init(log: WriteAheadLog, codec: any SpanBatchCodec) {
        self.log = log
        self.codec = codec
    }
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
///
/// A persistent queue (`persistence`) also appends every batch to a
/// write-ahead log before the receiver acknowledges it — on a writer thread
/// of its own, in groups (`GroupCommitWriter`), while the receiver's offer
/// waits for a `WriteReceipt` — and marks it exported in the log after the
/// exporter took it; at start it replays what the log holds. Consumers then merge up to `coalesceSpans` spans
/// of queued batches into one export, doing the batch processor's work behind
/// the log (see `PipelineGraph`).
public final class SendingQueue: SpanConsumer, @unchecked Sendable {
    // @unchecked: every mutable field below is read and written only while
    // `condition` is locked (`writer` is set once, in init). The write-ahead
    // log and its writer are Sendable and lock for themselves.
    private struct Entry {
        var batch: SpanBatch
        /// Log records holding this batch (none for an in-memory queue).
        var sequences: [UInt64]
        /// This batch's place in `backlog` (several once coalesced).
        var tickets: [UnstoredBacklog.Ticket]
    }

    /// A batch on its way into the log.
    private struct Submission {
        var batch: SpanBatch
        var ticket: UnstoredBacklog.Ticket
        /// Settled when the record is written (or not).
        var receipt: WriteReceipt
        /// Its client was answered already (no offer waits for it).
        var acknowledged: Bool
    }

    private let condition = ThreadCondition()
    private var batches: [Entry] = []
    private var head = 0
    private var stats = SendingQueueStats()
    private var closing = false
    private var abandoned = false
    private var liveConsumers = 0
    private var backlog = UnstoredBacklog()
    private var watermarkObservers: [@Sendable () -> Void] = []
    /// Batches handed to the log's writer and not yet written (or failed):
    /// consumers do not finish a shutdown drain before these are queued.
    private var unwritten = 0
    /// Writes the log in groups, off the receivers' threads (persistent only).
    private var writer: GroupCommitWriter<Submission>?

    /// What the consumers call; a reload may replace it (`replaceExporter`).
    private let currentExporter: Mutex<any SpanExporter>
    public var exporter: any SpanExporter { currentExporter.withLock { $0 } }
    public let config: SendingQueueConfig
    public let retry: RetryPolicy
    private let logger: Logger
    private let persistence: QueuePersistence?
    /// Spans a consumer merges from queued batches into one export; 0 exports
    /// batches as they were queued.
    public let coalesceSpans: Int
    private let diskFullRefusals: Counter
    private let diskBytesGauge: Gauge

    public init(
        exporter: any SpanExporter, config: SendingQueueConfig, retry: RetryPolicy, logger: Logger,
        persistence: QueuePersistence? = nil, coalesceSpans: Int = 0
    ) {
        self.currentExporter = Mutex(exporter)
        self.config = config
        self.retry = retry
        var logger = logger
        logger[metadataKey: "exporter"] = "\(exporter.id)"
        self.logger = logger
        self.persistence = persistence
        self.coalesceSpans = coalesceSpans
        diskFullRefusals = Counter(label: "tracegate_persistent_queue_refused_total", dimensions: [("exporter", exporter.id)])
        diskBytesGauge = Gauge(label: "tracegate_persistent_queue_bytes", dimensions: [("exporter", exporter.id)])
        if let persistence {
            replay(persistence)
            // Weak: the queue owns the writer, and the writer thread holds
            // the writer only while it runs (start … shutdown).
            writer = GroupCommitWriter(log: persistence.log) { [weak self] group, outcome in self?.written(group, outcome) }
        }
    }

    /// Queues what the log recovered at open. Those spans were acknowledged
    /// before the restart, so they count against `queue_size` like new ones.
    private func replay(_ persistence: QueuePersistence) {
        var spans = 0
        for record in persistence.log.takeRecovered() {
            do {
                let batch = try persistence.codec.decode(record.payload)
                batches.append(Entry(batch: batch, sequences: [record.sequence], tickets: [backlog.admit(acceptedAt: nil)]))
                spans += batch.spanCount
            } catch {
                logger.error("persistent queue: a record passed its checksum but does not decode; skipped", metadata: ["error": "\(error)"])
                persistence.log.acknowledge(record.sequence)
            }
        }
        stats.queuedSpans += spans
        stats.reservedSpans += spans
        stats.diskBytes = persistence.log.diskBytes
        diskBytesGauge.record(stats.diskBytes)
        if spans > 0 { logger.info("persistent queue: replaying spans from before the restart", metadata: ["spans": "\(spans)"]) }
    }

    /// Reserves room for `count` spans; false when the queue is full or closing.
    public func tryReserve(_ count: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closing, stats.reservedSpans + count <= config.queueSize else {
            stats.refusedReservations += 1
            if !closing { refusedSince = min(refusedSince ?? count, count) }
            return false
        }
        if let persistence, persistence.log.isFull {
            stats.refusedReservations += 1
            stats.refusedDiskFull += 1
            diskFullRefusals.increment()
            return false
        }
        stats.reservedSpans += count
        refusedSince = nil
        return true
    }

    /// The smallest reservation refused for lack of room since the last one
    /// that succeeded (nil when the last one succeeded).
    private var refusedSince: Int?

    /// True when a request is bound to be refused, so that a receiver can
    /// refuse it before reading and decoding it: not even one more span
    /// fits, or a request was refused for lack of room and there is still no
    /// room for one of its size. (Under sustained overload that decodes one
    /// request per time the queue fills, not every request; one smaller than
    /// the refused one may be turned away early, which is only backpressure.)
    public var isFull: Bool {
        condition.lock()
        defer { condition.unlock() }
        if closing || stats.reservedSpans + (refusedSince ?? 1) > config.queueSize { return true }
        if let persistence, persistence.log.isFull {
            // Receivers ask this to refuse a request at its head: count that refusal.
            stats.refusedDiskFull += 1
            diskFullRefusals.increment()
            return true
        }
        return false
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
    ///
    /// A persistent queue frames the batch as a log record here, on the
    /// caller's thread, and hands it to its log's writer; the batch is queued
    /// for the consumers once its record is written. Inside an offer (a
    /// receiver's request, `WriteReceipt.current`) this returns at once and
    /// the offer's answer waits for the write; elsewhere (a processor
    /// releasing spans it held) it returns after the write, as before.
    public func consume(_ batch: SpanBatch) {
        let count = batch.spanCount
        guard count > 0 else { return }
        guard let persistence, let writer else {
            condition.lock()
            batches.append(Entry(batch: batch, sequences: [], tickets: [backlog.admit(acceptedAt: .now)]))
            stats.queuedSpans += count
            condition.signal()
            condition.unlock()
            return
        }
        let offer = WriteReceipt.current
        let request = persistence.codec.recordsAreOTLPRequests ? offer?.requestBytes(for: batch) : nil
        let record = WriteAheadLog.frame(request ?? persistence.codec.encode(batch))
        let receipt = offer ?? WriteReceipt()
        condition.lock()
        let ticket = backlog.admit(acceptedAt: .now)
        unwritten += 1
        condition.unlock()
        receipt.expect()
        writer.submit(record, Submission(batch: batch, ticket: ticket, receipt: receipt, acknowledged: offer == nil))
        if offer == nil { _ = receipt.waitUntilSettled() }
    }

    /// The writer's report on a group of records (on its thread, or on the
    /// submitter's when no writer runs): queue what is in the log, then
    /// answer the offers that wait for it.
    private func written(_ group: [Submission], _ outcome: Result<[UInt64], WriteAheadLog.OpenError>) {
        guard let persistence else { return }
        var failure: String? = nil
        var moved = false
        var kept = 0
        condition.lock()
        switch outcome {
        case .success(let sequences):
            for (submission, sequence) in zip(group, sequences) {
                batches.append(Entry(batch: submission.batch, sequences: [sequence], tickets: [submission.ticket]))
                stats.queuedSpans += submission.batch.spanCount
            }
        case .failure(let error):
            failure = error.description
            for submission in group {
                if submission.acknowledged {
                    // Its client was answered before this write (a processor
                    // held the spans): keep them, in memory only.
                    batches.append(Entry(batch: submission.batch, sequences: [], tickets: [submission.ticket]))
                    stats.queuedSpans += submission.batch.spanCount
                    kept += submission.batch.spanCount
                } else {
                    // Its client gets the error and retries: hold nothing.
                    stats.reservedSpans -= submission.batch.spanCount
                    if backlog.finish(submission.ticket) { moved = true }
                }
            }
            stats.failedWrites += 1
        }
        unwritten -= group.count
        stats.diskBytes = persistence.log.diskBytes
        let diskBytes = stats.diskBytes
        let observers = moved ? watermarkObservers : []
        condition.broadcast()
        condition.unlock()
        diskBytesGauge.record(diskBytes)
        if let failure {
            logger.error(
                "persistent queue: cannot write; requests waiting for this write are refused, spans already acknowledged are kept in memory only",
                metadata: ["error": "\(failure)", "requests": "\(group.count)", "kept_spans": "\(kept)"])
        }
        for submission in group { submission.receipt.settle(failure: failure) }
        for observer in observers { observer() }
    }

    /// When the oldest acknowledged span this queue has not finished with
    /// was accepted (see `UnstoredBacklog`): conclusions wait for it.
    public var watermark: UnstoredBacklog.Watermark {
        condition.lock()
        defer { condition.unlock() }
        return backlog.watermark
    }

    /// Calls `observer` (on a consumer thread, no lock held) each time the
    /// watermark moves, so that a store holding conclusions wakes then
    /// instead of polling. Register before `start`.
    public func onWatermarkMoved(_ observer: @escaping @Sendable () -> Void) {
        condition.lock()
        watermarkObservers.append(observer)
        condition.unlock()
    }

    public var currentStats: SendingQueueStats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// Hands what is queued, and everything queued from now on, to
    /// `exporter` instead (a reload that changed an exporter whose persistent
    /// queue it keeps). An export in progress finishes with the old one.
    public func replaceExporter(_ exporter: any SpanExporter) {
        currentExporter.withLock { $0 = exporter }
    }

    /// Starts the consumer threads, and the log's writer thread of a persistent queue.
    public func start() {
        condition.lock()
        liveConsumers = config.numConsumers
        condition.unlock()
        if let writer {
            writer.start()
            startThread(name: "tg-wal-\(exporter.id)") { writer.run() }
        }
        for i in 0..<config.numConsumers {
            startThread(name: "tg-\(exporter.id)-\(i)") { [self] in self.consumerLoop() }
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
        // A consumer blocked inside the exporter (a downstream that accepts
        // and never answers, until the exporter's own timeout) cannot be
        // interrupted: give it a moment, then leave it to the process exit
        // rather than hold the whole shutdown hostage.
        let grace = ContinuousClock.now + .seconds(1)
        while !consumersFinished && ContinuousClock.now < grace { try? await Task.sleep(for: .milliseconds(5)) }
        let stuck = !consumersFinished
        if lost > 0 && persistence != nil {
            logger.warning("shutdown deadline passed; spans not exported stay in the persistent queue for the next start", metadata: ["spans": "\(lost)"])
        } else if lost > 0 {
            logger.error("shutdown deadline passed with spans not exported", metadata: ["spans": "\(lost)"])
        }
        if stuck {
            // close() would free what the blocked export still uses.
            logger.error("an export is still blocked in the exporter after the shutdown deadline; not waiting for it")
            return
        }
        exporter.close()
    }

    private func beginClosing() {
        condition.lock()
        closing = true
        condition.broadcast()
        condition.unlock()
        // Writes what it holds, then ends; the consumers drain those too.
        writer?.stop()
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
        while let entry = nextBatch() {
            let finished = deliver(entry.batch)
            if let persistence, finished {
                // Outside `condition`: the cursor's I/O has locks of its own.
                persistence.log.acknowledge(entry.sequences)
            }
            condition.lock()
            stats.reservedSpans -= entry.batch.spanCount
            if let persistence, finished {
                stats.diskBytes = persistence.log.diskBytes
                diskBytesGauge.record(stats.diskBytes)
            }
            // Given up on (dropped, or left in the log at shutdown) counts as
            // finished too: nothing will store those spans in this process.
            var moved = false
            for ticket in entry.tickets where backlog.finish(ticket) { moved = true }
            let observers = moved ? watermarkObservers : []
            condition.unlock()
            for observer in observers { observer() }
        }
        condition.lock()
        liveConsumers -= 1
        condition.broadcast()
        condition.unlock()
    }

    private func nextBatch() -> Entry? {
        condition.lock()
        defer { condition.unlock() }
        while head == batches.count && (!closing || unwritten > 0) { condition.wait() }
        guard head < batches.count, !abandoned else { return nil }
        var batch = batches[head]
        batches[head] = Entry(batch: SpanBatch(), sequences: [], tickets: [])
        head += 1
        while coalesceSpans > 0, head < batches.count, batch.batch.spanCount + batches[head].batch.spanCount <= coalesceSpans {
            batch.batch.append(contentsOf: batches[head].batch)
            batch.sequences += batches[head].sequences
            batch.tickets += batches[head].tickets
            batches[head] = Entry(batch: SpanBatch(), sequences: [], tickets: [])
            head += 1
        }
        if head > 1024 && head * 2 > batches.count {
            batches.removeFirst(head)
            head = 0
        }
        stats.queuedSpans -= batch.batch.spanCount
        return batch
    }

    /// Exports a batch, retrying as the policy says. False when shutdown cut
    /// the retries short: a persistent queue keeps those spans for the next start.
    private func deliver(_ batch: SpanBatch) -> Bool {
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
                return true
            } catch {
                condition.lock()
                stats.failedAttempts += 1
                condition.unlock()
                let elapsed = ContinuousClock.now - started
                let outOfTime = retry.maxElapsedTime > .zero && elapsed >= retry.maxElapsedTime
                if !error.retryable || !retry.enabled || outOfTime {
                    drop(count, because: error.message, retryable: error.retryable)
                    return true
                }
                var wait = retry.delay(afterAttempt: attempt, using: &rng)
                if let hint = error.retryAfter, hint > wait { wait = hint }
                attempt += 1
                logger.warning(
                    "export failed, will retry",
                    metadata: ["error": "\(error.message)", "spans": "\(count)", "retry_in": "\(wait)", "attempt": "\(attempt)"])
                if !sleep(for: wait) {
                    if persistence != nil {
                        logger.warning("shutdown deadline passed while retrying; the spans stay in the persistent queue for the next start", metadata: ["spans": "\(count)"])
                        return false
                    }
                    drop(count, because: "shutdown deadline passed while retrying: \(error.message)", retryable: true)
                    return false
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
        let until = ContinuousClock.now + duration
        condition.lock()
        defer { condition.unlock() }
        while !abandoned {
            if !condition.wait(until: until) { return true }
        }
        return false
    }
}
