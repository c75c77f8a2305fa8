/// `${env:VAR}` and `${env:VAR:-default}` substitution, as in the collector.
/// `$$` stands for a literal `$`. An unset variable without a default becomes
/// the empty string (the collector's behaviour).
public enum EnvSubstitution {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func apply(_ text: String, environment: [String: String]) throws -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var rest = text[...]
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("$") {
                out += "$"
                rest = after.dropFirst()
            } else if after.hasPrefix("{") {
                guard let close = after.firstIndex(of: "}") else {
                    throw Failure(description: "unterminated '${' in '\(text)'")
                }
                let body = after[after.index(after: after.startIndex)..<close]
                guard body.hasPrefix("env:") else {
                    throw Failure(description: "only ${env:NAME} substitution is supported, got '${\(body)}'")
                }
                let spec = body.dropFirst(4)
                let name: Substring
                var fallback: Substring? = nil
                if let sep = spec.firstRange(of: ":-") {
                    name = spec[..<sep.lowerBound]
                    fallback = spec[sep.upperBound...]
                } else {
                    name = spec
                }
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw Failure(description: "invalid environment variable name '\(name)'")
                }
                if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                    out += value
                } else {
                    out += fallback ?? ""
                }
                rest = after[after.index(after: close)...]
            } else {
                out += "$"
                rest = after
            }
        }
        out += rest
        return out
    }
}

/// Durations as the collector writes them: `200ms`, `5s`, `1m`, `2h`, `30d`,
/// `1m30s`, plus `us`/`µs` and `ns`. A bare `0` is zero.
public enum DurationParser {
    public static func parse(_ text: String) -> Duration? {
        let s = text.trimmingWhitespace
        if s == "0" { return .zero }
        var total = Duration.zero
        var i = s.startIndex
        var sawAny = false
        while i < s.endIndex {
            let numStart = i
            while i < s.endIndex, s[i].isNumber || s[i] == "." { i = s.index(after: i) }
            guard numStart < i, let value = Double(s[numStart..<i]) else { return nil }
            let unitStart = i
            while i < s.endIndex, s[i].isLetter { i = s.index(after: i) }
            let unit = s[unitStart..<i]
            let nanosPerUnit: Double
            switch unit {
            case "ns": nanosPerUnit = 1
            case "us", "µs": nanosPerUnit = 1e3
            case "ms": nanosPerUnit = 1e6
            case "s": nanosPerUnit = 1e9
            case "m": nanosPerUnit = 60e9
            case "h": nanosPerUnit = 3600e9
            case "d": nanosPerUnit = 86400e9
            default: return nil
            }
            total += .nanoseconds(Int64(value * nanosPerUnit))
            sawAny = true
        }
        return sawAny ? total : nil
    }
}

/// Sizes: a plain number of bytes, or with `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`.
public enum ByteSizeParser {
    public static func parse(_ text: String) -> Int? {
        let s = text.trimmingWhitespace
        let digits = s.prefix { $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let unit = s.dropFirst(digits.count).trimmingWhitespace.lowercased()
        let factor: Int
        switch unit {
        case "", "b": factor = 1
        case "kb": factor = 1000
        case "kib", "k": factor = 1 << 10
        case "mb": factor = 1000 * 1000
        case "mib", "m": factor = 1 << 20
        case "gb": factor = 1000 * 1000 * 1000
        case "gib", "g": factor = 1 << 30
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: factor)
        return overflow ? nil : result
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

extension Duration {
    /// Whole seconds, rounded up, for `Retry-After`.
    public var wholeSecondsRoundedUp: Int {
        let (s, atto) = components
        return Int(s) + (atto > 0 ? 1 : 0)
    }

    public var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }

    public var timeInterval: Double { Double(nanoseconds) / 1e9 }
}
