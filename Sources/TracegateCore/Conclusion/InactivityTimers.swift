/// Deadlines for many keys (trace ids) that move later every time the key is
/// touched, and the keys whose deadline has passed, in deadline order.
///
/// A timing wheel without a fixed size: deadlines are rounded *up* to ticks of
/// `granularity`, each tick holds a set of keys, and `popExpired` walks the
/// ticks from the last one it emptied. Rescheduling a key is two hash
/// operations, whatever the number of keys; memory is one entry per key. A key
/// fires at most one tick after its deadline and never before it.
///
/// A pure value: no clock, no locks; callers pass `now` (tests pass made-up
/// instants) and keep it behind their own lock.
public struct InactivityTimers<Key: Hashable & Sendable>: Sendable {
    public let granularity: Duration
    private let origin: ContinuousClock.Instant
    private var buckets: [Int64: Set<Key>] = [:]
    private var tickOf: [Key: Int64] = [:]
    private var deadlines: [Key: ContinuousClock.Instant] = [:]
    /// Every tick below this one is empty.
    private var nextTick: Int64 = 0

    public init(granularity: Duration, origin: ContinuousClock.Instant = .now) {
        precondition(granularity > .zero)
        self.granularity = granularity
        self.origin = origin
    }

    /// Keys waiting for their deadline.
    public var count: Int { tickOf.count }

    public func deadline(of key: Key) -> ContinuousClock.Instant? { deadlines[key] }

    /// Sets (or moves) `key`'s deadline.
    public mutating func schedule(_ key: Key, at deadline: ContinuousClock.Instant) {
        let tick = max(ticks(deadline), nextTick)
        if let old = tickOf[key] {
            if old == tick {
                deadlines[key] = deadline
                return
            }
            remove(key, from: old)
        }
        tickOf[key] = tick
        deadlines[key] = deadline
        buckets[tick, default: []].insert(key)
    }

    /// Forgets `key`; true when it was scheduled.
    @discardableResult
    public mutating func cancel(_ key: Key) -> Bool {
        guard let tick = tickOf.removeValue(forKey: key) else { return false }
        deadlines[key] = nil
        remove(key, from: tick)
        return true
    }

    /// Removes and returns the keys whose deadline is at or before `now`,
    /// earliest first (keys of one tick in no particular order).
    public mutating func popExpired(now: ContinuousClock.Instant, limit: Int = .max) -> [Key] {
        var out: [Key] = []
        let last = floorTicks(now)
        while nextTick <= last && out.count < limit {
            if var keys = buckets[nextTick] {
                // Within a tick, compare exact deadlines: the tick is rounded up,
                // so only its last instant is sure to be past every deadline in it.
                for key in keys where out.count < limit && deadlines[key]! <= now {
                    keys.remove(key)
                    tickOf[key] = nil
                    deadlines[key] = nil
                    out.append(key)
                }
                buckets[nextTick] = keys.isEmpty ? nil : keys
            }
            // Keys left in a tick are not due yet (only the last tick can hold
            // such keys) or were cut off by `limit`: stay on this tick. Never
            // move past `last`: a deadline already past that is scheduled
            // later lands on `nextTick` and must fire at the next pop.
            if buckets[nextTick] == nil && nextTick < last { nextTick += 1 } else { break }
        }
        return out
    }

    /// The earliest instant at which `popExpired` may return something, or nil
    /// when nothing is scheduled. Lets a service sleep exactly until then.
    public func nextWake() -> ContinuousClock.Instant? {
        guard !tickOf.isEmpty else { return nil }
        var tick = nextTick
        // Ticks are dense near `nextTick` under load; when idle, jump to the minimum.
        if buckets[tick] == nil { tick = buckets.keys.min()! }
        return buckets[tick]!.lazy.map { deadlines[$0]! }.min()
    }

    private mutating func remove(_ key: Key, from tick: Int64) {
        buckets[tick]?.remove(key)
        if buckets[tick]?.isEmpty == true { buckets[tick] = nil }
    }

    private func ticks(_ instant: ContinuousClock.Instant) -> Int64 {
        let t = (instant - origin) / granularity
        return Int64(t.rounded(.up))
    }

    private func floorTicks(_ instant: ContinuousClock.Instant) -> Int64 {
        Int64(((instant - origin) / granularity).rounded(.down)) + 1
    }
}
