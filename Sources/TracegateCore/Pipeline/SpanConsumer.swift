/// The one interface data moves through: a processor or an exporter's queue
/// takes a batch whose capacity was already reserved (see `Pipeline.offer`), so
/// `consume` cannot refuse it.
public protocol SpanConsumer: Sendable {
    func consume(_ batch: SpanBatch)
}

/// What a pipeline says to a receiver that offers it spans.
public enum Admission: Sendable, Equatable {
    case accepted
    /// Refused for now; the client should retry after the hint.
    case refused(retryAfter: Duration, reason: String)
}

/// Hands a batch to several consumers (a pipeline's exporters).
public struct FanOut: SpanConsumer {
    public let consumers: [any SpanConsumer]

    public init(_ consumers: [any SpanConsumer]) { self.consumers = consumers }

    public func consume(_ batch: SpanBatch) {
        // Copy-on-write arrays make this a reference copy per consumer.
        for consumer in consumers { consumer.consume(batch) }
    }
}
