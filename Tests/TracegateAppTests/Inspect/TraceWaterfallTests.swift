import Foundation
import Testing
@testable import TracegateApp

@Suite struct TraceWaterfallTests {
    /// 2023-11-14T22:13:20Z, as in Tests/Fixtures.
    static let t0: Int64 = 1_700_000_000_000_000
    static let ms: Int64 = 1_000_000

    /// A checkout: a root with three children, a grandchild and a
    /// great-grandchild, two error spans (one with a message), an instant
    /// span, a span that ends with the root, and an orphan whose parent never came.
    static let checkout: [TraceSpanRow] = [
        span("a000000000000007", parent: "a000000000000001", "render", "frontend", at: 190_000, nanos: 55 * ms, status: 1),
        span("a000000000000001", parent: nil, "GET /checkout", "frontend", at: 0, nanos: 250 * ms, kind: 2),
        span("a000000000000003", parent: "a000000000000001", "POST /api/orders", "api", at: 5_000, nanos: 180 * ms, kind: 3, status: 2),
        span("a000000000000006", parent: "a000000000000003", "INSERT order_items", "api", at: 60_000, nanos: 120 * ms, status: 2, message: "deadlock detected"),
        span("a000000000000004", parent: "a000000000000003", "SELECT orders", "api", at: 10_000, nanos: 42_500_000),
        span("a000000000000005", parent: "a000000000000004", "pool.acquire", "api", at: 10_000, nanos: 350_000),
        span("a000000000000002", parent: "a000000000000001", "cache.miss", "frontend", at: 2_000, nanos: 0),
        span("a000000000000008", parent: "00f067aa0ba902b7", "send confirmation", "mailer", at: 200_000, nanos: 48 * ms, kind: 5),
    ]

    static func span(
        _ id: String, parent: String?, _ name: String, _ service: String, at offsetMicros: Int64, nanos: Int64,
        kind: Int = 1, status: Int = 0, message: String = ""
    ) -> TraceSpanRow {
        TraceSpanRow(
            spanID: id, parentSpanID: parent, name: name, service: service, kind: kind, startMicros: t0 + offsetMicros,
            durationNanos: nanos, statusCode: status, statusMessage: message)
    }

    let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

    @Test func rendersTheWaterfallAsPlainText() {
        let lines = TraceWaterfall(traceID: traceID, spans: Self.checkout).render()
        #expect(lines.joined(separator: "\n") == """
            trace 4bf92f3577b34da6a3ce929d0e0e4736 · GET /checkout (frontend) · 8 spans · 2 errors · 1 orphan · 250ms · 2023-11-14T22:13:20.000000Z

            SPAN                      SERVICE   0                                  250ms  DURATION  STATUS
            GET /checkout             frontend  ████████████████████████████████████████     250ms
            ├─ cache.miss             frontend  ▏                                              0µs
            ├─ POST /api/orders       api       ██████████████████████████████               180ms  ✗ error
            │  ├─ SELECT orders       api        ████████                                   42.5ms
            │  │  └─ pool.acquire     api        █                                           350µs
            │  └─ INSERT order_items  api                ████████████████████                120ms  ✗ deadlock detected
            └─ render                 frontend                                ██████████      55ms  ok
            send confirmation         mailer                                    ████████      48ms  orphan: parent 00f067aa0ba902b7 missing
            """)
    }

    @Test func colourIsOnlyEscapeCodesAroundThePlainText() {
        let waterfall = TraceWaterfall(traceID: traceID, spans: Self.checkout)
        let colored = waterfall.render(style: .ansi)
        #expect(colored.joined().contains("\u{1B}[31m✗ deadlock detected\u{1B}[0m"))
        let stripped = colored.map { $0.replacing(/\x{1B}\[[0-9;]*m/, with: "") }
        #expect(stripped == waterfall.render(style: .plain))
        #expect(!waterfall.render(style: .plain).joined().contains("\u{1B}"))
    }

    @Test func treeOrderAndDepths() {
        let waterfall = TraceWaterfall(traceID: traceID, spans: Self.checkout)
        #expect(waterfall.entries.map(\.span.name) == [
            "GET /checkout", "cache.miss", "POST /api/orders", "SELECT orders", "pool.acquire", "INSERT order_items",
            "render", "send confirmation",
        ])
        #expect(waterfall.entries.map(\.depth) == [0, 1, 1, 2, 3, 2, 1, 0])
        #expect(waterfall.entries.map(\.isOrphan) == [false, false, false, false, false, false, false, true])
        #expect(waterfall.entries.map(\.offsetNanos) == [0, 2, 5, 10, 10, 60, 190, 200].map { $0 * Self.ms })
        #expect(waterfall.root?.spanID == "a000000000000001")
        #expect(waterfall.durationNanos == 250 * Self.ms)
        #expect((waterfall.spanCount, waterfall.errorCount, waterfall.orphanCount) == (8, 2, 1))
        #expect(waterfall.services == ["api", "frontend", "mailer"])
    }

    @Test func aTraceWithoutRootAndAParentCycleLosesNoSpan() {
        let spans = [
            Self.span("b000000000000001", parent: "b000000000000002", "a", "svc", at: 0, nanos: 10 * Self.ms),
            Self.span("b000000000000002", parent: "b000000000000001", "b", "svc", at: 1_000, nanos: 5 * Self.ms),
            Self.span("b000000000000003", parent: "b000000000000003", "self", "svc", at: 2_000, nanos: Self.ms),
        ]
        let waterfall = TraceWaterfall(traceID: traceID, spans: spans)
        #expect(waterfall.root == nil)
        // Top-level spans first, then what only a cycle reaches.
        #expect(waterfall.entries.map(\.span.name) == ["self", "a", "b"])
        #expect(waterfall.entries.map(\.depth) == [0, 0, 1])
        let lines = waterfall.render()
        #expect(lines[0].contains("· no root span ·"))
        #expect(lines[3].hasSuffix("orphan: in a parent cycle"))
        #expect(lines[4].hasSuffix("orphan: in a parent cycle"))
        #expect(lines[5].hasPrefix("└─ b"))
    }

    @Test func clientTextCannotDriveTheTerminal() {
        let evil = Self.span("c000000000000001", parent: nil, "x\u{1B}[2Jy\nz", "s\u{202E}vc", at: 0, nanos: Self.ms, status: 2, message: "bad\r\u{7}")
        let text = TraceWaterfall(traceID: traceID, spans: [evil]).render().joined(separator: "\n")
        #expect(!text.contains("\u{1B}") && !text.contains("\r") && !text.contains("\u{202E}") && !text.contains("\u{7}"))
        #expect(text.contains("x [2Jy z") && text.contains("✗ bad"))
    }

    @Test func longNamesAreCut() {
        let long = String(repeating: "n", count: 80)
        let lines = TraceWaterfall(traceID: traceID, spans: [Self.span("d000000000000001", parent: nil, long, "svc", at: 0, nanos: Self.ms)]).render()
        #expect(lines[3].hasPrefix(String(repeating: "n", count: 47) + "…  svc"))
    }

    @Test func jsonHasEverySpanWithDepthAndOffsets() throws {
        let text = TraceWaterfall(traceID: traceID, spans: Self.checkout).json()
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(doc["trace_id"] as? String == traceID)
        #expect(doc["root_name"] as? String == "GET /checkout")
        #expect(doc["start_time"] as? String == "2023-11-14T22:13:20.000000Z")
        #expect(doc["duration_ms"] as? Int == 250)
        #expect(doc["span_count"] as? Int == 8 && doc["error_count"] as? Int == 2 && doc["orphan_count"] as? Int == 1)
        let spans = try #require(doc["spans"] as? [[String: Any]])
        #expect(spans.count == 8)
        let select = try #require(spans.first { $0["name"] as? String == "SELECT orders" })
        #expect(select["depth"] as? Int == 2)
        #expect(select["offset_ms"] as? Int == 10)
        #expect(select["duration_ms"] as? Double == 42.5)
        #expect(select["duration_ns"] as? Int == 42_500_000)
        #expect(select["parent_span_id"] as? String == "a000000000000003")
        #expect(select["attributes"] as? [String: Any] != nil && select["events"] as? [Any] != nil)
        let failed = try #require(spans.first { $0["name"] as? String == "INSERT order_items" })
        #expect(failed["status"] as? String == "error" && failed["status_message"] as? String == "deadlock detected")
        let orphan = try #require(spans.last)
        #expect(orphan["orphan"] as? Bool == true && orphan["depth"] as? Int == 0 && orphan["kind"] as? String == "consumer")
    }

    // MARK: - Bars

    @Test func barScalesToTheTrace() {
        let bar = { (offset: Int64, duration: Int64, total: Int64, width: Int) in
            TraceWaterfall.bar(offsetNanos: offset, durationNanos: duration, totalNanos: total, width: width)
        }
        let w = 40
        #expect(bar(0, 100, 100, w) == String(repeating: "█", count: 40))
        // Half the trace: exactly 20 cells, on either side, no spill at the cell boundary.
        #expect(bar(0, 50, 100, w) == String(repeating: "█", count: 20) + String(repeating: " ", count: 20))
        #expect(bar(50, 50, 100, w) == String(repeating: " ", count: 20) + String(repeating: "█", count: 20))
        // Far shorter than a cell: still one cell, in the cell where it starts.
        #expect(bar(0, 1, 1_000_000, w) == "█" + String(repeating: " ", count: 39))
        #expect(bar(999_999, 1, 1_000_000, w) == String(repeating: " ", count: 39) + "█")
        // Reaching into a cell counts it.
        #expect(bar(0, 26, 1_000, w) == "██" + String(repeating: " ", count: 38))
        // Instant spans: a thin mark where they happen, the last cell at the very end.
        #expect(bar(0, 0, 100, w) == "▏" + String(repeating: " ", count: 39))
        #expect(bar(100, 0, 100, w) == String(repeating: " ", count: 39) + "▏")
        // A trace of zero length (only instant spans), and a zero-length trace with a span.
        #expect(bar(0, 0, 0, w) == "▏" + String(repeating: " ", count: 39))
        #expect(bar(0, 5, 0, w) == String(repeating: "█", count: 40))
        // Every width is exact, even 1; nothing overflows on centuries of nanoseconds.
        #expect(bar(0, 10, 10, 1) == "█")
        #expect(bar(3, 0, 10, 1) == "▏")
        #expect(bar(0, 0, 10, 0) == "")
        let century = Int64(3_155_760_000) * 1_000_000_000
        #expect(bar(century / 2, century / 2, century, w) == String(repeating: " ", count: 20) + String(repeating: "█", count: 20))
        // Bad rows (negative duration or offset) stay within the bar.
        #expect(bar(-5, -5, 100, w) == "▏" + String(repeating: " ", count: 39))
        for total: Int64 in [1, 7, 40, 41, 999, 250_000_000] {
            for offset in stride(from: Int64(0), through: total, by: max(1, Int(total / 13))) {
                for duration in [0, 1, (total - offset) / 2, total - offset] {
                    #expect(bar(offset, duration, total, w).count == w)
                }
            }
        }
    }

    // MARK: - Formats

    @Test func durationsInHumanUnits() {
        let cases: [(Int64, String)] = [
            (0, "0µs"), (-5, "0µs"), (1, "1ns"), (850, "850ns"), (999, "999ns"),
            (1_000, "1µs"), (1_500, "1.5µs"), (12_340, "12.3µs"), (350_000, "350µs"), (999_499, "999µs"), (999_500, "1ms"),
            (1_000_000, "1ms"), (1_005_000, "1.01ms"), (42_500_000, "42.5ms"), (250_000_000, "250ms"), (999_999_999, "1s"),
            (2_040_000_000, "2.04s"), (12_345_000_000, "12.3s"), (59_449_000_000, "59.4s"), (59_500_000_000, "1m00s"),
            (65_000_000_000, "1m05s"), (3_599_400_000_000, "59m59s"), (3_599_500_000_000, "1h00m"),
            (3 * 3_600_000_000_000 + 2 * 60_000_000_000, "3h02m"), (49 * 3_600_000_000_000, "49h00m"),
        ]
        for (nanos, text) in cases {
            #expect(InspectFormat.duration(nanos: nanos) == text, "\(nanos) ns")
        }
    }

    @Test func exactMillisecondsForJSON() {
        #expect(InspectFormat.milliseconds(nanos: 250_000_000) == "250")
        #expect(InspectFormat.milliseconds(nanos: 42_500_000) == "42.5")
        #expect(InspectFormat.milliseconds(nanos: 1) == "0.000001")
        #expect(InspectFormat.milliseconds(nanos: 0) == "0")
        #expect(InspectFormat.milliseconds(nanos: -1_500_000) == "-1.5")
    }

    @Test func utcTimestamps() {
        #expect(InspectFormat.timestamp(micros: Self.t0) == "2023-11-14T22:13:20.000000Z")
        #expect(InspectFormat.timestamp(micros: Self.t0 + 250) == "2023-11-14T22:13:20.000250Z")
        #expect(InspectFormat.timestamp(micros: Self.t0 + 999_999, fractionDigits: 0) == "2023-11-14T22:13:20Z")
        #expect(InspectFormat.timestamp(micros: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(InspectFormat.timestamp(micros: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(InspectFormat.timestamp(micros: 1_709_164_800_000_000) == "2024-02-29T00:00:00.000000Z")
        #expect(InspectFormat.timestamp(micros: 951_868_799_000_000) == "2000-02-29T23:59:59.000000Z")
        #expect(InspectFormat.timestamp(micros: 253_402_300_799_000_000, fractionDigits: 0) == "9999-12-31T23:59:59Z")
    }

    @Test func traceIDsAre32HexDigitsInAnyCase() {
        #expect(TraceQueries.normalizedTraceID("4BF92F3577B34DA6A3CE929D0E0E4736") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceQueries.normalizedTraceID("4bf92f3577b34da6a3ce929d0e0e4736") == "4bf92f3577b34da6a3ce929d0e0e4736")
        for bad in ["", "abc", "4bf92f3577b34da6a3ce929d0e0e473", "4bf92f3577b34da6a3ce929d0e0e47366", "4bf92f3577b34da6a3ce929d0e0e473g",
                    "4bf92f3577b34da6a3ce929d0e0e473'", "4bf92f3577b34da6a3ce929d0e0e47é", "0x4bf92f3577b34da6a3ce929d0e0e4736"] {
            #expect(TraceQueries.normalizedTraceID(bad) == nil, "\(bad)")
        }
    }

    @Test func spanRowsFromText() throws {
        let rows: [[String?]] = [
            ["a000000000000001", nil, "GET /", "2", "web", "1700000000000000", "250000000", "0", "", "{\"k\": 1}", "[]"],
            ["a000000000000002", "a000000000000001", "db", "3", "web", "1700000000001000", "5", "2", "boom", "{}", "[]"],
        ]
        let spans = try TraceQueries.spanRows(rows)
        #expect(spans[0] == TraceSpanRow(
            spanID: "a000000000000001", name: "GET /", service: "web", kind: 2, startMicros: 1_700_000_000_000_000,
            durationNanos: 250_000_000, attributesJSON: "{\"k\": 1}"))
        #expect(spans[1].parentSpanID == "a000000000000001" && spans[1].isError && spans[1].statusMessage == "boom")
        #expect(throws: InspectError.self) { try TraceQueries.spanRows([["x"]]) }
    }

    // MARK: - List

    static let listRows = [
        TraceSummaryRow(
            traceID: "4bf92f3577b34da6a3ce929d0e0e4736", rootName: "GET /checkout", rootService: "frontend",
            services: ["api", "frontend"], spanCount: 8, errorCount: 2, startMicros: t0, endMicros: t0 + 250_000,
            concludedMicros: t0 + 60_000_000, complete: false, missingParentCount: 1),
        TraceSummaryRow(
            traceID: "5b8efff798038103d269b633813fc60c", rootName: nil, rootService: nil, services: ["api"],
            spanCount: 3, errorCount: 0, startMicros: t0 - 5_000_000, endMicros: t0 - 5_000_000 + 12_000),
        TraceSummaryRow(
            traceID: "0af7651916cd43dd8448eb211c80319c", rootName: "GET /search", rootService: "frontend",
            services: ["frontend", "search"], spanCount: 1234, errorCount: 0, startMicros: t0 - 65_000_000,
            endMicros: t0 - 65_000_000 + 2_400_000, concludedMicros: t0, complete: true),
    ]

    @Test func rendersTheTraceList() {
        #expect(TraceList.render(Self.listRows).joined(separator: "\n") == """
            TRACE ID                          STARTED               ROOT           SERVICE   SPANS  ERRORS  DURATION  STATE
            4bf92f3577b34da6a3ce929d0e0e4736  2023-11-14T22:13:20Z  GET /checkout  frontend      8       2     250ms  concluded, incomplete
            5b8efff798038103d269b633813fc60c  2023-11-14T22:13:15Z  (no root)      -             3       0      12ms  open
            0af7651916cd43dd8448eb211c80319c  2023-11-14T22:12:15Z  GET /search    frontend   1234       0      2.4s  concluded
            """)
        let json = TraceList.json(Self.listRows)
        let doc = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let traces = doc?["traces"] as? [[String: Any]] ?? []
        #expect(traces.map { $0["trace_id"] as? String } == Self.listRows.map(\.traceID))
        #expect(traces.first?["status"] as? String == "error" && traces.first?["concluded"] as? Bool == true)
        #expect(traces.dropFirst().first?["root_name"] is NSNull)
        #expect(TraceList.json([]) == "{\"traces\": []}")
    }

    @Test func listQueryIsBoundedByStartTimeAndQuotesValues() throws {
        let sql = try TraceQueries.listSQL(
            TraceListQuery(since: .seconds(900), service: "it's a \\ test", errorsOnly: true, minDuration: .milliseconds(2_500), limit: 7))
        #expect(sql.contains("start_time >= now() - 900000000 * interval '1 microsecond'"))
        #expect(sql.contains("(root_service = E'it''s a \\\\ test' OR E'it''s a \\\\ test' = ANY (services))"))
        #expect(sql.contains("error_count > 0"))
        #expect(sql.contains("end_time - start_time >= 2500000 * interval '1 microsecond'"))
        #expect(sql.contains("ORDER BY start_time DESC\nLIMIT 7"))
        let plain = try TraceQueries.listSQL(TraceListQuery())
        #expect(plain.contains("start_time >= now() - 3600000000 * interval '1 microsecond'"))
        #expect(!plain.contains("ANY (services)") && !plain.contains("error_count >") && plain.hasSuffix("LIMIT 20"))
        #expect(throws: InspectError.self) { try TraceQueries.listSQL(TraceListQuery(service: "a\0b")) }
    }
}
