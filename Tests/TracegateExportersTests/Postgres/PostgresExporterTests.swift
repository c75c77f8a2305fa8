import Logging
import Testing
import TracegateCore
@testable import TracegateExporters

func sampleBatch(traceLow: UInt64 = 1) -> SpanBatch {
    let trace = TraceID(high: 0x0102_0304_0506_0708, low: traceLow)
    let root = Span(
        traceID: trace, spanID: SpanID(0xa1), traceState: "k=v", flags: 0x301, name: "GET /users/{id}", kind: .server,
        startTimeUnixNano: 1_700_000_000_123_456_789, endTimeUnixNano: 1_700_000_000_223_456_790,
        attributes: [
            Attribute("http.method", .string("GET")), Attribute("quote\"back\\slash\nnl\u{1}", .string("tab\tend")),
            Attribute("n", .int(-5)), Attribute("big", .int(Int64.max)), Attribute("d", .double(2.5)),
            Attribute("whole", .double(3)), Attribute("nan", .double(.nan)), Attribute("ok", .bool(true)),
            Attribute("raw", .bytes([0, 1, 2, 0xff])), Attribute("list", .array([.string("a"), .int(1), .empty])),
            Attribute("map", .kvlist([Attribute("inner", .string("ü"))])),
        ],
        droppedAttributesCount: 2,
        events: [SpanEvent(timeUnixNano: 1_700_000_000_200_000_000, name: "exception", attributes: [Attribute("exception.type", .string("E"))])],
        links: [SpanLink(traceID: TraceID(high: 9, low: 9), spanID: SpanID(7), traceState: "x=y", attributes: [Attribute("a", .int(1))], flags: 1)],
        status: SpanStatus(code: .error, message: "boom"))
    let child = Span(
        traceID: trace, spanID: SpanID(0xb2), parentSpanID: SpanID(0xa1), name: "SELECT", kind: .client,
        startTimeUnixNano: 1_700_000_000_150_000_000, endTimeUnixNano: 1_700_000_000_160_000_000)
    return SpanBatch(resourceSpans: [
        ResourceSpans(
            resource: Resource(attributes: [Attribute("service.name", .string("users")), Attribute("host", .string("h1"))]),
            scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "lib", version: "1.0"), spans: [root, child])])
    ])
}

@Suite struct PostgresExporterTests {
    func exporter(_ db: TestDatabase) -> PostgresExporter {
        var config = PostgresExporterConfig()
        config.dsn = db.dsn
        return PostgresExporter(id: "postgres", config: config, logger: quietLogger)
    }

    @Test func storesEveryColumnOfASpan() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db)
        try pg.export(sampleBatch())
        let c = try db.connect()
        let rows = try c.execute(
            """
            SELECT encode(trace_id,'hex'), encode(span_id,'hex'), parent_span_id IS NULL, trace_state, name, kind,
                   service_name, scope_name, scope_version,
                   to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), duration_ns,
                   status_code, status_message, flags, attributes::text, resource_attributes::text,
                   events::text, links::text, dropped_attributes_count
            FROM trace_spans WHERE span_id = '\\x00000000000000a1'
            """)
        #expect(rows.count == 1)
        let r = rows[0]
        #expect(r[0] == "01020304050607080000000000000001")
        #expect(r[1] == "00000000000000a1")
        #expect(r[2] == "t")
        #expect(r[3] == "k=v")
        #expect(r[4] == "GET /users/{id}")
        #expect(r[5] == "2")
        #expect(r[6] == "users")
        #expect(r[7] == "lib")
        #expect(r[8] == "1.0")
        #expect(r[9] == "2023-11-14T22:13:20.123456")
        #expect(r[10] == "100000001")
        #expect(r[11] == "2")
        #expect(r[12] == "boom")
        #expect(r[13] == "769")
        #expect(
            r[14]
                == #"{"d": 2.5, "n": -5, "ok": true, "big": 9223372036854775807, "map": {"inner": "ü"}, "nan": "NaN", "raw": "AAEC/w==", "list": ["a", 1, null], "whole": 3, "http.method": "GET", "quote\"back\\slash\nnl\u0001": "tab\tend"}"#
        )
        #expect(r[15] == #"{"host": "h1", "service.name": "users"}"#)
        #expect(r[16] == #"[{"name": "exception", "attributes": {"exception.type": "E"}, "time_unix_nano": 1700000000200000000}]"#)
        #expect(
            r[17]
                == #"[{"flags": 1, "span_id": "0000000000000007", "trace_id": "00000000000000090000000000000009", "attributes": {"a": 1}, "trace_state": "x=y"}]"#
        )
        #expect(r[18] == "2")

        let child = try c.execute("SELECT encode(parent_span_id,'hex') FROM trace_spans WHERE span_id = '\\x00000000000000b2'")
        #expect(child.first?.first == "00000000000000a1")
        // Ids are queryable by the hex SDKs print.
        let byHex = try c.execute("SELECT count(*) FROM trace_spans WHERE trace_id = '\\x01020304050607080000000000000001'")
        #expect(byHex.first?.first == "2")
        let view = try c.execute("SELECT trace_id, kind, status FROM trace_spans_hex WHERE name = 'SELECT'")
        #expect(view.first == ["01020304050607080000000000000001", "client", "unset"])
    }

    @Test func redeliveredSpansAreStoredOnce() throws {
        let db = try TestDatabase()
        defer { db.drop() }
        let pg = exporter(db)
        try pg.export(sampleBatch(traceLow: 1))
        try pg.export(sampleBatch(traceLow: 1))
        // A batch mixing new and already stored spans keeps the new ones.
        var mixed = sampleBatch(traceLow: 1)
        mixed.append(contentsOf: sampleBatch(traceLow: 2))
        try pg.export(mixed)
        let c = try db.connect()
        #expect(try c.execute("SELECT count(*) FROM trace_spans").first?.first == "4")
    }

    @Test func connectionFailureIsRetryable() throws {
        var config = PostgresExporterConfig()
        config.dsn = "host=127.0.0.1 port=1 user=postgres dbname=none"
        config.connectTimeout = .seconds(1)
        let pg = PostgresExporter(id: "postgres", config: config, logger: quietLogger)
        #expect {
            try pg.export(sampleBatch())
        } throws: { error in
            (error as? ExportFailure)?.retryable == true
        }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()
