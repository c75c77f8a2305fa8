import Metrics

extension PostgresExporter {
    /// Times one batch's write (COPY and the trace summary update) as
    /// `tracegate_postgres_copy_duration_seconds{exporter}`, a histogram.
    func timingCopy<R>(_ body: () throws(PostgresError) -> R) throws(PostgresError) -> R {
        let started = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - started
            Timer(label: "tracegate_postgres_copy_duration_seconds", dimensions: [("exporter", id)])
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        return try body()
    }
}
