#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateExporters

/// A problem reading traces that is not PostgreSQL's: a malformed row.
public struct InspectError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What `tracegate traces` asks for. Every query is bounded by `since` so
/// that it walks `traces_start` (newest first) and never the whole table.
public struct TraceListQuery: Sendable, Equatable {
    /// Traces that started no earlier than this long before the database's `now()`.
    public var since: Duration
    /// Matches the root service or any service of the trace.
    public var service: String?
    public var errorsOnly: Bool
    /// From the first span start to the last span end.
    public var minDuration: Duration?
    public var limit: Int

    public init(since: Duration = .seconds(3600), service: String? = nil, errorsOnly: Bool = false, minDuration: Duration? = nil, limit: Int = 20) {
        self.since = since
        self.service = service
        self.errorsOnly = errorsOnly
        self.minDuration = minDuration
        self.limit = limit
    }
}

/// The SQL behind `tracegate trace` and `tracegate traces`, and the parsing
/// of their text rows. `PostgresClient` takes no parameters, so values go in
/// as literals: trace ids only after `normalizedTraceID` accepted them,
/// strings through `literal`, numbers as integers.
public enum TraceQueries {
    /// Lowercase hex of a 32-hex-digit trace id in any case, or nil.
    public static func normalizedTraceID(_ text: String) -> String? {
        guard text.utf8.count == 32, text.utf8.allSatisfy({ isHexDigit($0) }) else { return nil }
        return text.lowercased()
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
    }

    /// Every span of one trace: `trace_id = …` is the leading column of the
    /// primary key of every partition, so this is one index probe per day.
    public static func spansSQL(traceID: String) -> String {
        precondition(normalizedTraceID(traceID) == traceID, "not a normalized trace id")
        return """
            SELECT encode(span_id, 'hex'), encode(parent_span_id, 'hex'), name, kind, service_name,
                   (extract(epoch FROM start_time) * 1000000)::bigint, duration_ns, status_code, status_message,
                   attributes::text, events::text
            FROM trace_spans
            WHERE trace_id = decode('\(traceID)', 'hex')
            ORDER BY start_time, span_id
            """
    }

    public static func spanRows(_ rows: [[String?]]) throws(InspectError) -> [TraceSpanRow] {
        var out: [TraceSpanRow] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            guard row.count == 11, let spanID = row[0], let name = row[2], let kind = row[3].flatMap({ Int($0) }),
                let service = row[4], let start = row[5].flatMap({ Int64($0) }), let duration = row[6].flatMap({ Int64($0) }),
                let status = row[7].flatMap({ Int($0) })
            else { throw InspectError("unexpected span row from trace_spans: \(row)") }
            let parent = row[1].flatMap { $0.isEmpty ? nil : $0 }
            out.append(
                TraceSpanRow(
                    spanID: spanID, parentSpanID: parent, name: name, service: service, kind: kind,
                    startMicros: start, durationNanos: duration, statusCode: status, statusMessage: row[8] ?? "",
                    attributesJSON: row[9].flatMap { $0.isEmpty ? nil : $0 } ?? "{}",
                    eventsJSON: row[10].flatMap { $0.isEmpty ? nil : $0 } ?? "[]"))
        }
        return out
    }

    /// The spans of `traceID` (normalized); empty when the trace is unknown.
    public static func fetchSpans(traceID: String, client: PostgresClient) throws -> [TraceSpanRow] {
        try spanRows(client.query(spansSQL(traceID: traceID)))
    }

    /// Newest first by `start_time`, which is bounded below, so PostgreSQL
    /// scans `traces_start` backwards from now and stops at `limit`.
    public static func listSQL(_ query: TraceListQuery) throws(InspectError) -> String {
        var conditions = ["start_time >= now() - \(try micros(query.since)) * interval '1 microsecond'"]
        if let service = query.service {
            let s = try literal(service)
            conditions.append("(root_service = \(s) OR \(s) = ANY (services))")
        }
        if query.errorsOnly { conditions.append("error_count > 0") }
        if let min = query.minDuration, min > .zero {
            conditions.append("end_time - start_time >= \(try micros(min)) * interval '1 microsecond'")
        }
        return """
            SELECT encode(trace_id, 'hex'), root_name, root_service, array_to_json(services)::text, span_count, error_count,
                   (extract(epoch FROM start_time) * 1000000)::bigint, (extract(epoch FROM end_time) * 1000000)::bigint,
                   (extract(epoch FROM concluded_at) * 1000000)::bigint, complete, missing_parent_count
            FROM traces
            WHERE \(conditions.joined(separator: "\n  AND "))
            ORDER BY start_time DESC
            LIMIT \(max(0, query.limit))
            """
    }

    public static func summaryRows(_ rows: [[String?]]) throws(InspectError) -> [TraceSummaryRow] {
        var out: [TraceSummaryRow] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            guard row.count == 11, let traceID = row[0], let servicesJSON = row[3],
                let services = try? JSONDecoder().decode([String].self, from: Data(servicesJSON.utf8)),
                let spans = row[4].flatMap({ Int64($0) }), let errors = row[5].flatMap({ Int64($0) }),
                let start = row[6].flatMap({ Int64($0) }), let end = row[7].flatMap({ Int64($0) }),
                let complete = row[9], let missing = row[10].flatMap({ Int64($0) })
            else { throw InspectError("unexpected row from traces: \(row)") }
            out.append(
                TraceSummaryRow(
                    traceID: traceID, rootName: row[1], rootService: row[2], services: services, spanCount: spans,
                    errorCount: errors, startMicros: start, endMicros: end, concludedMicros: row[8].flatMap { Int64($0) },
                    complete: complete == "t", missingParentCount: missing))
        }
        return out
    }

    public static func fetchList(_ query: TraceListQuery, client: PostgresClient) throws -> [TraceSummaryRow] {
        try summaryRows(client.query(listSQL(query)))
    }

    /// A string literal that means `text` whatever `standard_conforming_strings` says.
    static func literal(_ text: String) throws(InspectError) -> String {
        guard !text.unicodeScalars.contains("\0") else { throw InspectError("a NUL character cannot be part of a query") }
        return "E'" + text.replacing("\\", with: "\\\\").replacing("'", with: "''") + "'"
    }

    static func micros(_ duration: Duration) throws(InspectError) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow, seconds >= 0 else { throw InspectError("duration out of range: \(duration)") }
        return scaled + attoseconds / 1_000_000_000_000
    }
}
