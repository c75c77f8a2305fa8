import Testing
@testable import TracegateQuery

@Suite struct TraceSearchTests {
    static let now: Int64 = 1_800_000_000_000_000

    func search(_ uri: String) throws(QueryFailure) -> TraceSearch {
        try TraceSearch(QueryRequest(uri: uri)!, nowMicros: Self.now, maxLimit: 100)
    }

    func failure(_ uri: String) -> String? {
        do {
            _ = try search(uri)
            return nil
        } catch {
            return "\(error.status) \(error.message)"
        }
    }

    @Test func readsJaegerUIsSearch() throws {
        let s = try search(
            "/api/traces?service=check%20out&operation=GET+%2Fcart&tags=%7B%22error%22%3A%22true%22%2C%22http.status_code%22%3A500%2C%22span.kind%22%3A%22server%22%7D&lookback=2h&minDuration=1.5ms&maxDuration=2s&limit=30")
        #expect(s.service == "check out")
        #expect(s.operation == "GET /cart")
        #expect(s.errors == true)
        #expect(s.kind == 2)
        #expect(s.tags == [TraceSearch.Tag(key: "http.status_code", value: "500")])
        #expect(s.endMicros == Self.now && s.startMicros == Self.now - 7_200_000_000)
        #expect(s.minDurationNanos == 1_500_000 && s.maxDurationNanos == 2_000_000_000)
        #expect(s.limit == 30)
    }

    @Test func explicitTimesWinAndLimitsAreCapped() throws {
        let s = try search("/api/traces?service=a&start=100&end=200&lookback=custom&limit=5000&tag=user.id:42&tag=otel.status_code:error")
        #expect(s.startMicros == 100 && s.endMicros == 200)
        #expect(s.limit == 100)
        #expect(s.statusCode == 2)
        #expect(s.tags == [TraceSearch.Tag(key: "user.id", value: "42")])
        #expect(try search("/api/traces?service=a&limit=").limit == 20)
    }

    @Test func malformedParametersAre400s() {
        #expect(failure("/api/traces?service=a&minDuration=fast") == "400 minDuration must be a duration such as 100ms or 1.5s, got 'fast'")
        #expect(failure("/api/traces?service=a&tags=%5B1%5D")?.hasPrefix("400 tags must be a JSON object") == true)
        #expect(failure("/api/traces?service=a&tags=%7B%22error%22%3A%22maybe%22%7D") == "400 tag error must be true or false, got 'maybe'")
        #expect(failure("/api/traces?service=a&start=10&end=5") == "400 start is after end")
        #expect(failure("/api/traces?service=a&minDuration=2s&maxDuration=1s") == "400 minDuration is greater than maxDuration")
        #expect(failure("/api/traces?service=a&limit=-1") == "400 limit must be a non-negative integer, got '-1'")
        #expect(failure("/api/traces?service=a%00b") == "400 parameter 'service' contains a NUL character")
        #expect(failure("/api/traces?traceID=xyz") == "400 malformed trace id 'xyz': expected up to 32 hex digits")
    }

    @Test func goDurations() {
        #expect(TraceSearch.goDuration("300ms") == 300_000_000)
        #expect(TraceSearch.goDuration("1h30m") == 5_400_000_000_000)
        #expect(TraceSearch.goDuration("100us") == 100_000 && TraceSearch.goDuration("100µs") == 100_000)
        #expect(TraceSearch.goDuration("2d") == 172_800_000_000_000)
        #expect(TraceSearch.goDuration("") == nil && TraceSearch.goDuration("5") == nil && TraceSearch.goDuration("1x") == nil)
    }

    @Test func everyRequestValueIsAParameter() throws {
        let s = try search("/api/traces?service=x'%3B%20drop&tag=k'%3B:v'&minDuration=1ms")
        let (sql, parameters) = s.sql(scanLimit: 400, indexedKeys: [])
        #expect(!sql.contains("drop") && !sql.contains("k'"))
        #expect(parameters.contains("x'; drop") && parameters.contains("k';") && parameters.contains("v'"))
    }

    @Test func indexedKeysAreWrittenAsTheIndexExpression() throws {
        let s = try search("/api/traces?service=a&tag=http.route:%2Fcart&tag=odd'key:1")
        let (sql, _) = s.sql(scanLimit: 400, indexedKeys: ["http.route", "odd'key"])
        #expect(sql.contains("coalesce(s.attributes->>'http.route', s.resource_attributes->>'http.route') = $"))
        #expect(!sql.contains("odd'key"))  // not a plain key: a parameter, whatever the index list says
    }

    @Test func traceIDsArePaddedAndChecked() throws {
        #expect(try JaegerAPI.traceID("ABC") == String(repeating: "0", count: 29) + "abc")
        #expect(throws: QueryFailure.self) { try JaegerAPI.traceID(String(repeating: "0", count: 32)) }
        #expect(throws: QueryFailure.self) { try JaegerAPI.traceID(String(repeating: "a", count: 33)) }
    }

    @Test func requestPathsAreDecodedPerSegment() {
        let r = QueryRequest(uri: "/api/services/a%2Fb/operations?x=1&x=2&y=")!
        #expect(r.segments == ["api", "services", "a/b", "operations"])
        #expect(r.values("x") == ["1", "2"] && r.value("y") == nil)
        #expect(QueryRequest(uri: "/api/%zz") == nil)
        #expect(QueryRequest(uri: "/api/%ff%fe") == nil)  // not UTF-8
        #expect(QueryRequest(uri: "http://host/x") == nil)
    }

    @Test func uiPathsServeThePageAndUnknownPaths404() {
        #expect(WebRoutes.answer(QueryRequest(uri: "/search?service=a")!).status == 200)
        #expect(WebRoutes.answer(QueryRequest(uri: "/trace/abc")!).status == 200)
        #expect(WebRoutes.answer(QueryRequest(uri: "/trace/abc...def")!).status == 200)
        #expect(WebRoutes.answer(QueryRequest(uri: "/dependencies")!).status == 200)
        #expect(WebRoutes.answer(QueryRequest(uri: "/")!).status == 200)
        #expect(WebRoutes.answer(QueryRequest(uri: "/etc/passwd")!).status == 404)
        #expect(WebRoutes.answer(QueryRequest(uri: "/static/..%2F..%2Fetc")!).status == 404)
    }

    @Test func assetsAreRevalidatedByTheirETag() throws {
        let first = WebRoutes.answer(QueryRequest(uri: "/static/app.js")!)
        #expect(first.status == 200 && !first.body.isEmpty)
        let tag = try #require(first.headers.first { $0.0 == "ETag" }?.1)
        #expect(first.headers.contains { $0 == ("Cache-Control", "no-cache") })
        var again = QueryRequest(uri: "/static/app.js")!
        again.ifNoneMatch = tag
        let second = WebRoutes.answer(again)
        #expect(second.status == 304 && second.body.isEmpty)
        again.ifNoneMatch = "\"stale\""
        #expect(WebRoutes.answer(again).status == 200)
    }
}
