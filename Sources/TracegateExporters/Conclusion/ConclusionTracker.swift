import TracegateCore

/// When the postgres store asks the database about which traces: the
/// timers of the traces this replica saw, the traces whose `traces` row was
/// not there yet (absent rows), the roots seen for `conclude_after_root`,
/// and the safety sweep. A pure value in the manner of postgres-nio's
/// `PoolStateMachine`: no clock, no locks, no I/O; callers pass `now` and the
/// horizon, perform the `Step` it returns, and report back
/// (`concluded`, `checked`, `failed`). The store keeps it behind a `Mutex`;
/// tests drive it with made-up instants.
struct ConclusionTracker: Sendable {
    /// The settings it needs from `ConclusionExporterConfig`.
    struct Settings: Sendable, Equatable {
        var inactivity: Duration
        var maxWait: Duration
        /// `conclude_after_root`; zero: off.
        var concludeAfterRoot: Duration
        var sweepInterval: Duration

        init(inactivity: Duration, maxWait: Duration, concludeAfterRoot: Duration = .zero, sweepInterval: Duration) {
            self.inactivity = inactivity
            self.maxWait = maxWait
            self.concludeAfterRoot = concludeAfterRoot
            self.sweepInterval = sweepInterval
        }

        init(_ config: ConclusionExporterConfig) {
            self.init(
                inactivity: config.inactivity, maxWait: config.maxWait, concludeAfterRoot: config.concludeAfterRoot,
                sweepInterval: config.sweepInterval)
        }
    }

    /// Timer resolution: a trace is asked about at most this long after it
    /// is due. 20 ms is well below the 100 ms smallest `inactivity` and lets
    /// the store sleep through up to 50 wake-ups a second under load.
    static let timerGranularity = Duration.milliseconds(20)
    /// Trace ids per conclude statement: one array parameter and one
    /// round trip for that many; more would hold row locks longer against the
    /// postgres exporter's upserts of the same traces.
    static let tracesPerStatement = 5000
    /// After a database error (down, restarting, failing over): when the
    /// traces of the failed statement, and the sweep, are tried again.
    static let retryAfterDatabaseError = Duration.seconds(1)
    /// A trace the database says is due already (its row was locked by a
    /// writer) is asked about again this soon, one timer tick.
    static let soonestRecheck = timerGranularity
    /// A trace whose row is not stored yet is asked about again after half of
    /// `inactivity` (its activity clock starts when its row is written, so
    /// this costs no latency), but not more often than `absentPollFloor` nor
    /// less often than `absentPollCeiling`.
    static let absentPollFloor = Duration.milliseconds(100)
    static let absentPollCeiling = Duration.seconds(5)

    /// What the store does next.
    enum Step: Sendable, Equatable {
        /// Ask the database (`Work`), then call `concluded`/`checked`, or `failed`.
        case conclude(Work)
        /// Nothing to do before this instant (nil: until woken, by
        /// `observe` returning true or the backlog's watermark moving).
        case wait(until: ContinuousClock.Instant?)
    }

    /// One round with the database.
    struct Work: Sendable, Equatable {
        /// Traces whose timer fired: conclude those that are due.
        var due: [TraceID]
        /// Of `due`, those whose root arrived `conclude_after_root` ago: due if complete.
        var early: [TraceID]
        /// Run the sweep over every open trace too.
        var sweep: Bool
        /// The horizon's lag: every window grows by it (the database's clock is `now`).
        var hold: Duration
    }

    /// The database's answer for a trace that was due but did not conclude.
    struct RowState: Sendable, Equatable {
        var trace: TraceID
        /// Concluded, and nothing late to renotify: forget it.
        var closed: Bool
        /// Spans arrived after it concluded.
        var late: Bool
        /// Until it is due by its `last_activity_at` (may be negative).
        var remaining: Duration
    }

    let settings: Settings
    private var timers: InactivityTimers<TraceID>
    /// Traces whose row was not in `traces` yet when their timer fired.
    private var absentSince: [TraceID: ContinuousClock.Instant] = [:]
    /// `conclude_after_root`: when this replica received each open trace's root span.
    private var rootArrived: [TraceID: ContinuousClock.Instant] = [:]
    private var nextSweep: ContinuousClock.Instant
    /// The instant the store sleeps until, while it sleeps (`.some(nil)`:
    /// until woken); nil while it works.
    private var sleepingUntil: ContinuousClock.Instant??

    init(settings: Settings, now: ContinuousClock.Instant) {
        self.settings = settings
        timers = InactivityTimers(granularity: Self.timerGranularity, origin: now)
        // The first round sweeps: it finds what a previous run left open.
        nextSweep = now
    }

    /// Traces with a timer in this replica.
    var openCount: Int { timers.count }

    func deadline(of trace: TraceID) -> ContinuousClock.Instant? { timers.deadline(of: trace) }

    /// Records spans of `traces` (the ids of root spans in `roots`) received
    /// at `now`. True when the store must be woken: it sleeps past the
    /// earliest deadline just set.
    mutating func observe(traces: Set<TraceID>, roots: [TraceID], now: ContinuousClock.Instant) -> Bool {
        let deadline = now + settings.inactivity
        if settings.concludeAfterRoot > .zero {
            for id in roots where rootArrived[id] == nil { rootArrived[id] = now }
        }
        var earliest: ContinuousClock.Instant?
        for id in traces {
            let early = rootArrived[id].map { max(now, $0 + settings.concludeAfterRoot) }
            let at = early.map { min($0, deadline) } ?? deadline
            timers.schedule(id, at: at)
            absentSince[id] = nil
            earliest = min(earliest ?? at, at)
        }
        guard let earliest, case .some(let until) = sleepingUntil else { return false }
        if let until, until <= earliest { return false }
        sleepingUntil = nil
        return true
    }

    /// What to do at `now` with the backlog's `horizon`.
    mutating func nextStep(now: ContinuousClock.Instant, horizon: ConclusionHorizon) -> Step {
        let lag = horizon.lag(now: now)
        let due = horizon.instant.map { timers.popExpired(now: $0, limit: Self.tracesPerStatement) } ?? []
        // Spans of unknown age wait: no trace may conclude, not even by the sweep.
        let sweep = now >= nextSweep && lag != nil
        guard !due.isEmpty || sweep else {
            // Held timers (due by the clock, not by the horizon) wait for the
            // watermark to move, which wakes the store.
            let timer = timers.nextWake().flatMap { $0 > now ? $0 : nil }
            let wake = [timer, nextSweep > now ? nextSweep : nil].compactMap { $0 }.min()
            sleepingUntil = .some(wake)
            return .wait(until: wake)
        }
        sleepingUntil = nil
        let hold = lag ?? .zero
        // Those whose root arrived conclude_after_root ago may conclude now if
        // complete; the horizon's lag holds them back like every window.
        let early = due.filter { id in rootArrived[id].map { now - hold >= $0 + settings.concludeAfterRoot } ?? false }
        if sweep { nextSweep = now + settings.sweepInterval }
        return .conclude(Work(due: due, early: early, sweep: sweep, hold: hold))
    }

    /// The traces that concluded (by their timer or the sweep).
    mutating func concluded(_ traces: [TraceID]) {
        guard settings.concludeAfterRoot > .zero else { return }
        for id in traces { rootArrived[id] = nil }
    }

    /// The due traces that did not conclude: `rows` for those in `traces`,
    /// none for those not stored yet. Returns how many got late spans.
    mutating func checked(notConcluded: [TraceID], rows: [RowState], now: ContinuousClock.Instant) -> Int {
        var known: Set<TraceID> = []
        var late = 0
        for row in rows {
            known.insert(row.trace)
            if row.late { late += 1 }
            if row.closed { rootArrived[row.trace] = nil }
            if row.closed || timers.deadline(of: row.trace) != nil { continue }
            // A row locked by a writer can be due already: look again shortly.
            timers.schedule(row.trace, at: now + max(Self.soonestRecheck, row.remaining))
        }
        // Not stored yet (the postgres exporter's queue is behind). Given up
        // after max_wait: the sweep still covers it.
        let poll = min(Self.absentPollCeiling, max(Self.absentPollFloor, settings.inactivity / 2))
        for trace in notConcluded where !known.contains(trace) && timers.deadline(of: trace) == nil {
            let since = absentSince[trace] ?? now
            if now - since > settings.maxWait {
                absentSince[trace] = nil
                rootArrived[trace] = nil
                continue
            }
            absentSince[trace] = since
            timers.schedule(trace, at: now + poll)
        }
        return late
    }

    /// The database failed during `work`: its traces, and the sweep, are
    /// tried again `retryAfterDatabaseError` from `now`.
    mutating func failed(_ work: Work, now: ContinuousClock.Instant) {
        let retry = now + Self.retryAfterDatabaseError
        for id in work.due where timers.deadline(of: id) == nil { timers.schedule(id, at: retry) }
        nextSweep = retry
    }
}
