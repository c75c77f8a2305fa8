/// Migration 6: what the `query` extension reads (docs/query.md).
///
/// - `span_operations`: every (service, span name, kind) ever stored, so that
///   Jaeger's service and operation lists are a small table's scan instead of
///   a `DISTINCT` over every span. The postgres exporter adds the pairs it has
///   not written yet in the transaction that stores their spans.
/// - `tracegate_indexed_attributes`: the attribute keys the exporter indexes
///   (`indexed_attributes`), so that a reader knows which tag searches an
///   index serves.
///
/// Traces are written out (Jaeger's model, OTLP/JSON) by the extension from
/// the stored rows, not by SQL functions: built with PostgreSQL's JSON
/// functions they took ~0.4 ms a span (4.4 s for a 10,000-span trace).
extension Migrations {
    static let queryAPI = Migration(
        version: 6, name: "query_api",
        up: #"""
            CREATE TABLE span_operations (
                service_name text     NOT NULL,
                span_name    text     NOT NULL,
                kind         smallint NOT NULL,
                first_seen   timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (service_name, span_name, kind)
            );
            COMMENT ON TABLE span_operations IS 'Every (service, span name, kind) stored in trace_spans; Jaeger''s service and operation lists.';
            INSERT INTO span_operations (service_name, span_name, kind)
            SELECT DISTINCT service_name, name, kind FROM trace_spans;

            CREATE TABLE tracegate_indexed_attributes (
                key        text PRIMARY KEY,
                index_name text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE tracegate_indexed_attributes IS 'Attribute keys with an expression index on trace_spans (the postgres exporter''s indexed_attributes).';
            """#,
        down: """
            DROP TABLE tracegate_indexed_attributes;
            DROP TABLE span_operations;
            """)
}
