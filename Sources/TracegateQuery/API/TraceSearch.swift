#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore
import TracegateExporters

/// The parameters of `GET /api/traces`, checked, and the SQL finding the
/// newest traces with a span that matches them all (Jaeger's semantics: the
/// service, operation, duration and tags are those of one span).
struct TraceSearch: Sendable, Equatable {
    var service: String?
    var operation: String?
    var startMicros: Int64
    var endMicros: Int64
    var minDurationNanos: Int64?
    var maxDurationNanos: Int64?
    var limit: Int = TraceSearch.defaultLimit
    /// `error=true|false`.
    var errors: Bool?
    var kind: Int?
    var statusCode: Int?
    var statusMessage: String?
    /// Other tags: a span or resource attribute with this value (as text).
    var tags: [Tag] = []
    /// `traceID=…` (repeatable): these traces, no search.
    var traceIDs: [String] = []

    struct Tag: Sendable, Equatable {
        var key: String
        var value: String
    }

    static let defaultLookbackMicros: Int64 = 3_600_000_000
    static let defaultLimit = 20

    init(_ request: QueryRequest, nowMicros: Int64, maxLimit: Int) throws(QueryFailure) {
        for id in request.values("traceID") where !id.isEmpty { traceIDs.append(try JaegerAPI.traceID(id)) }
        service = request.value("service")
        operation = request.value("operation")
        for (name, value) in [("service", service), ("operation", operation)] {
            if let value { try JaegerAPI.checkText(value, name) }
        }
        let end = try request.value("end").map { v throws(QueryFailure) in try Self.micros(v, "end") } ?? nowMicros
        var lookback = Self.defaultLookbackMicros
        if let text = request.value("lookback"), text != "custom" {
            guard let nanos = Self.goDuration(text), nanos > 0 else {
                throw .badRequest("lookback must be a duration such as 1h or 2d, got '\(text)'")
            }
            lookback = nanos / 1000
        }
        endMicros = end
        startMicros = try request.value("start").map { v throws(QueryFailure) in try Self.micros(v, "start") } ?? (end - lookback)
        if startMicros > endMicros { throw .badRequest("start is after end") }
        for (key, target) in [("minDuration", \TraceSearch.minDurationNanos), ("maxDuration", \TraceSearch.maxDurationNanos)] {
            guard let text = request.value(key) else { continue }
            guard let nanos = Self.goDuration(text), nanos >= 0 else {
                throw .badRequest("\(key) must be a duration such as 100ms or 1.5s, got '\(text)'")
            }
            self[keyPath: target] = nanos
        }
        if let min = minDurationNanos, let max = maxDurationNanos, min > max {
            throw .badRequest("minDuration is greater than maxDuration")
        }
        if let text = request.value("limit") {
            guard let n = Int(text), n >= 0 else { throw .badRequest("limit must be a non-negative integer, got '\(text)'") }
            limit = n == 0 ? Self.defaultLimit : Swift.min(n, maxLimit)
        } else {
            limit = Self.defaultLimit
        }
        var pairs: [(String, String)] = []
        if let text = request.value("tags") { pairs += try Self.jsonTags(text) }
        for t in request.values("tag") where !t.isEmpty {
            guard let colon = t.firstIndex(of: ":") else { throw .badRequest("tag must be key:value, got '\(t)'") }
            pairs.append((String(t[..<colon]), String(t[t.index(after: colon)...])))
        }
        for (key, value) in pairs { try take(key: key, value: value) }
    }

    private mutating func take(key: String, value: String) throws(QueryFailure) {
        try JaegerAPI.checkText(key, "tags")
        try JaegerAPI.checkText(value, "tags")
        switch key {
        case "error":
            switch value.lowercased() {
            case "true": errors = true
            case "false": errors = false
            default: throw .badRequest("tag error must be true or false, got '\(value)'")
            }
        case "span.kind":
            guard let k = JaegerAPI.spanKinds.firstIndex(of: value.lowercased()), k > 0 else {
                throw .badRequest("tag span.kind must be one of \(JaegerAPI.spanKinds.dropFirst().joined(separator: ", ")), got '\(value)'")
            }
            kind = k
        case "otel.status_code":
            guard let code = ["UNSET", "OK", "ERROR"].firstIndex(of: value.uppercased()) else {
                throw .badRequest("tag otel.status_code must be OK, ERROR or UNSET, got '\(value)'")
            }
            statusCode = code
        case "otel.status_description":
            statusMessage = value
        default:
            tags.append(Tag(key: key, value: value))
        }
    }

    /// The statement returning up to `limit` trace ids (hex, newest first)
    /// from the newest `scanLimit` matching spans, with how many spans it
    /// scanned. Attribute keys in `indexedKeys` are written into the SQL
    /// (they come from the database's own list, not the request, and are
    /// checked to be plain) so that their expression index applies.
    func sql(scanLimit: Int, indexedKeys: Set<String>) -> (String, [String?]) {
        var parameters: [String?] = []
        func p(_ value: String, _ type: String = "") -> String {
            parameters.append(value)
            return "$\(parameters.count)\(type)"
        }
        var conditions = [
            "s.start_time >= 'epoch'::timestamptz + \(p(String(startMicros), "::bigint")) * interval '1 microsecond'",
            "s.start_time <= 'epoch'::timestamptz + \(p(String(endMicros), "::bigint")) * interval '1 microsecond'",
        ]
        if let service { conditions.append("s.service_name = \(p(service))") }
        if let operation { conditions.append("s.name = \(p(operation))") }
        if let min = minDurationNanos { conditions.append("s.duration_ns >= \(p(String(min), "::bigint"))") }
        if let max = maxDurationNanos { conditions.append("s.duration_ns <= \(p(String(max), "::bigint"))") }
        if let errors { conditions.append(errors ? "s.status_code = 2" : "s.status_code <> 2") }
        if let kind { conditions.append("s.kind = \(kind)") }
        if let statusCode { conditions.append("s.status_code = \(statusCode)") }
        if let statusMessage { conditions.append("s.status_message = \(p(statusMessage))") }
        for tag in tags {
            if indexedKeys.contains(tag.key), AttributeIndex.isPlainKey(tag.key) {
                conditions.append("\(AttributeIndex.expression(tag.key, table: "s")) = \(p(tag.value))")
            } else {
                let k = p(tag.key)
                conditions.append("coalesce(s.attributes->>\(k), s.resource_attributes->>\(k)) = \(p(tag.value))")
            }
        }
        let scan = p(String(scanLimit), "::int")
        let lim = p(String(limit), "::int")
        let sql = """
            WITH m AS (
                SELECT s.trace_id, s.start_time FROM trace_spans s
                WHERE \(conditions.joined(separator: "\n      AND "))
                ORDER BY s.start_time DESC LIMIT \(scan))
            SELECT encode(trace_id, 'hex'), (SELECT count(*) FROM m)
            FROM m GROUP BY trace_id ORDER BY max(start_time) DESC LIMIT \(lim)
            """
        return (sql, parameters)
    }

    static func micros(_ text: String, _ name: String) throws(QueryFailure) -> Int64 {
        guard let v = Int64(text), v >= 0 else { throw .badRequest("\(name) must be microseconds since the epoch, got '\(text)'") }
        return v
    }

    /// `{"http.status_code": "500", "error": true}`: values may be strings,
    /// numbers or booleans.
    static func jsonTags(_ text: String) throws(QueryFailure) -> [(String, String)] {
        struct Scalar: Decodable {
            var text: String
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) {
                    text = s
                } else if let b = try? c.decode(Bool.self) {
                    text = b ? "true" : "false"
                } else if let i = try? c.decode(Int64.self) {
                    text = String(i)
                } else {
                    text = String(try c.decode(Double.self))
                }
            }
        }
        guard let object = try? JSONDecoder().decode([String: Scalar].self, from: Data(text.utf8)) else {
            throw .badRequest("tags must be a JSON object of strings, numbers or booleans, got '\(text.prefix(200))'")
        }
        return object.map { ($0.key, $0.value.text) }.sorted { $0.0 < $1.0 }
    }

    /// A Go duration (`300ms`, `1.5h`, `2h45m`, `100us`/`100µs`, `10ns`) or a
    /// day count (`2d`, as Jaeger's UI writes lookbacks), in nanoseconds.
    static func goDuration(_ text: String) -> Int64? {
        let units: [(String, Double)] = [
            ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86_400e9),
        ]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        guard total.isFinite, total < 9e18 else { return nil }
        return Int64(total)
    }
}

/// The attribute keys with an expression index on `trace_spans` (the
/// postgres exporter's `indexed_attributes`), read from
/// `tracegate_indexed_attributes` and cached for a minute.
actor IndexedAttributes {
    private var cached: Set<String> = []
    private var readAt: ContinuousClock.Instant? = nil

    func keys(_ database: QueryDatabase) async -> Set<String> {
        if let readAt, readAt.duration(to: .now) < .seconds(60) { return cached }
        if let rows = try? await database.rows("SELECT key FROM tracegate_indexed_attributes") {
            cached = Set(rows.compactMap { $0[0] })
        }
        readAt = .now
        return cached
    }
}
