import Logging
import NIOPosix
import Synchronization
import TracegateExporters

/// The query extension's own PostgreSQL connections: read-only sessions with
/// a statement timeout, used one query at a time on a thread pool sized to
/// `max_connections` (libpq blocks; the event loops never wait on it).
public final class QueryDatabase: Sendable {
    private let dsn: String
    private let connectTimeout: Duration
    private let queryTimeout: Duration
    private let idle = Mutex<[PostgresClient]>([])
    private let threads: NIOThreadPool

    public init(dsn: String, maxConnections: Int, queryTimeout: Duration, connectTimeout: Duration) {
        self.dsn = dsn
        self.connectTimeout = connectTimeout
        self.queryTimeout = queryTimeout
        threads = NIOThreadPool(numberOfThreads: maxConnections)
        threads.start()
    }

    /// Runs one statement with text parameters on a pool thread; a broken
    /// connection is thrown away and the statement tried once more on a new
    /// one (the server restarted between two requests, say).
    public func rows(_ sql: String, _ parameters: [String?] = []) async throws -> [[String?]] {
        try await threads.runIfActive { [self] in
            do {
                return try once(sql, parameters)
            } catch let error as PostgresError where error.code == .connectionFailed || error.sqlState.hasPrefix("08") {
                return try once(sql, parameters)
            }
        }
    }

    private func once(_ sql: String, _ parameters: [String?]) throws -> [[String?]] {
        let client = try checkOut()
        do {
            let rows = try client.query(sql, parameters: parameters, context: "query")
            idle.withLock { $0.append(client) }
            return rows
        } catch {
            if client.isHealthy { idle.withLock { $0.append(client) } }
            throw error
        }
    }

    private func checkOut() throws(PostgresError) -> PostgresClient {
        if let client = idle.withLock({ $0.popLast() }) {
            if client.isHealthy { return client }
        }
        let client = try PostgresClient(dsn: dsn, connectTimeout: connectTimeout)
        // Every statement of this session is a read-only transaction.
        let ms = max(1, queryTimeout.components.seconds * 1000 + queryTimeout.components.attoseconds / 1_000_000_000_000_000)
        try client.query("SET default_transaction_read_only = on; SET statement_timeout = \(ms)")
        return client
    }

    public func shutdown() async {
        try? await threads.shutdownGracefully()
        idle.withLock { $0.removeAll() }
    }
}
