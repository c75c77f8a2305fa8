/// Exponential backoff with jitter, with the collector's `retry_on_failure` keys.
public struct RetryPolicy: Sendable, Equatable {
    public var enabled: Bool
    public var initialInterval: Duration
    public var maxInterval: Duration
    /// Give up after this long; `.zero` retries for as long as the gateway runs.
    public var maxElapsedTime: Duration
    public var multiplier: Double
    public var randomizationFactor: Double

    public init(
        enabled: Bool = true, initialInterval: Duration = .seconds(5), maxInterval: Duration = .seconds(30),
        maxElapsedTime: Duration = .seconds(300), multiplier: Double = 1.5, randomizationFactor: Double = 0.5
    ) {
        self.enabled = enabled
        self.initialInterval = initialInterval
        self.maxInterval = maxInterval
        self.maxElapsedTime = maxElapsedTime
        self.multiplier = multiplier
        self.randomizationFactor = randomizationFactor
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 0), jittered by
    /// `randomizationFactor` around the exponential value and capped by `maxInterval`.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, using rng: inout R) -> Duration {
        let base = initialInterval.timeInterval * pow(multiplier, Double(min(attempt, 64)))
        let capped = min(base, maxInterval.timeInterval)
        let spread = capped * randomizationFactor
        let jittered = spread > 0 ? Double.random(in: (capped - spread)...(capped + spread), using: &rng) : capped
        return .nanoseconds(Int64(max(0, jittered) * 1e9))
    }

    /// Reads `retry_on_failure` with the given defaults.
    public static func read(_ map: ConfigMap, defaults: RetryPolicy) -> RetryPolicy {
        var p = defaults
        p.enabled = map.bool("enabled", default: defaults.enabled)
        p.initialInterval = map.duration("initial_interval", default: defaults.initialInterval)
        p.maxInterval = map.duration("max_interval", default: defaults.maxInterval)
        p.maxElapsedTime = map.duration("max_elapsed_time", default: defaults.maxElapsedTime)
        p.multiplier = Double(map.string("multiplier") ?? "") ?? defaults.multiplier
        p.randomizationFactor = Double(map.string("randomization_factor") ?? "") ?? defaults.randomizationFactor
        if p.initialInterval <= .zero { map.report("initial_interval", "must be greater than zero") }
        if p.maxInterval < p.initialInterval { map.report("max_interval", "must not be less than initial_interval") }
        if p.multiplier < 1 { map.report("multiplier", "must be at least 1") }
        if !(0...1).contains(p.randomizationFactor) { map.report("randomization_factor", "must be between 0 and 1") }
        map.finish()
        return p
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
