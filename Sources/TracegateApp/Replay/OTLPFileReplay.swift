import TracegateCore
import TracegateExporters
import TracegateOTLP
import TracegateReceivers

#if canImport(Glibc)
import Glibc
#endif

/// Sends a file of OTLP/JSON lines (the `file` exporter's output, gzip or
/// not) to an OTLP/HTTP receiver, one request per line, in order: what
/// `tracegate replay FILE --to URL` runs.
///
/// Each line is decoded first, so a line the file exporter never finished (a
/// crash while writing) is reported with its number and not sent. Refusals
/// that ask for a retry (429, 502, 503, 504, no connection) are retried with
/// backoff, honouring `Retry-After`; any other answer fails that line with the
/// receiver's message, and the replay goes on with the next.
public struct OTLPFileReplay {
    public struct Summary: Sendable, Equatable {
        /// Lines sent and acknowledged.
        public var requests = 0
        /// Spans in them, less those the receiver rejected (partial success).
        public var spans = 0
        /// Spans the receiver rejected in acknowledged requests.
        public var rejectedSpans = 0
        /// Lines that were not sent or not acknowledged, with why.
        public var failures: [String] = []
    }

    public let url: String
    public var headers: [(String, String)] = []
    public var timeout: Duration = .seconds(10)
    /// Attempts per line for retryable refusals.
    public var maxAttempts = 8
    /// Waits between attempts (tests pass a recorder instead of sleeping).
    public var sleep: (Duration) -> Void = { d in
        var request = timespec(tv_sec: Int(d.components.seconds), tv_nsec: Int(d.components.attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    public init(url: String) { self.url = url }

    /// Reads `path` whole (gunzipping it when it starts with the gzip magic)
    /// and replays it.
    public func replay(path: String) throws(ReplayError) -> Summary {
        try replay(contents: try Self.read(path))
    }

    public func replay(contents: [UInt8]) throws(ReplayError) -> Summary {
        let text = try Self.plain(contents)
        var summary = Summary()
        let client = CurlClient()
        var lineNumber = 0
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            let body = Array(line)
            let spans: Int
            do {
                spans = try OTLPJSONDecoder.decode(body).batch.spanCount
            } catch {
                summary.failures.append("line \(lineNumber): not an OTLP/JSON request, not sent: \(error)")
                continue
            }
            switch send(body, client: client) {
            case .success(let rejected):
                summary.requests += 1
                summary.spans += spans - rejected
                summary.rejectedSpans += rejected
            case .failure(let reason):
                summary.failures.append("line \(lineNumber): \(reason)")
            }
        }
        return summary
    }

    private enum Outcome {
        case success(rejected: Int)
        case failure(String)
    }

    private func send(_ body: [UInt8], client: CurlClient) -> Outcome {
        var attempt = 0
        while true {
            attempt += 1
            var wait = Duration.milliseconds(250 << min(attempt - 1, 7))
            var reason: String
            do {
                let response = try client.post(
                    url: url, headers: [("Content-Type", "application/json")] + headers, body: body, timeout: timeout)
                if (200..<300).contains(response.status) {
                    return .success(rejected: Self.rejectedSpans(in: response.body))
                }
                reason = "HTTP \(response.status): \(Self.excerpt(response.body))"
                guard [429, 502, 503, 504].contains(response.status) else { return .failure(reason) }
                if let after = response.header("Retry-After").flatMap(Int.init), after >= 0 { wait = .seconds(min(after, 60)) }
            } catch {
                reason = "\(error)"
            }
            if attempt >= maxAttempts { return .failure("\(reason) (gave up after \(attempt) attempts)") }
            sleep(wait)
        }
    }

    /// `partialSuccess.rejectedSpans` of an OTLP/JSON response (an int64,
    /// written as a string or a number); 0 when absent.
    static func rejectedSpans(in body: [UInt8]) -> Int {
        let key = Array(#""rejectedSpans""#.utf8)
        guard body.count > key.count, let start = (0...(body.count - key.count)).first(where: { body[$0..<$0 + key.count].elementsEqual(key) }) else {
            return 0
        }
        var i = start + key.count
        while i < body.count, [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: "\"")].contains(body[i]) { i += 1 }
        var n = 0
        while i < body.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(body[i]), n < Int.max / 10 - 9 {
            n = n * 10 + Int(body[i] - UInt8(ascii: "0"))
            i += 1
        }
        return n
    }

    private static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.isEmpty ? "(no body)" : text
    }

    /// The file's bytes, gunzipped when they start with the gzip magic.
    static func plain(_ contents: [UInt8]) throws(ReplayError) -> [UInt8] {
        guard contents.count >= 2, contents[0] == 0x1F, contents[1] == 0x8B else { return contents }
        do {
            return try GzipInflater.inflate(contents, limit: Int(Int32.max))
        } catch {
            throw ReplayError(message: "the file starts as gzip but cannot be inflated: \(error)")
        }
    }

    static func read(_ path: String) throws(ReplayError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReplayError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReplayError(message: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}

/// A file that cannot be replayed at all.
public struct ReplayError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
