/// One `service.pipelines` entry once built: its processors chained in order,
/// ending in a fan-out to the sending queues of its exporters.
public final class Pipeline: Sendable {
    public let id: String
    public let queues: [SendingQueue]
    private let entry: any SpanConsumer
    private let refusalHint: Duration

    public init(id: String, entry: any SpanConsumer, queues: [SendingQueue], refusalHint: Duration = .seconds(1)) {
        self.id = id
        self.entry = entry
        self.queues = queues
        self.refusalHint = refusalHint
    }

    /// Reserves room for `count` spans in every exporter queue, all or nothing.
    func reserve(_ count: Int) -> Bool {
        for (i, queue) in queues.enumerated() where !queue.tryReserve(count) {
            for done in queues[..<i] { done.release(count) }
            return false
        }
        return true
    }

    func release(_ count: Int) {
        for queue in queues { queue.release(count) }
    }

    func consume(_ batch: SpanBatch) { entry.consume(batch) }

    var retryHint: Duration { refusalHint }
}

/// What a receiver feeds: the pipelines that list it. A request is accepted
/// only when every pipeline has room for it, so the acknowledgement is true
/// for all of them.
public struct PipelineIngress: Sendable {
    public let pipelines: [Pipeline]

    public init(pipelines: [Pipeline]) { self.pipelines = pipelines }

    /// The refusal a request would get now, whatever its size, because some
    /// pipeline has no room at all; nil when it may be accepted. Lets a
    /// receiver answer 503 before it reads and decodes the body.
    public func refusalBeforeDecoding() -> Admission? {
        for pipeline in pipelines where pipeline.queues.contains(where: \.isFull) {
            return .refused(retryAfter: pipeline.retryHint, reason: "pipeline \(pipeline.id) is at capacity: its exporter queues are full")
        }
        return nil
    }

    /// Offers a decoded batch. On `.accepted` the spans are owned by the
    /// pipelines; on `.refused` nothing was kept.
    public func offer(_ batch: SpanBatch) -> Admission {
        let count = batch.spanCount
        guard count > 0 else { return .accepted }
        for (i, pipeline) in pipelines.enumerated() where !pipeline.reserve(count) {
            for done in pipelines[..<i] { done.release(count) }
            return .refused(retryAfter: pipeline.retryHint, reason: "pipeline \(pipeline.id) is at capacity: its exporter queues are full")
        }
        for pipeline in pipelines { pipeline.consume(batch) }
        return .accepted
    }
}
