import TracegateCore

/// The recent decisions by trace id, so spans that arrive after their trace
/// was decided follow it. Kept and dropped decisions have their own bounded
/// rings; when a ring is full the oldest decision of that kind is forgotten
/// (a span of a forgotten trace starts a new trace).
public struct DecisionCache: Sendable {
    /// A decision: the index of the policy that kept the trace, or nil for dropped.
    public typealias Decision = Int?

    private var entries: [TraceID: Int32] = [:]
    private var kept: Ring
    private var dropped: Ring

    public init(sampledCapacity: Int, notSampledCapacity: Int) {
        kept = Ring(capacity: sampledCapacity)
        dropped = Ring(capacity: notSampledCapacity)
    }

    public var count: Int { entries.count }

    /// The decision for `id`, or nil when none is remembered.
    public func lookup(_ id: TraceID) -> Decision? {
        guard let raw = entries[id] else { return nil }
        return .some(raw < 0 ? nil : Int(raw))
    }

    public mutating func record(_ id: TraceID, policy: Int?) {
        let isKept = policy != nil
        guard (isKept ? kept.capacity : dropped.capacity) > 0 else { return }
        let evicted = isKept ? kept.push(id) : dropped.push(id)
        if let evicted, let raw = entries[evicted], (raw >= 0) == isKept { entries[evicted] = nil }
        entries[id] = policy.map { Int32($0) } ?? -1
    }

    private struct Ring: Sendable {
        let capacity: Int
        var slots: [TraceID] = []
        var next = 0

        init(capacity: Int) { self.capacity = max(0, capacity) }

        /// Adds `id`; returns the id it replaced when the ring was full.
        mutating func push(_ id: TraceID) -> TraceID? {
            if slots.count < capacity {
                slots.append(id)
                return nil
            }
            let old = slots[next]
            slots[next] = id
            next = (next + 1) % capacity
            return old
        }
    }
}
