#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A notification given up on: what the memory store appends to its
/// dead-letter file, one JSON object a line:
/// `{"exporter", "trace_id", "attempts", "last_error", "dead_at", "payload": {notification}}`.
public struct DeadLetter: Sendable, Equatable {
    public var exporter: String
    public var conclusion: TraceConclusion
    public var attempts: Int
    public var lastError: String
    public var deadAt: String = TraceConclusion.timestamp(unixNano: wallClockUnixNano())

    var jsonLine: String {
        "{\"exporter\":\(JSONText.string(exporter)),\"trace_id\":\(JSONText.string(conclusion.traceID)),\"attempts\":\(attempts),"
            + "\"last_error\":\(JSONText.string(lastError)),\"dead_at\":\(JSONText.string(deadAt)),\"payload\":\(conclusion.json)}"
    }

    private struct Line: Decodable {
        var exporter: String
        var attempts: Int
        var last_error: String
        var dead_at: String
        var payload: TraceConclusion
    }

    init(exporter: String, conclusion: TraceConclusion, attempts: Int, lastError: String) {
        self.exporter = exporter
        self.conclusion = conclusion
        self.attempts = attempts
        self.lastError = lastError
    }

    init(jsonLine: String) throws {
        let line = try JSONDecoder().decode(Line.self, from: Data(jsonLine.utf8))
        self.init(exporter: line.exporter, conclusion: line.payload, attempts: line.attempts, lastError: line.last_error)
        deadAt = line.dead_at
    }
}
