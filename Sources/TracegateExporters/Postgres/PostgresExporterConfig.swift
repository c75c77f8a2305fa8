import TracegateCore

/// Settings of the `postgres` exporter.
public struct PostgresExporterConfig: Sendable, Equatable {
    /// libpq connection string or URI, e.g. `host=127.0.0.1 port=5432 dbname=tracegate`
    /// or `postgres://user@host/db`. Usually `${env:TRACEGATE_DSN}`.
    public var dsn: String = ""
    /// Apply pending migrations at start (under an advisory lock). When false,
    /// the schema must be migrated with `tracegate migrate up`.
    public var autoMigrate: Bool = true
    /// How long one connection attempt may take.
    public var connectTimeout: Duration = .seconds(5)
    public var sendingQueue = SendingQueueConfig(numConsumers: 2, queueSize: 200_000)
    /// The system of record retries for as long as it takes by default
    /// (`max_elapsed_time: 0`): a full queue pushes back on clients instead.
    public var retry = RetryPolicy(initialInterval: .seconds(1), maxInterval: .seconds(30), maxElapsedTime: .zero)

    public init() {}

    public static func read(_ map: ConfigMap) -> PostgresExporterConfig {
        var c = PostgresExporterConfig()
        if let dsn = map.string("dsn") {
            c.dsn = dsn
            if dsn.isEmpty { map.report("dsn", "is empty (is the environment variable it names set?)") }
        } else {
            map.report(nil, "dsn is required")
        }
        c.autoMigrate = map.bool("auto_migrate", default: c.autoMigrate)
        c.connectTimeout = map.duration("connect_timeout", default: c.connectTimeout)
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        c.retry = RetryPolicy.read(map.map("retry_on_failure"), defaults: c.retry)
        map.finish()
        return c
    }
}
