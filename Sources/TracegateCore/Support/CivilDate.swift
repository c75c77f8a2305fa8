/// Year, month and day of a day count since 1970-01-01 in the proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`), without Foundation's
/// calendars: partition names and terminal output both need it.
public func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

/// A UTC instant's calendar fields, and the few text forms Tracegate writes:
/// RFC 3339 in logs and notifications, `2018-12-13 14:51:00.000000000 +0000
/// UTC` in the debug exporter, file-name-safe `2026-12-06T12-30-00.123` for
/// rotated files. Pure arithmetic on `civilDate`, no time zone database.
public struct UTCTime: Sendable, Equatable {
    public var year: Int64
    public var month: Int64
    public var day: Int64
    public var hour: Int64
    public var minute: Int64
    public var second: Int64
    /// 0–999,999,999.
    public var nanosecond: Int64

    /// `seconds` and `nanoseconds` since 1970-01-01T00:00:00Z (before it too).
    public init(seconds: Int64, nanoseconds: Int64 = 0) {
        let total = seconds + nanoseconds.floorDivided(by: 1_000_000_000)
        let days = total.floorDivided(by: 86_400)
        let ofDay = total - days * 86_400
        (year, month, day) = civilDate(daysSinceEpoch: days)
        hour = ofDay / 3600
        minute = ofDay / 60 % 60
        second = ofDay % 60
        nanosecond = nanoseconds - nanoseconds.floorDivided(by: 1_000_000_000) * 1_000_000_000
    }

    public init(unixNano: UInt64) {
        self.init(seconds: Int64(unixNano / 1_000_000_000), nanoseconds: Int64(unixNano % 1_000_000_000))
    }

    /// `2023-11-14T22:13:20.123456Z` by default; the separators, the digits
    /// of the fraction (truncated; 0: none) and the suffix can change.
    public func formatted(
        dateTimeSeparator: String = "T", timeSeparator: String = ":", fractionDigits: Int = 6, suffix: String = "Z"
    ) -> String {
        var s = "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))\(dateTimeSeparator)"
            + "\(Self.pad(hour, 2))\(timeSeparator)\(Self.pad(minute, 2))\(timeSeparator)\(Self.pad(second, 2))"
        if fractionDigits > 0 { s += "." + String(Self.pad(nanosecond, 9).prefix(min(fractionDigits, 9))) }
        return s + suffix
    }

    static func pad(_ n: Int64, _ width: Int) -> String {
        let digits = String(n)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension Int64 {
    fileprivate func floorDivided(by b: Int64) -> Int64 { self >= 0 ? self / b : -((-self + b - 1) / b) }
}
