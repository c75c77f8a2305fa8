#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore
import TracegateExporters

/// Jaeger's HTTP query API (the JSON its UI and Grafana's Jaeger data source
/// read), Tracegate's trace-state endpoint, and `/api/v3/traces/{id}` as
/// OTLP/JSON, over the PostgreSQL store. Every value from the request goes
/// to SQL as a parameter; everything malformed answers 400 in Jaeger's error
/// shape.
struct JaegerAPI: Sendable {
    let database: QueryDatabase
    let maxLimit: Int
    let indexedAttributes: IndexedAttributes
    /// The clock searches count `lookback` from, in microseconds since the epoch.
    var nowMicros: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    /// Answers a GET under `/api/`.
    func handle(_ request: QueryRequest) async -> QueryResponse {
        do {
            return try await route(request)
        } catch let failure as QueryFailure {
            return .error(failure.status, failure.message)
        } catch let error as PostgresError {
            return .error(503, Self.explain(error))
        } catch {
            return .error(500, "\(error)")
        }
    }

    private func route(_ request: QueryRequest) async throws -> QueryResponse {
        let s = request.segments
        switch s.count {
        case 2 where s[1] == "services": return try await services()
        case 4 where s[1] == "services" && s[3] == "operations": return try await operationNames(service: s[2])
        case 2 where s[1] == "operations": return try await operations(request)
        case 2 where s[1] == "traces": return try await search(request)
        case 3 where s[1] == "traces": return try await trace(id: s[2])
        case 2 where s[1] == "dependencies": return try await dependencies(request)
        case 4 where s[1] == "v3" && s[2] == "traces": return try await otlpTrace(id: s[3])
        case 5 where s[1] == "tracegate" && s[2] == "traces" && s[4] == "state": return try await traceState(id: s[3])
        default: throw QueryFailure.notFound("no such API path: \(request.rawPath)")
        }
    }

    // MARK: services and operations

    private func services() async throws -> QueryResponse {
        let rows = try await database.rows("SELECT DISTINCT service_name FROM span_operations ORDER BY 1")
        return .data(Self.jsonArray(rows.compactMap { $0[0] }), total: rows.count)
    }

    private func operationNames(service: String) async throws -> QueryResponse {
        try Self.checkText(service, "service")
        let rows = try await database.rows(
            "SELECT DISTINCT span_name FROM span_operations WHERE service_name = $1 ORDER BY 1", [service])
        return .data(Self.jsonArray(rows.compactMap { $0[0] }), total: rows.count)
    }

    private func operations(_ request: QueryRequest) async throws -> QueryResponse {
        guard let service = request.value("service") else { throw QueryFailure.badRequest("parameter 'service' is required") }
        try Self.checkText(service, "service")
        var sql = "SELECT span_name, kind FROM span_operations WHERE service_name = $1"
        var parameters: [String?] = [service]
        if let kindName = request.value("spanKind") {
            guard let kind = Self.spanKinds.firstIndex(of: kindName.lowercased()) else {
                throw QueryFailure.badRequest("unknown spanKind '\(kindName)'; use one of \(Self.spanKinds.dropFirst().joined(separator: ", "))")
            }
            sql += " AND kind = $2::smallint"
            parameters.append(String(kind))
        }
        let rows = try await database.rows(sql + " ORDER BY 1, 2", parameters)
        var out = "["
        for (i, row) in rows.enumerated() {
            if i > 0 { out += "," }
            out += "{\"name\":"
            JSONString.append(row[0] ?? "", to: &out)
            let kind = Int(row[1] ?? "0") ?? 0
            out += ",\"spanKind\":\"\(kind > 0 && kind < Self.spanKinds.count ? Self.spanKinds[kind] : "")\"}"
        }
        return .data(out + "]", total: rows.count)
    }

    /// OTLP span kinds by number, as Jaeger names them (`""` for unspecified).
    static let spanKinds = ["", "internal", "server", "client", "producer", "consumer"]

    // MARK: one trace

    private func trace(id: String) async throws -> QueryResponse {
        let hex = try Self.traceID(id)
        guard let json = try await traces([hex]).first else { throw QueryFailure.notFound("trace not found") }
        return .data("[" + json + "]", total: 1)
    }

    /// The traces of `ids` that have stored spans, in Jaeger's model, in the order asked.
    private func traces(_ ids: [String]) async throws -> [String] {
        if ids.isEmpty { return [] }
        let rows = try await database.rows(StoredSpans.sql, [PostgresClient.arrayLiteral(ids)])
        let built = JaegerTraceWriter.traces(rows)
        return ids.compactMap { built[$0] }
    }

    private func otlpTrace(id: String) async throws -> QueryResponse {
        let hex = try Self.traceID(id)
        let rows = try await database.rows(StoredSpans.sql, [PostgresClient.arrayLiteral([hex])])
        if rows.isEmpty { throw QueryFailure.notFound("trace not found") }
        return .json("{\"result\":" + OTLPTraceWriter.tracesData(rows) + "}")
    }

    private func traceState(id: String) async throws -> QueryResponse {
        let hex = try Self.traceID(id)
        let rows = try await database.rows(Self.traceStateSQL, [hex])
        guard let json = rows.first?[0] else { throw QueryFailure.notFound("trace not found") }
        return .data(json, total: 1)
    }

    static let traceStateSQL = """
        SELECT json_build_object(
            'traceID', encode(trace_id, 'hex'),
            'state', CASE WHEN concluded_at IS NULL THEN 'open' ELSE 'concluded' END,
            'concludedAt', (extract(epoch FROM concluded_at) * 1000000)::bigint,
            'complete', complete,
            'missingParentCount', missing_parent_count,
            'missingParents', (SELECT coalesce(json_agg(encode(m, 'hex')), '[]'::json) FROM unnest(missing_parents) m),
            'spanCount', span_count,
            'errorCount', error_count,
            'rootName', root_name,
            'rootService', root_service,
            'services', services,
            'startTime', (extract(epoch FROM start_time) * 1000000)::bigint,
            'endTime', (extract(epoch FROM end_time) * 1000000)::bigint,
            'firstSeenAt', (extract(epoch FROM first_seen_at) * 1000000)::bigint,
            'lastActivityAt', (extract(epoch FROM last_activity_at) * 1000000)::bigint)::text
        FROM traces WHERE trace_id = decode($1, 'hex')
        """

    // MARK: search

    private func search(_ request: QueryRequest) async throws -> QueryResponse {
        let query = try TraceSearch(request, nowMicros: nowMicros(), maxLimit: maxLimit)
        if query.traceIDs.isEmpty && query.service == nil {
            throw QueryFailure.badRequest("parameter 'service' is required")
        }
        var ids = query.traceIDs
        if ids.isEmpty {
            let indexed = await indexedAttributes.keys(database)
            // Scan the newest matching spans, three per trace asked for: a
            // rare tag then reads few rows. Traces with many matching spans
            // (a plain service search) fill `limit` distinct traces only
            // with a longer scan: ten times longer, twice at most.
            var scan = query.limit * 3
            for _ in 0..<3 {
                let (sql, parameters) = query.sql(scanLimit: scan, indexedKeys: indexed)
                let rows = try await database.rows(sql, parameters)
                ids = rows.compactMap { $0[0] }
                if ids.count >= query.limit || Int(rows.first?[1] ?? "0") ?? 0 < scan { break }
                scan *= 10
            }
        }
        let traces = try await traces(ids)
        return .data("[" + traces.joined(separator: ",") + "]", total: traces.count)
    }

    // MARK: dependencies

    private func dependencies(_ request: QueryRequest) async throws -> QueryResponse {
        let endMs = try request.value("endTs").map { text -> Int64 in
            guard let v = Int64(text), v >= 0 else { throw QueryFailure.badRequest("endTs must be milliseconds since the epoch, got '\(text)'") }
            return v
        } ?? nowMicros() / 1000
        let lookbackMs = try request.value("lookback").map { text -> Int64 in
            guard let v = Int64(text), v > 0, v <= 366 * 86_400_000 else {
                throw QueryFailure.badRequest("lookback must be milliseconds (1 to 366 days' worth), got '\(text)'")
            }
            return v
        } ?? 86_400_000
        let rows = try await database.rows(
            """
            SELECT coalesce(json_agg(json_build_object('parent', client, 'child', server, 'callCount', requests,
                                                       'errorCount', failed) ORDER BY client, server), '[]'::json)::text, count(*)
            FROM service_graph('epoch'::timestamptz + $1::bigint * interval '1 millisecond',
                               'epoch'::timestamptz + $2::bigint * interval '1 millisecond')
            """, [String(endMs - lookbackMs), String(endMs)])
        return .data(rows.first?[0] ?? "[]", total: Int(rows.first?[1] ?? "0") ?? 0)
    }

    // MARK: helpers

    /// A 32-hex-digit trace id (Jaeger also takes shorter ones, left-padded with zeros).
    static func traceID(_ text: String) throws(QueryFailure) -> String {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 32, bytes.allSatisfy({ isHex($0) }) else {
            throw .badRequest("malformed trace id '\(text.prefix(80))': expected up to 32 hex digits")
        }
        let hex = String(repeating: "0", count: 32 - bytes.count) + text.lowercased()
        guard hex != String(repeating: "0", count: 32) else { throw .badRequest("the all-zero trace id is invalid") }
        return hex
    }

    static func isHex(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
    }

    /// PostgreSQL text cannot hold NUL; a parameter with one is refused, not cut.
    static func checkText(_ text: String, _ name: String) throws(QueryFailure) {
        if text.utf8.contains(0) { throw .badRequest("parameter '\(name)' contains a NUL character") }
    }

    static func jsonArray(_ strings: [String]) -> String {
        var out = "["
        for (i, s) in strings.enumerated() {
            if i > 0 { out += "," }
            JSONString.append(s, to: &out)
        }
        return out + "]"
    }

    /// A database failure in words a person can act on.
    static func explain(_ error: PostgresError) -> String {
        switch error.sqlState {
        case "42P01", "42883":
            "the database has no Tracegate query schema (migration \(Migrations.latestVersion)); run `tracegate migrate up` against it: \(error.serverMessage.isEmpty ? error.message : error.serverMessage)"
        case "57014": "the query took longer than query_timeout and was cancelled; narrow the search (a shorter lookback, a service or operation)"
        default: "database unavailable: \(error.description)"
        }
    }
}
