import Synchronization

/// One `service.pipelines` entry once built: its processors chained in order,
/// ending in a fan-out to the sending queues of its exporters.
public final class Pipeline: Sendable {
    public let id: String
    public let queues: [SendingQueue]
    private let entry: any SpanConsumer
    private let refusalHint: Duration
    /// Stages that may refuse data before room is reserved (memory_limiter).
    public let gates: [any AdmissionGate]
    /// Some exporter queue of this pipeline is persistent: an offer waits
    /// for its log writes before it is answered.
    public let writesLog: Bool
    /// Offers in progress, whether the pipeline still takes new ones, and
    /// the `close` calls waiting for the last offer to leave.
    private let door = Mutex(Door())

    private struct Door {
        var open = true
        var inFlight = 0
        var closers: [CheckedContinuation<Void, Never>] = []
    }

    public init(
        id: String, entry: any SpanConsumer, queues: [SendingQueue], refusalHint: Duration = .seconds(1),
        gates: [any AdmissionGate] = []
    ) {
        self.id = id
        self.entry = entry
        self.queues = queues
        self.refusalHint = refusalHint
        self.gates = gates
        self.writesLog = queues.contains { $0.config.persistent }
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

    /// Starts an offer; false once the pipeline is closed.
    func enter() -> Bool {
        door.withLock { d in
            guard d.open else { return false }
            d.inFlight += 1
            return true
        }
    }

    func leave() {
        let closers = door.withLock { d in
            d.inFlight -= 1
            guard d.inFlight == 0 else { return [CheckedContinuation<Void, Never>]() }
            defer { d.closers = [] }
            return d.closers
        }
        for closer in closers { closer.resume() }
    }

    /// Takes no more data and returns once the offers in progress are done.
    /// Called at shutdown after the receivers stopped and before the
    /// processors flush, so that no acknowledged batch can reach a batch
    /// processor that has already flushed for the last time (a keep-alive
    /// connection may still deliver a request after its receiver stopped).
    public func close() async {
        guard door.withLock({ d in d.open = false; return d.inFlight > 0 }) else { return }
        // Resumed by the last offer to leave (no polling).
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = door.withLock { d in
                if d.inFlight == 0 { return true }
                d.closers.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}

/// Where a receiver's requests go: the pipelines that list it. A reload
/// points a running receiver at the pipelines of the new configuration
/// without touching its sockets.
public final class IngressRoute: Sendable {
    private let current: Mutex<[Pipeline]>

    public init(_ pipelines: [Pipeline]) { current = Mutex(pipelines) }

    public var pipelines: [Pipeline] { current.withLock { $0 } }

    /// New requests go to `pipelines`; offers in progress finish where they began.
    public func retarget(_ pipelines: [Pipeline]) { current.withLock { $0 = pipelines } }
}

/// What a receiver feeds: the pipelines that list it. A request is accepted
/// only when every pipeline has room for it, so the acknowledgement is true
/// for all of them.
public struct PipelineIngress: Sendable {
    public let route: IngressRoute

    public init(pipelines: [Pipeline]) { self.route = IngressRoute(pipelines) }

    public init(route: IngressRoute) { self.route = route }

    public var pipelines: [Pipeline] { route.pipelines }

    /// The refusal a request would get now, whatever its size, because some
    /// pipeline has no room at all; nil when it may be accepted. Lets a
    /// receiver answer 503 before it reads and decodes the body.
    public func refusalBeforeDecoding() -> Admission? {
        let pipelines = route.pipelines
        if let refusal = Self.gateRefusal(pipelines, bytes: 0) { return refusal }
        for pipeline in pipelines where pipeline.queues.contains(where: \.isFull) {
            return .refused(retryAfter: pipeline.retryHint, reason: "pipeline \(pipeline.id) is at capacity: its exporter queues are full")
        }
        return nil
    }

    /// Offers a decoded batch and calls `answer` once the admission is final.
    /// On `.accepted` the spans are owned by the pipelines and durable as
    /// their queues promise; on `.refused` the client is to retry.
    ///
    /// `answer` runs on this thread before `offer` returns, unless a
    /// persistent queue is writing the batch to its log: then it runs on
    /// that log's writer thread once the write (and sync) is done, and this
    /// thread (an event loop) is free meanwhile.
    ///
    /// `request`: the body the batch was decoded from, when it is an OTLP
    /// protobuf request that decodes into exactly this batch (see
    /// `WriteReceipt.requestBytes(for:)`); a persistent queue may store it
    /// as it came.
    public func offer(_ batch: SpanBatch, request: [UInt8]? = nil, answer: @escaping @Sendable (Admission) -> Void) {
        let (admission, receipt) = admit(batch, request: request)
        guard admission == .accepted, let receipt, receipt.expectsWrites else {
            answer(admission)
            return
        }
        receipt.whenSettled { failure in
            guard let failure else {
                answer(.accepted)
                return
            }
            answer(.refused(retryAfter: .seconds(1), reason: "persistent queue write failed: \(failure)", kind: .queueWrite))
        }
    }

    /// `offer`, waiting on this thread for the answer: for callers that may
    /// block (tools, tests), never for an event loop.
    public func offerAndWait(_ batch: SpanBatch) -> Admission {
        let answered = Mutex<Admission?>(nil)
        let receipt = WriteReceipt()
        receipt.expect()
        offer(batch) { admission in
            answered.withLock { $0 = admission }
            receipt.settle(failure: nil)
        }
        _ = receipt.waitUntilSettled()
        return answered.withLock { $0! }
    }

    /// Everything of an offer up to handing the batch to the pipelines; the
    /// log writes that follow are counted on the receipt (nil when no
    /// pipeline has a persistent queue).
    private func admit(_ batch: SpanBatch, request: [UInt8]?) -> (Admission, WriteReceipt?) {
        let count = batch.spanCount
        guard count > 0 else { return (.accepted, nil) }
        var pipelines = route.pipelines
        // A reload may close the pipelines this offer found between reading
        // the route and entering them: the route then names their successors.
        var entered = false
        for _ in 0..<3 {
            guard let closed = pipelines.firstIndex(where: { !$0.enter() }) else {
                entered = true
                break
            }
            for done in pipelines[..<closed] { done.leave() }
            let fresh = route.pipelines
            guard !Self.same(fresh, pipelines) else {
                return (.refused(retryAfter: pipelines[closed].retryHint, reason: "pipeline \(pipelines[closed].id) is shutting down"), nil)
            }
            pipelines = fresh
        }
        guard entered else { return (.refused(retryAfter: .seconds(1), reason: "the configuration is being reloaded"), nil) }
        defer { for pipeline in pipelines { pipeline.leave() } }
        let hasGates = pipelines.contains { !$0.gates.isEmpty }
        let bytes = hasGates ? batch.estimatedByteSize : 0
        if hasGates, let refusal = Self.gateRefusal(pipelines, bytes: bytes) { return (refusal, nil) }
        for (i, pipeline) in pipelines.enumerated() where !pipeline.reserve(count) {
            for done in pipelines[..<i] { done.release(count) }
            return (.refused(retryAfter: pipeline.retryHint, reason: "pipeline \(pipeline.id) is at capacity: its exporter queues are full"), nil)
        }
        if hasGates {
            for pipeline in pipelines { for gate in pipeline.gates { gate.admitted(bytes: bytes) } }
        }
        guard pipelines.contains(where: \.writesLog) else {
            for pipeline in pipelines { pipeline.consume(batch) }
            return (.accepted, nil)
        }
        // The persistent queues the batch reaches count their writes on the
        // receipt (`SendingQueue.consume`).
        let receipt = WriteReceipt(request: request, of: batch)
        WriteReceipt.$current.withValue(receipt) {
            for pipeline in pipelines { pipeline.consume(batch) }
        }
        return (.accepted, receipt)
    }

    private static func same(_ a: [Pipeline], _ b: [Pipeline]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0 === $1 }
    }

    private static func gateRefusal(_ pipelines: [Pipeline], bytes: Int) -> Admission? {
        for pipeline in pipelines {
            for gate in pipeline.gates {
                if let refusal = gate.refusal(forBytes: bytes) { return refusal }
            }
        }
        return nil
    }
}
