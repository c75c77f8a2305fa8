import Synchronization

/// What `/ready` answers: ready once every component has started and every
/// dependency checked by a probe (each postgres exporter's database) was
/// reachable at its last check; not ready again once shutdown begins.
public final class Readiness: Sendable {
    private struct State {
        var started = false
        var stopping = false
        /// Dependency name → the problem found at its last check (nil: fine).
        /// A dependency not checked yet counts as a problem.
        var dependencies: [String: String?] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Declares a dependency; it is not ready until `report(_:problem:)` says so.
    public func expect(_ dependency: String) {
        state.withLock { $0.dependencies[dependency] = .some("not checked yet") }
    }

    /// Drops a dependency a reload removed.
    public func forget(_ dependency: String) {
        state.withLock { _ = $0.dependencies.removeValue(forKey: dependency) }
    }

    /// The outcome of a check of `dependency`: nil when it is fine.
    public func report(_ dependency: String, problem: String?) {
        state.withLock { $0.dependencies[dependency] = .some(problem) }
    }

    public func markStarted() { state.withLock { $0.started = true } }
    public func markStopping() { state.withLock { $0.stopping = true } }

    /// nil when ready; otherwise a short reason.
    public var notReadyReason: String? {
        state.withLock { s in
            if s.stopping { return "shutting down" }
            if !s.started { return "starting" }
            for name in s.dependencies.keys.sorted() {
                if let problem = s.dependencies[name] ?? nil { return "\(name): \(problem)" }
            }
            return nil
        }
    }
}
