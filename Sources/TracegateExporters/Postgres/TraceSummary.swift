import TracegateCore

/// What one batch adds to each trace's row in `traces`: aggregated in memory
/// first, then written with one COPY and one upsert per batch.
struct TraceSummary: Equatable {
    var traceID: TraceID
    var startUnixNano: UInt64
    var endUnixNano: UInt64
    var rootSpanID: SpanID?
    var rootName: String?
    var rootService: String?
    var services: [String]
    var spanCount: Int
    var errorCount: Int

    /// Summaries of `batch`, one per trace, in order of first appearance.
    static func summarize(_ batch: SpanBatch) -> [TraceSummary] {
        var index: [TraceID: Int] = [:]
        var out: [TraceSummary] = []
        for rs in batch.resourceSpans {
            let service = rs.resource.serviceName
            for ss in rs.scopeSpans {
                for span in ss.spans {
                    let isError = span.status.code == .error
                    if let i = index[span.traceID] {
                        out[i].startUnixNano = min(out[i].startUnixNano, span.startTimeUnixNano)
                        out[i].endUnixNano = max(out[i].endUnixNano, span.endTimeUnixNano)
                        out[i].spanCount += 1
                        if isError { out[i].errorCount += 1 }
                        if !out[i].services.contains(service) { out[i].services.append(service) }
                        if span.parentSpanID == nil && out[i].rootSpanID == nil {
                            out[i].rootSpanID = span.spanID
                            out[i].rootName = span.name
                            out[i].rootService = service
                        }
                    } else {
                        index[span.traceID] = out.count
                        let isRoot = span.parentSpanID == nil
                        out.append(
                            TraceSummary(
                                traceID: span.traceID, startUnixNano: span.startTimeUnixNano, endUnixNano: span.endTimeUnixNano,
                                rootSpanID: isRoot ? span.spanID : nil, rootName: isRoot ? span.name : nil,
                                rootService: isRoot ? service : nil, services: [service], spanCount: 1,
                                errorCount: isError ? 1 : 0))
                    }
                }
            }
        }
        return out
    }
}

/// The staging table for summaries and the statement that folds it into `traces`.
enum TraceSummarySQL {
    static let stagingTable = "tg_trace_batch"

    /// Created once per connection; emptied by every commit.
    static let createStaging = """
        CREATE TEMP TABLE IF NOT EXISTS \(stagingTable) (
            trace_id bytea, start_time timestamptz, end_time timestamptz, root_span_id bytea,
            root_name text, root_service text, services text[], span_count bigint, error_count bigint
        ) ON COMMIT DELETE ROWS
        """

    static let copyStatement = """
        COPY \(stagingTable) (trace_id, start_time, end_time, root_span_id, root_name, root_service, services, span_count, error_count) FROM STDIN (FORMAT binary)
        """

    /// The merge rule for a trace seen before: widen the time range, keep the
    /// first root, add services and counts, and move the activity clock.
    static let upsertClause = """
        ON CONFLICT (trace_id) DO UPDATE SET
            last_activity_at = EXCLUDED.last_activity_at,
            start_time = LEAST(traces.start_time, EXCLUDED.start_time),
            end_time = GREATEST(traces.end_time, EXCLUDED.end_time),
            root_span_id = COALESCE(traces.root_span_id, EXCLUDED.root_span_id),
            root_name = CASE WHEN traces.root_span_id IS NULL THEN EXCLUDED.root_name ELSE traces.root_name END,
            root_service = CASE WHEN traces.root_span_id IS NULL THEN EXCLUDED.root_service ELSE traces.root_service END,
            services = CASE WHEN EXCLUDED.services <@ traces.services THEN traces.services
                            ELSE ARRAY(SELECT DISTINCT s FROM unnest(traces.services || EXCLUDED.services) AS s ORDER BY s) END,
            span_count = traces.span_count + EXCLUDED.span_count,
            error_count = traces.error_count + EXCLUDED.error_count
        """

    /// Folds the staged summaries of the fast path into `traces`.
    static let upsertFromStaging = """
        INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id, root_name,
                            root_service, services, span_count, error_count)
        SELECT trace_id, now(), now(), start_time, end_time, root_span_id, root_name, root_service,
               ARRAY(SELECT DISTINCT s FROM unnest(services) AS s ORDER BY s), span_count, error_count
        FROM \(stagingTable)
        \(upsertClause)
        """

    /// The duplicate-skipping path: counts only the spans that were really
    /// inserted, so a redelivered request changes no count.
    static func insertSkippingDuplicatesAndSummarize(from stage: String) -> String {
        """
        WITH inserted AS (
            INSERT INTO trace_spans SELECT * FROM \(stage) ON CONFLICT DO NOTHING
            RETURNING trace_id, span_id, parent_span_id, name, service_name, start_time, end_time, status_code
        )
        INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id, root_name,
                            root_service, services, span_count, error_count)
        SELECT trace_id, now(), now(), min(start_time), max(end_time),
               (array_agg(span_id ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1],
               (array_agg(name ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1],
               (array_agg(service_name ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1],
               array_agg(DISTINCT service_name ORDER BY service_name), count(*), count(*) FILTER (WHERE status_code = 2)
        FROM inserted GROUP BY trace_id
        \(upsertClause)
        """
    }

    /// Binary COPY rows for the staging table.
    static func encode(_ summaries: [TraceSummary]) -> [UInt8] {
        var out: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        out.reserveCapacity(summaries.count * 128)
        SpanCopyEncoder.appendInt32(0, &out)
        SpanCopyEncoder.appendInt32(0, &out)
        for s in summaries {
            SpanCopyEncoder.appendInt16(9, &out)
            SpanCopyEncoder.appendInt32(16, &out)
            SpanCopyEncoder.appendInt64(Int64(bitPattern: s.traceID.high), &out)
            SpanCopyEncoder.appendInt64(Int64(bitPattern: s.traceID.low), &out)
            SpanCopyEncoder.appendTimestamp(s.startUnixNano, &out)
            SpanCopyEncoder.appendTimestamp(s.endUnixNano, &out)
            if let root = s.rootSpanID {
                SpanCopyEncoder.appendInt32(8, &out)
                SpanCopyEncoder.appendInt64(Int64(bitPattern: root.value), &out)
            } else {
                SpanCopyEncoder.appendInt32(-1, &out)
            }
            appendOptionalText(s.rootName, &out)
            appendOptionalText(s.rootService, &out)
            appendTextArray(s.services, &out)
            SpanCopyEncoder.appendInt32(8, &out)
            SpanCopyEncoder.appendInt64(Int64(s.spanCount), &out)
            SpanCopyEncoder.appendInt32(8, &out)
            SpanCopyEncoder.appendInt64(Int64(s.errorCount), &out)
        }
        SpanCopyEncoder.appendInt16(-1, &out)
        return out
    }

    private static func appendOptionalText(_ s: String?, _ out: inout [UInt8]) {
        guard let s else {
            SpanCopyEncoder.appendInt32(-1, &out)
            return
        }
        SpanCopyEncoder.appendText(s, &out)
    }

    /// A one-dimensional text[] in PostgreSQL's binary array format: ndim,
    /// has-nulls flag, element type oid (25 = text), then length and lower
    /// bound of the dimension, then each element as length + bytes.
    private static func appendTextArray(_ items: [String], _ out: inout [UInt8]) {
        let lengthAt = out.count
        SpanCopyEncoder.appendInt32(0, &out)
        SpanCopyEncoder.appendInt32(1, &out)
        SpanCopyEncoder.appendInt32(0, &out)
        SpanCopyEncoder.appendInt32(25, &out)
        SpanCopyEncoder.appendInt32(Int32(items.count), &out)
        SpanCopyEncoder.appendInt32(1, &out)
        for item in items { SpanCopyEncoder.appendText(item, &out) }
        let length = Int32(out.count - lengthAt - 4)
        out.withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: lengthAt, as: Int32.self) }
    }
}
