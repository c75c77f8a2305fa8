/// What `tracegate notifications retry-dead` and `status` do for one
/// conclusion exporter.
public enum NotificationDeadLetters {
    /// Postgres store: moves the exporter's dead letters back into the
    /// outbox with a fresh attempt count, where the running gateways deliver
    /// them. Returns how many moved.
    public static func requeue(exporter: String, config: ConclusionExporterConfig) throws(PostgresError) -> Int {
        let c = try PGConnection(dsn: config.dsn, connectTimeout: PostgresConclusionStore.connectTimeout)
        let rows = try c.execute(ConclusionSQL.requeueDead, parameters: [exporter], context: "re-queueing dead letters")
        return Int(rows.first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    /// Memory store: the running gateway has no queue this command could
    /// reach, so it POSTs each dead letter of the file itself, once, and
    /// rewrites the file with those that failed again (their attempts and
    /// error updated) and those of other exporters.
    public static func redeliver(exporter: String, config: ConclusionExporterConfig) throws -> (delivered: Int, failed: Int) {
        let file = DeadLetterFile(path: config.deadLetterFile)
        let (letters, unreadable) = try file.readAll()
        let sender = NotificationSender(endpoint: config.endpoint, timeout: config.timeout)
        var keep: [DeadLetter] = []
        var delivered = 0
        var failed = 0
        for var letter in letters {
            guard letter.exporter == exporter else {
                keep.append(letter)
                continue
            }
            let request = NotificationRequest.make([letter.conclusion], config: config)
            switch sender.send(request) {
            case .delivered:
                delivered += 1
            case .failed(let message, _, _):
                failed += 1
                letter.attempts += 1
                letter.lastError = message
                keep.append(letter)
            }
        }
        try file.rewrite(keep, keeping: unreadable)
        return (delivered, failed)
    }

    /// Postgres store: per exporter, notifications (new, retrying) in the
    /// outbox and dead letters.
    public static func status(dsn: String) throws(PostgresError) -> [(exporter: String, pending: Int, retrying: Int, dead: Int)] {
        let c = try PGConnection(dsn: dsn, connectTimeout: PostgresConclusionStore.connectTimeout)
        return try c.execute(ConclusionSQL.status, context: "reading notification status").map { row in
            (row[0] ?? "", Int(row[1] ?? "0") ?? 0, Int(row[2] ?? "0") ?? 0, Int(row[3] ?? "0") ?? 0)
        }
    }

    /// Memory store: dead letters in the file for `exporter`.
    public static func deadLetterCount(exporter: String, config: ConclusionExporterConfig) throws -> Int {
        try DeadLetterFile(path: config.deadLetterFile).readAll().letters.filter { $0.exporter == exporter }.count
    }
}
