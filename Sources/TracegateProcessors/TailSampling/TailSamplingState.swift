import TracegateCore

/// The decisions of the `tail_sampling` processor as a pure value: it holds
/// the spans of undecided traces, their idle deadlines, the memory bound and
/// the cache of recent decisions. No clock and no lock: the processor passes
/// `now` and keeps it behind a mutex; tests pass made-up instants.
///
/// A trace is decided when no span of it has arrived for `decision_wait`, or
/// `max_trace_duration` after its first span, or `decision_wait_after_root`
/// after its root span, whichever comes first; at once when it holds
/// `max_spans_per_trace` spans; when the
/// trace count or the byte estimate goes over its bound, the oldest traces
/// (by first arrival) are decided early on what has arrived. Nothing is
/// dropped without a decision.
public struct TailSamplingState: Sendable {
    /// What one call produced: spans to pass on, spans to give back, and counts
    /// for the metrics.
    public struct Output: Sendable {
        /// Spans of kept traces (and late spans of kept traces).
        public var kept = SpanBatch()
        public var keptSpans = 0
        /// Spans of dropped traces (and late spans of dropped traces).
        public var droppedSpans = 0
        /// Traces decided, by the index of the policy that kept them (nil: dropped).
        public var decisions: [Int?] = []
        /// Traces decided early because a memory bound was reached.
        public var earlyDecisions = 0
        /// Traces decided at once because they reached `max_spans_per_trace`.
        public var spanCapDecisions = 0
        /// Spans that arrived after their trace was kept (passed on).
        public var lateKeptSpans = 0
        /// Spans that arrived after their trace was dropped (given back).
        public var lateDroppedSpans = 0
        public var lateSpans: Int { lateKeptSpans + lateDroppedSpans }
        /// Traces that started here (the processor wakes its timer for them).
        public var startedTraces = 0

        public init() {}
    }

    private struct PendingTrace: Sendable {
        var batch: SpanBatch
        var spanCount: Int
        var bytes: Int
        var firstArrival: ContinuousClock.Instant
        var sequence: UInt64
        /// When its root span arrived (`decision_wait_after_root`).
        var rootArrival: ContinuousClock.Instant?
    }

    public let config: TailSamplingConfig
    private var policies: [PolicyEvaluator]
    private var traces: [TraceID: PendingTrace] = [:]
    /// Trace ids by first arrival, for early decisions; entries whose trace was
    /// already decided are skipped (the sequence number tells them apart).
    private var arrivals: [(TraceID, UInt64)] = []
    private var arrivalsHead = 0
    private var nextSequence: UInt64 = 0
    private var timers: InactivityTimers<TraceID>
    private var cache: DecisionCache
    private let origin: ContinuousClock.Instant
    /// Estimated bytes of all held spans.
    public private(set) var bytesHeld = 0

    public init(config: TailSamplingConfig, origin: ContinuousClock.Instant = .now) {
        self.config = config
        self.origin = origin
        policies = config.policies.map(PolicyEvaluator.init)
        let granularity = min(.milliseconds(100), config.decisionWait / 10)
        timers = InactivityTimers(granularity: granularity, origin: origin)
        cache = DecisionCache(sampledCapacity: config.sampledCacheSize, notSampledCapacity: config.nonSampledCacheSize)
    }

    /// Traces held, waiting for their decision.
    public var tracesHeld: Int { traces.count }

    /// When `expire` may next have something to decide.
    public func nextWake() -> ContinuousClock.Instant? { timers.nextWake() }

    /// Takes the spans of a batch: late spans follow their trace's decision;
    /// the others are held and move their trace's deadline.
    public mutating func ingest(_ batch: SpanBatch, now: ContinuousClock.Instant) -> Output {
        var out = Output()
        let watchRoots = config.decisionWaitAfterRoot > .zero
        for (id, piece, count) in Self.splitByTrace(batch) {
            let hasRoot = watchRoots && piece.resourceSpans.contains { $0.scopeSpans.contains { $0.spans.contains { $0.parentSpanID == nil } } }
            if var trace = traces[id] {
                let bytes = piece.estimatedByteSize
                trace.batch.append(contentsOf: piece)
                trace.spanCount += count
                trace.bytes += bytes
                bytesHeld += bytes
                if hasRoot && trace.rootArrival == nil { trace.rootArrival = now }
                traces[id] = trace
                timers.schedule(id, at: deadline(trace, now: now))
            } else if let decision = cache.lookup(id) {
                if decision == nil { out.lateDroppedSpans += count } else { out.lateKeptSpans += count }
                emit(piece, count: count, policy: decision, into: &out)
                continue
            } else {
                let bytes = piece.estimatedByteSize
                let trace = PendingTrace(
                    batch: piece, spanCount: count, bytes: bytes, firstArrival: now, sequence: nextSequence,
                    rootArrival: hasRoot ? now : nil)
                traces[id] = trace
                arrivals.append((id, nextSequence))
                nextSequence += 1
                bytesHeld += bytes
                timers.schedule(id, at: deadline(trace, now: now))
                out.startedTraces += 1
            }
            if config.maxSpansPerTrace > 0, let held = traces[id], held.spanCount >= config.maxSpansPerTrace {
                decide(id, now: now, into: &out)
                out.spanCapDecisions += 1
            }
        }
        while traces.count > config.numTraces || bytesHeld > config.maxBytes, let oldest = popOldest() {
            decide(oldest, now: now, into: &out)
            out.earlyDecisions += 1
        }
        return out
    }

    /// `decision_wait` after the last span, at most `max_trace_duration` after
    /// the first, and with a root seen at most `decision_wait_after_root` after it.
    private func deadline(_ trace: PendingTrace, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        var at = min(now + config.decisionWait, trace.firstArrival + config.maxTraceDuration)
        if let root = trace.rootArrival { at = min(at, root + config.decisionWaitAfterRoot) }
        return at
    }

    /// Decides the traces whose deadline has passed.
    public mutating func expire(now: ContinuousClock.Instant) -> Output {
        var out = Output()
        for id in timers.popExpired(now: now) { decide(id, now: now, into: &out) }
        compactArrivals()
        return out
    }

    /// Decides every held trace now (graceful shutdown).
    public mutating func decideAll(now: ContinuousClock.Instant) -> Output {
        var out = Output()
        while let id = popOldest() { decide(id, now: now, into: &out) }
        return out
    }

    private mutating func decide(_ id: TraceID, now: ContinuousClock.Instant, into out: inout Output) {
        guard let trace = traces.removeValue(forKey: id) else { return }
        timers.cancel(id)
        bytesHeld -= trace.bytes
        let view = TraceView(traceID: id, batch: trace.batch, spanCount: trace.spanCount)
        let second = Int64(((now - origin) / .seconds(1)).rounded(.down))
        var matched: Int?
        for i in policies.indices where policies[i].evaluate(view, second: second) {
            matched = i
            break
        }
        cache.record(id, policy: matched)
        out.decisions.append(matched)
        emit(trace.batch, count: trace.spanCount, policy: matched, into: &out)
    }

    private func emit(_ piece: SpanBatch, count: Int, policy: Int?, into out: inout Output) {
        guard let policy else {
            out.droppedSpans += count
            return
        }
        out.keptSpans += count
        guard !config.policyAttribute.isEmpty else {
            out.kept.append(contentsOf: piece)
            return
        }
        let name = AnyValue.string(config.policies[policy].name)
        var tagged = piece
        for r in tagged.resourceSpans.indices {
            for s in tagged.resourceSpans[r].scopeSpans.indices {
                for i in tagged.resourceSpans[r].scopeSpans[s].spans.indices {
                    tagged.resourceSpans[r].scopeSpans[s].spans[i].attributes.set(config.policyAttribute, name)
                }
            }
        }
        out.kept.append(contentsOf: tagged)
    }

    /// The oldest trace still held, removed from the arrival order.
    private mutating func popOldest() -> TraceID? {
        while arrivalsHead < arrivals.count {
            let (id, sequence) = arrivals[arrivalsHead]
            arrivalsHead += 1
            if traces[id]?.sequence == sequence { return id }
        }
        return nil
    }

    private mutating func compactArrivals() {
        // Drop decided entries from the front, and rebuild when stale entries
        // dominate, so the order costs O(held traces) memory.
        while arrivalsHead < arrivals.count, traces[arrivals[arrivalsHead].0]?.sequence != arrivals[arrivalsHead].1 {
            arrivalsHead += 1
        }
        if arrivalsHead > 1024 && arrivalsHead * 2 > arrivals.count {
            arrivals.removeFirst(arrivalsHead)
            arrivalsHead = 0
        }
        if arrivals.count - arrivalsHead > 2 * traces.count + 1024 {
            arrivals = arrivals[arrivalsHead...].filter { traces[$0.0]?.sequence == $0.1 }
            arrivalsHead = 0
        }
    }

    /// The batch cut into one piece per trace id, in order of first appearance,
    /// each keeping its spans' resource and scope.
    static func splitByTrace(_ batch: SpanBatch) -> [(TraceID, SpanBatch, Int)] {
        var index: [TraceID: Int] = [:]
        var out: [(id: TraceID, batch: SpanBatch, count: Int, rs: Int, ss: Int)] = []
        for (r, rs) in batch.resourceSpans.enumerated() {
            for (s, ss) in rs.scopeSpans.enumerated() {
                for span in ss.spans {
                    let i: Int
                    if let known = index[span.traceID] {
                        i = known
                    } else {
                        i = out.count
                        index[span.traceID] = i
                        out.append((span.traceID, SpanBatch(), 0, -1, -1))
                    }
                    if out[i].rs != r {
                        out[i].batch.resourceSpans.append(ResourceSpans(resource: rs.resource, schemaURL: rs.schemaURL))
                        out[i].rs = r
                        out[i].ss = -1
                    }
                    let last = out[i].batch.resourceSpans.count - 1
                    if out[i].ss != s {
                        out[i].batch.resourceSpans[last].scopeSpans.append(ScopeSpans(scope: ss.scope, schemaURL: ss.schemaURL))
                        out[i].ss = s
                    }
                    let lastScope = out[i].batch.resourceSpans[last].scopeSpans.count - 1
                    out[i].batch.resourceSpans[last].scopeSpans[lastScope].spans.append(span)
                    out[i].count += 1
                }
            }
        }
        return out.map { ($0.id, $0.batch, $0.count) }
    }
}

extension [Attribute] {
    /// Replaces the value of `key`, or appends it.
    fileprivate mutating func set(_ key: String, _ value: AnyValue) {
        if let i = firstIndex(where: { $0.key == key }) {
            self[i].value = value
        } else {
            append(Attribute(key, value))
        }
    }
}
