import Foundation
import Logging
import Synchronization
import Testing
@testable import TracegateApp

@Suite struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
    }

    func logger(_ lines: Lines, level: Logger.Level = .info) -> Logger {
        Logger(label: "tracegate") { label in
            var handler = JSONLogHandler(label: label) { line in lines.all.withLock { $0.append(line) } }
            handler.logLevel = level
            return handler
        }
    }

    func object(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func writesOneJSONObjectPerLineWithEveryField() throws {
        let lines = Lines()
        var log = logger(lines)
        log[metadataKey: "receiver"] = "otlp"
        log.warning("queue \"full\"\nretrying", metadata: ["spans": "7", "nested": ["a": .array(["1", "2"])]])
        let written = lines.all.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false)
        let json = try object(line)
        #expect(json["level"] as? String == "warning")
        #expect(json["message"] as? String == "queue \"full\"\nretrying")
        #expect(json["label"] as? String == "tracegate")
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["receiver"] as? String == "otlp")
        #expect(metadata["spans"] as? String == "7")
        #expect((metadata["nested"] as? [String: Any])?["a"] as? [String] == ["1", "2"])
        let timestamp = try #require(json["timestamp"] as? String)
        #expect(timestamp.count == "2026-11-23T05:46:06.123456Z".count && timestamp.hasSuffix("Z"))
        let parsed = try Date(timestamp.replacingOccurrences(of: #"\.\d+Z"#, with: "Z", options: .regularExpression), strategy: .iso8601)
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
    }

    @Test func respectsTheLevelAndEscapesControlCharacters() throws {
        let lines = Lines()
        let log = logger(lines, level: .warning)
        log.info("dropped")
        log.error("bell \u{07} here")
        let written = lines.all.withLock { $0 }
        #expect(written.count == 1)
        #expect(written[0].contains(#"bell \u0007 here"#))
        #expect(try object(written[0])["message"] as? String == "bell \u{07} here")
        #expect(try object(written[0])["metadata"] == nil)
    }
}
