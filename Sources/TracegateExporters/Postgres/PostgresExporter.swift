import Logging
import Synchronization
import TracegateCore

/// Stores spans in `trace_spans` with binary COPY.
///
/// Idempotency without slowing the fast path: rows go straight into
/// `trace_spans` with COPY; only when that hits the primary key (a client
/// retried a request we had already stored, or a batch repeats a span) is the
/// batch written again through a temporary staging table with
/// `INSERT … ON CONFLICT DO NOTHING`.
public final class PostgresExporter: SpanExporter {
    public let id: String
    public let config: PostgresExporterConfig
    private let logger: Logger
    /// Idle connections; each consumer thread checks one out per export.
    private let idle = Mutex<[PGConnection]>([])
    private let schemaChecked = Mutex(false)

    public init(id: String, config: PostgresExporterConfig, logger: Logger) {
        self.id = id
        self.config = config
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.logger = logger
    }

    /// Connects once and migrates or checks the schema. Called at start so
    /// that a schema newer than this binary stops the gateway at once; a
    /// database that is down only delays this to the first export.
    public func prepare() throws(PostgresError) {
        let connection = try PGConnection(dsn: config.dsn, connectTimeout: config.connectTimeout)
        try ensureSchema(connection)
        checkIn(connection)
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        do throws(PostgresError) {
            let connection = try checkOut()
            do throws(PostgresError) {
                try write(batch, connection)
                checkIn(connection)
            } catch {
                if connection.isHealthy { checkIn(connection) }
                throw error
            }
        } catch {
            throw ExportFailure(retryable: error.isRetryable, message: error.description)
        }
    }

    public func close() {
        idle.withLock { $0.removeAll() }
    }

    private func checkOut() throws(PostgresError) -> PGConnection {
        if let c = idle.withLock({ $0.popLast() }) { return c }
        let connection = try PGConnection(dsn: config.dsn, connectTimeout: config.connectTimeout)
        try ensureSchema(connection)
        return connection
    }

    private func checkIn(_ connection: PGConnection) {
        idle.withLock { $0.append(connection) }
    }

    private func ensureSchema(_ connection: PGConnection) throws(PostgresError) {
        if schemaChecked.withLock({ $0 }) { return }
        let migrator = Migrator(connection: connection)
        if config.autoMigrate {
            let applied = try migrator.up()
            for m in applied { logger.info("applied migration", metadata: ["version": "\(m.version)", "name": "\(m.name)"]) }
        } else {
            try migrator.checkNotNewer()
            let status = try migrator.status()
            if !status.pending.isEmpty {
                throw PostgresError(
                    code: .schemaMissing,
                    message: "schema is at version \(status.current), migrations \(status.pending) are pending; run `tracegate migrate up` or set auto_migrate: true",
                    context: "checking schema version")
            }
        }
        schemaChecked.withLock { $0 = true }
    }

    private func write(_ batch: SpanBatch, _ connection: PGConnection) throws(PostgresError) {
        let payload = SpanCopyEncoder.encode(batch)
        do throws(PostgresError) {
            try connection.copy(SpanCopyEncoder.copyStatement(table: "trace_spans"), payload: payload, context: "COPY into trace_spans")
        } catch let error where error.sqlState == "23505" {
            logger.debug("batch repeats stored spans; writing it through the staging table", metadata: ["spans": "\(batch.spanCount)"])
            try writeSkippingDuplicates(payload, connection)
        }
    }

    private func writeSkippingDuplicates(_ payload: [UInt8], _ connection: PGConnection) throws(PostgresError) {
        let context = "COPY into trace_spans (duplicate-skipping path)"
        try connection.execute(
            "BEGIN; CREATE TEMP TABLE tg_stage_spans (LIKE trace_spans INCLUDING DEFAULTS) ON COMMIT DROP", context: context)
        do throws(PostgresError) {
            try connection.copy(SpanCopyEncoder.copyStatement(table: "tg_stage_spans"), payload: payload, context: context)
            try connection.execute(
                """
                INSERT INTO trace_spans SELECT * FROM tg_stage_spans ON CONFLICT (trace_id, span_id) DO NOTHING;
                COMMIT
                """, context: context)
        } catch {
            _ = try? connection.execute("ROLLBACK", context: context)
            throw error
        }
    }
}
