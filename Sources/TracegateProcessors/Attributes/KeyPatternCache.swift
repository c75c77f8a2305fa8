import Synchronization

/// Remembers whether attribute keys match a key pattern. Keys come from
/// instrumentation code, so there are few distinct ones, each seen on every
/// span: a dictionary lookup replaces running the regex again. Bounded: once
/// `capacity` keys are known, further keys are matched without being stored.
final class KeyPatternCache: Sendable {
    private let pattern: CompiledRegex
    private let known = Mutex<[String: Bool]>([:])
    private let capacity: Int

    init(_ pattern: CompiledRegex, capacity: Int = 4096) {
        self.pattern = pattern
        self.capacity = capacity
    }

    func matches(_ key: String) -> Bool {
        if let hit = known.withLock({ $0[key] }) { return hit }
        let result = pattern.matches(key)
        known.withLock { cache in
            if cache.count < capacity { cache[key] = result }
        }
        return result
    }
}
