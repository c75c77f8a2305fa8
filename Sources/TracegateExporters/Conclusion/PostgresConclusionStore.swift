#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
import TracegateCore

/// The `postgres` store. Conclusion is decided by the `traces` table that the
/// postgres exporter of the same pipeline keeps: this store only remembers,
/// per trace it saw, when it may be due (`ConclusionTracker`), so that it can
/// ask the database at that very moment instead of sweeping. When a timer
/// fires, one statement concludes the trace if its `last_activity_at` (the
/// gateway clock of its last stored span) is really older than the window
/// and inserts its outbox row; otherwise the timer is set again to when the
/// database says it will be due (a later span, possibly through another
/// replica; or spans not stored yet). A sweep over `traces_open_by_activity`
/// every `sweep_interval` concludes what no timer covers (after a restart, or
/// when the replica that received a trace is gone).
///
/// Backlogs: while the postgres exporters of the pipeline hold acknowledged
/// spans not stored yet (queued, retrying through an outage, replayed from a
/// persistent queue), both the timers and the SQL measure inactivity against
/// the acceptance of the oldest of them rather than the clock
/// (`ConclusionHorizon`): the window passed to the database grows by the
/// horizon's lag, and nothing concludes while spans of unknown age wait. The
/// queues wake the tracking loop when their watermark moves.
///
/// Delivery: `workers` loops each lock up to `batch_size` due outbox rows
/// with `FOR UPDATE SKIP LOCKED` in a transaction, POST them, and delete them
/// (2xx), reschedule them, or move them to `notification_dead_letters`,
/// before committing; each 2xx is also recorded at once in
/// `notification_delivered` (another connection), which claims skip.
/// Replicas sharing the database never send the same row at once; a replica
/// killed mid-POST leaves that one request to be sent again (same
/// `Idempotency-Key`).
final class PostgresConclusionStore: ConclusionStore {
    /// How long opening a connection may take before the round counts as a
    /// database error (retried `ConclusionTracker.retryAfterDatabaseError`
    /// later); `tracegate notifications` uses it too. A server that takes
    /// longer to accept is as good as down.
    static let connectTimeout = Duration.seconds(5)
    /// Concluded traces per sweep statement; the sweep repeats until a
    /// statement concludes fewer. Bounds one transaction's row locks.
    static let tracesPerSweepStatement = 2000
    /// Idle delivery loops look for rows that other replicas concluded this
    /// often. Rows this replica concludes wake them at once; a retry wakes
    /// them when its `next_attempt_at` comes (`ConclusionSQL.nextAttempt`).
    static let longestIdleDeliveryWait = Duration.milliseconds(500)
    /// Requests sent per claim: fewer transactions per notification. Each
    /// 2xx is recorded in `notification_delivered` at once, so a process
    /// killed mid-claim re-sends only the request that was in flight.
    static let requestsPerClaim = 8

    private let id: String
    private let config: ConclusionExporterConfig
    private let logger: Logger
    private let metrics: ConclusionMetrics
    private let loops: StoreLoops
    private let tracker: Mutex<ConclusionTracker>

    init(
        id: String, config: ConclusionExporterConfig, logger: Logger, metrics: ConclusionMetrics, backlogs: BacklogWatch,
        clock: any WaitClock
    ) {
        self.id = id
        self.config = config
        self.logger = logger
        self.metrics = metrics
        self.loops = StoreLoops(workers: config.workers, clock: clock, backlogs: backlogs, metrics: metrics)
        self.tracker = Mutex(ConclusionTracker(settings: .init(config), now: clock.now))
    }

    func observe(_ batch: SpanBatch) {
        var ids: Set<TraceID> = []
        var roots: [TraceID] = []
        for rs in batch.resourceSpans {
            for ss in rs.scopeSpans {
                for span in ss.spans {
                    ids.insert(span.traceID)
                    if span.parentSpanID == nil { roots.append(span.traceID) }
                }
            }
        }
        let now = loops.clock.now
        let (wake, open) = tracker.withLock { t in (t.observe(traces: ids, roots: roots, now: now), t.openCount) }
        metrics.open.record(open)
        if wake { loops.tracker.signal() }
    }

    func run() async {
        await loops.run(track: { [self] in await trackLoop() }, deliver: { [self] i in await deliverLoop(i) })
    }

    func stop() { loops.stop() }

    // MARK: - Conclusion

    private func trackLoop() async {
        var connection: PGConnection? = nil
        while !loops.isStopping {
            let (now, horizon) = loops.horizon()
            switch tracker.withLock({ $0.nextStep(now: now, horizon: horizon) }) {
            case .wait(let until):
                await loops.tracker.wait(until: until)
            case .conclude(let work):
                let open = connection
                let round = await loops.blocking { [self] () -> (PGConnection?, PostgresError?) in
                    do throws(PostgresError) {
                        let c: PGConnection
                        if let open { c = open } else { c = try connect() }
                        do throws(PostgresError) {
                            try conclude(work, c)
                            return (c, nil)
                        } catch {
                            return (c, error)
                        }
                    } catch {
                        return (nil, error)
                    }
                }
                guard let round else { return }
                let (c, failure) = round
                connection = c?.isHealthy == true ? c : nil
                if let failure {
                    logger.warning("trace conclusion failed; retrying", metadata: ["error": "\(failure)"])
                    tracker.withLock { $0.failed(work, now: loops.clock.now) }
                }
            }
        }
    }

    private func connect() throws(PostgresError) -> PGConnection {
        let c = try PGConnection(dsn: config.dsn, connectTimeout: Self.connectTimeout)
        let ready = try c.execute("SELECT to_regclass('notification_outbox') IS NOT NULL", context: "checking the notification outbox")
        guard ready.first?.first == "t" else {
            throw PostgresError(
                code: .schemaMissing, message: "table notification_outbox does not exist (migration 4); the postgres exporter applies it at start, or run `tracegate migrate up`",
                context: "checking the notification outbox")
        }
        return c
    }

    /// The windows in seconds, each grown by `hold`, the horizon's lag.
    private func seconds(hold: Duration) -> (inactivity: String, maxWait: String) {
        ("\((config.inactivity + hold).timeInterval)", "\((config.maxWait + hold).timeInterval)")
    }

    private static func hexList(_ ids: [TraceID]) -> String { "{" + ids.map(\.hex).joined(separator: ",") + "}" }

    /// One round of `work` with the database (on a pool thread).
    private func conclude(_ work: ConclusionTracker.Work, _ c: PGConnection) throws(PostgresError) {
        if !work.due.isEmpty { try conclude(work.due, early: work.early, c, hold: work.hold) }
        if work.sweep { try sweep(c, hold: work.hold) }
    }

    private func conclude(_ due: [TraceID], early: [TraceID], _ c: PGConnection, hold: Duration) throws(PostgresError) {
        let seconds = seconds(hold: hold)
        let renotify = config.lateSpans == .renotify ? "true" : "false"
        let concluded = try c.execute(
            ConclusionSQL.concludeIDs, parameters: [Self.hexList(due), seconds.inactivity, seconds.maxWait, id, renotify, Self.hexList(early)],
            context: "concluding traces")
        record(concluded)
        let done = Set(concluded.compactMap { $0[0] })
        let rest = due.filter { !done.contains($0.hex) }
        guard !rest.isEmpty else { return }
        let rows = try c.execute(
            ConclusionSQL.state, parameters: [Self.hexList(rest), seconds.inactivity, seconds.maxWait, renotify], context: "reading trace activity")
        let states = rows.compactMap { row -> ConclusionTracker.RowState? in
            guard let hex = row[0], let trace = TraceID(hex: hex) else { return nil }
            let remaining = Double(row[3] ?? "") ?? 0
            return ConclusionTracker.RowState(trace: trace, closed: row[1] == "t", late: row[2] == "t", remaining: .seconds(remaining))
        }
        let (late, open) = tracker.withLock { t in (t.checked(notConcluded: rest, rows: states, now: loops.clock.now), t.openCount) }
        if config.lateSpans == .ignore { metrics.lateTraces.increment(by: late) }
        metrics.open.record(open)
    }

    private func sweep(_ c: PGConnection, hold: Duration) throws(PostgresError) {
        let seconds = seconds(hold: hold)
        try c.execute(ConclusionSQL.cleanDelivered, context: "removing notifications delivered before a crash")
        let limit = Self.tracesPerSweepStatement
        while !loops.isStopping {
            let rows = try c.execute(
                ConclusionSQL.concludeSweep, parameters: ["\(limit)", seconds.inactivity, seconds.maxWait, id], context: "sweeping open traces")
            record(rows)
            if rows.count < limit { return }
        }
    }

    private func record(_ concluded: [[String?]]) {
        guard !concluded.isEmpty else { return }
        let complete = concluded.filter { $0[1] == "true" }.count
        metrics.concluded(complete: true, count: complete)
        metrics.concluded(complete: false, count: concluded.count - complete)
        metrics.lateTraces.increment(by: concluded.filter { $0[2] == "t" }.count)
        let traces = concluded.compactMap { $0[0].flatMap(TraceID.init(hex:)) }
        tracker.withLock { $0.concluded(traces) }
        loops.wakeDeliverers()
    }

    // MARK: - Delivery

    /// The connections and HTTP handle of one delivery loop; used by one
    /// pool thread at a time (the loop awaits each round before the next).
    private final class Deliverer: @unchecked Sendable {
        let sender: NotificationSender
        var connection: PGConnection?
        var marks: PGConnection?

        init(sender: NotificationSender) { self.sender = sender }
    }

    /// How one delivery round ended.
    private enum Round: Sendable {
        case claimed
        /// Nothing due; the next retry waits this long (nil: none).
        case idle(nextAttempt: Duration?)
        case failed(PostgresError)
    }

    private func deliverLoop(_ index: Int) async {
        let deliverer = Deliverer(sender: NotificationSender(endpoint: config.endpoint, timeout: config.timeout))
        let wake = loops.deliverers
        while !loops.isStopping {
            guard let round = await loops.blocking({ [self] in deliverRound(deliverer) }) else { return }
            switch round {
            case .claimed: continue
            case .idle(let nextAttempt):
                await wake[index].wait(until: loops.clock.now + min(Self.longestIdleDeliveryWait, nextAttempt ?? Self.longestIdleDeliveryWait))
            case .failed(let error):
                logger.warning("notification delivery: database error; retrying", metadata: ["error": "\(error)"])
                await wake[index].wait(until: loops.clock.now + ConclusionTracker.retryAfterDatabaseError)
            }
        }
    }

    /// One claim on a pool thread, with the loop's connections.
    private func deliverRound(_ d: Deliverer) -> Round {
        do throws(PostgresError) {
            let c: PGConnection
            if let open = d.connection { c = open } else { c = try connect() }
            d.connection = c
            let m: PGConnection
            if let open = d.marks, open.isHealthy { m = open } else { m = try connect() }
            d.marks = m
            return try deliverOnce(c, marks: m, d.sender)
        } catch {
            if let c = d.connection, c.isHealthy { _ = try? c.execute("ROLLBACK", context: "delivery") } else { d.connection = nil }
            return .failed(error)
        }
    }

    /// One claim, start to commit.
    private func deliverOnce(_ c: PGConnection, marks: PGConnection, _ sender: NotificationSender) throws(PostgresError) -> Round {
        try c.execute("BEGIN", context: "claiming notifications")
        let limit = config.batchSize * Self.requestsPerClaim
        let rows = try c.execute(ConclusionSQL.claim, parameters: [id, "\(limit)"], context: "claiming notifications")
        guard !rows.isEmpty else {
            let next = try c.execute(ConclusionSQL.nextAttempt, parameters: [id], context: "claiming notifications")
            try c.execute("COMMIT", context: "claiming notifications")
            return .idle(nextAttempt: next.first?.first.flatMap { $0 }.flatMap(Double.init).map { .seconds(max(0, $0)) })
        }
        var claim = NotificationClaim(rows: rows, batchSize: config.batchSize)
        if !claim.unreadable.isEmpty {
            try c.execute(ConclusionSQL.bury, parameters: [Self.idList(claim.unreadable), "payload is not a notification"], context: "dead letters")
        }
        if let when = config.when {
            // Traces `when` leaves out are concluded, not sent: their rows go.
            let dropped = try claim.keep { item throws(PostgresError) in try matches(when, item.conclusion, c) }
            if !dropped.isEmpty {
                try c.execute(ConclusionSQL.deleteDelivered, parameters: [Self.idList(dropped)], context: "dropping notifications when leaves out")
                metrics.filtered.increment(by: dropped.count)
            }
        }
        var rng = SystemRandomNumberGenerator()
        while !loops.isStopping, let group = claim.nextGroup(now: loops.clock.now) {
            let outcome = try send(group, c, sender)
            let writes = claim.finish(group, outcome, now: loops.clock.now, policy: config.retry, using: &rng)
            try record(writes, of: outcome, c, marks: marks)
        }
        if !claim.delivered.isEmpty {
            try c.execute(ConclusionSQL.deleteDelivered, parameters: [Self.idList(claim.delivered.map(\.id))], context: "marking notifications delivered")
        }
        try c.execute("COMMIT", context: "recording deliveries")
        if !claim.delivered.isEmpty {
            metrics.delivered.increment(by: claim.delivered.count)
            let wall = Date().timeIntervalSince1970
            for item in claim.delivered { metrics.latency.recordNanoseconds(Int64((wall - item.lastActivity) * 1e9)) }
        }
        return .claimed
    }

    private static func idList(_ ids: [String]) -> String { "{" + ids.joined(separator: ",") + "}" }

    /// Whether `when` lets a trace through; its `attribute` tests ask the
    /// trace's stored spans, each once.
    private func matches(_ when: NotificationCondition, _ conclusion: TraceConclusion, _ c: PGConnection) throws(PostgresError) -> Bool {
        var answers: [AttributeTest: Bool] = [:]
        var failure: PostgresError?
        let matches = when.matches(conclusion) { test in
            if let known = answers[test] { return known }
            do throws(PostgresError) {
                let rows = try c.execute(
                    ConclusionSQL.traceHasAttribute, parameters: [conclusion.traceID, test.key, test.value],
                    context: "checking a trace's attributes for when")
                answers[test] = rows.first?.first == "t"
            } catch {
                failure = error
                answers[test] = false
            }
            return answers[test]!
        }
        if let failure { throw failure }
        return matches
    }

    /// POSTs one request (with the spans stored by now, for `include: [spans]`).
    private func send(_ group: [NotificationClaim.Item], _ c: PGConnection, _ sender: NotificationSender) throws(PostgresError) -> DeliveryOutcome {
        var conclusions = group.map(\.conclusion)
        if config.includeSpans {
            // Read at each attempt: a retry carries the spans stored by then.
            let share = config.maxBodySize / max(1, conclusions.count)
            for i in conclusions.indices {
                let rows = try c.execute(
                    StoredSpans.sql, parameters: ["{\(conclusions[i].traceID)}"], context: "reading the spans of a concluded trace")
                (conclusions[i].spans, conclusions[i].spansTruncated) = OTLPTraceWriter.tracesData(rows, maxSpanBytes: share)
            }
        }
        let outcome = sender.send(NotificationRequest.make(conclusions, config: config))
        if outcome == .delivered { metrics.attemptsDelivered.increment() } else { metrics.attemptsFailed.increment() }
        return outcome
    }

    /// Writes one request's outcome: 2xx marked delivered at once (another
    /// connection, committed now), retries and dead letters in the claim's
    /// transaction.
    private func record(_ writes: NotificationClaim.Writes, of outcome: DeliveryOutcome, _ c: PGConnection, marks: PGConnection) throws(PostgresError) {
        if !writes.delivered.isEmpty {
            // Durable at once: if this process dies before the claim
            // commits, nobody sends these again.
            do throws(PostgresError) {
                try marks.execute(ConclusionSQL.markDelivered, parameters: [Self.idList(writes.delivered.map(\.id))], context: "marking notifications delivered")
            } catch {
                logger.warning("cannot mark notifications delivered ahead of the commit", metadata: ["error": "\(error)"])
            }
        }
        for retry in writes.retries {
            try c.execute(ConclusionSQL.retry, parameters: [retry.id, "\(retry.wait.timeInterval)", retry.error], context: "scheduling a retry")
        }
        guard case .failed(let message, _, _) = outcome else { return }
        if !writes.dead.isEmpty {
            try c.execute(ConclusionSQL.bury, parameters: [Self.idList(writes.dead), message], context: "dead letters")
            metrics.deadLetters.increment(by: writes.dead.count)
            logger.error("notification given up; moved to notification_dead_letters", metadata: ["traces": "\(writes.dead.count)", "error": "\(message)"])
        } else {
            logger.warning("notification failed, will retry", metadata: ["error": "\(message)", "traces": "\(writes.retries.count)"])
        }
    }
}
