#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import TracegateCore

/// The `postgres` store. Conclusion is decided by the `traces` table that the
/// postgres exporter of the same pipeline keeps: this store only remembers,
/// per trace it saw, when it may be due (`InactivityTimers`), so that it can
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
/// queues wake the timer thread when their watermark moves.
///
/// Delivery: `workers` threads each lock up to `batch_size` due outbox rows
/// with `FOR UPDATE SKIP LOCKED` in a transaction, POST them, and delete them
/// (2xx), reschedule them, or move them to `notification_dead_letters`,
/// before committing; each 2xx is also recorded at once in
/// `notification_delivered` (another connection), which claims skip.
/// Replicas sharing the database never send the same row at once; a replica
/// killed mid-POST leaves that one request to be sent again (same
/// `Idempotency-Key`).
final class PostgresConclusionStore: ConclusionStore, @unchecked Sendable {
    // @unchecked: `timers`, `absentSince` are touched only while
    // `threads.condition` is locked; the rest is immutable or thread-safe.
    private let id: String
    private let config: ConclusionExporterConfig
    private let logger: Logger
    private let metrics: ConclusionMetrics
    private let threads = StoreThreads()
    private var timers = InactivityTimers<TraceID>(granularity: .milliseconds(20))
    /// Traces whose row was not in `traces` yet when their timer fired.
    private var absentSince: [TraceID: ContinuousClock.Instant] = [:]
    /// `conclude_after_root`: when this replica received each open trace's
    /// root span. Such a trace may conclude that long after, if complete.
    private var rootArrived: [TraceID: ContinuousClock.Instant] = [:]
    /// How often idle deliverers look for rows other replicas concluded, or retries.
    private let pollInterval: Duration
    private let backlogs: BacklogWatch
    private let started = ContinuousClock.now

    init(id: String, config: ConclusionExporterConfig, logger: Logger, metrics: ConclusionMetrics, backlogs: BacklogWatch) {
        self.id = id
        self.backlogs = backlogs
        self.config = config
        self.logger = logger
        self.metrics = metrics
        self.pollInterval = min(.milliseconds(500), config.retry.initialInterval)
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
        let now = ContinuousClock.now
        let deadline = now + config.inactivity
        threads.condition.lock()
        let wasEmpty = timers.count == 0
        if config.concludeAfterRoot > .zero {
            for id in roots where rootArrived[id] == nil { rootArrived[id] = now }
        }
        for id in ids {
            let early = rootArrived[id].map { max(now, $0 + config.concludeAfterRoot) }
            timers.schedule(id, at: early.map { min($0, deadline) } ?? deadline)
            absentSince[id] = nil
        }
        metrics.open.record(timers.count)
        if wasEmpty { threads.condition.broadcast() }
        threads.condition.unlock()
    }

    func start() {
        backlogs.onMoved { [threads] in threads.wakeAll() }
        var bodies: [(String, @Sendable () -> Void)] = [("tg-\(id)-timers", { [self] in trackLoop() })]
        for i in 0..<config.workers { bodies.append(("tg-\(id)-deliver-\(i)", { [self] in deliverLoop() })) }
        threads.start(bodies)
    }

    func requestStop() -> Bool { threads.requestStop() }

    // MARK: - Conclusion

    private func trackLoop() {
        var connection: PGConnection? = nil
        var nextSweep = ContinuousClock.now
        while !threads.isStopping {
            let now = ContinuousClock.now
            let horizon = backlogs.horizon(now: now)
            let lag = horizon.lag(now: now)
            metrics.recordHold(lag: lag ?? (now - started))
            threads.condition.lock()
            let due = horizon.instant.map { timers.popExpired(now: $0, limit: 5000) } ?? []
            threads.condition.unlock()
            // Spans of unknown age wait: no trace may conclude, not even by the sweep.
            let sweepDue = now >= nextSweep && lag != nil
            if due.isEmpty && !sweepDue {
                threads.condition.lock()
                // Held timers (due by the clock, not by the horizon) wait for
                // the watermark to move, which wakes this thread.
                let timer = timers.nextWake().flatMap { $0 > now ? $0 : nil }
                let wake = [timer, nextSweep > now ? nextSweep : nil].compactMap { $0 }.min()
                threads.waitLocked(until: wake)
                threads.condition.unlock()
                continue
            }
            let window = lag?.timeInterval ?? 0
            do throws(PostgresError) {
                let c: PGConnection
                if let open = connection { c = open } else { c = try connect() }
                connection = c
                if !due.isEmpty { try conclude(due, c, hold: window) }
                if sweepDue {
                    nextSweep = now + config.sweepInterval
                    try sweep(c, hold: window)
                }
            } catch {
                logger.warning("trace conclusion failed; retrying", metadata: ["error": "\(error)"])
                if connection?.isHealthy != true { connection = nil }
                threads.condition.lock()
                for id in due { timers.schedule(id, at: .now + .seconds(1)) }
                threads.condition.unlock()
                nextSweep = .now + .seconds(1)
                threads.sleep(.seconds(1))
            }
        }
    }

    private func connect() throws(PostgresError) -> PGConnection {
        let c = try PGConnection(dsn: config.dsn, connectTimeout: .seconds(5))
        let ready = try c.execute("SELECT to_regclass('notification_outbox') IS NOT NULL", context: "checking the notification outbox")
        guard ready.first?.first == "t" else {
            throw PostgresError(
                code: .schemaMissing, message: "table notification_outbox does not exist (migration 4); the postgres exporter applies it at start, or run `tracegate migrate up`",
                context: "checking the notification outbox")
        }
        return c
    }

    /// The windows in seconds, each grown by `hold`, the horizon's lag.
    private func seconds(hold: Double) -> (inactivity: String, maxWait: String) {
        ("\(config.inactivity.timeInterval + hold)", "\(config.maxWait.timeInterval + hold)")
    }

    private func conclude(_ due: [TraceID], _ c: PGConnection, hold: Double) throws(PostgresError) {
        let seconds = seconds(hold: hold)
        let list = "{" + due.map(\.hex).joined(separator: ",") + "}"
        let renotify = config.lateSpans == .renotify ? "true" : "false"
        // Those whose root arrived conclude_after_root ago may conclude now if
        // complete; the horizon's lag holds them back like every window.
        let now0 = ContinuousClock.now - .milliseconds(Int64(hold * 1000))
        threads.condition.lock()
        let early = due.filter { rootArrived[$0].map { now0 >= $0 + config.concludeAfterRoot } ?? false }
        threads.condition.unlock()
        let earlyList = "{" + early.map(\.hex).joined(separator: ",") + "}"
        let concluded = try c.execute(
            ConclusionSQL.concludeIDs, parameters: [list, seconds.inactivity, seconds.maxWait, id, renotify, earlyList],
            context: "concluding traces")
        record(concluded)
        let done = Set(concluded.compactMap { $0[0] })
        let rest = due.filter { !done.contains($0.hex) }
        guard !rest.isEmpty else { return }
        let restList = "{" + rest.map(\.hex).joined(separator: ",") + "}"
        let rows = try c.execute(
            ConclusionSQL.state, parameters: [restList, seconds.inactivity, seconds.maxWait, renotify], context: "reading trace activity")
        var known: Set<String> = []
        let now = ContinuousClock.now
        threads.condition.lock()
        defer { threads.condition.unlock() }
        for row in rows {
            guard let hex = row[0], let trace = TraceID(hex: hex) else { continue }
            known.insert(hex)
            if row[2] == "t" && config.lateSpans == .ignore { metrics.lateTraces.increment() }
            if row[1] == "t" { rootArrived[trace] = nil }
            if row[1] == "t" || timers.deadline(of: trace) != nil { continue }
            let remaining = Double(row[3] ?? "") ?? 0
            // A row locked by a writer can be due already: look again shortly.
            timers.schedule(trace, at: now + .milliseconds(Int64(max(20, remaining * 1000))))
        }
        // Not stored yet (the postgres exporter's queue is behind): once it is,
        // its activity clock starts then, so polling at half the window costs
        // no latency. Given up after max_wait: the sweep still covers it.
        let poll = Duration.milliseconds(Int64(min(5000, max(100, config.inactivity.timeInterval * 500))))
        for trace in rest where !known.contains(trace.hex) && timers.deadline(of: trace) == nil {
            let since = absentSince[trace] ?? now
            if now - since > config.maxWait {
                absentSince[trace] = nil
                rootArrived[trace] = nil
                continue
            }
            absentSince[trace] = since
            timers.schedule(trace, at: now + poll)
        }
        metrics.open.record(timers.count)
    }

    private func sweep(_ c: PGConnection, hold: Double) throws(PostgresError) {
        let seconds = seconds(hold: hold)
        try c.execute(ConclusionSQL.cleanDelivered, context: "removing notifications delivered before a crash")
        let limit = 2000
        while !threads.isStopping {
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
        if config.concludeAfterRoot > .zero {
            threads.condition.lock()
            for row in concluded { if let hex = row[0], let trace = TraceID(hex: hex) { rootArrived[trace] = nil } }
            threads.condition.unlock()
        }
        threads.wakeAll()
    }

    // MARK: - Delivery

    private func deliverLoop() {
        let sender = NotificationSender(endpoint: config.endpoint, timeout: config.timeout)
        var connection: PGConnection? = nil
        var marks: PGConnection? = nil
        while !threads.isStopping {
            do throws(PostgresError) {
                let c: PGConnection
                if let open = connection { c = open } else { c = try connect() }
                connection = c
                let m: PGConnection
                if let open = marks, open.isHealthy { m = open } else { m = try connect() }
                marks = m
                if try !deliverOnce(c, marks: m, sender) {
                    threads.condition.lock()
                    threads.waitLocked(until: .now + pollInterval)
                    threads.condition.unlock()
                }
            } catch {
                logger.warning("notification delivery: database error; retrying", metadata: ["error": "\(error)"])
                if let c = connection, c.isHealthy { _ = try? c.execute("ROLLBACK", context: "delivery") } else { connection = nil }
                threads.sleep(.seconds(1))
            }
        }
    }

    /// Requests sent per claim: fewer transactions per notification. Each
    /// 2xx is recorded in `notification_delivered` at once, so a process
    /// killed mid-claim re-sends only the request that was in flight.
    static let requestsPerClaim = 8

    /// One claim, start to commit; false when nothing was due.
    private func deliverOnce(_ c: PGConnection, marks: PGConnection, _ sender: NotificationSender) throws(PostgresError) -> Bool {
        try c.execute("BEGIN", context: "claiming notifications")
        let limit = config.batchSize * Self.requestsPerClaim
        let rows = try c.execute(ConclusionSQL.claim, parameters: [id, "\(limit)"], context: "claiming notifications")
        guard !rows.isEmpty else {
            try c.execute("COMMIT", context: "claiming notifications")
            return false
        }
        var claimed: [Claimed] = []
        var unreadable: [String] = []
        for row in rows {
            guard let rowID = row[0], let text = row[1],
                let conclusion = try? JSONDecoder().decode(TraceConclusion.self, from: Data(text.utf8))
            else {
                if let rowID = row[0] { unreadable.append(rowID) }
                continue
            }
            claimed.append(
                Claimed(id: rowID, conclusion: conclusion, delivery: NotificationDelivery(attempts: Int(row[2] ?? "0") ?? 0), lastActivity: Double(row[3] ?? "0") ?? 0))
        }
        if !unreadable.isEmpty {
            try c.execute(ConclusionSQL.bury, parameters: ["{\(unreadable.joined(separator: ","))}", "payload is not a notification"], context: "dead letters")
        }
        if let when = config.when {
            // Traces `when` leaves out are concluded, not sent: their rows go.
            var kept: [Claimed] = []
            var dropped: [String] = []
            for item in claimed {
                var answers: [AttributeTest: Bool] = [:]
                var failure: PostgresError?
                let matches = when.matches(item.conclusion) { test in
                    if let known = answers[test] { return known }
                    do throws(PostgresError) {
                        let rows = try c.execute(
                            ConclusionSQL.traceHasAttribute, parameters: [item.conclusion.traceID, test.key, test.value],
                            context: "checking a trace's attributes for when")
                        answers[test] = rows.first?.first == "t"
                    } catch {
                        failure = error
                        answers[test] = false
                    }
                    return answers[test]!
                }
                if let failure { throw failure }
                if matches { kept.append(item) } else { dropped.append(item.id) }
            }
            if !dropped.isEmpty {
                try c.execute(ConclusionSQL.deleteDelivered, parameters: ["{\(dropped.joined(separator: ","))}"], context: "dropping notifications when leaves out")
                metrics.filtered.increment(by: dropped.count)
            }
            claimed = kept
        }
        var delivered: [Claimed] = []
        var start = 0
        while start < claimed.count && !threads.isStopping {
            let group = Array(claimed[start..<min(start + config.batchSize, claimed.count)])
            start += group.count
            let before = delivered.count
            let outcome = try send(group, c, sender, delivered: &delivered)
            if delivered.count > before {
                // Durable at once: if this process dies before the claim
                // commits, nobody sends these again.
                do throws(PostgresError) {
                    try marks.execute(
                        ConclusionSQL.markDelivered, parameters: ["{\(delivered[before...].map(\.id).joined(separator: ","))}"],
                        context: "marking notifications delivered")
                } catch {
                    logger.warning("cannot mark notifications delivered ahead of the commit", metadata: ["error": "\(error)"])
                }
            }
            // The endpoint is failing: leave the rest of the claim for later.
            if outcome != .delivered { break }
        }
        if !delivered.isEmpty {
            try c.execute(ConclusionSQL.deleteDelivered, parameters: ["{\(delivered.map(\.id).joined(separator: ","))}"], context: "marking notifications delivered")
        }
        try c.execute("COMMIT", context: "recording deliveries")
        if !delivered.isEmpty {
            metrics.delivered.increment(by: delivered.count)
            let wall = Date().timeIntervalSince1970
            for item in delivered { metrics.latency.recordNanoseconds(Int64((wall - item.lastActivity) * 1e9)) }
        }
        return true
    }

    private struct Claimed {
        var id: String
        var conclusion: TraceConclusion
        var delivery: NotificationDelivery
        var lastActivity: Double
    }

    /// POSTs one request and records its failures in the claim's transaction.
    private func send(_ group: [Claimed], _ c: PGConnection, _ sender: NotificationSender, delivered: inout [Claimed]) throws(PostgresError) -> DeliveryOutcome {
        var group = group
        let begun = ContinuousClock.now
        for i in group.indices { _ = group[i].delivery.begin(now: begun) }
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
        var rng = SystemRandomNumberGenerator()
        var dead: [String] = []
        let after = ContinuousClock.now
        for var item in group {
            switch item.delivery.finish(outcome, now: after, policy: config.retry, using: &rng) {
            case .delivered:
                delivered.append(item)
            case .waiting(let until):
                try c.execute(
                    ConclusionSQL.retry, parameters: [item.id, "\((until - after).timeInterval)", item.delivery.lastError ?? ""],
                    context: "scheduling a retry")
            default:
                dead.append(item.id)
            }
        }
        if case .failed(let message, _, _) = outcome {
            if !dead.isEmpty {
                try c.execute(ConclusionSQL.bury, parameters: ["{\(dead.joined(separator: ","))}", message], context: "dead letters")
                metrics.deadLetters.increment(by: dead.count)
                logger.error("notification given up; moved to notification_dead_letters", metadata: ["traces": "\(dead.count)", "error": "\(message)"])
            } else {
                logger.warning("notification failed, will retry", metadata: ["error": "\(message)", "traces": "\(group.count)"])
            }
        }
        return outcome
    }
}
