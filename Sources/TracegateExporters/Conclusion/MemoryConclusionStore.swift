import Logging
import TracegateCore

/// The `memory` store: summaries of open traces in this process
/// (`MemoryTraceTable`), notifications queued in memory and delivered by
/// `workers` threads, dead letters appended to `dead_letter_file`.
///
/// Nothing survives a restart: open traces and queued notifications are
/// lost (logged at shutdown). Waiting notifications are bounded by
/// `max_pending`; beyond it the oldest becomes a dead letter.
final class MemoryConclusionStore: ConclusionStore, @unchecked Sendable {
    // @unchecked: `table`, `ready`, `waiting` are touched only while
    // `threads.condition` is locked; the rest is immutable or thread-safe.
    private struct Pending {
        var conclusion: TraceConclusion
        var lastActivityUnixNano: UInt64
        var delivery = NotificationDelivery()
    }

    private let id: String
    private let config: ConclusionExporterConfig
    private let logger: Logger
    private let metrics: ConclusionMetrics
    private let threads = StoreThreads()
    private var table: MemoryTraceTable
    private var ready: [Pending] = []
    private var readyHead = 0
    private var waiting: [Pending] = []
    private let deadLetters: DeadLetterFile
    /// This exporter's own sending queue: spans it acknowledged and has not
    /// observed yet hold conclusions back (`ConclusionHorizon`).
    private let backlogs: BacklogWatch
    private let started = ContinuousClock.now

    init(id: String, config: ConclusionExporterConfig, logger: Logger, metrics: ConclusionMetrics, backlogs: BacklogWatch) {
        self.id = id
        self.backlogs = backlogs
        self.config = config
        self.logger = logger
        self.metrics = metrics
        self.table = MemoryTraceTable(
            inactivity: config.inactivity, maxWait: config.maxWait, maxTraces: config.maxTraces,
            renotify: config.lateSpans == .renotify, origin: .now, attributeTests: config.when?.attributeTests ?? [],
            concludeAfterRoot: config.concludeAfterRoot)
        self.deadLetters = DeadLetterFile(path: config.deadLetterFile)
    }

    func observe(_ batch: SpanBatch) {
        let now = ContinuousClock.now
        let wall = wallClockUnixNano()
        threads.condition.lock()
        let evictedBefore = table.evicted
        let lateBefore = table.lateTraces
        let early = table.observe(batch, now: now, wallUnixNano: wall)
        metrics.evicted.increment(by: table.evicted - evictedBefore)
        metrics.lateTraces.increment(by: table.lateTraces - lateBefore)
        enqueueLocked(early)
        metrics.open.record(table.openCount)
        // The tracker may be waiting with no deadline at all, or a later one.
        threads.condition.broadcast()
        threads.condition.unlock()
    }

    func start() {
        backlogs.onMoved { [threads] in threads.wakeAll() }
        var bodies: [(String, @Sendable () -> Void)] = [("tg-\(id)-timers", { [self] in trackLoop() })]
        for i in 0..<config.workers { bodies.append(("tg-\(id)-deliver-\(i)", { [self] in deliverLoop() })) }
        threads.start(bodies)
    }

    func requestStop() -> Bool {
        let done = threads.requestStop()
        if done {
            threads.condition.lock()
            let open = table.openCount
            let queued = ready.count - readyHead + waiting.count
            threads.condition.unlock()
            if open + queued > 0 {
                logger.warning("memory store stopped with traces open or notifications not delivered; they are lost", metadata: ["open_traces": "\(open)", "queued_notifications": "\(queued)"])
            }
        }
        return done
    }

    /// Call with the lock held.
    private func enqueueLocked(_ concluded: [MemoryTraceTable.Concluded]) {
        for c in concluded {
            metrics.concluded(complete: c.conclusion.complete)
            if let when = config.when, !when.matches(c.conclusion, hasAttribute: { c.matched.contains($0) }) {
                metrics.filtered.increment()
                continue
            }
            ready.append(Pending(conclusion: c.conclusion, lastActivityUnixNano: c.lastActivityUnixNano))
        }
        while ready.count - readyHead + waiting.count > config.maxPending, readyHead < ready.count {
            let oldest = ready[readyHead]
            readyHead += 1
            writeDead([oldest], attempts: oldest.delivery.attempts, error: "more than max_pending (\(config.maxPending)) notifications waiting")
        }
        if readyHead > 1024 && readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
    }

    private func trackLoop() {
        threads.condition.lock()
        defer { threads.condition.unlock() }
        while !threads.isStoppingLocked {
            let now = ContinuousClock.now
            let horizon = backlogs.horizon(now: now)
            metrics.recordHold(lag: horizon.lag(now: now) ?? (now - started))
            let due = horizon.instant.map { table.popDue(now: $0) } ?? []
            if !due.isEmpty {
                enqueueLocked(due)
                metrics.open.record(table.openCount)
                threads.condition.broadcast()
                continue
            }
            // Held: a deadline passed but unobserved spans are older than it.
            // The queue wakes this thread when its watermark moves.
            let wake = table.nextWake()
            if let wake, wake <= now { threads.waitLocked(until: nil) } else { threads.waitLocked(until: wake) }
        }
    }

    private func deliverLoop() {
        let sender = NotificationSender(endpoint: config.endpoint, timeout: config.timeout)
        var rng = SystemRandomNumberGenerator()
        while true {
            threads.condition.lock()
            var batch: [Pending] = []
            while batch.isEmpty && !threads.isStoppingLocked {
                batch = takeDueLocked(now: .now)
                if batch.isEmpty { threads.waitLocked(until: waiting.compactMap(\.delivery.nextTry).min()) }
            }
            threads.condition.unlock()
            if batch.isEmpty { return }
            let outcome = sender.send(NotificationRequest.make(batch.map(\.conclusion), config: config))
            let now = ContinuousClock.now
            var retry: [Pending] = []
            var dead: [Pending] = []
            for var p in batch {
                switch p.delivery.finish(outcome, now: now, policy: config.retry, using: &rng) {
                case .delivered:
                    metrics.delivered.increment()
                    metrics.latency.recordNanoseconds(Int64(wallClockUnixNano()) - Int64(p.lastActivityUnixNano))
                case .waiting: retry.append(p)
                default: dead.append(p)
                }
            }
            if outcome == .delivered { metrics.attemptsDelivered.increment() } else { metrics.attemptsFailed.increment() }
            if case .failed(let message, _, _) = outcome, !retry.isEmpty {
                logger.warning("notification failed, will retry", metadata: ["error": "\(message)", "traces": "\(retry.count)"])
            }
            if !dead.isEmpty, case .failed(let message, _, _) = outcome {
                writeDead(dead, attempts: dead[0].delivery.attempts, error: message)
            }
            if !retry.isEmpty {
                threads.condition.lock()
                waiting.append(contentsOf: retry)
                threads.condition.broadcast()
                threads.condition.unlock()
            }
        }
    }

    /// Up to `batch_size` notifications that may be sent now, retries first.
    private func takeDueLocked(now: ContinuousClock.Instant) -> [Pending] {
        var out: [Pending] = []
        var i = 0
        while i < waiting.count && out.count < config.batchSize {
            if waiting[i].delivery.isDue(now: now) { out.append(waiting.remove(at: i)) } else { i += 1 }
        }
        while readyHead < ready.count && out.count < config.batchSize {
            out.append(ready[readyHead])
            readyHead += 1
        }
        for j in out.indices { _ = out[j].delivery.begin(now: now) }
        return out
    }

    private func writeDead(_ items: [Pending], attempts: Int, error: String) {
        metrics.deadLetters.increment(by: items.count)
        logger.error("notification given up; written to the dead-letter file", metadata: ["traces": "\(items.count)", "error": "\(error)", "file": "\(config.deadLetterFile)"])
        do {
            try deadLetters.append(items.map { DeadLetter(exporter: id, conclusion: $0.conclusion, attempts: attempts, lastError: error) })
        } catch {
            logger.error("cannot write the dead-letter file; notifications lost", metadata: ["file": "\(config.deadLetterFile)", "error": "\(error)"])
        }
    }
}

extension NotificationDelivery {
    fileprivate var nextTry: ContinuousClock.Instant? {
        if case .waiting(let until) = phase { return until }
        return nil
    }
}
