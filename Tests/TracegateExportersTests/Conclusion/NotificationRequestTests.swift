import Foundation
import Testing
@testable import TracegateExporters

@Suite struct NotificationRequestTests {
    func config(_ edit: (inout ConclusionExporterConfig) -> Void = { _ in }) -> ConclusionExporterConfig {
        var c = ConclusionExporterConfig()
        c.endpoint = "http://127.0.0.1:1/hook"
        edit(&c)
        return c
    }

    @Test func oneTraceIsOneJSONObjectKeyedByItsTraceID() throws {
        let request = NotificationRequest.make([sampleConclusion()], config: config())
        let object = try JSONSerialization.jsonObject(with: Data(request.body)) as! [String: Any]
        #expect(object["trace_id"] as? String == "0123456789abcdef0123456789abcdef")
        #expect(object["root_name"] as? String == "GET \"/cart\"")
        #expect(object["services"] as? [String] == ["billing", "checkout"])
        #expect(object["span_count"] as? Int == 3 && object["error_count"] as? Int == 1)
        #expect(object["duration_ms"] as? Double == 2.5)
        #expect(object["complete"] as? Bool == false && object["updated"] as? Bool == false)
        #expect(object["missing_parents"] as? [String] == ["00000000000000aa"])
        #expect(Set(object.keys) == Set(TraceConclusion.fieldNames))
        let headers = Dictionary(request.headers, uniquingKeysWith: { a, _ in a })
        #expect(headers["Idempotency-Key"] == "0123456789abcdef0123456789abcdef")
        #expect(headers["Content-Type"] == "application/json")
    }

    @Test func signsTheExactBodyWithHMACSHA256() {
        let request = NotificationRequest.make(
            [sampleConclusion()],
            config: config { $0.signing = .init(secret: "k3y", header: "X-Sig"); $0.headers = [.init(name: "Authorization", value: "Bearer t")] })
        // The expected MAC from the openssl command line, not from the code under test.
        let expected = "sha256=" + digestByCommand(["openssl", "dgst", "-sha256", "-hmac", "k3y", "-r"], input: request.body)
        #expect(request.headers.contains { $0.0 == "X-Sig" && $0.1 == expected })
        #expect(request.headers.contains { $0.0 == "Authorization" && $0.1 == "Bearer t" })
    }

    @Test func aBatchIsAnArrayKeyedByTheHashOfItsTraceIDs() throws {
        let a = sampleConclusion("aa".padding(toLength: 32, withPad: "0", startingAt: 0))
        let b = sampleConclusion("bb".padding(toLength: 32, withPad: "0", startingAt: 0))
        let request = NotificationRequest.make([a, b], config: config { $0.batchSize = 10 })
        let array = try JSONSerialization.jsonObject(with: Data(request.body)) as! [[String: Any]]
        #expect(array.map { $0["trace_id"] as? String } == [a.traceID, b.traceID])
        let key = digestByCommand(["sha256sum"], input: Array("\(a.traceID),\(b.traceID)".utf8))
        #expect(request.headers.contains { $0.0 == "Idempotency-Key" && $0.1 == key })
        // With batching on, even a single trace goes in an array.
        let single = NotificationRequest.make([a], config: config { $0.batchSize = 10 })
        #expect(String(decoding: single.body, as: UTF8.self).hasPrefix("["))
    }

    @Test func includedSpansComeLastAndTemplatesMayUseThem() throws {
        var c = sampleConclusion()
        c.spans = #"{"resourceSpans":[]}"#
        c.spansTruncated = true
        let text = String(decoding: NotificationRequest.make([c], config: config()).body, as: UTF8.self)
        #expect(text.hasSuffix(#","updated":false,"spans":{"resourceSpans":[]},"spans_truncated":true}"#))
        let template = try BodyTemplate.parse(#"{"id": {{trace_id}}, "otlp": {{spans}}, "cut": {{spans_truncated}}}"#).get()
        #expect(template.render(c) == #"{"id": "0123456789abcdef0123456789abcdef", "otlp": {"resourceSpans":[]}, "cut": true}"#)
    }

    @Test func aBodyTemplateReplacesFieldsWithJSONValues() throws {
        let template = try BodyTemplate.parse(#"{"id": {{trace_id}}, "n": {{ span_count }}, "root": {{root_name}}}"#).get()
        let request = NotificationRequest.make([sampleConclusion()], config: config { $0.bodyTemplate = template })
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"id": "0123456789abcdef0123456789abcdef", "n": 3, "root": "GET \"/cart\""}"#)
        var noRoot = sampleConclusion()
        noRoot.rootName = nil
        #expect(template.render(noRoot).hasSuffix(#""root": null}"#))
    }

    @Test func rejectsTemplatesWithUnknownFieldsOrUnclosedBraces() {
        #expect(throws: BodyTemplate.Problem.self) { try BodyTemplate.parse("{{nope}}").get() }
        #expect(throws: BodyTemplate.Problem.self) { try BodyTemplate.parse(#"{"id": {{trace_id"#).get() }
    }

    @Test func formatsTimestampsAsRFC3339WithMicroseconds() {
        #expect(TraceConclusion.timestamp(unixNano: 1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z")
        #expect(TraceConclusion.timestamp(unixNano: 0) == "1970-01-01T00:00:00.000000Z")
    }

    @Test func escapesControlCharactersInStrings() {
        #expect(JSONText.string("a\n\"b\"\\\u{01}") == #""a\n\"b\"\\\u0001""#)
    }
}

extension NotificationRequestTests {
    @Test func anUpdatedNotificationHasItsOwnIdempotencyKey() {
        var updated = sampleConclusion()
        updated.updated = true
        let request = NotificationRequest.make([updated], config: config())
        #expect(request.headers.contains { $0.0 == "Idempotency-Key" && $0.1 == "0123456789abcdef0123456789abcdef-updated-3" })
    }
}

/// The hex digest a command prints for `input` on stdin (`sha256sum`, or
/// `openssl dgst -r`, both `<hex> ...`): an implementation independent of the
/// exporter's own calls.
func digestByCommand(_ command: [String], input: [UInt8]) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    do { try process.run() } catch { return "\(command[0]) did not run: \(error)" }
    stdin.fileHandleForWriting.write(Data(input))
    try? stdin.fileHandleForWriting.close()
    let printed = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: printed.prefix(while: { $0 != UInt8(ascii: " ") }), as: UTF8.self)
}
