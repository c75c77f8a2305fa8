import Logging
import Synchronization
import Metrics

/// The `sending_queue` settings of an exporter.
public struct SendingQueueConfig: Sendable, Equatable {
    /// Exports in progress at once (each blocks a thread of the gateway's
    /// export pool while the exporter works).
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
public struct QueuePersistence: Sendable {
    public let log: WriteAheadLog
    public let codec: any SpanBatchCodec

    public init(log: WriteAheadLog, codec: any SpanBatchCodec) {
        self.log = log
        self.codec = codec
    }
}

/// A bounded queue in front of an exporter, drained by `num_consumers`
/// consumer tasks whose exports block a thread of the export pool
/// (`ExportThreadPool`: exporters block in C libraries; they must not run
/// on event loops or in the cooperative pool).
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
///
/// What to do is decided by a `SendingQueueStateMachine` behind one lock;
/// this class only carries its actions out: it calls the exporter, wakes
/// consumers (continuations, no polling), writes the log's cursor and logs.
public final class SendingQueue: SpanConsumer, Sendable {
    private typealias Machine = SendingQueueStateMachine

    /// A batch on its way into the log.
    private struct Submission: Sendable {
        var batch: SpanBatch
        var ticket: UnstoredBacklog.Ticket
        /// Settled when the record is written (or not).
        var receipt: WriteReceipt
        /// Its client was answered already (no offer waits for it).
        var acknowledged: Bool
    }

    /// What the lock guards: the state machine and what carries out its
    /// `wait` (the continuations of the consumers waiting for work).
    private struct State {
        var machine: Machine
        var waiting: [Machine.ConsumerID: CheckedContinuation<Machine.ConsumerAction?, Never>] = [:]
        var watermarkObservers: [@Sendable () -> Void] = []
        /// The task running the consumers; cancelled when retries are abandoned.
        var consumers: Task<Void, Never>?

        mutating func take(_ ids: [Machine.ConsumerID]) -> [CheckedContinuation<Machine.ConsumerAction?, Never>] {
            ids.compactMap { waiting.removeValue(forKey: $0) }
        }
    }

    private let state: Mutex<State>
    /// Signalled when the last consumer ends: what a drain waits for.
    private let consumersEnded = CompletionSignal()
    /// Writes the log in groups, off the receivers' threads (persistent only).
    /// Set once, in init, before the queue is shared (its completion needs
    /// the queue); never written again, so reading it needs no lock.
    private nonisolated(unsafe) var writer: GroupCommitWriter<Submission>?

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
    /// How long fewer than `coalesceSpans` queued spans wait for more
    /// before they are exported anyway; zero exports them at once.
    public let coalesceTimeout: Duration
    private let threads: ExportThreadPool
    /// `threads` was made for this queue alone: started and shut down with it.
    private let ownsThreads: Bool
    private let diskFullRefusals: Counter
    private let diskBytesGauge: Gauge

    /// `threads`: the gateway's export pool; nil gives the queue a pool of
    /// its own with a thread per consumer.
    public init(
        exporter: any SpanExporter, config: SendingQueueConfig, retry: RetryPolicy, logger: Logger,
        persistence: QueuePersistence? = nil, coalesceSpans: Int = 0, coalesceTimeout: Duration = .zero, threads: ExportThreadPool? = nil
    ) {
        self.currentExporter = Mutex(exporter)
        self.config = config
        self.retry = retry
        var logger = logger
        logger[metadataKey: "exporter"] = "\(exporter.id)"
        self.logger = logger
        self.persistence = persistence
        self.coalesceSpans = coalesceSpans
        self.coalesceTimeout = coalesceTimeout
        self.threads = threads ?? ExportThreadPool()
        self.ownsThreads = threads == nil
        diskFullRefusals = Counter(label: "tracegate_persistent_queue_refused_total", dimensions: [("exporter", exporter.id)])
        diskBytesGauge = Gauge(label: "tracegate_persistent_queue_bytes", dimensions: [("exporter", exporter.id)])
        var machine = Machine(
            capacity: config.queueSize, coalesceSpans: coalesceSpans, coalesceTimeout: coalesceTimeout, retry: retry, persistent: persistence != nil)
        if let persistence { Self.replay(persistence, into: &machine, logger: logger) }
        state = Mutex(State(machine: machine))
        if let persistence {
            diskBytesGauge.record(persistence.log.diskBytes)
            // Weak: the queue owns the writer, and the writer thread holds
            // the writer only while it runs (start … shutdown).
            writer = GroupCommitWriter(log: persistence.log) { [weak self] group, outcome in self?.written(group, outcome) }
        }
    }

    /// Queues what the log recovered at open. Those spans were acknowledged
    /// before the restart, so they count against `queue_size` like new ones.
    private static func replay(_ persistence: QueuePersistence, into machine: inout Machine, logger: Logger) {
        var spans = 0
        for record in persistence.log.takeRecovered() {
            do {
                let batch = try persistence.codec.decode(record.payload)
                machine.recover(batch, sequence: record.sequence)
                spans += batch.spanCount
            } catch {
                logger.error("persistent queue: a record passed its checksum but does not decode; skipped", metadata: ["error": "\(error)"])
                persistence.log.acknowledge(record.sequence)
            }
        }
        machine.recordDiskBytes(persistence.log.diskBytes)
        if spans > 0 { logger.info("persistent queue: replaying spans from before the restart", metadata: ["spans": "\(spans)"]) }
    }

    /// Reserves room for `count` spans; false when the queue is full or closing.
    public func tryReserve(_ count: Int) -> Bool {
        let log = persistence?.log
        let reservation = state.withLock { $0.machine.reserve(count, diskFull: log?.isFull ?? false) }
        if reservation == .refusedDiskFull { diskFullRefusals.increment() }
        return reservation == .reserved
    }

    /// True when a request is bound to be refused, so that a receiver can
    /// refuse it before reading and decoding it: not even one more span
    /// fits, or a request was refused for lack of room and there is still no
    /// room for one of its size. (Under sustained overload that decodes one
    /// request per time the queue fills, not every request; one smaller than
    /// the refused one may be turned away early, which is only backpressure.)
    public var isFull: Bool {
        let log = persistence?.log
        let fullness = state.withLock { $0.machine.fullness(diskFull: log?.isFull ?? false) }
        // Receivers ask this to refuse a request at its head: count that refusal.
        if fullness == .refusedDiskFull { diskFullRefusals.increment() }
        return fullness != .reserved
    }

    /// Gives back reserved room that will not be used (a processor dropped spans,
    /// or another pipeline refused the request).
    public func release(_ count: Int) {
        state.withLock { $0.machine.release(count) }
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
        guard batch.spanCount > 0 else { return }
        guard let persistence, let writer else {
            let (woken, timer) = state.withLock { s in (s.take(s.machine.enqueue(batch, acceptedAt: .now)), s.machine.timerToSet()) }
            for consumer in woken { consumer.resume(returning: nil) }
            setTimer(timer)
            return
        }
        let offer = WriteReceipt.current
        let request = persistence.codec.recordsAreOTLPRequests ? offer?.requestBytes(for: batch) : nil
        let record = WriteAheadLog.frame(request ?? persistence.codec.encode(batch))
        let receipt = offer ?? WriteReceipt()
        let ticket = state.withLock { $0.machine.submitToLog(acceptedAt: .now) }
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
        var kept = 0
        if case .failure(let error) = outcome { failure = error.description }
        let now = ContinuousClock.now
        let (woken, timer, observers, diskBytes) = state.withLock { s in
            var wake: [Machine.ConsumerID] = []
            var moved = false
            switch outcome {
            case .success(let sequences):
                for (submission, sequence) in zip(group, sequences) {
                    wake += s.machine.logWritten(submission.batch, ticket: submission.ticket, sequence: sequence, now: now)
                }
            case .failure:
                for submission in group {
                    // Acknowledged: its client was answered before this write
                    // (a processor held the spans): kept, in memory only.
                    // Otherwise its client gets the error and retries.
                    let outcome = s.machine.logWriteFailed(
                        submission.batch, ticket: submission.ticket, acknowledged: submission.acknowledged, now: now)
                    wake += outcome.wake
                    if outcome.watermarkMoved { moved = true }
                    if submission.acknowledged { kept += submission.batch.spanCount }
                }
                s.machine.countFailedWrite()
            }
            s.machine.recordDiskBytes(persistence.log.diskBytes)
            return (s.take(wake), s.machine.timerToSet(), moved ? s.watermarkObservers : [], s.machine.stats.diskBytes)
        }
        for consumer in woken { consumer.resume(returning: nil) }
        setTimer(timer)
        diskBytesGauge.record(diskBytes)
        if let failure {
            logger.error(
                "persistent queue: cannot write; requests waiting for this write are refused, spans already acknowledged are kept in memory only",
                metadata: ["error": "\(failure)", "requests": "\(group.count)", "kept_spans": "\(kept)"])
        }
        for submission in group { submission.receipt.settle(failure: failure) }
        for observer in observers { observer() }
    }

    /// Wakes a consumer at `due`, when the batches waiting for more spans
    /// are due (`coalesceTimeout`).
    private func setTimer(_ due: ContinuousClock.Instant?) {
        guard let due else { return }
        Task.detached(executorPreference: ConsumerExecutor.shared) { [weak self] in
            try? await Task.sleep(until: due, clock: .continuous)
            self?.timerFired()
        }
    }

    private func timerFired() {
        let (woken, timer) = state.withLock { s in (s.take(s.machine.timerFired(now: .now)), s.machine.timerToSet()) }
        for consumer in woken { consumer.resume(returning: nil) }
        setTimer(timer)
    }

    /// When the oldest acknowledged span this queue has not finished with
    /// was accepted (see `UnstoredBacklog`): conclusions wait for it.
    public var watermark: UnstoredBacklog.Watermark {
        state.withLock { $0.machine.backlog.watermark }
    }

    /// Calls `observer` (on an export thread or a consumer task, no lock
    /// held) each time the watermark moves, so that a store holding
    /// conclusions wakes then instead of polling. Register before `start`.
    public func onWatermarkMoved(_ observer: @escaping @Sendable () -> Void) {
        state.withLock { $0.watermarkObservers.append(observer) }
    }

    public var currentStats: SendingQueueStats {
        state.withLock { $0.machine.stats }
    }

    /// Hands what is queued, and everything queued from now on, to
    /// `exporter` instead (a reload that changed an exporter whose persistent
    /// queue it keeps). An export in progress finishes with the old one.
    public func replaceExporter(_ exporter: any SpanExporter) {
        currentExporter.withLock { $0 = exporter }
    }

    /// Starts the consumer tasks, and the log's writer thread of a persistent queue.
    public func start() {
        let count = config.numConsumers
        state.withLock { $0.machine.start(consumers: count) }
        if let writer {
            writer.start()
            startThread(name: "tg-wal-\(exporter.id)") { writer.run() }
        }
        if ownsThreads { threads.start(threads: count) }
        // Detached: consumers must not inherit the caller's task locals (an
        // offer's `WriteReceipt.current`) nor its cancellation.
        let consumers = Task.detached(executorPreference: ConsumerExecutor.shared) { [self] in
            await withDiscardingTaskGroup { group in
                for id in 0..<count { group.addTask { await self.runConsumer(id) } }
            }
        }
        state.withLock { $0.consumers = consumers }
    }

    /// Stops taking reservations, lets the consumers drain what is queued, and
    /// returns when they are done or at `deadline`, when retries are abandoned
    /// and whatever is left is logged as lost.
    public func shutdown(deadline: ContinuousClock.Instant) async {
        let woken = state.withLock { s in s.take(s.machine.beginDrain(deadline: deadline, now: .now)) }
        for consumer in woken { consumer.resume(returning: nil) }
        // Writes what it holds, then ends; the consumers drain those too.
        writer?.stop()
        var lost = 0
        var stuck = false
        drain: while true {
            let (step, woken, consumers) = state.withLock { s -> (Machine.DrainStep, [CheckedContinuation<Machine.ConsumerAction?, Never>], Task<Void, Never>?) in
                let step = s.machine.drainStep(now: .now)
                guard case .abandon(_, let wake) = step else { return (step, [], nil) }
                return (step, s.take(wake), s.consumers)
            }
            switch step {
            case .wait(let until):
                _ = await consumersEnded.wait(until: until)
            case .abandon:
                // Wakes consumers waiting to retry, and cancels exports that
                // have not reached a thread yet. An export inside the
                // exporter cannot be interrupted: it gets the grace period.
                consumers?.cancel()
                for consumer in woken { consumer.resume(returning: nil) }
            case .finished(let left):
                lost = left
                break drain
            case .stuck(let left):
                lost = left
                stuck = true
                break drain
            }
        }
        if lost > 0 && persistence != nil {
            logger.warning("shutdown deadline passed; spans not exported stay in the persistent queue for the next start", metadata: ["spans": "\(lost)"])
        } else if lost > 0 {
            logger.error("shutdown deadline passed with spans not exported", metadata: ["spans": "\(lost)"])
        }
        if stuck {
            // close() would free what the blocked export still uses; the
            // process exit ends it.
            logger.error("an export is still blocked in the exporter after the shutdown deadline; not waiting for it")
            return
        }
        exporter.close()
        if ownsThreads { await threads.shutdown() }
    }

    /// One consumer: takes exports until the queue is drained or abandoned.
    private func runConsumer(_ id: Machine.ConsumerID) async {
        var random = SystemRandomNumberGenerator()
        while let export = await nextExport(id) {
            await deliver(export, random: &random)
        }
    }

    /// The next export for consumer `id`, waiting (suspended, not polling)
    /// until there is one; nil when the consumer is to end.
    private func nextExport(_ id: Machine.ConsumerID) async -> Machine.Export? {
        while true {
            // Asked and, on `.wait`, registered under one lock: a batch
            // queued in between finds the continuation to resume.
            let action = await withCheckedContinuation { (continuation: CheckedContinuation<Machine.ConsumerAction?, Never>) in
                let (action, timer) = state.withLock { s in
                    let action = s.machine.nextExport(for: id, now: .now)
                    if case .wait = action { s.waiting[id] = continuation }
                    return (action, s.machine.timerToSet())
                }
                setTimer(timer)
                if case .wait = action { return }
                continuation.resume(returning: action)
            }
            switch action {
            case .export(let export)?:
                return export
            case .finish(let last)?:
                if last { consumersEnded.signal() }
                return nil
            case .wait?, nil:
                continue  // woken: ask again
            }
        }
    }

    /// Exports, retrying as the state machine schedules it, until the spans
    /// are stored, dropped, or (at shutdown) abandoned.
    private func deliver(_ export: Machine.Export, random: inout SystemRandomNumberGenerator) async {
        var export = export
        while true {
            let exporter = self.exporter
            let batch = export.batch
            let log = persistence?.log
            let sequences = export.sequences
            let failure: ExportFailure
            do {
                // The cursor is written on the export's thread too: it is I/O.
                try await threads.run {
                    try exporter.export(batch)
                    log?.acknowledge(sequences)
                }
                state.withLock { $0.machine.exportSucceeded(export) }
                finish(export, acknowledge: true, cursorWritten: true)
                return
            } catch let error as ExportFailure {
                failure = error
            } catch {
                // Cancelled before a thread took it: retries were abandoned.
                let abandonment = state.withLock { $0.machine.exportNotAttempted(export) }
                abandon(export, abandonment, reason: "shutdown deadline passed")
                return
            }
            let action = state.withLock { s in
                s.machine.exportFailed(export, retryable: failure.retryable, retryAfter: failure.retryAfter, now: .now, random: &random)
            }
            switch action {
            case .drop(let dropped):
                logger.error(
                    "dropping spans",
                    metadata: ["spans": "\(dropped.spanCount)", "reason": "\(failure.message)", "retryable": "\(failure.retryable)"])
                finish(dropped, acknowledge: true)
                return
            case .abandon(let abandoned, let abandonment):
                abandon(abandoned, abandonment, reason: "shutdown deadline passed while retrying: \(failure.message)")
                return
            case .retry(let next, let at, let delay):
                logger.warning(
                    "export failed, will retry",
                    metadata: ["error": "\(failure.message)", "spans": "\(next.spanCount)", "retry_in": "\(delay)", "attempt": "\(next.attempt)"])
                // Cut short by cancellation when shutdown abandons retries.
                try? await Task.sleep(until: at, clock: .continuous)
                switch state.withLock({ $0.machine.retryDue(next) }) {
                case .export(let again):
                    export = again
                case .abandon(let abandoned, let abandonment):
                    abandon(abandoned, abandonment, reason: "shutdown deadline passed while retrying: \(failure.message)")
                    return
                }
            }
        }
    }

    /// Shutdown cut an export short: a persistent queue keeps its spans in
    /// the log for the next start, an in-memory one drops them (counted).
    private func abandon(_ export: Machine.Export, _ abandonment: Machine.Abandonment, reason: String) {
        switch abandonment {
        case .keptInLog:
            logger.warning("shutdown deadline passed while retrying; the spans stay in the persistent queue for the next start", metadata: ["spans": "\(export.spanCount)"])
        case .dropped:
            logger.error("dropping spans", metadata: ["spans": "\(export.spanCount)", "reason": "\(reason)", "retryable": "true"])
        }
        finish(export, acknowledge: false)
    }

    /// The queue is done with `export`. `acknowledge`: stored or given up on
    /// for good, so its log records are marked exported (the cursor is
    /// written once for all of them; `cursorWritten`: that was done already);
    /// otherwise they stay for the next start.
    private func finish(_ export: Machine.Export, acknowledge: Bool, cursorWritten: Bool = false) {
        let log = acknowledge ? persistence?.log : nil
        // Outside the lock: the cursor's I/O has locks of its own.
        if !cursorWritten { log?.acknowledge(export.sequences) }
        let (observers, diskBytes) = state.withLock { s in
            // Given up on (dropped, or left in the log at shutdown) counts as
            // finished too: nothing will store those spans in this process.
            let moved = s.machine.finished(export)
            if let log { s.machine.recordDiskBytes(log.diskBytes) }
            return (moved ? s.watermarkObservers : [], log == nil ? nil : s.machine.stats.diskBytes)
        }
        if let diskBytes { diskBytesGauge.record(diskBytes) }
        for observer in observers { observer() }
    }
}
