/// The persistent-queue writes that an offer waits for before its client is
/// answered: the acknowledgement of a span means it is in the log (and
/// synced, with `fsync: true`), and the writes happen on each log's writer
/// thread, not on the receiver's event loop.
///
/// `PipelineIngress.offer` binds one to `current` while the batch goes down
/// the pipelines; each persistent `SendingQueue` that takes the batch
/// (`consume`, synchronously, from the processors) counts one write with
/// `expect()` and settles it from its writer. The offer then answers once
/// all of them are settled: accepted when every write succeeded, refused
/// when any failed.
public final class WriteReceipt: @unchecked Sendable {
    // @unchecked: every mutable field is read and written only with
    // `condition` locked.

    /// The receipt of the offer running on this thread or task, if any.
    @TaskLocal public static var current: WriteReceipt?

    /// The offered request's body (see `requestBytes(for:)`), and the
    /// address of the offered batch's storage.
    private let request: [UInt8]?
    private let requestBatch: UInt

    private let condition = ThreadCondition()
    private var outstanding = 0
    private var expected = 0
    private var failure: String?
    private var waiter: (@Sendable (String?) -> Void)?

    /// `request`: the body `batch` was decoded from, an OTLP protobuf
    /// `ExportTraceServiceRequest` that decodes into exactly `batch` (no span
    /// rejected, no string repaired, nothing added by the receiver).
    public init(request: [UInt8]? = nil, of batch: SpanBatch? = nil) {
        self.request = batch == nil ? nil : request
        self.requestBatch = batch.map(Self.storage) ?? 0
    }

    /// The offered request's body when `batch` is the offered batch,
    /// unchanged: a persistent queue then stores those bytes instead of
    /// encoding the batch again (encoding was about 15% of the gateway's CPU
    /// under the `ingest-persistent` bench load). Unchanged means the same
    /// storage: the offer holds the original batch until the queues have
    /// taken it, so a processor that changed anything (through a copy, or by
    /// building a new batch) has storage of its own.
    public func requestBytes(for batch: SpanBatch) -> [UInt8]? {
        guard let request, Self.storage(batch) == requestBatch else { return nil }
        return request
    }

    private static func storage(_ batch: SpanBatch) -> UInt {
        batch.resourceSpans.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    }

    /// True when some write was counted.
    public var expectsWrites: Bool {
        condition.lock()
        defer { condition.unlock() }
        return expected > 0
    }

    /// One more write to wait for; called before the write is handed on.
    public func expect() {
        condition.lock()
        outstanding += 1
        expected += 1
        condition.unlock()
    }

    /// One write is over: `failure` says why it did not reach the log.
    public func settle(failure reason: String?) {
        condition.lock()
        outstanding -= 1
        if let reason, failure == nil { failure = reason }
        let done = outstanding == 0
        let call = done ? waiter : nil
        if done { waiter = nil }
        let result = failure
        condition.broadcast()
        condition.unlock()
        call?(result)
    }

    /// Calls `body` once every expected write is over, with the first
    /// failure (nil: all written): at once on this thread when they already
    /// are, otherwise on the writer thread that settles the last one.
    public func whenSettled(_ body: @escaping @Sendable (String?) -> Void) {
        condition.lock()
        guard outstanding > 0 else {
            let result = failure
            condition.unlock()
            body(result)
            return
        }
        waiter = body
        condition.unlock()
    }

    /// Blocks this thread until every expected write is over; returns the
    /// first failure. Never call it on an event loop.
    public func waitUntilSettled() -> String? {
        condition.lock()
        defer { condition.unlock() }
        while outstanding > 0 { condition.wait() }
        return failure
    }
}
