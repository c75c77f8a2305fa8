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
    private let sentRequests: Counter
    private let rejectedSpans: Counter
    private let partialRejectedSpans: Counter
    private let retryableFailures: Counter

    public init(id: String, config: OTLPHTTPExporterConfig, logger: Logger) {
        self.id = id
        self.config = config
        url = config.url
        var headers = [("Content-Type", config.encoding == .json ? "application/json" : "application/x-protobuf")]
        headers += config.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if config.gzip { headers.append(("Content-Encoding", "gzip")) }
        self.headers = headers
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.logger = logger
        let dims = [("exporter", id)]
        // Sent and dropped spans per exporter are counted by the sending queue
        // (tracegate_exporter_sent_spans_total, …); these say what the downstream answered.
        sentRequests = Counter(label: "tracegate_otlphttp_requests_total", dimensions: dims)
        rejectedSpans = Counter(label: "tracegate_otlphttp_rejected_spans_total", dimensions: dims)
        partialRejectedSpans = Counter(label: "tracegate_otlphttp_partial_success_rejected_spans_total", dimensions: dims)
        retryableFailures = Counter(label: "tracegate_otlphttp_retryable_failures_total", dimensions: dims)
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
            retryableFailures.increment()
            throw ExportFailure(retryable: true, message: "\(url): \(error)")
        }
        switch response.status {
        case 200..<300:
            sentRequests.increment()
            let partial = OTLPResponseReader.partialSuccess(response.body, json: config.encoding == .json)
            if let partial, partial.rejectedSpans > 0 || !partial.errorMessage.isEmpty {
                partialRejectedSpans.increment(by: Int(partial.rejectedSpans))
                logger.warning(
                    "downstream accepted the request but rejected some spans (partial success)",
                    metadata: ["rejected_spans": "\(partial.rejectedSpans)", "of": "\(count)", "reason": "\(partial.errorMessage)"])
            }
        case 429, 502, 503, 504:
            retryableFailures.increment()
            throw ExportFailure(
                retryable: true, message: "\(url) answered \(response.status)\(reason(response))", retryAfter: response.retryAfter)
        default:
            rejectedSpans.increment(by: count)
            let message = "\(url) answered \(response.status), not retryable\(reason(response))"
            logger.error("downstream rejected spans", metadata: ["status": "\(response.status)", "spans": "\(count)", "reason": "\(message)"])
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
