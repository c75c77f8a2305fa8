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

    public var description: String {
        var s = "\(context): \(message)"
        if !sqlState.isEmpty { s += " (SQLSTATE \(sqlState))" }
        return s
    }
}
