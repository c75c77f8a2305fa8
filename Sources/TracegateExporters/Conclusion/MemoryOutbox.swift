import TracegateCore

/// The memory store's notifications between conclusion and delivery: new
/// ones in conclusion order, failed ones waiting for their retry instant,
/// and the claims delivery loops take from both (retries first). Bounded by
/// `max_pending`: beyond it the oldest new one is pushed out, for the store
/// to write as a dead letter. A pure value: callers pass `now` and keep it
/// behind their lock.
struct MemoryOutbox {
    /// One notification and its delivery so far.
    struct Pending: Sendable {
        var conclusion: TraceConclusion
        /// Wall clock of the trace's last span, for the latency metric.
        var lastActivityUnixNano: UInt64
        var delivery = NotificationDelivery()
    }

    /// Notifications waiting at most (`max_pending`).
    let maxPending: Int
    /// Notifications per claim (`batch_size`).
    let batchSize: Int
    /// Delivered entries at the front of `ready` are dropped in one move once
    /// there are this many and they are at least half of it: amortized O(1)
    /// per notification, at most twice the memory of what waits.
    static let compactionThreshold = 1024

    private var ready: [Pending] = []
    private var readyHead = 0
    private var waiting: [Pending] = []

    init(maxPending: Int, batchSize: Int) {
        self.maxPending = maxPending
        self.batchSize = batchSize
    }

    /// New and retrying notifications.
    var count: Int { ready.count - readyHead + waiting.count }

    /// Queues new notifications; returns those pushed out past
    /// `max_pending`, oldest first.
    mutating func add(_ items: [Pending]) -> [Pending] {
        ready.append(contentsOf: items)
        var pushedOut: [Pending] = []
        while count > maxPending, readyHead < ready.count {
            pushedOut.append(ready[readyHead])
            readyHead += 1
        }
        compact()
        return pushedOut
    }

    /// Claims up to `batch_size` notifications that may be sent at `now`,
    /// retries first, each with its attempt begun.
    mutating func take(now: ContinuousClock.Instant) -> [Pending] {
        var out: [Pending] = []
        var i = 0
        while i < waiting.count && out.count < batchSize {
            if waiting[i].delivery.isDue(now: now) { out.append(waiting.remove(at: i)) } else { i += 1 }
        }
        while readyHead < ready.count && out.count < batchSize {
            out.append(ready[readyHead])
            readyHead += 1
        }
        compact()
        for j in out.indices { _ = out[j].delivery.begin(now: now) }
        return out
    }

    /// Puts back notifications whose attempt failed and that wait for a retry.
    mutating func retry(_ items: [Pending]) { waiting.append(contentsOf: items) }

    /// The earliest retry instant (nil: no retry waiting).
    var nextRetry: ContinuousClock.Instant? { waiting.compactMap(\.delivery.nextTry).min() }

    private mutating func compact() {
        if readyHead > Self.compactionThreshold && readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
    }
}

extension NotificationDelivery {
    fileprivate var nextTry: ContinuousClock.Instant? {
        if case .waiting(let until) = phase { return until }
        return nil
    }
}
