import TracegateCore

/// The memory store's state: a summary per open trace with its conclusion
/// deadline, and the summaries of recently concluded traces (for late
/// spans). A pure value: callers pass `now` and keep it behind their lock.
///
/// Bounded: at most `maxTraces` open traces; a new trace beyond that first
/// concludes the open trace whose deadline is nearest, early (`evicted`).
/// At most `maxTraces` concluded summaries are remembered for late spans;
/// a span of a trace forgotten since starts a new trace.
struct MemoryTraceTable {
    /// What is known about one trace.
    struct Summary {
        var lastActivity: ContinuousClock.Instant
        /// Wall clock of the last span, for the latency metric.
        var lastActivityUnixNano: UInt64
        /// Time range, root, services and counts (its id lists stay empty:
        /// the sets below keep each id once over every batch).
        var trace: TraceSummary
        var spanIDs: Set<SpanID> = []
        var parents: Set<SpanID> = []
        var updated = false
        /// The `when` attribute tests some span of the trace passed.
        var matched: Set<AttributeTest> = []
        /// When the root span arrived (gateway clock), for `conclude_after_root`.
        var rootArrived: ContinuousClock.Instant?

        init(traceID: TraceID, lastActivity: ContinuousClock.Instant, lastActivityUnixNano: UInt64) {
            self.lastActivity = lastActivity
            self.lastActivityUnixNano = lastActivityUnixNano
            trace = TraceSummary(traceID: traceID)
        }

        var missingParents: [SpanID] { parents.subtracting(spanIDs).sorted { $0.value < $1.value } }
        var complete: Bool { trace.rootSpanID != nil && parents.isSubset(of: spanIDs) }

        mutating func add(_ span: Span, service: String) {
            withUnsafePointer(to: span) { trace.fold($0, service: service) }
            spanIDs.insert(span.spanID)
            if let parent = span.parentSpanID { parents.insert(parent) }
        }

        func conclusion() -> TraceConclusion {
            trace.conclusion(complete: complete, missingParents: missingParents, updated: updated)
        }
    }

    /// A trace that just concluded.
    struct Concluded {
        var conclusion: TraceConclusion
        var lastActivityUnixNano: UInt64
        /// The `when` attribute tests some span passed.
        var matched: Set<AttributeTest> = []
    }

    /// Timer resolution, as the postgres store's (`ConclusionTracker.timerGranularity`).
    static let timerGranularity = ConclusionTracker.timerGranularity
    /// Traces concluded per pop: bounds the time the store's lock is held
    /// when many traces are due at once; the rest follow at the next pop.
    static let tracesPerPop = 10_000
    /// Forgotten concluded summaries at the front of `closedOrder` are
    /// dropped in one move once there are this many and they are at least
    /// half of it (amortized O(1) per trace).
    static let compactionThreshold = 4096

    let inactivity: Duration
    let maxWait: Duration
    let maxTraces: Int
    let renotify: Bool
    /// The attributes `when` asks about, looked for as spans arrive.
    let attributeTests: [AttributeTest]
    /// `conclude_after_root`; zero: off.
    let concludeAfterRoot: Duration
    private(set) var open: [TraceID: Summary] = [:]
    private var timers: InactivityTimers<TraceID>
    private var closed: [TraceID: Summary] = [:]
    private var closedOrder: [TraceID] = []
    private var closedHead = 0
    /// Traces concluded early because `maxTraces` were open.
    private(set) var evicted = 0
    /// Traces that received spans after they concluded.
    private(set) var lateTraces = 0

    init(
        inactivity: Duration, maxWait: Duration, maxTraces: Int, renotify: Bool, origin: ContinuousClock.Instant,
        attributeTests: [AttributeTest] = [], concludeAfterRoot: Duration = .zero
    ) {
        self.attributeTests = attributeTests
        self.concludeAfterRoot = concludeAfterRoot
        self.inactivity = inactivity
        self.maxWait = maxWait
        self.maxTraces = maxTraces
        self.renotify = renotify
        self.timers = InactivityTimers(granularity: Self.timerGranularity, origin: origin)
    }

    var openCount: Int { open.count }
    func nextWake() -> ContinuousClock.Instant? { timers.nextWake() }

    /// Adds a batch's spans; returns traces concluded early to make room.
    mutating func observe(_ batch: SpanBatch, now: ContinuousClock.Instant, wallUnixNano: UInt64) -> [Concluded] {
        var early: [Concluded] = []
        var touched: Set<TraceID> = []
        var lateSeen: Set<TraceID> = []
        for rs in batch.resourceSpans {
            let service = rs.resource.serviceName
            for ss in rs.scopeSpans {
                for span in ss.spans {
                    let id = span.traceID
                    if open[id] == nil {
                        if var old = closed.removeValue(forKey: id) {
                            if lateSeen.insert(id).inserted { lateTraces += 1 }
                            guard renotify else {
                                closed[id] = old
                                continue
                            }
                            old.updated = true
                            open[id] = old
                        } else {
                            // Every open trace has a deadline, all within the longer
                            // window: popping as of then takes the nearest one (one
                            // tick past it: observers read the clock before taking
                            // the store's lock, so a deadline may be a little later).
                            if open.count >= maxTraces,
                                let victim = timers.popExpired(now: now + max(inactivity, maxWait) + Self.timerGranularity, limit: 1).first
                            {
                                evicted += 1
                                early.append(conclude(victim))
                            }
                            open[id] = Summary(traceID: id, lastActivity: now, lastActivityUnixNano: wallUnixNano)
                            timers.schedule(id, at: now + maxWait)
                        }
                    }
                    open[id]!.add(span, service: service)
                    if span.parentSpanID == nil && open[id]!.rootArrived == nil { open[id]!.rootArrived = now }
                    for test in attributeTests where !open[id]!.matched.contains(test) {
                        if test.matches(span.attributes) || test.matches(rs.resource.attributes) { open[id]!.matched.insert(test) }
                    }
                    touched.insert(id)
                }
            }
        }
        // A trace of this very batch may have been evicted to make room.
        for id in touched where open[id] != nil {
            open[id]!.lastActivity = now
            open[id]!.lastActivityUnixNano = wallUnixNano
            timers.schedule(id, at: deadline(open[id]!, now: now))
        }
        return early
    }

    /// When a trace concludes if nothing more arrives: `inactivity` after its
    /// last span when complete (or sooner, `conclude_after_root` after its
    /// root arrived), else `max_wait`.
    private func deadline(_ summary: Summary, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        guard summary.complete else { return now + maxWait }
        if concludeAfterRoot > .zero, let root = summary.rootArrived {
            return min(now + inactivity, max(now, root + concludeAfterRoot))
        }
        return now + inactivity
    }

    /// The traces whose deadline has passed, concluded.
    mutating func popDue(now: ContinuousClock.Instant, limit: Int = tracesPerPop) -> [Concluded] {
        timers.popExpired(now: now, limit: limit).map { conclude($0) }
    }

    private mutating func conclude(_ id: TraceID) -> Concluded {
        var summary = open.removeValue(forKey: id)!
        let result = Concluded(
            conclusion: summary.conclusion(), lastActivityUnixNano: summary.lastActivityUnixNano, matched: summary.matched)
        summary.updated = false
        remember(id, summary)
        return result
    }

    private mutating func remember(_ id: TraceID, _ summary: Summary) {
        closed[id] = summary
        closedOrder.append(id)
        while closed.count > maxTraces, closedHead < closedOrder.count {
            closed[closedOrder[closedHead]] = nil
            closedHead += 1
        }
        if closedHead > Self.compactionThreshold && closedHead * 2 > closedOrder.count {
            closedOrder.removeFirst(closedHead)
            closedHead = 0
        }
    }
}
