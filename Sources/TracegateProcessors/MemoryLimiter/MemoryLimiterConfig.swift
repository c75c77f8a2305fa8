import TracegateCore

/// Settings of the `memory_limiter` processor (the collector's keys).
///
/// Above the soft limit (`limit_mib - spike_limit_mib`) receivers refuse new
/// requests with HTTP 429 / gRPC RESOURCE_EXHAUSTED and a retry hint; above
/// `limit_mib` free heap memory is also given back to the system.
public struct MemoryLimiterConfig: Sendable, Equatable {
    /// How often the heap in use is measured. Between two measurements the
    /// bytes of admitted requests are added to the last one.
    public var checkInterval: Duration = .milliseconds(200)
    /// The hard limit, in MiB of heap in use. Required.
    public var limitMiB: Int = 0
    /// Headroom below `limit_mib` for a burst between two checks; the soft
    /// limit is `limit_mib - spike_limit_mib`. Default: 20% of `limit_mib`.
    public var spikeLimitMiB: Int = 0

    public init(checkInterval: Duration = .milliseconds(200), limitMiB: Int, spikeLimitMiB: Int? = nil) {
        self.checkInterval = checkInterval
        self.limitMiB = limitMiB
        self.spikeLimitMiB = spikeLimitMiB ?? limitMiB / 5
    }

    /// `limit_mib` in bytes.
    public var hardLimitBytes: Int { limitMiB << 20 }
    /// `limit_mib - spike_limit_mib` in bytes.
    public var softLimitBytes: Int { (limitMiB - spikeLimitMiB) << 20 }

    public static func read(_ map: ConfigMap) -> MemoryLimiterConfig {
        var c = MemoryLimiterConfig(limitMiB: 0)
        c.checkInterval = map.duration("check_interval", default: c.checkInterval)
        if c.checkInterval <= .zero { map.report("check_interval", "must be greater than zero") }
        if let limit = map.value("limit_mib") {
            c.limitMiB = limit.int(range: 1...1_048_576) ?? 0
        } else {
            map.report(nil, "limit_mib is required (the hard limit of heap in use, in MiB)")
        }
        c.spikeLimitMiB = c.limitMiB / 5
        if let spike = map.value("spike_limit_mib") {
            c.spikeLimitMiB = spike.int(range: 0...1_048_576) ?? c.spikeLimitMiB
            if c.limitMiB > 0 && c.spikeLimitMiB >= c.limitMiB {
                map.report("spike_limit_mib", "must be less than limit_mib (\(c.limitMiB))")
            }
        }
        map.finish()
        return c
    }
}
