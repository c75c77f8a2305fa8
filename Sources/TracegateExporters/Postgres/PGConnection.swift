import CLibPQ

/// One libpq connection, in blocking mode.
///
/// @unchecked Sendable: a connection is used by one thread at a time. The
/// exporter hands connections between consumer threads only through its
/// lock-protected pool (check out, use, check in), so no two calls overlap.
final class PGConnection: @unchecked Sendable {
    private let conn: OpaquePointer

    /// Connects with `dsn` (a conninfo string or URI). `connect_timeout` and
    /// `application_name` are defaults the DSN can override.
    init(dsn: String, connectTimeout: Duration) throws(PostgresError) {
        let keywords = ["application_name", "connect_timeout", "dbname"]
        let values = ["tracegate", "\(max(1, connectTimeout.wholeSecondsRoundedUp))", dsn]
        let conn: OpaquePointer? = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else {
            throw PostgresError(code: .connectionFailed, message: "out of memory", context: "connecting to PostgreSQL")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.errorText(conn)
            PQfinish(conn)
            throw PostgresError(code: .connectionFailed, message: message, context: "connecting to PostgreSQL")
        }
        self.conn = conn
        // Sessions write timestamps and jsonb; pin what affects their text forms.
        _ = try? execute("SET TIME ZONE 'UTC'; SET client_min_messages = warning", context: "session setup")
    }

    deinit { PQfinish(conn) }

    /// False once the server has gone away; such a connection is thrown out.
    var isHealthy: Bool { PQstatus(conn) == CONNECTION_OK }

    /// Runs one or more statements; returns the rows of the last one as text.
    @discardableResult
    func execute(_ sql: String, context: String) throws(PostgresError) -> [[String?]] {
        guard let result = PQexec(conn, sql) else { throw failure(.queryFailed, context: context) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_TUPLES_OK:
            return rows(result)
        default:
            throw failure(.queryFailed, result: result, context: context)
        }
    }

    /// Runs one statement with text parameters (`$1`, `$2`, …).
    @discardableResult
    func execute(_ sql: String, parameters: [String?], context: String) throws(PostgresError) -> [[String?]] {
        let result: OpaquePointer? = withOptionalCStrings(parameters) { params in
            PQexecParams(conn, sql, Int32(parameters.count), nil, params, nil, nil, 0)
        }
        guard let result else { throw failure(.queryFailed, context: context) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK: return []
        case PGRES_TUPLES_OK: return rows(result)
        default: throw failure(.queryFailed, result: result, context: context)
        }
    }

    /// Streams a binary COPY payload: `copySQL` must be `COPY … FROM STDIN (FORMAT binary)`.
    func copy(_ copySQL: String, payload: [UInt8], context: String) throws(PostgresError) {
        try beginCopy(copySQL, context: context)
        let sent = payload.withUnsafeBytes { putCopyData($0) }
        try endCopy(sent: sent, context: context)
    }

    /// Starts `COPY … FROM STDIN`; `putCopyData` then sends the stream and
    /// `endCopy` ends it and waits for the server (the exporter works out the
    /// trace summaries in that wait).
    func beginCopy(_ copySQL: String, context: String) throws(PostgresError) {
        guard let start = PQexec(conn, copySQL) else { throw failure(.copyFailed, context: context) }
        defer { PQclear(start) }
        if PQresultStatus(start) != PGRES_COPY_IN { throw failure(.copyFailed, result: start, context: context) }
    }

    /// Sends a piece of the COPY stream; false when the connection failed.
    func putCopyData(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let chunk = 1 << 20
        var offset = 0
        while offset < bytes.count {
            let n = min(chunk, bytes.count - offset)
            let ok = PQputCopyData(conn, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(n))
            if ok != 1 { return false }
            offset += n
        }
        return true
    }

    /// Ends the COPY stream (aborts it when `sent` is false) and waits for
    /// the server's verdict; `whileServerFinishes` runs in between, when the
    /// server still works on the last rows and the client would only wait.
    func endCopy(sent: Bool, context: String, whileServerFinishes: () -> Void = {}) throws(PostgresError) {
        var firstError: PostgresError? = nil
        if !sent {
            firstError = failure(.copyFailed, context: context)
            _ = PQputCopyEnd(conn, "the client could not send the COPY stream")
        } else if PQputCopyEnd(conn, nil) != 1 {
            firstError = failure(.copyFailed, context: context)
        }
        whileServerFinishes()
        // Drain every result so the connection is ready for the next command.
        while let result = PQgetResult(conn) {
            if firstError == nil && PQresultStatus(result) != PGRES_COMMAND_OK {
                firstError = failure(.copyFailed, result: result, context: context)
            }
            PQclear(result)
        }
        if let firstError { throw firstError }
    }

    private func rows(_ result: OpaquePointer) -> [[String?]] {
        let n = PQntuples(result)
        let m = PQnfields(result)
        var out: [[String?]] = []
        out.reserveCapacity(Int(n))
        for r in 0..<n {
            var row: [String?] = []
            for c in 0..<m {
                row.append(PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c)))
            }
            out.append(row)
        }
        return out
    }

    private func failure(_ code: PostgresError.Code, result: OpaquePointer? = nil, context: String) -> PostgresError {
        if !isHealthy {
            return PostgresError(code: .connectionFailed, message: Self.errorText(conn), context: context)
        }
        var sqlState = ""
        var message = Self.errorText(conn)
        var serverContext = ""
        var primary = ""
        if let result {
            if let s = PQresultErrorField(result, Int32(UInt8(ascii: "C"))) { sqlState = String(cString: s) }
            if let c = PQresultErrorField(result, Int32(UInt8(ascii: "W"))) { serverContext = String(cString: c) }
            if let m = PQresultErrorField(result, Int32(UInt8(ascii: "M"))) { primary = String(cString: m) }
            if let m = PQresultErrorMessage(result) {
                let text = String(cString: m).trimmingTrailingNewlines
                if !text.isEmpty { message = text }
            }
        }
        var error = PostgresError(code: code, sqlState: sqlState, message: message, context: context)
        error.serverContext = serverContext
        error.serverMessage = primary.isEmpty ? message : primary
        return error
    }

    private static func errorText(_ conn: OpaquePointer) -> String {
        guard let m = PQerrorMessage(conn) else { return "unknown error" }
        let text = String(cString: m).trimmingTrailingNewlines
        return text.isEmpty ? "unknown error" : text
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s
    }
}

/// Calls `body` with a NULL-terminated `char *[]` view of `strings`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings.map { Optional($0) }, body)
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { for c in copies { free(c) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
