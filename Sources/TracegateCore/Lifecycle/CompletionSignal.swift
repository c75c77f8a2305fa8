import Synchronization

/// Something that happens once (the last consumer of a queue ended), which
/// tasks await without polling: `wait` suspends until `signal`, and returns
/// early when its task is cancelled; `wait(until:)` gives up at an instant.
public final class CompletionSignal: Sendable {
    private struct State {
        var signalled = false
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var isSignalled: Bool { state.withLock { $0.signalled } }

    /// Resumes every waiter, and every later one at once.
    public func signal() {
        let waiters = state.withLock { s in
            s.signalled = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once signalled, or when this task is cancelled.
    public func wait() async {
        let id = state.withLock { s in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Cancellation sets the flag before its handler runs, and the
                // handler takes this lock: a waiter is either found there or
                // never stored.
                let now = state.withLock { s in
                    if s.signalled || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Waits until signalled or until `deadline`; true when signalled.
    public func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        if isSignalled { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return self.isSignalled
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || isSignalled
        }
    }
}
