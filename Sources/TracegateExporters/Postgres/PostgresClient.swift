/// A plain PostgreSQL connection for tools (`tracegate-bench`, the query
/// extension): run SQL and binary COPY payloads, without the exporter's
/// queueing and retries. @unchecked Sendable as `PGConnection`: one thread
/// at a time, handed over through a lock-protected pool.
public final class PostgresClient: @unchecked Sendable {
    private let connection: PGConnection

    public init(dsn: String, connectTimeout: Duration = .seconds(5)) throws(PostgresError) {
        connection = try PGConnection(dsn: dsn, connectTimeout: connectTimeout)
    }

    /// Runs SQL; returns the last statement's rows as text.
    @discardableResult
    public func query(_ sql: String) throws(PostgresError) -> [[String?]] {
        try connection.execute(sql, context: "query")
    }

    /// Runs one statement with text parameters (`$1`, `$2`, …; nil is NULL).
    @discardableResult
    public func query(_ sql: String, parameters: [String?], context: String = "query") throws(PostgresError) -> [[String?]] {
        try connection.execute(sql, parameters: parameters, context: context)
    }

    /// False once the server has gone away; such a client is thrown out.
    public var isHealthy: Bool { connection.isHealthy }

    /// A PostgreSQL text-array literal: every element double-quoted, with
    /// `"` and `\` escaped. Sent as a parameter, never spliced into SQL.
    public static func arrayLiteral(_ items: [String]) -> String {
        var out = "{"
        for (i, item) in items.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            for ch in item.unicodeScalars {
                if ch == "\"" || ch == "\\" { out += "\\" }
                out.unicodeScalars.append(ch)
            }
            out += "\""
        }
        return out + "}"
    }

    /// Streams a payload made by `encodeSpanRows` into `trace_spans`.
    public func copySpanRows(_ payload: [UInt8], table: String = "trace_spans") throws(PostgresError) {
        try connection.copy(SpanCopyEncoder.copyStatement(table: table), payload: payload, context: "COPY into \(table)")
    }

    /// The binary COPY payload the exporter sends for `batch`.
    public static func encodeSpanRows(_ batch: TracegateCore.SpanBatch) -> [UInt8] {
        SpanCopyEncoder.encode(batch)
    }
}

import TracegateCore
