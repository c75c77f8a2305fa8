import Logging
import Metrics
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
    let partitions: PartitionCache
    /// Which (service, span name, kind) triples `span_operations` has.
    let operations = OperationCache()

    public init(id: String, config: PostgresExporterConfig, logger: Logger) {
        self.id = id
        self.config = config
        self.logger = logger.with("exporter", "\(id)")
        let retentionDays = config.retention > .zero ? max(1, Int(config.retention.components.seconds / 86_400)) : 366
        self.partitions = PartitionCache(lookbackDays: retentionDays, aheadDays: max(31, config.partitionsAhead))
    }

    /// Connects once and migrates or checks the schema. Called at start so
    /// that a schema newer than this binary stops the gateway at once; a
    /// database that is down only delays this to the first export.
    public func prepare() throws(PostgresError) {
        checkIn(try openConnection())
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        do throws(PostgresError) {
            let connection = try checkOut()
            do throws(PostgresError) {
                try timingCopy { () throws(PostgresError) in try write(batch, connection) }
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
        return try openConnection()
    }

    /// Every connection the exporter writes with is set up here: schema
    /// checked (or migrated), and its session's staging table created.
    private func openConnection() throws(PostgresError) -> PGConnection {
        let connection = try PGConnection(dsn: config.dsn, connectTimeout: config.connectTimeout)
        try ensureSchema(connection)
        try connection.execute(TraceSummarySQL.createStaging, context: "creating the trace summary staging table")
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
        try AttributeIndex.ensure(config.indexedAttributes, connection)
        schemaChecked.withLock { $0 = true }
    }

    /// One transaction per batch: the spans, then their traces' summaries, so
    /// `traces` never counts a span that is not stored.
    private func write(_ batch: SpanBatch, _ connection: PGConnection, direct: Bool = true) throws(PostgresError) {
        let plan = partitions.plan(for: batch)
        for day in plan.missing {
            try connection.execute(
                "SELECT tracegate_ensure_partition($1::date)", parameters: [day.description],
                context: "creating partition \(day.partitionName)")
            partitions.markKnown(day)
        }
        // A batch of one day (nearly all of them) goes straight into that
        // day's partition; others through `trace_spans`, which routes each row.
        let partition = direct ? plan.onlyDay : nil
        let table = partition?.partitionName ?? "trace_spans"
        let context = "COPY into \(table)"
        var spansCopied = false
        do throws(PostgresError) {
            try connection.execute("BEGIN", context: context)
            // The rows are encoded whole before they are sent: streaming them
            // in pieces as they are encoded (tried) gained no throughput and
            // raised the p99 acknowledgement latency by 1–2 ms, the server
            // and the encoder competing with the receivers for the cores.
            // The trace summaries are worked out while the server stores the
            // rows, when this thread would only wait.
            let payload = SpanCopyEncoder.encode(batch, maxAttributeValueBytes: config.maxAttributeValueSize)
            try connection.beginCopy(SpanCopyEncoder.copyStatement(table: table), context: context)
            let sent = payload.withUnsafeBytes { connection.putCopyData($0) }
            var summaries: [UInt8] = []
            try connection.endCopy(sent: sent, context: context) {
                summaries = TraceSummarySQL.encode(TraceSummary.summarize(batch))
            }
            spansCopied = true
            try connection.copy(TraceSummarySQL.copyStatement, payload: summaries, context: "COPY trace summaries")
            let newOperations = try noteOperations(batch, connection)
            try connection.execute(TraceSummarySQL.foldAndCommit, context: "updating traces")
            operations.markWritten(newOperations)
        } catch let error where error.sqlState == "23505" {
            _ = try? connection.execute("ROLLBACK", context: context)
            logger.debug("batch repeats stored spans; writing it through the staging table", metadata: ["spans": "\(batch.spanCount)"])
            try writeSkippingDuplicates(
                SpanCopyEncoder.encode(batch, maxAttributeValueBytes: config.maxAttributeValueSize), operationsOf: batch, connection)
        } catch let error where error.rejectsData && !spansCopied {
            // The server refused rows for their data: find them, store the rest.
            _ = try? connection.execute("ROLLBACK", context: context)
            logger.debug("the server rejected rows of the batch; isolating them", metadata: ["spans": "\(batch.spanCount)", "error": "\(error)"])
            try writeIsolatingRejects(batch, table: table, connection)
        } catch let error where error.sqlState == "42P01" && partition != nil {
            // The partition was dropped behind this process's back (retention
            // run elsewhere): forget it and let the parent route the rows.
            _ = try? connection.execute("ROLLBACK", context: context)
            partitions.forget(partition!)
            try write(batch, connection, direct: false)
        } catch {
            if connection.isHealthy { _ = try? connection.execute("ROLLBACK", context: context) }
            throw error
        }
    }

    /// The split mode, after a COPY of the whole batch failed on its data:
    /// within one transaction, ranges of the batch's rows (in COPY order) are
    /// copied each under a savepoint. A range that fails for its data is
    /// rolled back to its savepoint and split: around the row the server
    /// named (the rows before it, that row alone, the rows after it), or in
    /// halves when it named none. A row that fails alone is rejected: logged,
    /// counted, and left out of the `traces` summaries, which are written and
    /// committed in the same transaction as on the fast path.
    private func writeIsolatingRejects(_ batch: SpanBatch, table: String, _ connection: PGConnection) throws(PostgresError) {
        let context = "COPY into \(table) (isolating rejected rows)"
        let (payload, rowStarts) = SpanCopyEncoder.encodeWithRowOffsets(batch, maxAttributeValueBytes: config.maxAttributeValueSize)
        let count = rowStarts.count - 1
        let statement = SpanCopyEncoder.copyStatement(table: table)
        var rejected: [Int: PostgresError] = [:]
        try connection.execute("BEGIN", context: context)
        do throws(PostgresError) {
            // Popped from the end: pushed last-first, so rows go in COPY order.
            var stack: [Range<Int>] = [0..<count]
            while let range = stack.popLast() {
                if range.isEmpty { continue }
                try connection.execute("SAVEPOINT tg_rows", context: context)
                do throws(PostgresError) {
                    try connection.copy(statement, payload: SpanCopyEncoder.slice(payload, rowStarts: rowStarts, range), context: context)
                    try connection.execute("RELEASE SAVEPOINT tg_rows", context: context)
                } catch let error where error.rejectsData {
                    try connection.execute("ROLLBACK TO SAVEPOINT tg_rows; RELEASE SAVEPOINT tg_rows", context: context)
                    if range.count == 1 {
                        rejected[range.lowerBound] = error
                    } else if let line = error.copyLine, line >= 1, line <= range.count {
                        let bad = range.lowerBound + line - 1
                        stack.append((bad + 1)..<range.upperBound)
                        stack.append(bad..<(bad + 1))
                        stack.append(range.lowerBound..<bad)
                    } else {
                        let mid = range.lowerBound + range.count / 2
                        stack.append(mid..<range.upperBound)
                        stack.append(range.lowerBound..<mid)
                    }
                }
            }
            let kept = reportRejected(batch, rejected)
            if kept.isEmpty {
                try connection.execute("COMMIT", context: context)
            } else {
                try connection.copy(
                    TraceSummarySQL.copyStatement, payload: TraceSummarySQL.encode(TraceSummary.summarize(kept)),
                    context: "COPY trace summaries")
                let newOperations = try noteOperations(kept, connection)
                try connection.execute(TraceSummarySQL.foldAndCommit, context: "updating traces")
                operations.markWritten(newOperations)
            }
        } catch {
            if connection.isHealthy { _ = try? connection.execute("ROLLBACK", context: context) }
            throw error
        }
    }

    /// Logs and counts the rejected rows (indexes in COPY order); returns the
    /// batch without them.
    private func reportRejected(_ batch: SpanBatch, _ rejected: [Int: PostgresError]) -> SpanBatch {
        if rejected.isEmpty { return batch }
        var kept = batch
        var index = 0
        for r in kept.resourceSpans.indices {
            for s in kept.resourceSpans[r].scopeSpans.indices {
                let spans = kept.resourceSpans[r].scopeSpans[s].spans
                var keep: [Span] = []
                keep.reserveCapacity(spans.count)
                for span in spans {
                    if let error = rejected[index] {
                        logger.warning(
                            "PostgreSQL rejected a span; dropping it",
                            metadata: [
                                "trace_id": "\(span.traceID.hex)", "span_id": "\(span.spanID.hex)",
                                "sqlstate": "\(error.sqlState)", "message": "\(error.serverMessage)",
                            ])
                        Counter(label: "tracegate_exporter_spans_rejected_total", dimensions: [("exporter", id), ("reason", String(error.sqlState.prefix(2)))])
                            .increment()
                    } else {
                        keep.append(span)
                    }
                    index += 1
                }
                kept.resourceSpans[r].scopeSpans[s].spans = keep
            }
        }
        return kept
    }

    /// Adds the batch's (service, span name, kind) triples that
    /// `span_operations` may lack, in the transaction storing the spans;
    /// returns them, to be marked written once it commits.
    private func noteOperations(_ batch: SpanBatch, _ connection: PGConnection) throws(PostgresError) -> [OperationCache.Operation] {
        let new = operations.unknown(in: batch)
        if !new.isEmpty {
            try connection.execute(
                OperationCache.insertSQL, parameters: OperationCache.parameters(new), context: "updating span_operations")
        }
        return new
    }

    private func writeSkippingDuplicates(
        _ payload: [UInt8], operationsOf batch: SpanBatch, _ connection: PGConnection
    ) throws(PostgresError) {
        let context = "COPY into trace_spans (duplicate-skipping path)"
        try connection.execute(
            "BEGIN; CREATE TEMP TABLE tg_stage_spans (LIKE trace_spans INCLUDING DEFAULTS) ON COMMIT DROP", context: context)
        do throws(PostgresError) {
            try connection.copy(SpanCopyEncoder.copyStatement(table: "tg_stage_spans"), payload: payload, context: context)
            try connection.execute(TraceSummarySQL.insertSkippingDuplicatesAndStage(from: "tg_stage_spans"), context: context)
            let newOperations = try noteOperations(batch, connection)
            try connection.execute(TraceSummarySQL.foldAndCommit, context: "updating traces")
            operations.markWritten(newOperations)
        } catch {
            if connection.isHealthy { _ = try? connection.execute("ROLLBACK", context: context) }
            throw error
        }
    }
}
