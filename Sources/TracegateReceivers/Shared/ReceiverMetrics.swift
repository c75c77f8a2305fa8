import Metrics
import Synchronization
import TracegateCore

/// The request and span counters of one receiver and protocol, exposed on
/// `/metrics` (see docs/metrics.md):
///
/// - `tracegate_receiver_accepted_requests_total` and `_accepted_spans_total`
/// - `tracegate_receiver_rejected_spans_total`: invalid spans dropped from
///   accepted requests and reported through OTLP partial success
/// - `tracegate_receiver_strings_repaired_total`: strings of accepted
///   requests that held a NUL or invalid UTF-8, kept with U+FFFD in its place
/// - `tracegate_receiver_refused_requests_total` and `_refused_spans_total`
///   by `reason` (spans only when the request was decoded before its refusal)
///
/// Labels: `receiver` (component id), `protocol` (`http`, `grpc`),
/// `encoding` (`protobuf`, `json`, `unknown` before the content type is known).
public final class ReceiverMetrics: Sendable {
    /// The refusal reasons counted, as the `reason` label spells them.
    public enum Reason: String, Sendable, CaseIterable {
        case auth
        case tooLarge = "too_large"
        case decode
        case unsupported
        case timeout
        case connectionLimit = "connection_limit"
        case pipelineFull = "pipeline_full"
        case memoryLimit = "memory_limit"
    }

    private struct Key: Hashable {
        var name: String
        var encoding: String
        var reason: String?
    }

    public let receiver: String
    public let transport: String
    private let counters = Mutex<[Key: Counter]>([:])

    /// `transport` is the `protocol` label: `http` or `grpc`.
    public init(receiver: String, transport: String) {
        self.receiver = receiver
        self.transport = transport
    }

    /// A request was acknowledged with `spans` spans kept, `rejected` invalid
    /// ones dropped and `repairedStrings` strings repaired.
    public func accepted(encoding: String, spans: Int, rejected: Int, repairedStrings: Int = 0) {
        if repairedStrings > 0 {
            counter("tracegate_receiver_strings_repaired_total", encoding, nil).increment(by: repairedStrings)
        }
        counter("tracegate_receiver_accepted_requests_total", encoding, nil).increment()
        if spans > 0 { counter("tracegate_receiver_accepted_spans_total", encoding, nil).increment(by: spans) }
        if rejected > 0 { counter("tracegate_receiver_rejected_spans_total", encoding, nil).increment(by: rejected) }
    }

    /// A request was refused; `spans` when it was decoded far enough to know them.
    public func refused(encoding: String, reason: Reason, spans: Int = 0) {
        counter("tracegate_receiver_refused_requests_total", encoding, reason.rawValue).increment()
        if spans > 0 { counter("tracegate_receiver_refused_spans_total", encoding, reason.rawValue).increment(by: spans) }
    }

    private func counter(_ name: String, _ encoding: String, _ reason: String?) -> Counter {
        let key = Key(name: name, encoding: encoding, reason: reason)
        return counters.withLock { counters in
            if let existing = counters[key] { return existing }
            var dimensions = [("receiver", receiver), ("protocol", transport), ("encoding", encoding)]
            if let reason { dimensions.append(("reason", reason)) }
            let made = Counter(label: name, dimensions: dimensions)
            counters[key] = made
            return made
        }
    }
}

extension ReceiverMetrics.Reason {
    /// The reason a pipeline refusal is counted under.
    public init(_ kind: RefusalKind) {
        switch kind {
        case .pipelineFull: self = .pipelineFull
        case .memoryLimit: self = .memoryLimit
        }
    }
}
