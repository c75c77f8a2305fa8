import Testing
@testable import TracegateQuery
import TracegateExporters

@Suite struct StoredJSONTests {
    @Test func membersAndKindsOfJsonbText() {
        let j = StoredJSON(#"{"a": 1, "b": "x\"y", "c": true, "d": null, "e": [1, {"f": "]"}], "g": {"h": 0.5}, "i": -2.5e3}"#)
        let m = j.members()
        #expect(m.map { String(j.text($0.key)) } == [#""a""#, #""b""#, #""c""#, #""d""#, #""e""#, #""g""#, #""i""#])
        #expect(m.map(\.value.kind) == [.number, .string, .bool, .null, .array, .object, .number])
        #expect(j.text(m[4].value.range) == #"[1, {"f": "]"}]"#)
        #expect(j.string(m[1].value) == "x\"y")
        #expect(j.elements(of: m[4].value.range).count == 2)
    }

    @Test func escapesAreDecodedForFieldsReadAsValues() {
        let j = StoredJSON(#"["a\u00e9\ud83d\ude00\n", "\\"]"#)
        let e = j.elements()
        #expect(j.string(e[0]) == "aé😀\n")
        #expect(j.string(e[1]) == "\\")
    }

    @Test func brokenOrDeepTextEndsTheWalkNotTheProcess() {
        #expect(StoredJSON(#"{"a": "unterminated"#).members().isEmpty)
        #expect(StoredJSON(#"{"a" 1}"#).members().isEmpty)
        #expect(StoredJSON("").members().isEmpty && StoredJSON("[").elements().isEmpty)
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        let j = StoredJSON(#"{"k": "# + deep + "}")
        #expect(j.members().first?.value.kind == .array)
    }

    static let row: [String?] = [
        "5b8aa5a2d2c872e8321cf37308d69df2", "0000000000000002", "0000000000000001", "<b>q</b>", "3", "cart", "sql", "",
        "1700000000000000", "2500000", "2", "boom", "257", "",
        #"{"n": 7, "x": 1.5, "z": {"deep": [1, "two"]}, "b": false}"#, #"{"service.name": "cart"}"#,
        #"[{"name": "retry", "attributes": {"attempt": 2}, "time_unix_nano": 1700000000001000123}]"#,
        #"[{"flags": 0, "span_id": "00000000000000aa", "trace_id": "11111111111111111111111111111111", "attributes": {}, "trace_state": ""}]"#,
    ]

    @Test func jaegerSpanFromAStoredRow() {
        let json = JaegerTraceWriter.trace([Self.row])
        #expect(json == #"{"traceID":"5b8aa5a2d2c872e8321cf37308d69df2","spans":[{"traceID":"5b8aa5a2d2c872e8321cf37308d69df2","spanID":"0000000000000002","operationName":"<b>q</b>","references":[{"refType":"CHILD_OF","traceID":"5b8aa5a2d2c872e8321cf37308d69df2","spanID":"0000000000000001"},{"refType":"FOLLOWS_FROM","traceID":"11111111111111111111111111111111","spanID":"00000000000000aa"}],"startTime":1700000000000000,"duration":2500,"tags":[{"key":"b","type":"bool","value":false},{"key":"n","type":"int64","value":7},{"key":"x","type":"float64","value":1.5},{"key":"z","type":"string","value":"{\"deep\": [1, \"two\"]}"},{"key":"span.kind","type":"string","value":"client"},{"key":"otel.status_code","type":"string","value":"ERROR"},{"key":"error","type":"bool","value":true},{"key":"otel.status_description","type":"string","value":"boom"},{"key":"otel.scope.name","type":"string","value":"sql"}],"logs":[{"timestamp":1700000000001000,"fields":[{"key":"event","type":"string","value":"retry"},{"key":"attempt","type":"int64","value":2}]}],"processID":"p1","warnings":null,"flags":1}],"processes":{"p1":{"serviceName":"cart","tags":[{"key":"service.name","type":"string","value":"cart"}]}},"warnings":null}"#)
    }

    @Test func otlpSpanFromAStoredRow() {
        let json = OTLPTraceWriter.tracesData([Self.row])
        #expect(json == #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},"scopeSpans":[{"scope":{"name":"sql"},"spans":[{"traceId":"5b8aa5a2d2c872e8321cf37308d69df2","spanId":"0000000000000002","parentSpanId":"0000000000000001","flags":257,"name":"<b>q</b>","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000002500000","attributes":[{"key":"b","value":{"boolValue":false}},{"key":"n","value":{"intValue":"7"}},{"key":"x","value":{"doubleValue":1.5}},{"key":"z","value":{"kvlistValue":{"values":[{"key":"deep","value":{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"two"}]}}}]}}}],"events":[{"timeUnixNano":"1700000000001000123","name":"retry","attributes":[{"key":"attempt","value":{"intValue":"2"}}]}],"links":[{"traceId":"11111111111111111111111111111111","spanId":"00000000000000aa","attributes":[]}],"status":{"code":2,"message":"boom"}}]}]}]}"#)
    }
}
