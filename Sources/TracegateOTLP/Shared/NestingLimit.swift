import CTracegateShims

/// How deep messages may nest in a request, for every decoder: 100 levels
/// below the request, the limit of the protobuf reference runtimes. protobuf-c
/// has none and recurses once per level on the caller's stack, so the
/// protobuf decoder checks the wire bytes first (`tg_otlp_check_nesting`,
/// iterative); the JSON decoder counts objects as it reads them. Every Swift
/// walk over `AnyValue` (conversion, jsonb, OTLP encoding, release) relies on
/// this bound.
public enum NestingLimit {
    public static let levels = 100

    /// The one message both decoders refuse a too-deep request with; `path`
    /// leads to the value where the limit was passed.
    static func message(at path: String?) -> String {
        guard let path else { return "messages nested deeper than \(levels) levels (the protobuf limit)" }
        return "messages nested deeper than \(levels) levels (the protobuf limit) at \(path)"
    }

    /// The proto field names along a report's path, up to and including the
    /// first attribute value (below it, the path would be the nesting itself).
    static func path(_ report: tg_nesting_report) -> String {
        var parts: [String] = []
        var steps = report.path
        let levels = Int(report.levels)
        withUnsafeBytes(of: &steps) { raw in
            let steps = raw.bindMemory(to: tg_nesting_step.self)
            for level in 0..<min(levels, steps.count) {
                let step = steps[level]
                let (name, repeated) = fieldName(type: step.type, field: step.field)
                parts.append(repeated ? "\(name)[\(step.index)]" : name)
                if name == "value" { break }
            }
        }
        return parts.joined(separator: ".")
    }

    /// Names for the message fields of otlp_nesting.c's types (its enum order).
    private static func fieldName(type: UInt32, field: UInt32) -> (String, Bool) {
        switch (type, field) {
        case (0, 1): return ("resource_spans", true)
        case (1, 1): return ("resource", false)
        case (1, 2): return ("scope_spans", true)
        case (2, 1): return ("attributes", true)
        case (3, 1): return ("scope", false)
        case (3, 2): return ("spans", true)
        case (4, 3): return ("attributes", true)
        case (5, 9): return ("attributes", true)
        case (5, 11): return ("events", true)
        case (5, 13): return ("links", true)
        case (6, 3), (7, 4): return ("attributes", true)
        case (8, 2): return ("value", false)
        case (9, 5): return ("array_value", false)
        case (9, 6): return ("kvlist_value", false)
        case (10, 1), (11, 1): return ("values", true)
        default: return ("field \(field)", false)
        }
    }
}
