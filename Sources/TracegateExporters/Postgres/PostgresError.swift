/// An error from the PostgreSQL exporter, with a stable code a test can match
/// and the context a person needs: the server's SQLSTATE and message, and what
/// was being done.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public static let connectionFailed = Code(name: "connectionFailed")
        public static let queryFailed = Code(name: "queryFailed")
        public static let copyFailed = Code(name: "copyFailed")
        public static let schemaTooNew = Code(name: "schemaTooNew")
        public static let schemaMissing = Code(name: "schemaMissing")
        public var description: String { name }
    }

    public var code: Code
    /// Five-character SQLSTATE from the server, empty when the error is local.
    public var sqlState: String
    public var message: String
    /// What Tracegate was doing ("COPY into trace_spans", a migration name, …).
    public var context: String
    /// The server's CONTEXT field ("COPY trace_spans_20261204, line 751, …"),
    /// empty when it sent none.
    public var serverContext: String = ""
    /// The server's primary message alone (no CONTEXT or DETAIL lines).
    public var serverMessage: String = ""

    public init(code: Code, sqlState: String = "", message: String, context: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.context = context
    }

    /// Only errors about the data itself are permanent (SQLSTATE classes 22,
    /// data exception, and 23, integrity violation): trying the same rows again
    /// cannot help. Everything else (connection trouble, shutdown, resources,
    /// locks, a missing table or permission) may pass or be fixed by an
    /// operator, so the batch is kept and retried, and clients are pushed back
    /// while the queue is full, rather than acknowledged spans dropped.
    public var isRetryable: Bool {
        if code == .schemaTooNew { return false }
        let cls = sqlState.prefix(2)
        return cls != "22" && cls != "23"
    }

    /// A data error (SQLSTATE classes 22 and 23) other than a unique
    /// violation, which the exporter answers with its duplicate-skipping path:
    /// the rows themselves are refused, and splitting the batch can isolate them.
    var rejectsData: Bool {
        let cls = sqlState.prefix(2)
        return (cls == "22" || cls == "23") && sqlState != "23505"
    }

    /// The 1-based row of a COPY stream the server failed on, from its
    /// CONTEXT field ("COPY t, line 751" or "COPY t, line 751, column name: …").
    var copyLine: Int? {
        guard serverContext.hasPrefix("COPY "), let range = serverContext.firstRange(of: ", line ") else { return nil }
        let digits = serverContext[range.upperBound...].prefix(while: \.isNumber)
        return Int(digits)
    }

    public var description: String {
        var s = "\(context): \(message)"
        if !sqlState.isEmpty { s += " (SQLSTATE \(sqlState))" }
        return s
    }
}
