/// A plain PostgreSQL connection for tools (`tracegate-bench`): run SQL and
/// binary COPY payloads, without the exporter's queueing and retries.
public final class PostgresClient {
    private let connection: PGConnection

    public init(dsn: String, connectTimeout: Duration = .seconds(5)) throws(PostgresError) {
        connection = try PGConnection(dsn: dsn, connectTimeout: connectTimeout)
    }

    /// Runs SQL; returns the last statement's rows as text.
    @discardableResult
    public func query(_ sql: String) throws(PostgresError) -> [[String?]] {
        try connection.execute(sql, context: "query")
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
