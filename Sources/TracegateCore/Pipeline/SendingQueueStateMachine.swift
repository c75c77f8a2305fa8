/// Everything a `SendingQueue` decides, as a value without threads, locks,
/// clocks or I/O (the shape of postgres-nio's `PoolStateMachine`): room
/// reserved for acknowledged spans, the batches waiting for a consumer,
/// merging them into one export, the retry schedule of a failed export, and
/// the drain at shutdown. Each mutating method takes `now` where time
/// matters and returns what the caller must do; `SendingQueue` keeps it
/// behind a `Mutex` and does it (calls the exporter on the export threads,
/// wakes consumers, writes the log's cursor, logs).
public struct SendingQueueStateMachine: Sendable {
    public typealias Instant = ContinuousClock.Instant
    /// A consumer of the queue, `0..<num_consumers`.
    public typealias ConsumerID = Int

    /// Batches taken for one export (several when merged), and where the
    /// retry schedule of that export stands.
    public struct Export: Sendable {
        public internal(set) var batch: SpanBatch
        /// Log records holding these batches (none for an in-memory queue).
        public internal(set) var sequences: [UInt64]
        /// Their places in the backlog of unstored spans.
        var tickets: [UnstoredBacklog.Ticket]
        /// Failed attempts so far.
        public internal(set) var attempt = 0
        /// When the first attempt began: `max_elapsed_time` counts from here.
        public internal(set) var startedAt: Instant

        public var spanCount: Int { batch.spanCount }
    }

    /// What a consumer does next (`nextExport`).
    public enum ConsumerAction: Sendable {
        /// Call the exporter with this, then report with `exportSucceeded`
        /// or `exportFailed`.
        case export(Export)
        /// Nothing to do yet: wait until woken (the ids returned by the
        /// methods that queue work or change the drain), then ask again.
        case wait
        /// The queue is closed and drained (or abandoned): this consumer ends.
        /// `last`: it was the last one running.
        case finish(last: Bool)
    }

    /// What to do with an export that failed (`exportFailed`).
    public enum FailureAction: Sendable {
        /// Try again at `at` (after `delay`), then report with `retryDue`.
        case retry(Export, at: Instant, delay: Duration)
        /// Give up on the spans: the failure is permanent, retries are off or
        /// `max_elapsed_time` has passed. Counted as dropped; the log
        /// records are acknowledged as done (nothing will store them).
        case drop(Export)
        /// Shutdown abandoned the retries (`abandonment`).
        case abandon(Export, Abandonment)
    }

    /// What becomes of an export that shutdown cut short.
    public enum Abandonment: Sendable, Equatable {
        /// A persistent queue keeps the spans in its log for the next start;
        /// nothing is counted as dropped and the records stay unacknowledged.
        case keptInLog
        /// An in-memory queue loses them: counted as dropped.
        case dropped
    }

    /// What to do when a retry is due (`retryDue`).
    public enum RetryAction: Sendable {
        case export(Export)
        case abandon(Export, Abandonment)
    }

    /// What `SendingQueue.shutdown` does next (`drainStep`).
    public enum DrainStep: Sendable, Equatable {
        /// Wait until the last consumer finishes, at most until this instant.
        case wait(until: Instant)
        /// The deadline passed (or everything drained): retries are abandoned
        /// and the consumers waiting for work are to be woken. `lostSpans`:
        /// reserved spans not exported.
        case abandon(lostSpans: Int, wake: [ConsumerID])
        /// Every consumer ended.
        case finished(lostSpans: Int)
        /// A consumer is still inside the exporter after the grace period
        /// (a downstream that never answers): leave it, and do not close the
        /// exporter under it.
        case stuck(lostSpans: Int)
    }

    /// The answer to a reservation (`reserve`).
    public enum Reservation: Sendable, Equatable {
        case reserved
        /// No room in `queue_size`, or the queue is closing.
        case refused
        /// The persistent queue's log reached `max_size`.
        case refusedDiskFull
    }

    private enum Phase: Sendable, Equatable {
        case running
        /// Shutdown began: no new reservations; consumers drain until `deadline`.
        case draining(deadline: Instant)
        /// Retries are abandoned; consumers still running get until `graceUntil`.
        case abandoned(graceUntil: Instant, lostSpans: Int)
    }

    private struct Entry: Sendable {
        var batch: SpanBatch
        var sequences: [UInt64]
        var tickets: [UnstoredBacklog.Ticket]
        /// When it was queued; nil for what the log recovered at open.
        var queuedAt: Instant? = nil
    }

    /// `queue_size`.
    public let capacity: Int
    /// Spans a consumer merges from queued batches into one export; 0
    /// exports batches as they were queued.
    public let coalesceSpans: Int
    /// How long queued batches of fewer than `coalesceSpans` spans wait for
    /// more before they are exported anyway (the hoisted batch processor's
    /// `timeout`); zero exports whatever is queued as soon as a consumer is
    /// free.
    public let coalesceTimeout: Duration
    public let retry: RetryPolicy
    /// Spans of an abandoned export stay in the log (see `Abandonment`).
    public let persistent: Bool
    /// How long consumers still in the exporter get once retries are
    /// abandoned, before shutdown leaves them.
    public let abandonGrace: Duration

    public private(set) var stats = SendingQueueStats()
    public private(set) var backlog = UnstoredBacklog()
    private var phase = Phase.running
    private var entries: [Entry] = []
    private var head = 0
    private var liveConsumers = 0
    /// Consumers waiting for work, longest waiting first.
    private var idle: [ConsumerID] = []
    /// Batches handed to the log's writer and not yet written (or failed):
    /// consumers do not finish a drain before these are queued.
    private var unwritten = 0
    /// The smallest reservation refused for lack of room since the last one
    /// that succeeded (nil when the last one succeeded).
    private var refusedSince: Int?
    /// The instant a timer is set for (`timerToSet`), until it fires.
    private var timerSetFor: Instant?

    public init(
        capacity: Int, coalesceSpans: Int = 0, coalesceTimeout: Duration = .zero, retry: RetryPolicy, persistent: Bool = false,
        abandonGrace: Duration = .seconds(1)
    ) {
        self.capacity = capacity
        self.coalesceSpans = coalesceSpans
        self.coalesceTimeout = coalesceTimeout
        self.retry = retry
        self.persistent = persistent
        self.abandonGrace = abandonGrace
    }

    // MARK: Reservations

    private var closing: Bool { phase != .running }

    /// Reserves room for `count` spans. `diskFull`: the persistent queue's
    /// log is at `max_size` (asked only when there is room in `queue_size`).
    public mutating func reserve(_ count: Int, diskFull: @autoclosure () -> Bool = false) -> Reservation {
        guard !closing, stats.reservedSpans + count <= capacity else {
            stats.refusedReservations += 1
            if !closing { refusedSince = min(refusedSince ?? count, count) }
            return .refused
        }
        if diskFull() {
            stats.refusedReservations += 1
            stats.refusedDiskFull += 1
            return .refusedDiskFull
        }
        stats.reservedSpans += count
        refusedSince = nil
        return .reserved
    }

    /// Whether a request is bound to be refused (see `SendingQueue.isFull`).
    /// A full log counts as a refusal (`.refusedDiskFull`): receivers ask
    /// this to refuse a request at its head.
    public mutating func fullness(diskFull: @autoclosure () -> Bool = false) -> Reservation {
        if closing || stats.reservedSpans + (refusedSince ?? 1) > capacity { return .refused }
        if diskFull() {
            stats.refusedDiskFull += 1
            return .refusedDiskFull
        }
        return .reserved
    }

    /// Gives back reserved room that will not be used.
    public mutating func release(_ count: Int) {
        stats.reservedSpans -= count
    }

    // MARK: Queueing

    /// Queues spans recovered from the log at open. They were acknowledged
    /// before the restart, so they count against the capacity like new ones,
    /// and their acceptance time is unknown.
    public mutating func recover(_ batch: SpanBatch, sequence: UInt64) {
        entries.append(Entry(batch: batch, sequences: [sequence], tickets: [backlog.admit(acceptedAt: nil)]))
        stats.queuedSpans += batch.spanCount
        stats.reservedSpans += batch.spanCount
    }

    /// Queues a batch whose room was reserved, accepted at `acceptedAt`;
    /// returns the consumers to wake.
    public mutating func enqueue(_ batch: SpanBatch, acceptedAt: Instant) -> [ConsumerID] {
        let ticket = backlog.admit(acceptedAt: acceptedAt)
        entries.append(Entry(batch: batch, sequences: [], tickets: [ticket], queuedAt: acceptedAt))
        stats.queuedSpans += batch.spanCount
        return wakeups(now: acceptedAt)
    }

    /// A batch accepted at `acceptedAt` goes to the log's writer first; it
    /// is queued by `logWritten` (or given back by `logWriteFailed`) with
    /// the ticket returned here.
    public mutating func submitToLog(acceptedAt: Instant) -> UnstoredBacklog.Ticket {
        unwritten += 1
        return backlog.admit(acceptedAt: acceptedAt)
    }

    /// A record submitted with `ticket` is in the log as `sequence` at
    /// `now`. Returns the consumers to wake.
    public mutating func logWritten(_ batch: SpanBatch, ticket: UnstoredBacklog.Ticket, sequence: UInt64, now: Instant) -> [ConsumerID] {
        unwritten -= 1
        entries.append(Entry(batch: batch, sequences: [sequence], tickets: [ticket], queuedAt: now))
        stats.queuedSpans += batch.spanCount
        return wakeups(now: now)
    }

    /// A record submitted with `ticket` could not be written. `acknowledged`:
    /// its client was answered before the write (a processor held the
    /// spans), so they are kept in memory only; otherwise the client gets
    /// the error and retries, and nothing is held. Returns the consumers to
    /// wake, and whether the backlog's watermark moved.
    public mutating func logWriteFailed(
        _ batch: SpanBatch, ticket: UnstoredBacklog.Ticket, acknowledged: Bool, now: Instant
    ) -> (wake: [ConsumerID], watermarkMoved: Bool) {
        unwritten -= 1
        var moved = false
        if acknowledged {
            entries.append(Entry(batch: batch, sequences: [], tickets: [ticket], queuedAt: now))
            stats.queuedSpans += batch.spanCount
        } else {
            stats.reservedSpans -= batch.spanCount
            moved = backlog.finish(ticket)
        }
        return (wakeups(now: now), moved)
    }

    /// One group of records failed to write.
    public mutating func countFailedWrite() { stats.failedWrites += 1 }

    /// Bytes the log uses now.
    public mutating func recordDiskBytes(_ bytes: Int) { stats.diskBytes = bytes }

    /// The waiting consumers that have something to do now: every one when
    /// a drain has nothing left to wait for (each takes work or ends), else
    /// one when the queued batches are due (`isDue`).
    private mutating func wakeups(now: Instant) -> [ConsumerID] {
        guard !idle.isEmpty else { return [] }
        if closing && unwritten == 0 {
            defer { idle = [] }
            return idle
        }
        return isDue(now: now) ? [idle.removeFirst()] : []
    }

    /// Whether what is queued is to be exported now: always, unless the queue
    /// coalesces with a timeout (`coalesceTimeout`); then when it fills an
    /// export, when the oldest batch has waited `coalesceTimeout`, or when
    /// the queue is closing. (This is the batch processor's rule, applied
    /// behind the log instead of in memory in front of it.)
    private func isDue(now: Instant) -> Bool {
        guard head < entries.count else { return false }
        guard let due = waitingUntil else { return true }
        return now >= due
    }

    /// When the queued batches become due if they are waiting for more
    /// spans; nil when nothing is queued or they are due whatever the time.
    private var waitingUntil: Instant? {
        guard head < entries.count, coalesceSpans > 0, coalesceTimeout > .zero, !closing, stats.queuedSpans < coalesceSpans,
            let queuedAt = entries[head].queuedAt
        else { return nil }
        return queuedAt + coalesceTimeout
    }

    /// When queued batches are waiting for more (`isDue` is false) and no
    /// timer is set for their due time yet: the instant to call `timerFired`
    /// at. Call after every method that may queue or leave batches waiting;
    /// nil when no new timer is needed.
    public mutating func timerToSet() -> Instant? {
        guard let due = waitingUntil else { return nil }
        if let set = timerSetFor, set <= due { return nil }
        timerSetFor = due
        return due
    }

    /// A timer set by `timerToSet` fired at `now`. Returns the consumers to
    /// wake; call `timerToSet` again afterwards.
    public mutating func timerFired(now: Instant) -> [ConsumerID] {
        if let set = timerSetFor, set <= now { timerSetFor = nil }
        return wakeups(now: now)
    }

    // MARK: Consumers

    /// `count` consumers run from now on.
    public mutating func start(consumers count: Int) {
        liveConsumers = count
    }

    /// Consumers running (started and not finished).
    public var runningConsumers: Int { liveConsumers }

    /// What consumer `id` does next: takes the oldest queued batches (merged
    /// up to `coalesceSpans`) when they are due, waits, or ends.
    public mutating func nextExport(for id: ConsumerID, now: Instant) -> ConsumerAction {
        if !isDue(now: now) && (!closing || unwritten > 0) {
            idle.append(id)
            return .wait
        }
        guard head < entries.count, !isAbandoned else {
            liveConsumers -= 1
            return .finish(last: liveConsumers == 0)
        }
        var taken = entries[head]
        entries[head] = Entry(batch: SpanBatch(), sequences: [], tickets: [])
        head += 1
        while coalesceSpans > 0, head < entries.count, taken.batch.spanCount + entries[head].batch.spanCount <= coalesceSpans {
            taken.batch.append(contentsOf: entries[head].batch)
            taken.sequences += entries[head].sequences
            taken.tickets += entries[head].tickets
            entries[head] = Entry(batch: SpanBatch(), sequences: [], tickets: [])
            head += 1
        }
        if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
        stats.queuedSpans -= taken.batch.spanCount
        return .export(Export(batch: taken.batch, sequences: taken.sequences, tickets: taken.tickets, startedAt: now))
    }

    /// A consumer that was waiting stopped waiting without being woken
    /// (its task was cancelled).
    public mutating func stopWaiting(_ id: ConsumerID) {
        idle.removeAll { $0 == id }
    }

    /// The exporter took `export`.
    public mutating func exportSucceeded(_ export: Export) {
        stats.exportedSpans += export.spanCount
    }

    /// The exporter failed `export` at `now`. `retryable` and `retryAfter`
    /// are the failure's; `random` jitters the backoff.
    public mutating func exportFailed<R: RandomNumberGenerator>(
        _ export: Export, retryable: Bool, retryAfter: Duration?, now: Instant, random: inout R
    ) -> FailureAction {
        stats.failedAttempts += 1
        let outOfTime = retry.maxElapsedTime > .zero && now - export.startedAt >= retry.maxElapsedTime
        if !retryable || !retry.enabled || outOfTime {
            stats.droppedSpans += export.spanCount
            return .drop(export)
        }
        var delay = retry.delay(afterAttempt: export.attempt, using: &random)
        if let retryAfter, retryAfter > delay { delay = retryAfter }
        var next = export
        next.attempt += 1
        if isAbandoned { return .abandon(next, abandonment(of: next)) }
        return .retry(next, at: now + delay, delay: delay)
    }

    /// The wait before a retry of `export` ended (its time came, or shutdown
    /// abandoned retries and cut it short).
    public mutating func retryDue(_ export: Export) -> RetryAction {
        isAbandoned ? .abandon(export, abandonment(of: export)) : .export(export)
    }

    /// An export taken before shutdown abandoned retries did not reach the
    /// exporter (its turn on the export threads was cancelled).
    public mutating func exportNotAttempted(_ export: Export) -> Abandonment {
        abandonment(of: export)
    }

    private mutating func abandonment(of export: Export) -> Abandonment {
        if persistent { return .keptInLog }
        stats.droppedSpans += export.spanCount
        return .dropped
    }

    /// The queue is done with `export` (stored, dropped or abandoned): its
    /// room is free again. True when the backlog's watermark moved.
    public mutating func finished(_ export: Export) -> Bool {
        stats.reservedSpans -= export.spanCount
        var moved = false
        for ticket in export.tickets where backlog.finish(ticket) { moved = true }
        return moved
    }

    // MARK: Drain

    private var isAbandoned: Bool {
        if case .abandoned = phase { return true }
        return false
    }

    /// Shutdown begins: reservations are refused from now on, consumers
    /// export what is queued (and what the log's writer still writes) until
    /// `deadline`. Returns the waiting consumers that can end at once.
    public mutating func beginDrain(deadline: Instant, now: Instant) -> [ConsumerID] {
        if phase == .running { phase = .draining(deadline: deadline) }
        return wakeups(now: now)
    }

    /// Where the drain stands at `now`; call after `beginDrain`, and again
    /// after each `.wait` and `.abandon`.
    public mutating func drainStep(now: Instant) -> DrainStep {
        switch phase {
        case .running:
            preconditionFailure("drainStep before beginDrain")
        case .draining(let deadline):
            guard liveConsumers == 0 || now >= deadline else { return .wait(until: deadline) }
            let lost = stats.reservedSpans
            phase = .abandoned(graceUntil: now + abandonGrace, lostSpans: lost)
            defer { idle = [] }
            return .abandon(lostSpans: lost, wake: idle)
        case .abandoned(let graceUntil, let lost):
            if liveConsumers == 0 { return .finished(lostSpans: lost) }
            return now >= graceUntil ? .stuck(lostSpans: lost) : .wait(until: graceUntil)
        }
    }
}
