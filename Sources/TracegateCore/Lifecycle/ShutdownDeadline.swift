import Synchronization

/// When a drain must end: computed once when a shutdown (or a reload's
/// retirement of components) begins, and shared by every queue that drains
/// then, so that the whole gateway stops within one `shutdown_timeout`
/// rather than one per queue drained in turn.
public struct ShutdownDeadline: Sendable, Equatable, Comparable {
    public let instant: ContinuousClock.Instant

    public init(_ instant: ContinuousClock.Instant) { self.instant = instant }

    /// `timeout` from `now`.
    public init(after timeout: Duration, from now: ContinuousClock.Instant = .now) {
        self.instant = now + timeout
    }

    public static func < (a: ShutdownDeadline, b: ShutdownDeadline) -> Bool { a.instant < b.instant }
}

/// The deadline of the drain in progress, shared by everything of one
/// gateway that drains a queue at shutdown (the exporters' queue services,
/// the load balancer's endpoint queues): `GatewayRuntime` begins a drain
/// before it stops them, and each reads the same deadline.
public final class DrainDeadline: Sendable {
    /// `service.telemetry.shutdown_timeout`.
    public let timeout: Duration
    private let begun = Mutex<ShutdownDeadline?>(nil)

    public init(timeout: Duration) { self.timeout = timeout }

    /// Starts a drain that ends `timeout` from `now`; what stops from now on
    /// drains until then.
    @discardableResult
    public func begin(now: ContinuousClock.Instant = .now) -> ShutdownDeadline {
        let deadline = ShutdownDeadline(after: timeout, from: now)
        begun.withLock { $0 = deadline }
        return deadline
    }

    /// The deadline of the drain begun last; a queue stopped outside any
    /// drain gets `timeout` from `now`.
    public func current(now: ContinuousClock.Instant = .now) -> ShutdownDeadline {
        begun.withLock { $0 } ?? ShutdownDeadline(after: timeout, from: now)
    }
}
