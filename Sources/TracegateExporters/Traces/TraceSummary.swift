import TracegateCore

/// One trace's summary: time range, root span, services, counts, and the
/// span and parent ids completeness is worked out from. The one shape of it:
/// the postgres exporter folds each batch into one per trace (written to
/// `traces` with one COPY and one upsert per batch), the memory conclusion
/// store folds every span of an open trace into one, and a notification
/// (`TraceConclusion`) is made from it (the postgres store makes the same
/// fields from the `traces` row, in SQL).
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
    /// Span ids of the batch, and the parents they reference that the batch
    /// does not hold: what completeness needs to know.
    var spanIDs: [SpanID] = []
    /// As referenced, repeats included (sets per trace cost more than they
    /// save: most traces of a batch hold a handful of spans).
    var parentIDs: [SpanID] = []

    /// An empty summary, before its first span.
    init(traceID: TraceID) {
        self.init(
            traceID: traceID, startUnixNano: .max, endUnixNano: 0, rootSpanID: nil, rootName: nil, rootService: nil,
            services: [], spanCount: 0, errorCount: 0)
    }

    init(
        traceID: TraceID, startUnixNano: UInt64, endUnixNano: UInt64, rootSpanID: SpanID?, rootName: String?,
        rootService: String?, services: [String], spanCount: Int, errorCount: Int
    ) {
        self.traceID = traceID
        self.startUnixNano = startUnixNano
        self.endUnixNano = endUnixNano
        self.rootSpanID = rootSpanID
        self.rootName = rootName
        self.rootService = rootService
        self.services = services
        self.spanCount = spanCount
        self.errorCount = errorCount
    }

    /// Folds one span into everything but the id lists: the time range, the
    /// first root span, the services, the counts.
    @inline(__always)
    mutating func fold(_ span: UnsafePointer<Span>, service: String) {
        startUnixNano = min(startUnixNano, span.pointee.startTimeUnixNano)
        endUnixNano = max(endUnixNano, span.pointee.endTimeUnixNano)
        spanCount += 1
        if span.pointee.status.code == .error { errorCount += 1 }
        if !services.contains(service) { services.append(service) }
        if span.pointee.parentSpanID == nil && rootSpanID == nil {
            rootSpanID = span.pointee.spanID
            rootName = span.pointee.name
            rootService = service
        }
    }

    /// `fold`, and the span's id and its parent's into the id lists.
    @inline(__always)
    mutating func add(_ span: UnsafePointer<Span>, service: String) {
        fold(span, service: service)
        spanIDs.append(span.pointee.spanID)
        if let parent = span.pointee.parentSpanID { parentIDs.append(parent) }
    }

    /// The notification of this trace.
    func conclusion(complete: Bool, missingParents: [SpanID], updated: Bool) -> TraceConclusion {
        let s = startUnixNano == .max ? 0 : startUnixNano
        let e = max(endUnixNano, s)
        return TraceConclusion(
            traceID: traceID.hex, rootName: rootName, rootService: rootService, services: services.sorted(),
            spanCount: spanCount, errorCount: errorCount, start: TraceConclusion.timestamp(unixNano: s),
            end: TraceConclusion.timestamp(unixNano: e), durationMs: Double(e - s) / 1e6,
            status: errorCount > 0 ? "error" : "ok", complete: complete, missingParents: missingParents.map(\.hex),
            updated: updated)
    }

    /// Referenced parents this batch does not contain, ascending, each once.
    var missingCandidates: [SpanID] {
        if parentIDs.isEmpty { return [] }
        var own = spanIDs.map(\.value)
        own.sort()
        var missing: [UInt64] = []
        for parent in parentIDs where !Self.contains(own, parent.value) { missing.append(parent.value) }
        if missing.isEmpty { return [] }
        missing.sort()
        var out: [SpanID] = []
        out.reserveCapacity(missing.count)
        for (i, value) in missing.enumerated() where i == 0 || missing[i - 1] != value { out.append(SpanID(value)) }
        return out
    }

    /// Binary search in ascending `sorted`.
    private static func contains(_ sorted: [UInt64], _ value: UInt64) -> Bool {
        var low = 0
        var high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < sorted.count && sorted[low] == value
    }

    /// Summaries of `batch`, one per trace, in order of first appearance.
    static func summarize(_ batch: SpanBatch) -> [TraceSummary] {
        var accumulator = Accumulator()
        for rs in batch.resourceSpans {
            let service = rs.resource.serviceName
            for ss in rs.scopeSpans {
                // Read in place through a pointer: `for span in spans`, or
                // passing `spans[i]`, copies each span (a retain and release
                // per field).
                ss.spans.withUnsafeBufferPointer { spans in
                    for i in spans.indices { accumulator.add(spans.baseAddress! + i, service: service) }
                }
            }
        }
        return accumulator.out
    }

    private struct Accumulator {
        var index: [TraceID: Int] = [:]
        var out: [TraceSummary] = []
        /// Spans of a trace usually come together: the previous span's trace
        /// is checked before the dictionary.
        var previous = -1

        mutating func add(_ span: UnsafePointer<Span>, service: String) {
            let i: Int
            if let known = previous >= 0 && out[previous].traceID == span.pointee.traceID ? previous : index[span.pointee.traceID] {
                i = known
            } else {
                i = out.count
                index[span.pointee.traceID] = out.count
                out.append(TraceSummary(traceID: span.pointee.traceID))
            }
            out[i].add(span, service: service)
            previous = i
        }
    }
}

/// The staging table for summaries and the statement that folds it into `traces`.
enum TraceSummarySQL {
    static let stagingTable = "tg_trace_batch"

    /// The staging table's columns, in COPY order: its DDL, the COPY
    /// statement and each row's column count all come from this list.
    static let stagingColumns: [(name: String, type: String)] = [
        ("trace_id", "bytea"), ("start_time", "timestamptz"), ("end_time", "timestamptz"), ("root_span_id", "bytea"),
        ("root_name", "text"), ("root_service", "text"), ("services", "text[]"), ("span_count", "bigint"),
        ("error_count", "bigint"), ("span_ids", "bytea[]"), ("missing_candidates", "bytea[]"),
    ]

    /// Created once per connection; emptied by every commit.
    static let createStaging = """
        CREATE TEMP TABLE IF NOT EXISTS \(stagingTable) (\(stagingColumns.map { "\($0.name) \($0.type)" }.joined(separator: ", "))) ON COMMIT DELETE ROWS
        """

    static let copyStatement = """
        COPY \(stagingTable) (\(stagingColumns.map(\.name).joined(separator: ", "))) FROM STDIN (FORMAT binary)
        """

    /// Completeness of traces seen before: a missing parent is resolved when
    /// it arrives; a parent newly referenced is missing unless it was stored
    /// by an earlier batch. (For a trace first seen in this batch nothing of
    /// it is stored yet, so its candidates are exactly its missing parents.)
    ///
    /// Planner settings for this statement, from profiles of `make bench`'s
    /// ingest scenario (server log with `log_min_duration_statement` and
    /// `auto_explain`, ~100k traces):
    /// - The staging table has no statistics (temporary tables are never
    ///   analyzed), so the planner may hash-join it against all of `traces`:
    ///   a full scan per batch that grows with the table. A batch touches a
    ///   few hundred traces, an index probe each: other joins are off for
    ///   this statement.
    /// - The plan's estimated cost (the never-run subplan, times the rows)
    ///   passes `jit_above_cost`, and JIT-compiling it took ~22 ms of the
    ///   ~33 ms the statement took per batch of 8192 spans (the COPY of their
    ///   rows: ~150 ms); it runs in under 1 ms. JIT is off for the rest of
    ///   the transaction too (the upsert that follows is just as short).
    static let updateMissingParents = """
        SET LOCAL jit = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
        UPDATE traces t
        SET missing_parents = ARRAY(
            SELECT p FROM unnest(t.missing_parents) AS p WHERE p <> ALL (b.span_ids)
            UNION
            SELECT c FROM unnest(b.missing_candidates) AS c
            WHERE NOT EXISTS (SELECT 1 FROM trace_spans s WHERE s.trace_id = b.trace_id AND s.span_id = c))
        FROM \(stagingTable) b
        WHERE t.trace_id = b.trace_id AND (cardinality(t.missing_parents) > 0 OR cardinality(b.missing_candidates) > 0);
        RESET enable_hashjoin; RESET enable_mergejoin
        """

    /// Folds the staged summaries into `traces`: new traces are inserted;
    /// for known ones the time range widens, the first root stays, services
    /// and counts add up, and the activity clock moves.
    static let upsertFromStaging = """
        INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id, root_name,
                            root_service, services, span_count, error_count, missing_parents, missing_parent_count, complete)
        SELECT trace_id, now(), now(), start_time, end_time, root_span_id, root_name, root_service,
               CASE WHEN cardinality(services) < 2 THEN services
                    ELSE ARRAY(SELECT DISTINCT s FROM unnest(services) AS s ORDER BY s) END, span_count, error_count,
               missing_candidates, cardinality(missing_candidates),
               root_span_id IS NOT NULL AND cardinality(missing_candidates) = 0
        FROM \(stagingTable)
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
            error_count = traces.error_count + EXCLUDED.error_count,
            missing_parent_count = cardinality(traces.missing_parents),
            complete = COALESCE(traces.root_span_id, EXCLUDED.root_span_id) IS NOT NULL AND cardinality(traces.missing_parents) = 0
        """

    /// Folds the staged summaries into `traces` and commits: one round trip
    /// (a statement that fails skips the rest and the caller rolls back).
    static let foldAndCommit = foldLock + ";\n" + updateMissingParents + ";\n" + upsertFromStaging + ";\nCOMMIT"

    /// Folds take turns, database-wide (replicas too), and each holds its
    /// turn until it commits. Without it two batches of one trace folded at
    /// once could each miss the other's spans: a batch's missing-parent check
    /// reads `trace_spans` with its statement's snapshot, so a parent stored
    /// by a concurrent batch that folded first but committed after that
    /// snapshot was taken stayed "missing" for good (seen with the SDK's
    /// simple span processor: one span per request, two consumers), and the
    /// trace was never `complete`. Taken in its own statement, so the check
    /// that follows sees every fold that went before. The fold is the short
    /// part of a batch (the COPY of its rows is not serialized).
    static let foldLock = "SELECT pg_advisory_xact_lock(7400410006)"

    /// The duplicate-skipping path: stages summaries of only the spans that
    /// were really inserted, so a redelivered request changes no count.
    static func insertSkippingDuplicatesAndStage(from stage: String) -> String {
        """
        WITH inserted AS (
            INSERT INTO trace_spans SELECT * FROM \(stage) ON CONFLICT DO NOTHING
            RETURNING trace_id, span_id, parent_span_id, name, service_name, start_time, end_time, status_code
        ), ids AS (
            SELECT trace_id, array_agg(span_id) AS span_ids FROM inserted GROUP BY trace_id
        ), candidates AS (
            SELECT i.trace_id, array_agg(DISTINCT i.parent_span_id) AS missing
            FROM inserted i JOIN ids USING (trace_id)
            WHERE i.parent_span_id IS NOT NULL AND i.parent_span_id <> ALL (ids.span_ids)
            GROUP BY i.trace_id
        )
        INSERT INTO \(stagingTable)
        SELECT g.trace_id, g.start_time, g.end_time, g.root_span_id, g.root_name, g.root_service, g.services,
               g.span_count, g.error_count, ids.span_ids, COALESCE(candidates.missing, '{}')
        FROM (
            SELECT trace_id, min(start_time) AS start_time, max(end_time) AS end_time,
                   (array_agg(span_id ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1] AS root_span_id,
                   (array_agg(name ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1] AS root_name,
                   (array_agg(service_name ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1] AS root_service,
                   array_agg(DISTINCT service_name) AS services, count(*) AS span_count,
                   count(*) FILTER (WHERE status_code = 2) AS error_count
            FROM inserted GROUP BY trace_id
        ) AS g JOIN ids USING (trace_id) LEFT JOIN candidates USING (trace_id)
        """
    }

    /// Binary COPY rows for the staging table.
    static func encode(_ summaries: [TraceSummary]) -> [UInt8] {
        var w = BinaryCopyWriter(columns: stagingColumns.count, capacity: 32 + summaries.count * 128)
        for s in summaries {
            w.beginRow()
            w.bytes16(high: s.traceID.high, low: s.traceID.low)
            w.timestamp(unixNanos: s.startUnixNano)
            w.timestamp(unixNanos: s.endUnixNano)
            w.bytes8(s.rootSpanID?.value)
            w.text(s.rootName)
            w.text(s.rootService)
            w.textArray(s.services)
            w.int64(Int64(s.spanCount))
            w.int64(Int64(s.errorCount))
            w.bytes8Array(s.spanIDs.map(\.value))
            w.bytes8Array(s.missingCandidates.map(\.value))
        }
        return w.finish()
    }
}
