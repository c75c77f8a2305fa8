import TracegateCore

/// A set of named threads running a loop until asked to stop; the stop flag
/// and the live count sit behind `condition`, which loops also wait on.
final class StoreThreads: @unchecked Sendable {
    // @unchecked: `stopping` and `live` are read and written only while
    // `condition` is locked.
    let condition = ThreadCondition()
    private var stopping = false
    private var live = 0

    /// Starts one thread per body; each body runs until `isStopping`.
    func start(_ bodies: [(String, @Sendable () -> Void)]) {
        condition.lock()
        live += bodies.count
        condition.unlock()
        for (name, body) in bodies {
            startThread(name: name) { [self] in
                body()
                condition.lock()
                live -= 1
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    /// Call with `condition` locked.
    var isStoppingLocked: Bool { stopping }

    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Sets the stop flag and wakes every waiter; true when no thread is left.
    func requestStop() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        return live == 0
    }

    /// Waits (with `condition` locked) until `deadline`, a signal, or stop.
    func waitLocked(until deadline: ContinuousClock.Instant?) {
        if stopping { return }
        if let deadline {
            condition.wait(until: deadline)
        } else {
            condition.wait()
        }
    }

    /// Sleeps up to `duration` unless stop is asked meanwhile.
    func sleep(_ duration: Duration) {
        condition.lock()
        waitLocked(until: .now + duration)
        condition.unlock()
    }

    func wakeAll() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}
