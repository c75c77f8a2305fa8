import Logging
import Metrics

/// What a downstream OTLP receiver answered one forwarding exporter
/// (`otlphttp`, `otlp`), counted and logged the same way for both. Sent and
/// dropped spans are the sending queue's to count
/// (`tracegate_exporter_sent_spans_total`, …); these say what the downstream did.
struct DownstreamAnswers: Sendable {
    private let requests: Counter
    private let rejectedSpans: Counter
    private let partiallyRejectedSpans: Counter
    private let retryableFailures: Counter

    /// The metric names are the exporter type's own (literal, so the metrics
    /// reference finds them).
    private init(exporter id: String, requests: String, rejected: String, partiallyRejected: String, retryable: String) {
        let dims = [("exporter", id)]
        self.requests = Counter(label: requests, dimensions: dims)
        rejectedSpans = Counter(label: rejected, dimensions: dims)
        partiallyRejectedSpans = Counter(label: partiallyRejected, dimensions: dims)
        retryableFailures = Counter(label: retryable, dimensions: dims)
    }

    /// Accepted; with a partial success naming rejected spans, those are
    /// counted and logged.
    func accepted(_ partial: OTLPResponseReader.PartialSuccess?, of count: Int, logger: Logger) {
        requests.increment()
        guard let partial, partial.rejectedSpans > 0 || !partial.errorMessage.isEmpty else { return }
        partiallyRejectedSpans.increment(by: Int(clamping: partial.rejectedSpans))
        logger.warning(
            "downstream accepted the request but rejected some spans (partial success)",
            metadata: ["rejected_spans": "\(partial.rejectedSpans)", "of": "\(count)", "reason": "\(partial.errorMessage)"])
    }

    /// `otlphttp`'s.
    static func otlpHTTP(exporter id: String) -> DownstreamAnswers {
        DownstreamAnswers(
            exporter: id, requests: "tracegate_otlphttp_requests_total", rejected: "tracegate_otlphttp_rejected_spans_total",
            partiallyRejected: "tracegate_otlphttp_partial_success_rejected_spans_total", retryable: "tracegate_otlphttp_retryable_failures_total")
    }

    /// `otlp`'s (gRPC).
    static func otlpGRPC(exporter id: String) -> DownstreamAnswers {
        DownstreamAnswers(
            exporter: id, requests: "tracegate_otlpgrpc_requests_total", rejected: "tracegate_otlpgrpc_rejected_spans_total",
            partiallyRejected: "tracegate_otlpgrpc_partial_success_rejected_spans_total", retryable: "tracegate_otlpgrpc_retryable_failures_total")
    }

    /// Not answered, or answered with a status worth retrying.
    func retryable() { retryableFailures.increment() }

    /// Refused for good: the spans are dropped.
    func rejected(_ count: Int, status: (key: String, value: String), message: String, logger: Logger) {
        rejectedSpans.increment(by: count)
        logger.error("downstream rejected spans", metadata: [status.key: "\(status.value)", "spans": "\(count)", "reason": "\(message)"])
    }
}
