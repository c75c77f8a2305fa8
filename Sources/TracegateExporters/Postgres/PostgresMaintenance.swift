import Logging
import ServiceLifecycle
import TracegateCore

/// What one maintenance run did (or, dry, would do).
public struct MaintenanceReport: Sendable, Equatable, CustomStringConvertible {
    public var createdPartitions: [String] = []
    public var droppedPartitions: [String] = []
    public var deletedTraces = 0
    public var deletedDefaultRows = 0
    /// False when another replica held the retention lock, so this one skipped it.
    public var retentionRan = false
    public var dryRun = false

    public var description: String {
        var lines: [String] = []
        func verb(_ past: String) -> String { dryRun ? "would be \(past)" : past }
        lines.append("partitions \(verb("created")): \(createdPartitions.isEmpty ? "none" : createdPartitions.joined(separator: ", "))")
        if retentionRan {
            lines.append("partitions \(verb("dropped")): \(droppedPartitions.isEmpty ? "none" : droppedPartitions.joined(separator: ", "))")
            lines.append("traces rows \(verb("deleted")): \(deletedTraces)")
            lines.append("rows in trace_spans_default \(verb("deleted")): \(deletedDefaultRows)")
        } else {
            lines.append("retention: not run (no retention configured, or another replica holds the lock)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Creates daily partitions ahead of time and applies `retention`: drops
/// whole partitions older than it, with the matching `traces` rows. With
/// several replicas, an advisory lock lets one of them do retention at a time.
public struct PostgresMaintenance: Sendable {
    static let retentionLockKey = 7_400_410_003

    public let config: PostgresExporterConfig
    let partitions: PartitionCache?

    public init(config: PostgresExporterConfig) {
        self.config = config
        self.partitions = nil
    }

    init(config: PostgresExporterConfig, partitions: PartitionCache) {
        self.config = config
        self.partitions = partitions
    }

    public func run(dryRun: Bool, now: Int64 = wallClockNanos()) throws(PostgresError) -> MaintenanceReport {
        let connection = try PGConnection(dsn: config.dsn, connectTimeout: config.connectTimeout)
        var report = MaintenanceReport(dryRun: dryRun)
        let today = UTCDay(unixNanos: UInt64(now))
        let existing = Set(try partitionDays(connection))
        for offset in 0...config.partitionsAhead {
            let day = today.adding(days: offset)
            if existing.contains(day) { continue }
            if !dryRun {
                try connection.execute(
                    "SELECT tracegate_ensure_partition($1::date)", parameters: [day.description],
                    context: "creating partition \(day.partitionName)")
                partitions?.markKnown(day)
            }
            report.createdPartitions.append(day.partitionName)
        }
        guard config.retention > .zero else { return report }
        let locked = try connection.execute("SELECT pg_try_advisory_lock(\(Self.retentionLockKey))", context: "taking the retention lock")
        guard locked.first?.first == "t" else { return report }
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(Self.retentionLockKey))", context: "releasing the retention lock") }
        report.retentionRan = true
        // Retention works in whole UTC days, like the partitions: everything
        // before the midnight that starts the cutoff's day goes, so that a
        // trace's row and its spans leave together.
        let cutoffDay = UTCDay(unixNanos: UInt64(max(0, now - config.retention.nanoseconds)))
        let cutoff = "'\(cutoffDay)T00:00:00Z'::timestamptz"
        for day in existing.sorted() where day.adding(days: 1) <= cutoffDay {
            if !dryRun {
                try connection.execute("DROP TABLE IF EXISTS \(day.partitionName)", context: "dropping partition \(day.partitionName)")
                partitions?.forget(day)
            }
            report.droppedPartitions.append(day.partitionName)
        }
        let tracesSQL = "FROM traces WHERE start_time < \(cutoff) AND end_time < \(cutoff)"
        let defaultSQL = "FROM trace_spans_default WHERE start_time < \(cutoff)"
        func count(_ sql: String, _ context: String) throws(PostgresError) -> Int {
            let rows = try connection.execute(sql, context: context)
            return rows.first.flatMap { $0.first ?? nil }.flatMap { Int($0) } ?? 0
        }
        if dryRun {
            report.deletedTraces = try count("SELECT count(*) \(tracesSQL)", "counting old traces")
            report.deletedDefaultRows = try count("SELECT count(*) \(defaultSQL)", "counting old spans")
        } else {
            report.deletedTraces = try count("WITH d AS (DELETE \(tracesSQL) RETURNING 1) SELECT count(*) FROM d", "deleting old traces")
            report.deletedDefaultRows = try count("WITH d AS (DELETE \(defaultSQL) RETURNING 1) SELECT count(*) FROM d", "deleting old spans")
        }
        return report
    }

    private func partitionDays(_ connection: PGConnection) throws(PostgresError) -> [UTCDay] {
        let rows = try connection.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'trace_spans'::regclass",
            context: "listing partitions")
        return rows.compactMap { $0.first.flatMap { $0 }.flatMap(UTCDay.init(partitionName:)) }
    }
}

/// Runs maintenance at start and every `maintenance_interval` until shutdown.
public struct PostgresMaintenanceService: Service {
    let maintenance: PostgresMaintenance
    let logger: Logger

    public init(exporter: PostgresExporter, logger: Logger) {
        self.maintenance = PostgresMaintenance(config: exporter.config, partitions: exporter.partitions)
        self.logger = logger.with("exporter", "\(exporter.id)")
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            let outcome = await runOffThread()
            switch outcome {
            case .success(let report):
                if !report.createdPartitions.isEmpty || !report.droppedPartitions.isEmpty || report.deletedTraces > 0 {
                    logger.info("maintenance", metadata: [
                        "created": "\(report.createdPartitions)", "dropped": "\(report.droppedPartitions)",
                        "deleted_traces": "\(report.deletedTraces)", "deleted_default_rows": "\(report.deletedDefaultRows)",
                    ])
                }
            case .failure(let error):
                logger.warning("maintenance failed; will try again", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: maintenance.config.maintenanceInterval) }
        }
    }

    /// libpq blocks: run on a thread of its own, not in the cooperative pool.
    private func runOffThread() async -> Result<MaintenanceReport, PostgresError> {
        let maintenance = self.maintenance
        return await onThread(name: "tg-maintenance") {
            do throws(PostgresError) { return .success(try maintenance.run(dryRun: false)) } catch { return .failure(error) }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
