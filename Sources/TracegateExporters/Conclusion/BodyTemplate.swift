/// A `body_template`: literal text with `{{field}}` placeholders, each
/// replaced by the JSON value of a notification field (strings come quoted),
/// e.g. `{"trace_id": {{trace_id}}}`.
public struct BodyTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case field(String)
    }

    let parts: [Part]

    /// Why a template cannot be used.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Splits the template; unknown fields and unclosed `{{` are problems.
    public static func parse(_ template: String) -> Result<BodyTemplate, Problem> {
        var parts: [Part] = []
        var rest = template[...]
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            let after = rest[open.upperBound...]
            guard let close = after.firstRange(of: "}}") else {
                return .failure(Problem(description: "'{{' without a closing '}}'"))
            }
            let name = after[..<close.lowerBound].trimmingBlanks()
            let known = TraceConclusion.fieldNames + TraceConclusion.spanFieldNames
            guard known.contains(name) else {
                return .failure(Problem(description: "unknown field '\(name)'; fields: \(known.joined(separator: ", "))"))
            }
            parts.append(.field(name))
            rest = after[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return .success(BodyTemplate(parts: parts))
    }

    /// The body for one trace.
    public func render(_ conclusion: TraceConclusion) -> String {
        parts.map { part in
            switch part {
            case .text(let t): return t
            case .field(let f): return conclusion.jsonValue(of: f) ?? "null"
            }
        }.joined()
    }
}

import TracegateCore
