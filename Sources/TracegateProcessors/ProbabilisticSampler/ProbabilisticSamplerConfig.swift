import TracegateCore

/// Settings of the `probabilistic_sampler` processor (head sampling, one
/// decision per span from its trace id alone, so every replica agrees).
public struct ProbabilisticSamplerConfig: Sendable, Equatable {
    /// How the decision is derived from the trace id.
    public enum Mode: String, Sendable, Equatable {
        /// OpenTelemetry consistent probability sampling: keep when the trace's
        /// 56-bit randomness is at or above the rejection threshold; `th` is
        /// written to the kept spans' `tracestate`.
        case proportional
        /// The collector's older scheme: a 14-bit hash of the seed and the
        /// trace id below `percentage × 2^14`. Only replicas with the same seed
        /// agree; `tracestate` is left alone.
        case hashSeed = "hash_seed"
    }

    /// Percentage of traces to keep, 0 to 100 (fractions allowed). Required.
    public var samplingPercentage: Double = 100
    /// `proportional` (default) or `hash_seed`. Setting `hash_seed` alone selects `hash_seed`.
    public var mode: Mode = .proportional
    /// Seed of the hash in `hash_seed` mode.
    public var hashSeed: UInt32 = 0
    /// Hex digits of the threshold written as `th` (1 to 14, default 4).
    public var samplingPrecision: Int = 4
    /// Percentage per `service.name` (the resource attribute); services not
    /// listed use `sampling_percentage`.
    public var overrides: [String: Double] = [:]

    public init() {}

    public static func read(_ map: ConfigMap) -> ProbabilisticSamplerConfig {
        var c = ProbabilisticSamplerConfig()
        if let p = map.percentage("sampling_percentage") {
            c.samplingPercentage = p
        } else if !map.has("sampling_percentage") {
            map.report("sampling_percentage", "is required (0 to 100)")
        }
        let seedGiven = map.has("hash_seed")
        c.hashSeed = UInt32(map.int("hash_seed", default: 0, range: 0...Int(UInt32.max)))
        if let text = map.string("mode") {
            if let mode = Mode(rawValue: text) {
                c.mode = mode
            } else {
                map.report("mode", "must be proportional or hash_seed, got '\(text)'")
            }
        } else if seedGiven {
            c.mode = .hashSeed
        }
        c.samplingPrecision = map.int("sampling_precision", default: c.samplingPrecision, range: 1...14)
        let overrides = map.map("overrides")
        for service in overrides.keys {
            if let p = overrides.percentage(service) { c.overrides[service] = p }
        }
        overrides.finish()
        map.finish()
        return c
    }
}

extension ConfigMap {
    /// A number from 0 to 100, reported when it is not.
    func percentage(_ key: String) -> Double? {
        guard let text = string(key) else { return nil }
        guard let v = Double(text), v.isFinite, (0...100).contains(v) else {
            report(key, "must be a number from 0 to 100, got '\(text)'")
            return nil
        }
        return v
    }

    /// Any finite number, reported when it is not.
    func number(_ key: String) -> Double? {
        guard let text = string(key) else { return nil }
        guard let v = Double(text), v.isFinite else {
            report(key, "must be a number, got '\(text)'")
            return nil
        }
        return v
    }
}
