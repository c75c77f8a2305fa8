import TracegateCore

/// Stored spans → OTLP/JSON `TracesData` (`GET /api/v3/traces/{id}` of the
/// query extension, and notifications with `include: [spans]`), from the rows
/// of `StoredSpans.sql`: spans regrouped by resource, then
/// scope; span times keep the stored microseconds; attribute values follow
/// the jsonb rule (a number with a fraction or exponent is a double, others
/// ints; bytes were stored as base64 and come back as strings).
public enum OTLPTraceWriter {
    /// Arrays and maps nested deeper than this come back as their JSON text
    /// (the receivers refuse deeper values anyway).
    static let maxDepth = 64

    public static func tracesData(_ rows: [[String?]]) -> String {
        tracesData(rows, maxSpanBytes: .max).json
    }

    /// As `tracesData`, keeping spans (in start order) only while their JSON
    /// stays within `maxSpanBytes`; `truncated` when any was left out.
    public static func tracesData(_ rows: [[String?]], maxSpanBytes: Int) -> (json: String, truncated: Bool) {
        var budget = maxSpanBytes
        var truncated = false
        // resource text → scope (name, version) → spans, in first-seen order.
        var resources: [String] = []
        var scopes: [String: [ScopeKey]] = [:]
        var spans: [ScopeKey: [String]] = [:]
        for row in rows {
            let text = span(row)
            if text.utf8.count > budget {
                truncated = true
                break
            }
            budget -= text.utf8.count
            let resource = row[15] ?? "{}"
            let scope = ScopeKey(resource: resource, name: row[6] ?? "", version: row[7] ?? "")
            if scopes[resource] == nil {
                resources.append(resource)
                scopes[resource] = []
            }
            if spans[scope] == nil {
                scopes[resource]!.append(scope)
                spans[scope] = []
            }
            spans[scope]!.append(text)
        }
        var out = "{\"resourceSpans\":["
        for (i, resource) in resources.enumerated() {
            if i > 0 { out += "," }
            out += "{\"resource\":{\"attributes\":"
            attributes(StoredJSON(resource), nil, into: &out)
            out += "},\"scopeSpans\":["
            for (j, scope) in scopes[resource]!.enumerated() {
                if j > 0 { out += "," }
                out += "{\"scope\":{"
                if !scope.name.isEmpty {
                    out += "\"name\":"
                    JSONString.append(scope.name, to: &out)
                }
                if !scope.version.isEmpty {
                    out += scope.name.isEmpty ? "\"version\":" : ",\"version\":"
                    JSONString.append(scope.version, to: &out)
                }
                out += "},\"spans\":[" + spans[scope]!.joined(separator: ",") + "]}"
            }
            out += "]}"
        }
        return (out + "]}", truncated)
    }

    private struct ScopeKey: Hashable {
        var resource: String
        var name: String
        var version: String
    }

    private static func span(_ row: [String?]) -> String {
        let startMicros = Int64(row[8] ?? "0") ?? 0
        let durationNanos = Int64(row[9] ?? "0") ?? 0
        let startNanos = startMicros * 1000
        var out = "{\"traceId\":\"\(row[0] ?? "")\",\"spanId\":\"\(row[1] ?? "")\""
        if let parent = row[2] { out += ",\"parentSpanId\":\"\(parent)\"" }
        if let state = row[13], !state.isEmpty {
            out += ",\"traceState\":"
            JSONString.append(state, to: &out)
        }
        if let flags = row[12], flags != "0" { out += ",\"flags\":\(flags)" }
        out += ",\"name\":"
        JSONString.append(row[3] ?? "", to: &out)
        out += ",\"kind\":\(row[4] ?? "0"),\"startTimeUnixNano\":\"\(startNanos)\",\"endTimeUnixNano\":\"\(startNanos + durationNanos)\""
        out += ",\"attributes\":"
        attributes(StoredJSON(row[14] ?? "{}"), nil, into: &out)
        let events = StoredJSON(row[16] ?? "[]")
        let eventList = events.elements()
        if !eventList.isEmpty {
            out += ",\"events\":["
            for (i, e) in eventList.enumerated() {
                if i > 0 { out += "," }
                let m = events.members(of: e.range)
                out += "{\"timeUnixNano\":\"\(events.member(m, "time_unix_nano").map { String(events.text($0.range)) } ?? "0")\",\"name\":"
                out += events.member(m, "name").map { $0.kind == .string ? String(events.text($0.range)) : "\"\"" } ?? "\"\""
                out += ",\"attributes\":"
                attributes(events, events.member(m, "attributes")?.range, into: &out)
                out += "}"
            }
            out += "]"
        }
        let links = StoredJSON(row[17] ?? "[]")
        let linkList = links.elements()
        if !linkList.isEmpty {
            out += ",\"links\":["
            for (i, l) in linkList.enumerated() {
                if i > 0 { out += "," }
                let m = links.members(of: l.range)
                out += "{\"traceId\":" + (links.member(m, "trace_id").map { String(links.text($0.range)) } ?? "\"\"")
                out += ",\"spanId\":" + (links.member(m, "span_id").map { String(links.text($0.range)) } ?? "\"\"")
                if let state = links.member(m, "trace_state"), state.kind == .string, state.range.count > 2 {
                    out += ",\"traceState\":" + links.text(state.range)
                }
                out += ",\"attributes\":"
                attributes(links, links.member(m, "attributes")?.range, into: &out)
                out += "}"
            }
            out += "]"
        }
        let status = row[10] ?? "0"
        let message = row[11] ?? ""
        out += ",\"status\":{"
        if status != "0" { out += "\"code\":\(status)" }
        if !message.isEmpty {
            out += status != "0" ? ",\"message\":" : "\"message\":"
            JSONString.append(message, to: &out)
        }
        return out + "}}"
    }

    /// `[{"key", "value": AnyValue}]` from a jsonb object (the whole text when `range` is nil).
    private static func attributes(_ json: StoredJSON, _ range: Range<Int>?, depth: Int = 0, into out: inout String) {
        out += "["
        let members = json.members(of: range).sorted { json.bytes[$0.key].lexicographicallyPrecedes(json.bytes[$1.key]) }
        for (i, (key, value)) in members.enumerated() {
            if i > 0 { out += "," }
            out += "{\"key\":" + json.text(key) + ",\"value\":"
            anyValue(json, value, depth: depth, into: &out)
            out += "}"
        }
        out += "]"
    }

    private static func anyValue(_ json: StoredJSON, _ value: StoredJSON.Value, depth: Int, into out: inout String) {
        switch value.kind {
        case .string: out += "{\"stringValue\":" + json.text(value.range) + "}"
        case .bool: out += "{\"boolValue\":" + json.text(value.range) + "}"
        case .number:
            let text = json.text(value.range)
            if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                out += "{\"doubleValue\":" + text + "}"
            } else {
                out += "{\"intValue\":\"" + text + "\"}"
            }
        case .null: out += "{}"
        case .array, .object:
            if depth >= maxDepth {
                out += "{\"stringValue\":"
                JSONString.append(String(json.text(value.range)), to: &out)
                out += "}"
            } else if value.kind == .array {
                out += "{\"arrayValue\":{\"values\":["
                for (i, item) in json.elements(of: value.range).enumerated() {
                    if i > 0 { out += "," }
                    anyValue(json, item, depth: depth + 1, into: &out)
                }
                out += "]}}"
            } else {
                out += "{\"kvlistValue\":{\"values\":"
                attributes(json, value.range, depth: depth + 1, into: &out)
                out += "}}"
            }
        }
    }
}
