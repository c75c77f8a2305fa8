import TracegateCore
/// Text building blocks shared by `tracegate trace` and `tracegate traces`:
/// human durations, UTC timestamps, column padding, ANSI colour, JSON text.
/// Everything here is pure: no clock, no I/O.
public enum InspectFormat {
    /// A duration in the largest unit that keeps it under 1000, with three
    /// significant digits and no trailing zeros: `0µs`, `850ns`, `12µs`,
    /// `1.5ms`, `45.2ms`, `250ms`, `2.04s`; from a minute on `1m05s`, from an
    /// hour on `2h03m`. Negative durations read as zero.
    public static func duration(nanos: Int64) -> String {
        let ns = max(0, nanos)
        if ns == 0 { return "0µs" }
        if ns < 1_000 { return "\(ns)ns" }
        let minute: Int64 = 60_000_000_000
        if ns >= minute - 500_000_000 {
            let seconds = (ns + 500_000_000) / 1_000_000_000
            if seconds < 3_600 { return "\(seconds / 60)m\(twoDigits(seconds % 60))s" }
            let minutes = (ns + minute / 2) / minute
            return "\(minutes / 60)h\(twoDigits(minutes % 60))m"
        }
        let units: [(nanos: Int64, name: String)] = [(1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")]
        var u = units.lastIndex { ns >= $0.nanos } ?? 0
        while true {
            let unit = units[u].nanos
            for decimals in [2, 1, 0] {
                let scale: Int64 = decimals == 2 ? 100 : decimals == 1 ? 10 : 1
                let scaled = (ns * scale + unit / 2) / unit
                if scaled < 1_000 { return decimal(scaled, decimals: decimals) + units[u].name }
            }
            // Rounds up to 1000 of this unit: say it in the next one.
            if u == units.count - 1 { return "\(ns / 1_000_000_000)s" }
            u += 1
        }
    }

    /// `value / 10^decimals` as a decimal without trailing zeros.
    static func decimal(_ value: Int64, decimals: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let whole = value / scale
        var fraction = String(value % scale)
        while fraction.count < decimals { fraction = "0" + fraction }
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
    }

    /// Nanoseconds as milliseconds for JSON, exact: `250`, `45.2`, `0.000001`.
    public static func milliseconds(nanos: Int64) -> String {
        nanos < 0 ? "-" + decimal(-nanos, decimals: 6) : decimal(nanos, decimals: 6)
    }

    private static func twoDigits(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// ISO-8601 in UTC from microseconds since the Unix epoch:
    /// `2023-11-14T22:13:20.000250Z` (6 fraction digits) or
    /// `2023-11-14T22:13:20Z` (`fractionDigits: 0`, truncated).
    public static func timestamp(micros: Int64, fractionDigits: Int = 6) -> String {
        // Split first: micros × 1000 overflows past the year 2262.
        let seconds = micros >= 0 ? micros / 1_000_000 : -((-micros + 999_999) / 1_000_000)
        return UTCTime(seconds: seconds, nanoseconds: (micros - seconds * 1_000_000) * 1000).formatted(fractionDigits: min(fractionDigits, 6))
    }

    static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let date = TracegateCore.civilDate(daysSinceEpoch: daysSinceEpoch)
        return (date.year, date.month, date.day)
    }

    /// Span names, services and messages come from clients: control and
    /// bidirectional-override characters become spaces so that they cannot
    /// move the cursor, recolour the terminal or reorder a line.
    public static func sanitized(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { out.append(isUnsafe(scalar) ? " " : scalar) }
        return String(out)
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// `text` cut to `width` characters, the last one `…` when cut.
    public static func truncated(_ text: String, to width: Int) -> String {
        guard text.count > width else { return text }
        guard width > 0 else { return "" }
        return String(text.prefix(width - 1)) + "…"
    }

    static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// A JSON string literal.
    public static func jsonString(_ s: String) -> String { JSONString.quoted(s) }

    static func jsonString(_ s: String?) -> String { s.map { jsonString($0) } ?? "null" }

    /// One JSON object on one line from already encoded values, keys in order.
    static func jsonObject(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// ANSI colour, or none: the commands decide once (terminal or `--color`) and
/// pass it down, so rendering stays a pure function of its input.
public struct TerminalStyle: Sendable, Equatable {
    public let colored: Bool

    public init(colored: Bool) { self.colored = colored }

    public static let plain = TerminalStyle(colored: false)
    public static let ansi = TerminalStyle(colored: true)

    public enum Color: String, Sendable, CaseIterable {
        case bold = "1", dim = "2", red = "31", green = "32", yellow = "33", blue = "34", magenta = "35", cyan = "36"
    }

    /// Colours for services, in order of first appearance (never red: that is for errors).
    static let servicePalette: [Color] = [.cyan, .magenta, .blue, .green, .yellow]

    /// `text` wrapped in the escape codes of `colors`, or as is when plain.
    public func paint(_ text: String, _ colors: Color...) -> String {
        guard colored, !colors.isEmpty, !text.isEmpty else { return text }
        return "\u{1B}[\(colors.map(\.rawValue).joined(separator: ";"))m\(text)\u{1B}[0m"
    }
}
