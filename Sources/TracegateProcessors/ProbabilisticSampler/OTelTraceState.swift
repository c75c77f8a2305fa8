/// The OpenTelemetry member (`ot=...`) of a W3C `tracestate` header: the
/// sampling threshold `th` and explicit randomness `rv` that consistent
/// probability sampling reads and writes. Other vendors' members and other
/// `ot` sub-keys are kept as they are.
public struct OTelTraceState: Sendable, Equatable {
    /// The `th` sub-key, when present and valid.
    public var threshold: SamplingThreshold?
    /// The `rv` sub-key (14 hex digits), when present and valid.
    public var randomness: UInt64?
    /// `ot` sub-keys other than `th` and `rv`, in order (`key:value`).
    private var otherFields: [Substring] = []
    /// Members of other vendors, in order (`vendor=value`).
    private var otherMembers: [Substring] = []

    /// Reads a `tracestate` value; malformed `th`/`rv` values are ignored.
    public init(_ tracestate: String) {
        for raw in tracestate.split(separator: ",") {
            let member = raw.trimmingSpaces
            if member.isEmpty { continue }
            guard member.hasPrefix("ot=") else {
                otherMembers.append(member)
                continue
            }
            for field in member.dropFirst(3).split(separator: ";") {
                if field.hasPrefix("th:") {
                    threshold = SamplingThreshold(tracestateValue: field.dropFirst(3))
                } else if field.hasPrefix("rv:") {
                    let hex = field.dropFirst(3)
                    if hex.utf8.count == 14, let v = UInt64(hex, radix: 16) { randomness = v }
                } else {
                    otherFields.append(field)
                }
            }
        }
    }

    /// The `tracestate` value with this `ot` member first, as W3C asks of a
    /// member that was modified.
    public var encoded: String {
        var fields: [String] = []
        if let threshold, threshold != .never { fields.append("th:\(threshold.tracestateValue)") }
        if let randomness {
            let hex = String(randomness, radix: 16)
            fields.append("rv:" + String(repeating: "0", count: max(0, 14 - hex.count)) + hex)
        }
        fields.append(contentsOf: otherFields.map(String.init))
        var members = fields.isEmpty ? [] : ["ot=" + fields.joined(separator: ";")]
        members.append(contentsOf: otherMembers.map(String.init))
        return members.joined(separator: ",")
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
