import Synchronization
import TracegateCore

/// A UTC calendar day, counted from the Unix epoch.
public struct UTCDay: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var daysSinceEpoch: Int

    public init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    public init(unixNanos: UInt64) { daysSinceEpoch = Int(unixNanos / 86_400_000_000_000) }

    public static func today(now: UInt64 = UInt64(wallClockNanos())) -> UTCDay { UTCDay(unixNanos: now) }

    public static func < (a: UTCDay, b: UTCDay) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }

    public func adding(days: Int) -> UTCDay { UTCDay(daysSinceEpoch: daysSinceEpoch + days) }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (y, m, d) = civilDate(daysSinceEpoch: Int64(daysSinceEpoch))
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The partition's table name, as `tracegate_partition_name` makes it.
    public var partitionName: String { "trace_spans_" + description.replacingOccurrences(of: "-", with: "") }

    /// Parses a partition table name back into its day.
    public init?(partitionName: String) {
        guard partitionName.hasPrefix("trace_spans_") else { return nil }
        let digits = partitionName.dropFirst("trace_spans_".count)
        guard digits.count == 8, let y = Int(digits.prefix(4)), let m = Int(digits.dropFirst(4).prefix(2)),
            let d = Int(digits.suffix(2)), (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        // days-from-civil
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = m > 2 ? m - 3 : m + 9
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        daysSinceEpoch = era * 146_097 + doe - 719_468
    }
}

extension String {
    fileprivate func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
public func wallClockNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// The daily partitions this process knows exist, so that a batch asks the
/// database to create a partition only for a day it has not seen yet.
final class PartitionCache: Sendable {
    private let known = Mutex<Set<UTCDay>>([])
    /// How far back on-demand creation goes; older spans land in the default partition.
    let lookbackDays: Int
    /// How far ahead on-demand creation goes (clock skew, odd SDK clocks).
    let aheadDays: Int

    init(lookbackDays: Int, aheadDays: Int) {
        self.lookbackDays = lookbackDays
        self.aheadDays = aheadDays
    }

    /// Days of `batch` that need a partition and are not known to have one.
    func missingDays(in batch: SpanBatch, today: UTCDay = .today()) -> [UTCDay] {
        plan(for: batch, today: today).missing
    }

    /// The partitions `batch` needs that are not known to exist (to create
    /// first), and the day every span of it falls on when there is one such
    /// day and its partition exists or is among those: the rows can then go
    /// straight into that partition, which spares the server routing each row
    /// through the parent (COPY measured 12–18% cheaper on the server here).
    func plan(for batch: SpanBatch, today: UTCDay = .today()) -> (missing: [UTCDay], onlyDay: UTCDay?) {
        var days = Set<UTCDay>()
        var last: UTCDay? = nil
        for rs in batch.resourceSpans {
            for ss in rs.scopeSpans {
                // One field read in place per span, no copy of the span.
                ss.spans.withUnsafeBufferPointer { spans in
                    for i in spans.indices {
                        let day = UTCDay(unixNanos: spans[i].startTimeUnixNano)
                        if day != last {  // spans of a batch mostly share a day: skip hashing those
                            days.insert(day)
                            last = day
                        }
                    }
                }
            }
        }
        let window = today.adding(days: -lookbackDays)...today.adding(days: aheadDays)
        let missing = known.withLock { known in days.filter { window.contains($0) && !known.contains($0) }.sorted() }
        let onlyDay = days.count == 1 && window.contains(days.first!) ? days.first : nil
        return (missing, onlyDay)
    }

    func markKnown(_ day: UTCDay) { _ = known.withLock { $0.insert(day) } }

    func forget(_ day: UTCDay) { _ = known.withLock { $0.remove(day) } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
