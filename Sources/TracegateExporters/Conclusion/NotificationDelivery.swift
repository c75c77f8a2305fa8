/// The life of one notification: pending → in flight → delivered, or
/// waiting until a retry instant, or dead after `maxAttempts` (or a permanent
/// failure). A pure value with an injected clock (`now`) and random source,
/// used by both stores: the memory store keeps it per notification, the
/// postgres store rebuilds it from an outbox row's `attempts`.
public struct NotificationDelivery: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case pending
        case inFlight
        /// Failed; may be tried again at this instant.
        case waiting(until: ContinuousClock.Instant)
        case delivered
        /// Given up: `lastError` says why.
        case dead
    }

    public private(set) var phase: Phase = .pending
    /// Attempts started so far.
    public private(set) var attempts: Int
    public private(set) var lastError: String?

    /// A notification that has already failed `attempts` times (0 for a new one).
    public init(attempts: Int = 0, lastError: String? = nil) {
        self.attempts = attempts
        self.lastError = lastError
    }

    /// True when an attempt may start now.
    public func isDue(now: ContinuousClock.Instant) -> Bool {
        switch phase {
        case .pending: return true
        case .waiting(let until): return until <= now
        case .inFlight, .delivered, .dead: return false
        }
    }

    /// Starts an attempt; false (and nothing changes) when it is not due.
    public mutating func begin(now: ContinuousClock.Instant) -> Bool {
        guard isDue(now: now) else { return false }
        phase = .inFlight
        attempts += 1
        return true
    }

    /// Records how the attempt in flight ended and returns the new phase.
    @discardableResult
    public mutating func finish<R: RandomNumberGenerator>(
        _ outcome: DeliveryOutcome, now: ContinuousClock.Instant, policy: DeliveryPolicy, using rng: inout R
    ) -> Phase {
        precondition(phase == .inFlight, "finish without begin")
        switch outcome {
        case .delivered:
            phase = .delivered
        case .failed(let message, let retryable, let retryAfter):
            lastError = message
            if !retryable || attempts >= policy.maxAttempts {
                phase = .dead
            } else {
                phase = .waiting(until: now + policy.delay(afterAttempt: attempts, retryAfter: retryAfter, using: &rng))
            }
        }
        return phase
    }
}
