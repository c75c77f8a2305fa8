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
    /// Drop span partitions (and trace summaries) older than this; 0 keeps everything.
    public var retention: Duration = .zero
    /// Attribute string values above this size are cut, with their full length
    /// and SHA-256 stored beside them (`<key>.original_length`, `<key>.sha256`).
    /// 0 means no limit.
    public var maxAttributeValueSize: Int = 64 << 10
    /// Daily partitions created ahead of today.
    public var partitionsAhead: Int = 3
    /// How often partitions are created ahead and retention is applied.
    public var maintenanceInterval: Duration = .seconds(3600)
    /// Attribute keys searched often enough to index (`http.route`,
    /// `user.id`): each gets an expression index on `trace_spans` over the
    /// span's attribute, else its resource's, and the start time, created at
    /// start if missing, and is listed in `tracegate_indexed_attributes` for
    /// the query extension. Each costs ingest throughput (`make bench`).
    public var indexedAttributes: [String] = []
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
        c.retention = map.duration("retention", default: c.retention)
        if c.retention > .zero && c.retention < .seconds(86_400) {
            map.report("retention", "must be 0 (keep everything) or at least 1d: partitions are daily")
        }
        c.maxAttributeValueSize = map.byteSize("max_attribute_value_size", default: c.maxAttributeValueSize)
        c.partitionsAhead = map.int("partitions_ahead", default: c.partitionsAhead, range: 0...366)
        c.maintenanceInterval = map.duration("maintenance_interval", default: c.maintenanceInterval)
        if c.maintenanceInterval < .seconds(1) { map.report("maintenance_interval", "must be at least 1s") }
        if let list = map.stringList("indexed_attributes") {
            for (i, (key, line)) in list.enumerated() {
                if !AttributeIndex.isPlainKey(key) {
                    map.diagnostics.report(
                        line: line, path: "\(map.path).indexed_attributes[\(i)]",
                        "'\(key)' cannot be indexed: use letters, digits and . _ - : / only (at most 200 bytes)")
                } else if c.indexedAttributes.contains(key) {
                    map.diagnostics.report(line: line, path: "\(map.path).indexed_attributes[\(i)]", "\(key) is listed twice")
                } else {
                    c.indexedAttributes.append(key)
                }
            }
        }
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        c.retry = RetryPolicy.read(map.map("retry_on_failure"), defaults: c.retry)
        map.finish()
        return c
    }
}
