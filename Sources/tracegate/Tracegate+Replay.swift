import ArgumentParser
import TracegateApp

extension Tracegate {
    /// `tracegate replay FILE --to URL`: the `file` exporter's output back
    /// into an OTLP/HTTP receiver.
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a file of OTLP/JSON lines (the file exporter's output, gzip or not) to an OTLP/HTTP receiver.",
            discussion: """
                One request per line, in order. A line that is not a whole OTLP/JSON request (a write cut \
                short by a crash) is reported and skipped; 429, 502, 503, 504 and connection failures are \
                retried with backoff (honouring Retry-After), other answers fail that line. Exits 1 when \
                any line failed.
                """)

        @Argument(help: "The file, e.g. spans.jsonl or spans.jsonl.gz.") var file: String
        @Option(help: "The receiver's traces URL, e.g. http://127.0.0.1:4318/v1/traces.") var to: String
        @Option(name: .customLong("header"), help: "An extra request header, Name=value (repeatable), e.g. Authorization=Bearer t.")
        var headers: [String] = []
        @Option(help: "Attempts per line for retryable refusals.") var maxAttempts = 8

        func run() throws {
            var replay = OTLPFileReplay(url: to)
            replay.maxAttempts = max(1, maxAttempts)
            for header in headers {
                guard let eq = header.firstIndex(of: "="), eq != header.startIndex else {
                    printError("replay: --header \(header): expected Name=value")
                    throw ExitCode(2)
                }
                replay.headers.append((String(header[..<eq]), String(header[header.index(after: eq)...])))
            }
            let summary: OTLPFileReplay.Summary
            do {
                summary = try replay.replay(path: file)
            } catch {
                printError("replay: \(error)")
                throw ExitCode(1)
            }
            for failure in summary.failures { printError("replay: \(file): \(failure)") }
            var line = "replayed \(summary.requests) request\(summary.requests == 1 ? "" : "s") (\(summary.spans) spans) to \(to)"
            if summary.rejectedSpans > 0 { line += "; the receiver rejected \(summary.rejectedSpans) spans" }
            if !summary.failures.isEmpty { line += "; \(summary.failures.count) line\(summary.failures.count == 1 ? "" : "s") failed" }
            print(line)
            if !summary.failures.isEmpty { throw ExitCode(1) }
        }
    }
}
