import TracegateCore

/// Minimal JSON text writers for notification bodies.
enum JSONText {
    static func string(_ s: String) -> String { JSONString.quoted(s) }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        if v == v.rounded(), abs(v) < 1e15 { return "\(Int64(v))" }
        return "\(v)"
    }
}
