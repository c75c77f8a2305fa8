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

    private let condition = ThreadCondition()
    private var outstanding = 0
    private var expected = 0
    private var failure: String?
    private var waiter: (@Sendable (String?) -> Void)?

    public init() {}

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
