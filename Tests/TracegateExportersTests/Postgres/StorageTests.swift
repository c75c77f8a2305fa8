import Logging
import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct UTCDayTests {
    @Test func formatsAndParsesDays() {
        #expect(UTCDay(daysSinceEpoch: 0).description == "1970-01-01")
        #expect(UTCDay(unixNanos: 1_700_000_000_000_000_000).description == "2023-11-14")
        #expect(UTCDay(daysSinceEpoch: 11016).description == "2000-02-29")
        for days in [0, 59, 60, 365, 11016, 19675, 20780, 40000] {
            let day = UTCDay(daysSinceEpoch: days)
            #expect(UTCDay(partitionName: day.partitionName) == day)
        }
        #expect(UTCDay(partitionName: "trace_spans_default") == nil)
        #expect(UTCDay(partitionName: "trace_spans_2023111") == nil)
    }
}

@Suite struct TraceSummaryTests {
    @Test func aggregatesPerTraceWithRootServicesAndCounts() {
        let summaries = TraceSummary.summarize(sampleBatch(traceLow: 1))
        #expect(summaries.count == 1)
        let s = summaries[0]
        #expect(s.rootSpanID == SpanID(0xa1))
        #expect(s.rootName == "GET /users/{id}")
        #expect(s.rootService == "users")
        #expect(s.services == ["users"])
        #expect(s.spanCount == 2)
        #expect(s.errorCount == 1)
        #expect(s.startUnixNano == 1_700_000_000_123_456_789)
        #expect(s.endUnixNano == 1_700_000_000_223_456_790)
    }

    @Test func missingCandidatesAreTheAbsentParentsAscendingAndOnce() {
        let trace = TraceID(high: 3, low: 4)
        func span(_ id: UInt64, parent: UInt64?) -> Span {
            Span(traceID: trace, spanID: SpanID(id), parentSpanID: parent.map(SpanID.init), name: "s", startTimeUnixNano: 1, endTimeUnixNano: 2)
        }
        // Parents 9 and 7 are absent (9 referenced twice); 1 and 2 are present.
        let spans = [span(2, parent: 9), span(1, parent: nil), span(5, parent: 1), span(6, parent: 9), span(8, parent: 7), span(3, parent: 2)]
        let other = Span(traceID: TraceID(high: 3, low: 5), spanID: SpanID(7), name: "elsewhere", startTimeUnixNano: 1, endTimeUnixNano: 2)
        let batch = SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: Array(spans[..<3]) + [other] + Array(spans[3...]))])])
        let summaries = TraceSummary.summarize(batch)
        #expect(summaries.map(\.traceID) == [trace, TraceID(high: 3, low: 5)])
        #expect(summaries[0].spanCount == 6)
        #expect(summaries[0].missingCandidates == [SpanID(7), SpanID(9)])
        #expect(summaries[1].missingCandidates == [])
    }
}

@Suite struct StorageTests {
    func exporter(_ db: TestDatabase, retention: Duration = .zero) -> PostgresExporter {
        var config = PostgresExporterConfig()
        config.dsn = db.dsn
        config.retention = retention
        return PostgresExporter(id: "postgres", config: config, logger: quietLogger)
    }

    /// A two-span trace that started `daysAgo` days before now.
    func recentBatch(traceLow: UInt64, daysAgo: Int, service: String = "svc", error: Bool = false) -> SpanBatch {
        let start = UInt64(wallClockNanos()) - UInt64(daysAgo) * 86_400_000_000_000
        let trace = TraceID(high: 7, low: traceLow)
        let root = Span(
            traceID: trace, spanID: SpanID(1), name: "root", kind: .server, startTimeUnixNano: start, endTimeUnixNano: start + 5_000_000,
            status: error ? SpanStatus(code: .error, message: "x") : SpanStatus())
        let child = Span(traceID: trace, spanID: SpanID(2), parentSpanID: SpanID(1), name: "child", startTimeUnixNano: start + 1000, endTimeUnixNano: start + 2000)
        return SpanBatch(resourceSpans: [
            ResourceSpans(resource: Resource(attributes: [Attribute("service.name", .string(service))]), scopeSpans: [ScopeSpans(spans: [root, child])])
        ])
    }

    @Test func spansLandInTheirDaysPartitionAndTracesAreSummarized() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db)
        try pg.export(recentBatch(traceLow: 1, daysAgo: 0))
        try pg.export(recentBatch(traceLow: 2, daysAgo: 3, error: true))
        let c = try db.connect()
        let today = UTCDay.today()
        let rows = try c.execute("SELECT tableoid::regclass::text, count(*) FROM trace_spans GROUP BY 1 ORDER BY 1")
        #expect(rows == [[today.adding(days: -3).partitionName, "2"], [today.partitionName, "2"]])
        let traces = try c.execute(
            "SELECT encode(trace_id,'hex'), root_name, root_service, services::text, span_count, error_count, status FROM traces ORDER BY start_time")
        #expect(traces == [
            ["00000000000000070000000000000002", "root", "svc", "{svc}", "2", "1", "error"],
            ["00000000000000070000000000000001", "root", "svc", "{svc}", "2", "0", "ok"],
        ])
    }

    @Test func laterSpansOfATraceUpdateItsSummaryAndRedeliveryCountsNothingTwice() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db)
        // The child arrives first, from another service; then the root.
        var first = recentBatch(traceLow: 9, daysAgo: 0, service: "frontend")
        first.resourceSpans[0].scopeSpans[0].spans.removeFirst()
        var second = recentBatch(traceLow: 9, daysAgo: 0, service: "api", error: true)
        second.resourceSpans[0].scopeSpans[0].spans.removeLast()
        try pg.export(first)
        try pg.export(second)
        try pg.export(second)  // a client retry
        let c = try db.connect()
        let row = try c.execute("SELECT root_name, root_service, services::text, span_count, error_count FROM traces")
        #expect(row == [["root", "api", "{api,frontend}", "2", "1"]])
        #expect(try c.execute("SELECT count(*) FROM trace_spans") == [["2"]])
    }

    @Test func retentionDropsOldPartitionsAndTheirTraces() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db, retention: .seconds(10 * 86_400))
        try pg.export(recentBatch(traceLow: 1, daysAgo: 0))
        try pg.export(recentBatch(traceLow: 2, daysAgo: 5))
        try pg.export(recentBatch(traceLow: 3, daysAgo: 9))
        let maintenance = PostgresMaintenance(config: pg.config)
        // Five days later the 9-day-old trace is 14 days old: past retention.
        let later = wallClockNanos() + 5 * 86_400_000_000_000
        let dry = try maintenance.run(dryRun: true, now: later)
        #expect(dry.retentionRan)
        #expect(dry.droppedPartitions == [UTCDay.today().adding(days: -9).partitionName])
        #expect(dry.deletedTraces == 1)
        let c = try db.connect()
        #expect(try c.execute("SELECT count(*) FROM traces") == [["3"]])  // dry run changed nothing

        let report = try maintenance.run(dryRun: false, now: later)
        #expect(report.droppedPartitions == dry.droppedPartitions)
        #expect(report.deletedTraces == 1)
        #expect(try c.execute("SELECT count(*) FROM trace_spans") == [["4"]])
        #expect(try c.execute("SELECT encode(trace_id,'hex') FROM traces ORDER BY 1") == [
            ["00000000000000070000000000000001"], ["00000000000000070000000000000002"],
        ])
        // Partitions ahead of "later" were created.
        #expect(report.createdPartitions.contains(UTCDay(unixNanos: UInt64(later)).adding(days: 3).partitionName))
    }

    @Test func aBatchOfOneDayGoesStraightToItsPartitionAndAMixedOneThroughTheParent() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db)
        let today = UTCDay.today()
        #expect(pg.partitions.plan(for: recentBatch(traceLow: 1, daysAgo: 0)).onlyDay == today)
        var mixed = recentBatch(traceLow: 2, daysAgo: 0)
        mixed.append(contentsOf: recentBatch(traceLow: 3, daysAgo: 2))
        #expect(pg.partitions.plan(for: mixed).onlyDay == nil)
        try pg.export(recentBatch(traceLow: 1, daysAgo: 0))
        try pg.export(mixed)
        let c = try db.connect()
        let rows = try c.execute("SELECT tableoid::regclass::text, count(*) FROM trace_spans GROUP BY 1 ORDER BY 1")
        #expect(rows == [[today.adding(days: -2).partitionName, "2"], [today.partitionName, "4"]])
        #expect(try c.execute("SELECT sum(span_count) FROM traces") == [["6"]])
    }

    @Test func aPartitionDroppedBehindTheExportersBackIsMadeAgain() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db)
        try pg.export(recentBatch(traceLow: 1, daysAgo: 1))
        let c = try db.connect()
        let name = UTCDay.today().adding(days: -1).partitionName
        _ = try c.execute("DROP TABLE \(name)")
        // The exporter still believes the partition exists and writes to it
        // directly: that fails, it forgets the day and tries again.
        try pg.export(recentBatch(traceLow: 2, daysAgo: 1))
        #expect(try c.execute("SELECT tableoid::regclass::text, encode(trace_id, 'hex') FROM trace_spans GROUP BY 1, 2") == [
            [name, "00000000000000070000000000000002"]
        ])
    }

    @Test func spansOutsideThePartitionWindowGoToTheDefaultPartition() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db, retention: .seconds(10 * 86_400))
        try pg.export(recentBatch(traceLow: 1, daysAgo: 40))
        let c = try db.connect()
        #expect(try c.execute("SELECT tableoid::regclass::text FROM trace_spans GROUP BY 1") == [["trace_spans_default"]])
    }
}

@Suite struct ExporterStartTests {
    @Test func aConnectionOpenedAtStartWritesSpansAndTraces() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        var config = PostgresExporterConfig()
        config.dsn = db.dsn
        let pg = PostgresExporter(id: "postgres", config: config, logger: quietLogger)
        try pg.prepare()
        try pg.export(sampleBatch())
        let c = try db.connect()
        #expect(try c.execute("SELECT count(*) FROM trace_spans") == [["2"]])
        #expect(try c.execute("SELECT span_count FROM traces") == [["2"]])
    }

    @Test func onlyDataErrorsArePermanent() {
        #expect(!PostgresError(code: .copyFailed, sqlState: "22021", message: "", context: "").isRetryable)
        #expect(!PostgresError(code: .copyFailed, sqlState: "23502", message: "", context: "").isRetryable)
        #expect(PostgresError(code: .copyFailed, sqlState: "42P01", message: "", context: "").isRetryable)
        #expect(PostgresError(code: .connectionFailed, message: "", context: "").isRetryable)
        #expect(!PostgresError(code: .schemaTooNew, message: "", context: "").isRetryable)
    }
}

@Suite struct AttributeTruncationTests {
    @Test func longValuesAreCutWithTheirLengthAndHashBeside() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        var config = PostgresExporterConfig()
        config.dsn = db.dsn
        config.maxAttributeValueSize = 10
        let pg = PostgresExporter(id: "postgres", config: config, logger: quietLogger)
        var batch = sampleBatch()
        // 9 ASCII bytes then "é" (2 bytes): a cut at 10 would split the character.
        batch.resourceSpans[0].scopeSpans[0].spans[1].attributes = [
            Attribute("long", .string("abcdefghié and more")), Attribute("short", .string("ok")),
        ]
        try pg.export(batch)
        let c = try db.connect()
        let row = try c.execute(
            "SELECT attributes->>'long', attributes->>'long.original_length', attributes->>'long.sha256', attributes->>'short', encode(sha256(convert_to('abcdefghié and more', 'UTF8')), 'hex') FROM trace_spans WHERE name = 'SELECT'")
        #expect(row.count == 1)
        #expect(row[0][0] == "abcdefghi")
        #expect(row[0][1] == "20")
        #expect(row[0][2] == row[0][4])
        #expect(row[0][3] == "ok")
    }
}

@Suite struct CompletenessTests {
    func span(_ trace: UInt64, _ id: UInt64, parent: UInt64?) -> Span {
        let start = UInt64(wallClockNanos())
        return Span(
            traceID: TraceID(high: 3, low: trace), spanID: SpanID(id), parentSpanID: parent.map(SpanID.init),
            name: "s\(id)", startTimeUnixNano: start, endTimeUnixNano: start + 1000)
    }

    func batch(_ spans: [Span]) -> SpanBatch {
        SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: spans)])])
    }

    func state(_ c: PGConnection, _ trace: UInt64) throws -> [String?] {
        try c.execute(
            "SELECT complete::text, missing_parent_count::text, array_to_string(ARRAY(SELECT encode(p, 'hex') FROM unnest(missing_parents) p ORDER BY 1), ',') FROM traces WHERE trace_id = '\\x00000000000000030000000000000\(String(format: "%03x", trace))'"
        ).first ?? []
    }

    @Test func completenessFollowsTheSpansAsTheyArrive() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        var config = PostgresExporterConfig()
        config.dsn = db.dsn
        let pg = PostgresExporter(id: "postgres", config: config, logger: quietLogger)
        let c = try db.connect()

        // A whole trace in one batch is complete.
        try pg.export(batch([span(1, 1, parent: nil), span(1, 2, parent: 1), span(1, 3, parent: 2)]))
        #expect(try state(c, 1) == ["true", "0", ""])

        // Children first, as SDKs send them: the parents are missing until they come.
        let children = batch([span(2, 3, parent: 2), span(2, 4, parent: 2)])
        try pg.export(children)
        #expect(try state(c, 2) == ["false", "1", "0000000000000002"])
        try pg.export(batch([span(2, 2, parent: 1)]))
        #expect(try state(c, 2) == ["false", "1", "0000000000000001"])
        try pg.export(batch([span(2, 1, parent: nil)]))
        #expect(try state(c, 2) == ["true", "0", ""])

        // A child whose parent was stored by an earlier batch is not missing anything.
        try pg.export(batch([span(2, 5, parent: 4)]))
        #expect(try state(c, 2) == ["true", "0", ""])

        // A redelivered batch (the duplicate-skipping path) changes nothing.
        try pg.export(children)
        #expect(try state(c, 2) == ["true", "0", ""])
        #expect(try c.execute("SELECT span_count FROM traces WHERE trace_id = '\\x00000000000000030000000000000002'") == [["5"]])

        // A root alone whose child references an unknown parent stays incomplete.
        try pg.export(batch([span(3, 1, parent: nil), span(3, 7, parent: 6)]))
        #expect(try state(c, 3) == ["false", "1", "0000000000000006"])
    }
}
