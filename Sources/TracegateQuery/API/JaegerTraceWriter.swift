import TracegateCore
import TracegateExporters

/// Stored spans → Jaeger's JSON model (docs/query.md, "OTLP → Jaeger
/// mapping"). The rows come from `StoredSpans.sql` as text; attributes, events and
/// links are copied from the server's jsonb text token by token (`StoredJSON`),
/// never parsed into values and printed again. In SQL the same mapping took
/// ~0.4 ms a span (4.4 s for a 10,000-span trace); here the query dominates.
enum JaegerTraceWriter {
    /// One JSON object per trace that has rows, keyed by its hex id.
    static func traces(_ rows: [[String?]]) -> [String: String] {
        var byTrace: [String: [[String?]]] = [:]
        for row in rows {
            guard let id = row[0] else { continue }
            byTrace[id, default: []].append(row)
        }
        return byTrace.mapValues { trace($0) }
    }

    static func trace(_ rows: [[String?]]) -> String {
        let traceID = rows[0][0] ?? ""
        // One process per distinct (service, resource), numbered in that order.
        var keys = Set<ProcessKey>()
        for row in rows { keys.insert(ProcessKey(service: row[5] ?? "", resource: row[15] ?? "{}")) }
        let ordered = keys.sorted { ($0.service, $0.resource) < ($1.service, $1.resource) }
        var processIDs: [ProcessKey: String] = [:]
        for (i, key) in ordered.enumerated() { processIDs[key] = "p\(i + 1)" }

        var out = "{\"traceID\":\"\(traceID)\",\"spans\":["
        out.reserveCapacity(rows.count * 700)
        for (i, row) in rows.enumerated() {
            if i > 0 { out += "," }
            let pid = processIDs[ProcessKey(service: row[5] ?? "", resource: row[15] ?? "{}")] ?? "p1"
            span(row, processID: pid, into: &out)
        }
        out += "],\"processes\":{"
        for (i, key) in ordered.enumerated() {
            if i > 0 { out += "," }
            out += "\"\(processIDs[key]!)\":{\"serviceName\":"
            JSONString.append(key.service, to: &out)
            out += ",\"tags\":"
            tags(StoredJSON(key.resource), extra: [], into: &out)
            out += "}"
        }
        return out + "},\"warnings\":null}"
    }

    private struct ProcessKey: Hashable {
        var service: String
        var resource: String
    }

    private static func span(_ row: [String?], processID: String, into out: inout String) {
        let traceID = row[0] ?? ""
        out += "{\"traceID\":\"\(traceID)\",\"spanID\":\"\(row[1] ?? "")\",\"operationName\":"
        JSONString.append(row[3] ?? "", to: &out)
        out += ",\"references\":["
        var first = true
        if let parent = row[2] {
            out += "{\"refType\":\"CHILD_OF\",\"traceID\":\"\(traceID)\",\"spanID\":\"\(parent)\"}"
            first = false
        }
        let links = StoredJSON(row[17] ?? "[]")
        for link in links.elements() {
            let m = links.members(of: link.range)
            guard let t = links.member(m, "trace_id").flatMap(links.string), let s = links.member(m, "span_id").flatMap(links.string)
            else { continue }
            if !first { out += "," }
            first = false
            out += "{\"refType\":\"FOLLOWS_FROM\",\"traceID\":"
            JSONString.append(t, to: &out)
            out += ",\"spanID\":"
            JSONString.append(s, to: &out)
            out += "}"
        }
        let kind = Int(row[4] ?? "0") ?? 0
        let status = Int(row[10] ?? "0") ?? 0
        out += "],\"startTime\":\(row[8] ?? "0"),\"duration\":\((Int64(row[9] ?? "0") ?? 0) / 1000),\"tags\":"
        var extra: [(String, String, String)] = []  // key, type, value JSON
        if (1...5).contains(kind) { extra.append(("span.kind", "string", "\"\(JaegerAPI.spanKinds[kind])\"")) }
        if status == 1 || status == 2 { extra.append(("otel.status_code", "string", status == 1 ? "\"OK\"" : "\"ERROR\"")) }
        if status == 2 { extra.append(("error", "bool", "true")) }
        for (key, index) in [("otel.status_description", 11), ("otel.scope.name", 6), ("otel.scope.version", 7), ("w3c.tracestate", 13)] {
            if let v = row[index], !v.isEmpty { extra.append((key, "string", JSONString.quoted(v))) }
        }
        tags(StoredJSON(row[14] ?? "{}"), extra: extra, into: &out)
        out += ",\"logs\":["
        let events = StoredJSON(row[16] ?? "[]")
        for (i, event) in events.elements().enumerated() {
            if i > 0 { out += "," }
            let m = events.member
            let members = events.members(of: event.range)
            let nanos = m(members, "time_unix_nano").flatMap { Int64(events.text($0.range)) } ?? 0
            out += "{\"timestamp\":\(nanos / 1000),\"fields\":[{\"key\":\"event\",\"type\":\"string\",\"value\":"
            if let name = m(members, "name"), name.kind == .string { out += events.text(name.range) } else { out += "\"\"" }
            out += "}"
            if let attributes = m(members, "attributes") {
                let sorted = sortedMembers(events, events.members(of: attributes.range))
                for (key, value) in sorted {
                    out += ","
                    tag(events, key: key, value: value, into: &out)
                }
            }
            out += "]}"
        }
        out += "],\"processID\":\"\(processID)\",\"warnings\":null,\"flags\":\((Int64(row[12] ?? "0") ?? 0) & 255)}"
    }

    /// A jsonb object's members as Jaeger tags, sorted by key, then `extra`.
    private static func tags(_ json: StoredJSON, extra: [(String, String, String)], into out: inout String) {
        out += "["
        var first = true
        for (key, value) in sortedMembers(json, json.members()) {
            if !first { out += "," }
            first = false
            tag(json, key: key, value: value, into: &out)
        }
        for (key, type, value) in extra {
            if !first { out += "," }
            first = false
            out += "{\"key\":\"\(key)\",\"type\":\"\(type)\",\"value\":\(value)}"
        }
        out += "]"
    }

    private static func sortedMembers(_ json: StoredJSON, _ members: [(key: Range<Int>, value: StoredJSON.Value)])
        -> [(Range<Int>, StoredJSON.Value)]
    {
        members.sorted { json.bytes[$0.key].lexicographicallyPrecedes(json.bytes[$1.key]) }.map { ($0.key, $0.value) }
    }

    /// jsonb keeps strings, booleans and numbers apart but not integers from
    /// doubles: a number with a fraction or exponent is float64, any other
    /// int64. Arrays and maps become their JSON text; null an empty string.
    private static func tag(_ json: StoredJSON, key: Range<Int>, value: StoredJSON.Value, into out: inout String) {
        out += "{\"key\":"
        out += json.text(key)
        switch value.kind {
        case .string: out += ",\"type\":\"string\",\"value\":" + json.text(value.range)
        case .bool: out += ",\"type\":\"bool\",\"value\":" + json.text(value.range)
        case .number:
            let text = json.text(value.range)
            let isFloat = text.contains { $0 == "." || $0 == "e" || $0 == "E" }
            out += ",\"type\":\"\(isFloat ? "float64" : "int64")\",\"value\":" + text
        case .null: out += ",\"type\":\"string\",\"value\":\"\""
        case .object, .array:
            out += ",\"type\":\"string\",\"value\":"
            JSONString.append(String(json.text(value.range)), to: &out)
        }
        out += "}"
    }
}
