/// Migration 7: `traces_trace_id_hex`, the index that serves the view
/// `trace_waterfall` filtered by a hex trace id, becomes a hash index.
///
/// The view's filter is always an equality (`=`, `IN`), which a hash index
/// serves as well as a B-tree; and every trace the exporter stores inserts
/// into it. Measured with `pg_stat_statements` on the bench's ingest (10 s,
/// ~95,000 traces of 10 spans, 2 cores, PostgreSQL 15, locale C), the summary
/// upsert took 17.1–18.9 µs a trace with the B-tree, 15.5–16.0 µs with the
/// hash index and 13.0–14.1 µs with no index at all. Without the index the
/// view would read every row of `traces` for one id, so it stays, cheaper.
/// A hash index also compares no text: under a collation other than C a
/// B-tree on text compares with the locale's rules (18.6–20.0 µs a trace
/// here with "C.utf8").
extension Migrations {
    static let traceIDHash = Migration(
        version: 7, name: "traces_trace_id_hash",
        up: """
            -- Migration 7: the hex trace-id index of traces as a hash index (docs/sql.md).
            DROP INDEX traces_trace_id_hex;
            CREATE INDEX traces_trace_id_hex ON traces USING hash (encode(trace_id, 'hex'));
            """,
        down: """
            DROP INDEX traces_trace_id_hex;
            CREATE INDEX traces_trace_id_hex ON traces (encode(trace_id, 'hex'));
            """)
}
