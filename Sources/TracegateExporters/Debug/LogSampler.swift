/// Which log messages to write, as the Collector's debug exporter samples
/// (zap's sampler): in each second, the first `initial` messages, then every
/// `thereafter`-th. Pure: the caller gives the time, so tests need no clock.
public struct LogSampler: Sendable {
    public let initial: Int
    public let thereafter: Int
    private var second: Int64 = .min
    private var seen = 0
    /// Messages left out since the last one written, for the next line to say.
    public private(set) var skipped = 0

    public init(initial: Int, thereafter: Int) {
        self.initial = initial
        self.thereafter = max(1, thereafter)
    }

    /// Whether to write a message at `nanoseconds` (any monotonic origin).
    /// When it says yes, `skipped` tells how many were left out before it
    /// and is reset.
    public mutating func admit(atNanoseconds nanoseconds: UInt64) -> (write: Bool, skippedBefore: Int) {
        let now = Int64(clamping: nanoseconds / 1_000_000_000)
        if now != second {
            second = now
            seen = 0
        }
        seen += 1
        let write = seen <= initial || (seen - initial) % thereafter == 0
        guard write else {
            skipped += 1
            return (false, 0)
        }
        defer { skipped = 0 }
        return (true, skipped)
    }
}
