/// Reading stored traces back: the rows the query extension and
/// notifications with `include: [spans]` turn into JSON.
public enum StoredSpans {
    /// The spans of the traces whose hex ids are `$1` (a text array), by
    /// trace, then start time.
    public static let sql = """
        SELECT encode(trace_id, 'hex'), encode(span_id, 'hex'), encode(parent_span_id, 'hex'), name, kind, service_name,
               scope_name, scope_version, (extract(epoch FROM start_time) * 1000000)::bigint, duration_ns, status_code,
               status_message, flags, trace_state, attributes::text, resource_attributes::text, events::text, links::text
        FROM trace_spans
        WHERE trace_id IN (SELECT decode(id, 'hex') FROM unnest($1::text[]) AS id)
        ORDER BY trace_id, start_time, span_id
        """

    /// The column of each field in a row of `sql`.
    public enum Column {
        public static let traceID = 0, spanID = 1, parentSpanID = 2, name = 3, kind = 4, service = 5, scopeName = 6
        public static let scopeVersion = 7, startMicros = 8, durationNanos = 9, statusCode = 10, statusMessage = 11
        public static let flags = 12, traceState = 13, attributes = 14, resource = 15, events = 16, links = 17
    }
}
