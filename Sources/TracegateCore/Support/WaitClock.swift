import Synchronization

/// The time a component's timers read and wait on: the continuous clock in
/// the gateway, a `ManualClock` in tests, which then move time themselves
/// instead of sleeping and polling.
///
/// Instants are `ContinuousClock.Instant`s in both, so components keep one
/// instant type and a manual clock starts from the real now.
public protocol WaitClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Returns at `deadline`; throws `CancellationError` when the task is
    /// cancelled first.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

/// The continuous clock.
public struct SystemClock: WaitClock {
    public init() {}
    public var now: ContinuousClock.Instant { .now }
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}

/// A clock that moves only when told (`advance`): sleepers wake when it
/// passes their deadline. `sleepers(atLeast:)` lets a test wait, without
/// polling, until the component under test is waiting on the clock.
public final class ManualClock: WaitClock {
    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: ContinuousClock.Instant
        var nextID: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        /// Tests waiting until this many sleepers are waiting.
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    public init(now: ContinuousClock.Instant = .now) { state = Mutex(State(now: now)) }

    public var now: ContinuousClock.Instant { state.withLock { $0.now } }

    /// Sleepers waiting now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { s in
            defer { s.nextID += 1 }
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Now { case wake, cancel, wait([CheckedContinuation<Void, Never>]) }
                let now: Now = state.withLock { s in
                    if Task.isCancelled { return .cancel }
                    if deadline <= s.now { return .wake }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .wait(Self.satisfiedWatchers(&s))
                }
                switch now {
                case .wake: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                case .wait(let watchers): for watcher in watchers { watcher.resume() }
                }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on and wakes every sleeper whose deadline it passed.
    public func advance(by duration: Duration) {
        let woken = state.withLock { s in
            s.now += duration
            let due = s.sleepers.filter { $0.value.deadline <= s.now }
            for id in due.keys { s.sleepers.removeValue(forKey: id) }
            return due.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once at least `count` sleepers wait on this clock.
    public func sleepers(atLeast count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.sleepers.count >= count { return true }
                s.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private static func satisfiedWatchers(_ s: inout State) -> [CheckedContinuation<Void, Never>] {
        let count = s.sleepers.count
        let ready = s.watchers.filter { $0.count <= count }.map(\.continuation)
        s.watchers.removeAll { $0.count <= count }
        return ready
    }
}
