import Synchronization
import TracegateCore

/// What one loop of a conclusion store sleeps on: it returns from `wait` at
/// a deadline (the next one its state machine names) on `clock`, when
/// signalled, or when its task is cancelled. A signal sent while the loop is
/// busy is kept for its next `wait`, so no wake-up is lost and none is
/// polled for.
final class WakeSignal: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let clock: any WaitClock

    init(clock: any WaitClock = SystemClock()) { self.clock = clock }

    /// Wakes the loop now, or at once at its next `wait`.
    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter else {
                s.signalled = true
                return nil
            }
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Returns at `deadline` (nil: none), on a signal (also one sent since
    /// the last wait), or on cancellation. One waiter at a time.
    func wait(until deadline: ContinuousClock.Instant?) async {
        if state.withLock({ s in
            defer { s.signalled = false }
            return s.signalled
        }) { return }
        guard let deadline else { return await waitForSignal() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await self.clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    // Cancelled before the continuation was stored: the handler found nothing to resume.
                    if s.signalled || Task.isCancelled {
                        s.signalled = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
