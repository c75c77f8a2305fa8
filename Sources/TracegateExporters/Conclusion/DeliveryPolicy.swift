import TracegateCore

/// The `retry` settings of a conclusion exporter: exponential backoff with
/// jitter between failed deliveries of one notification, and when to give up.
public struct DeliveryPolicy: Sendable, Equatable {
    /// `retry.initial_interval`: the wait after the first failure.
    public var initialInterval: Duration = .seconds(1)
    /// `retry.max_interval`: the longest wait between two attempts (a
    /// `Retry-After` from the endpoint may ask for more, up to an hour).
    public var maxInterval: Duration = .seconds(60)
    /// `retry.max_attempts`: attempts before the notification becomes a dead letter.
    public var maxAttempts: Int = 10

    /// Each wait is twice the one before, ± 25 %.
    static let multiplier = 2.0
    static let jitter = 0.25
    /// The cap on a `Retry-After` hint.
    static let longestHonouredRetryAfter = Duration.seconds(3600)

    public init() {}

    public init(initialInterval: Duration, maxInterval: Duration, maxAttempts: Int) {
        self.initialInterval = initialInterval
        self.maxInterval = maxInterval
        self.maxAttempts = maxAttempts
    }

    /// The wait after failed attempt number `attempt` (1 for the first),
    /// never shorter than the endpoint's `Retry-After`.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, retryAfter: Duration?, using rng: inout R) -> Duration {
        let policy = RetryPolicy(
            initialInterval: initialInterval, maxInterval: maxInterval, maxElapsedTime: .zero,
            multiplier: Self.multiplier, randomizationFactor: Self.jitter)
        var wait = policy.delay(afterAttempt: max(0, attempt - 1), using: &rng)
        if let hint = retryAfter, hint > wait { wait = min(hint, Self.longestHonouredRetryAfter) }
        return wait
    }

    public static func read(_ map: ConfigMap, defaults: DeliveryPolicy) -> DeliveryPolicy {
        var p = defaults
        p.initialInterval = map.duration("initial_interval", default: p.initialInterval)
        p.maxInterval = map.duration("max_interval", default: p.maxInterval)
        p.maxAttempts = map.int("max_attempts", default: p.maxAttempts, range: 1...1000)
        if p.initialInterval <= .zero { map.report("initial_interval", "must be greater than zero") }
        if p.maxInterval < p.initialInterval { map.report("max_interval", "must not be less than initial_interval") }
        map.finish()
        return p
    }
}
