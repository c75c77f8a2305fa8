import Logging
import Synchronization
import TracegateCore

/// The `memory` store: summaries of open traces in this process
/// (`MemoryTraceTable`), notifications queued in memory (`MemoryOutbox`) and
/// delivered by `workers` loops, dead letters appended to `dead_letter_file`.
///
/// Nothing survives a restart: open traces and queued notifications are
/// lost (logged at shutdown). Waiting notifications are bounded by
/// `max_pending`; beyond it the oldest becomes a dead letter.
final class MemoryConclusionStore: ConclusionStore {
    private typealias Pending = MemoryOutbox.Pending

    private struct State {
        var table: MemoryTraceTable
        var outbox: MemoryOutbox
    }

    private let id: String
    private let config: ConclusionExporterConfig
    private let logger: Logger
    private let metrics: ConclusionMetrics
    private let loops: StoreLoops
    private let state: Mutex<State>
    private let deadLetters: DeadLetterFile

    init(
        id: String, config: ConclusionExporterConfig, logger: Logger, metrics: ConclusionMetrics, backlogs: BacklogWatch,
        clock: any WaitClock
    ) {
        self.id = id
        self.config = config
        self.logger = logger
        self.metrics = metrics
        self.loops = StoreLoops(workers: config.workers, clock: clock, backlogs: backlogs, metrics: metrics)
        let table = MemoryTraceTable(
            inactivity: config.inactivity, maxWait: config.maxWait, maxTraces: config.maxTraces,
            renotify: config.lateSpans == .renotify, origin: clock.now, attributeTests: config.when?.attributeTests ?? [],
            concludeAfterRoot: config.concludeAfterRoot)
        self.state = Mutex(State(table: table, outbox: MemoryOutbox(maxPending: config.maxPending, batchSize: config.batchSize)))
        self.deadLetters = DeadLetterFile(path: config.deadLetterFile)
    }

    func observe(_ batch: SpanBatch) {
        let now = loops.clock.now
        let wall = wallClockUnixNano()
        let (queued, pushedOut) = state.withLock { s in
            let evictedBefore = s.table.evicted
            let lateBefore = s.table.lateTraces
            let early = s.table.observe(batch, now: now, wallUnixNano: wall)
            metrics.evicted.increment(by: s.table.evicted - evictedBefore)
            metrics.lateTraces.increment(by: s.table.lateTraces - lateBefore)
            let result = enqueue(early, &s)
            metrics.open.record(s.table.openCount)
            return result
        }
        writePushedOut(pushedOut)
        // The tracker may be waiting with no deadline at all, or a later one.
        loops.tracker.signal()
        if queued { loops.wakeDeliverers() }
    }

    func run() async {
        await loops.run(track: { [self] in await trackLoop() }, deliver: { [self] i in await deliverLoop(i) })
        let (open, queued) = counts
        if open + queued > 0 {
            logger.warning(
                "memory store stopped with traces open or notifications not delivered; they are lost",
                metadata: ["open_traces": "\(open)", "queued_notifications": "\(queued)"])
        }
    }

    func stop() { loops.stop() }

    /// Open traces and notifications not delivered yet: what a stop loses.
    var counts: (open: Int, queued: Int) { state.withLock { s in (s.table.openCount, s.outbox.count) } }

    /// Counts concluded traces, keeps those `when` lets through; returns
    /// whether any was queued, and those pushed out past `max_pending`.
    private func enqueue(_ concluded: [MemoryTraceTable.Concluded], _ s: inout State) -> (queued: Bool, pushedOut: [Pending]) {
        var items: [Pending] = []
        for c in concluded {
            metrics.concluded(complete: c.conclusion.complete)
            if let when = config.when, !when.matches(c.conclusion, hasAttribute: { c.matched.contains($0) }) {
                metrics.filtered.increment()
                continue
            }
            items.append(Pending(conclusion: c.conclusion, lastActivityUnixNano: c.lastActivityUnixNano))
        }
        guard !items.isEmpty else { return (false, []) }
        return (true, s.outbox.add(items))
    }

    private func writePushedOut(_ items: [Pending]) {
        for item in items {
            writeDead([item], attempts: item.delivery.attempts, error: "more than max_pending (\(config.maxPending)) notifications waiting")
        }
    }

    private func trackLoop() async {
        while !loops.isStopping {
            let (now, horizon) = loops.horizon()
            // nil: traces concluded, look again at once.
            let (wait, pushedOut): (ContinuousClock.Instant??, [Pending]) = state.withLock { s in
                let due = horizon.instant.map { s.table.popDue(now: $0) } ?? []
                if !due.isEmpty {
                    let (_, pushedOut) = enqueue(due, &s)
                    metrics.open.record(s.table.openCount)
                    return (nil, pushedOut)
                }
                // Held: a deadline passed but unobserved spans are older than it.
                // The queue wakes this loop when its watermark moves.
                let wake = s.table.nextWake()
                if let wake, wake <= now { return (.some(nil), []) }
                return (.some(wake), [])
            }
            if let wait {
                await loops.tracker.wait(until: wait)
                continue
            }
            if !pushedOut.isEmpty { _ = await loops.blocking { [self] in writePushedOut(pushedOut) } }
            loops.wakeDeliverers()
        }
    }

    private func deliverLoop(_ index: Int) async {
        let sender = NotificationSender(endpoint: config.endpoint, timeout: config.timeout)
        while !loops.isStopping {
            let now = loops.clock.now
            let (batch, nextRetry) = state.withLock { s in
                let batch = s.outbox.take(now: now)
                return (batch, batch.isEmpty ? s.outbox.nextRetry : nil)
            }
            if batch.isEmpty {
                await loops.deliverers[index].wait(until: nextRetry)
                continue
            }
            guard let retry = await loops.blocking({ [self] in deliver(batch, sender) }) else { return }
            if !retry.isEmpty {
                state.withLock { $0.outbox.retry(retry) }
                // Others may sleep past the earliest retry now waiting.
                loops.wakeDeliverers()
            }
        }
    }

    /// One POST (on a pool thread); returns what waits for a retry.
    private func deliver(_ batch: [Pending], _ sender: NotificationSender) -> [Pending] {
        var rng = SystemRandomNumberGenerator()
        let outcome = sender.send(NotificationRequest.make(batch.map(\.conclusion), config: config))
        let now = loops.clock.now
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
        return retry
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
