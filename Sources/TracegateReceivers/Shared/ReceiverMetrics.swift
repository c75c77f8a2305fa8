import Logging
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
        /// A persistent queue could not write the request to its log.
        case queueWrite = "queue_write"
        /// The peer broke or abused HTTP/2 (rapid reset, frame floods,
        /// oversized header lists): its connection was closed.
        case protocolError = "protocol"
    }

    private struct Key: Hashable {
        var name: String
        var encoding: String
        var reason: String?
    }

    public let receiver: String
    public let transport: String
    private let counters = Mutex<[Key: Counter]>([:])
    private let refusalLog: RefusalLog?

    /// `transport` is the `protocol` label: `http` or `grpc`. With a
    /// `logger`, refusals are also logged, throttled (`RefusalLog`).
    public init(receiver: String, transport: String, logger: Logger? = nil) {
        self.receiver = receiver
        self.transport = transport
        self.refusalLog = logger.map { RefusalLog(receiver: receiver, transport: transport, logger: $0) }
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
    /// `detail` (a short word: the error's kind) goes to the log, not to a label.
    public func refused(encoding: String, reason: Reason, spans: Int = 0, detail: String? = nil) {
        counter("tracegate_receiver_refused_requests_total", encoding, reason.rawValue).increment()
        if spans > 0 { counter("tracegate_receiver_refused_spans_total", encoding, reason.rawValue).increment(by: spans) }
        refusalLog?.note(reason, detail: detail)
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
        case .queueWrite: self = .queueWrite
        }
    }
}

/// What a receiver refused, in the log without flooding it: the first refusal
/// after a quiet spell is logged at once, later ones are added up and logged
/// together one `interval` after the previous line, with a count per reason.
/// An attack of a million requests costs a few log lines, not a million; the
/// exact counts are on `/metrics`.
final class RefusalLog: Sendable {
    /// The shortest time between two refusal lines of one receiver and protocol.
    static let interval = Duration.seconds(10)

    private struct State {
        var pending: [String: Int] = [:]
        var details: Set<String> = []
        var lastLogged: ContinuousClock.Instant?
        var flushScheduled = false
    }

    private let receiver: String
    private let transport: String
    private let logger: Logger
    private let state = Mutex(State())

    init(receiver: String, transport: String, logger: Logger) {
        self.receiver = receiver
        self.transport = transport
        self.logger = logger
    }

    func note(_ reason: ReceiverMetrics.Reason, detail: String?) {
        enum Next { case log, schedule(ContinuousClock.Instant), nothing }
        let next: Next = state.withLock { state in
            state.pending[reason.rawValue, default: 0] += 1
            if let detail, state.details.count < 8 { state.details.insert(detail) }
            if state.flushScheduled { return .nothing }
            if let last = state.lastLogged, ContinuousClock.now - last < Self.interval {
                state.flushScheduled = true
                return .schedule(last + Self.interval)
            }
            return .log
        }
        switch next {
        case .log: flush()
        case .schedule(let when):
            Task { [self] in
                try? await Task.sleep(until: when, clock: .continuous)
                flush()
            }
        case .nothing: break
        }
    }

    private func flush() {
        let due: (counts: [String: Int], details: Set<String>) = state.withLock { state in
            defer {
                state.pending = [:]
                state.details = []
                state.flushScheduled = false
                state.lastLogged = .now
            }
            return (state.pending, state.details)
        }
        guard !due.counts.isEmpty else { return }
        let counts = due.counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var metadata: Logger.Metadata = [
            "receiver": "\(receiver)", "protocol": "\(transport)", "refused": "\(counts)",
        ]
        if !due.details.isEmpty { metadata["errors"] = "\(due.details.sorted().joined(separator: ","))" }
        logger.warning("refused requests or connections (counted since the previous line; at most one line per 10 s)", metadata: metadata)
    }
}
