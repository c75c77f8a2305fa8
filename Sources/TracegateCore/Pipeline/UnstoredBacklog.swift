/// The acknowledged spans a sending queue has not finished with yet (queued,
/// being exported, waiting to retry), by when they were accepted: what a
/// conclusion must wait for. A pure value: callers pass the instants and
/// keep it behind their own lock.
///
/// Batches are admitted in acceptance order and finish in any order (several
/// consumers), so the oldest unfinished one is the first of `order` not yet
/// finished: admission and finishing are O(1) amortized.
public struct UnstoredBacklog: Sendable {
    /// What the oldest unstored span says about the clock.
    public enum Watermark: Sendable, Equatable {
        /// Nothing acknowledged is waiting.
        case none
        /// The oldest waiting span was accepted at this instant.
        case since(ContinuousClock.Instant)
        /// Spans replayed from a persistent queue wait: accepted before this
        /// process started, at an unknown time, so they hold every trace.
        case unknown
    }

    public typealias Ticket = UInt64

    private var order: [(ticket: Ticket, acceptedAt: ContinuousClock.Instant?)] = []
    private var head = 0
    private var finished: Set<Ticket> = []
    private var nextTicket: Ticket = 0

    public init() {}

    /// Records a batch accepted at `acceptedAt` (nil: replayed, time unknown).
    public mutating func admit(acceptedAt: ContinuousClock.Instant?) -> Ticket {
        let t = nextTicket
        nextTicket += 1
        order.append((t, acceptedAt))
        return t
    }

    /// Records that a batch was stored (or given up on); true when the
    /// watermark moved.
    @discardableResult
    public mutating func finish(_ ticket: Ticket) -> Bool {
        guard head < order.count else { return false }
        if order[head].ticket != ticket {
            finished.insert(ticket)
            return false
        }
        head += 1
        while head < order.count, finished.remove(order[head].ticket) != nil { head += 1 }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return true
    }

    public var watermark: Watermark {
        guard head < order.count else { return .none }
        return order[head].acceptedAt.map { .since($0) } ?? .unknown
    }
}

/// The hold rule for conclusions: a trace whose last activity is `last`
/// concludes once `last + window <= horizon`, where the horizon is `now`,
/// or the acceptance of the oldest acknowledged span not yet stored when that
/// is earlier. Any span still waiting was accepted at or after the horizon,
/// so it is either of a trace that does not conclude yet, or it came more than
/// `window` after its trace's last activity: late by the definition of
/// inactivity, exactly as it would be without a backlog.
public struct ConclusionHorizon: Sendable, Equatable {
    /// nil: nothing concludes (spans of unknown age are waiting).
    public let instant: ContinuousClock.Instant?

    public init(now: ContinuousClock.Instant, watermarks: [UnstoredBacklog.Watermark]) {
        var h: ContinuousClock.Instant? = now
        for w in watermarks {
            switch w {
            case .none: continue
            case .since(let t): h = h.map { min($0, t) }
            case .unknown: h = nil
            }
        }
        instant = h
    }

    /// Whether a trace last active at `last` may conclude after `window`.
    public func allows(lastActivity last: ContinuousClock.Instant, window: Duration) -> Bool {
        guard let instant else { return false }
        return last + window <= instant
    }

    /// How far the horizon lags `now` (nil: unbounded): added to the window
    /// by the postgres store, whose clock is the database's.
    public func lag(now: ContinuousClock.Instant) -> Duration? {
        instant.map { now - $0 }
    }
}
