import Foundation
import TracegateCore
@testable import TracegateProcessors

/// A span for the attributes, filter and routing tests.
func testSpan(
    _ id: UInt64, name: String = "op", kind: SpanKind = .internal, status: StatusCode = .unset, attributes: [Attribute] = []
) -> Span {
    Span(
        traceID: TraceID(high: 7, low: id), spanID: SpanID(id), name: name, kind: kind, startTimeUnixNano: 1, endTimeUnixNano: 2,
        attributes: attributes, status: SpanStatus(code: status))
}

/// One resource with `service.name` (plus `extra` attributes) and its spans.
func testResource(_ service: String, _ spans: [Span], extra: [Attribute] = []) -> ResourceSpans {
    ResourceSpans(
        resource: Resource(attributes: [Attribute("service.name", .string(service))] + extra),
        scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "lib"), spans: spans)])
}

/// Reads `yaml` with a config reader; returns the settings and the problems as `file:line: path: message`.
func parseSettings<T>(_ yaml: String, _ read: (ConfigMap) -> T) -> (T, [String]) {
    let diagnostics = ConfigDiagnostics(file: "p.yaml", environment: ["SECRET_MASK": "***"])
    let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
    let value = read(root)
    return (value, diagnostics.problems.map(\.description))
}

extension SpanBatch {
    /// Span names in order.
    var spanNames: [String] {
        var out: [String] = []
        forEachSpan { _, _, span in out.append(span.name) }
        return out
    }
}

/// SHA-256 of a string's UTF-8 as lowercase hex, computed independently of
/// the processor: by coreutils' `sha256sum` in a subprocess.
func referenceSHA256(_ text: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    do { try process.run() } catch { return "sha256sum did not run: \(error)" }
    input.fileHandleForWriting.write(Data(text.utf8))
    try? input.fileHandleForWriting.close()
    let printed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    // `<64 hex digits>  -`
    return String(decoding: printed.prefix(64), as: UTF8.self)
}
