/// The one interface data moves through: a processor or an exporter's queue
/// takes a batch whose capacity was already reserved (see `Pipeline.offer`), so
/// `consume` cannot refuse it.
///
/// Room is reserved for every span in every exporter queue of a pipeline
/// before the acknowledgement. A stage that drops spans (filter, sampling) or
/// sends them to only some exporters (routing) must say so with `discard`, so
/// that the room reserved for spans that will never arrive is given back.
public protocol SpanConsumer: Sendable {
    func consume(_ batch: SpanBatch)
    /// `count` spans reserved upstream will never reach this consumer.
    func discard(_ count: Int)
}

/// What a pipeline says to a receiver that offers it spans.
public enum Admission: Sendable, Equatable {
    case accepted
    /// Refused for now; the client should retry after the hint. `kind` tells
    /// the receiver which status to answer (503/UNAVAILABLE for a full
    /// pipeline, 429/RESOURCE_EXHAUSTED for the memory limit).
    case refused(retryAfter: Duration, reason: String, kind: RefusalKind = .pipelineFull)
}

/// Hands a batch to several consumers (a pipeline's exporters).
public struct FanOut: SpanConsumer {
    public let consumers: [any SpanConsumer]

    public init(_ consumers: [any SpanConsumer]) { self.consumers = consumers }

    public func consume(_ batch: SpanBatch) {
        // Copy-on-write arrays make this a reference copy per consumer.
        for consumer in consumers { consumer.consume(batch) }
    }

    public func discard(_ count: Int) {
        for consumer in consumers { consumer.discard(count) }
    }
}
