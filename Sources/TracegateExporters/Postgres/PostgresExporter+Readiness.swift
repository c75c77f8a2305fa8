extension PostgresExporter {
    /// Whether the database answers now: opens a connection of its own
    /// (within `connect_timeout`) and runs `SELECT 1`. Returns nil when it
    /// does, else the problem. Blocks: call it from a thread of its own, never
    /// from an event loop.
    public func probeReachability() -> String? {
        do throws(PostgresError) {
            let connection = try PGConnection(dsn: config.dsn, connectTimeout: config.connectTimeout)
            _ = try connection.execute("SELECT 1", context: "readiness probe")
            return nil
        } catch {
            return "database not reachable: \(error)"
        }
    }
}
