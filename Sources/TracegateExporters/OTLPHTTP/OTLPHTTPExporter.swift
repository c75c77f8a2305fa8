import Logging
import Synchronization
import Metrics
import TracegateCore
import TracegateOTLP

/// Forwards spans to an OTLP/HTTP receiver with libcurl, one keep-alive
/// connection per export in flight (at most `sending_queue.num_consumers`).
///
/// Answers are read as the OTLP specification says: 2xx is success (a
/// `partial_success` in the body is logged and its rejected spans counted);
/// 429, 502, 503 and 504 are retried, honouring `Retry-After`; every other
/// status is permanent, so the batch is dropped with the server's reason
/// (logged by the queue, counted here) rather than retried forever. A
/// transfer that gets no answer (refused, timed out, TLS failure) is retried.
public final class OTLPHTTPExporter: SpanExporter {
    public let id: String
    public let config: OTLPHTTPExporterConfig
    private let url: String
    private let headers: [(String, String)]
    private let logger: Logger
    /// Idle clients, each with its keep-alive connection. An export checks
    /// one out, whichever export thread it runs on (the threads are the
    /// gateway's, shared by every exporter), so there are as many as
    /// exports ever ran at once, not one per thread.
    private let idle = Mutex<[CurlClient]>([])
    private let answers: DownstreamAnswers

    public init(id: String, config: OTLPHTTPExporterConfig, logger: Logger) {
        self.id = id
        self.config = config
        url = config.url
        var headers = [("Content-Type", config.encoding == .json ? "application/json" : "application/x-protobuf")]
        headers += config.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if config.gzip { headers.append(("Content-Encoding", "gzip")) }
        self.headers = headers
        self.logger = logger.with("exporter", "\(id)")
        answers = .otlpHTTP(exporter: id)
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        let count = batch.spanCount
        var body = config.encoding == .json ? OTLPJSONRequestEncoder.encode(batch) : OTLPProtobufEncoder.encode(batch)
        if config.gzip {
            guard let compressed = GzipDeflater.deflate(body) else {
                throw ExportFailure(retryable: false, message: "gzip compression of the request failed")
            }
            body = compressed
        }
        let response: HTTPResponse
        do {
            let client = idle.withLock { $0.popLast() } ?? CurlClient(tls: config.tls)
            defer { idle.withLock { $0.append(client) } }
            response = try client.post(url: url, headers: headers, body: body, timeout: config.timeout)
        } catch {
            answers.retryable()
            throw ExportFailure(retryable: true, message: "\(url): \(error)")
        }
        switch response.status {
        case 200..<300:
            answers.accepted(OTLPResponseReader.partialSuccess(response.body, json: config.encoding == .json), of: count, logger: logger)
        case 429, 502, 503, 504:
            answers.retryable()
            throw ExportFailure(
                retryable: true, message: "\(url) answered \(response.status)\(reason(response))", retryAfter: response.retryAfter)
        default:
            let message = "\(url) answered \(response.status), not retryable\(reason(response))"
            answers.rejected(count, status: ("status", "\(response.status)"), message: message, logger: logger)
            throw ExportFailure(retryable: false, message: message)
        }
    }

    public func close() {}

    private func reason(_ response: HTTPResponse) -> String {
        let text = OTLPResponseReader.errorMessage(response.body, contentType: response.header("content-type"))
        return text.isEmpty ? "" : ": \(text)"
    }

    /// This consumer thread's client: libcurl handles are not thread-safe, and
    /// one per thread keeps its connection alive between exports. It lives as
    /// long as the thread (the queue's consumer threads end at shutdown).
}
