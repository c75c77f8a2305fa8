/// The schedule of a write-ahead log's writer, as a state machine without
/// threads or I/O: records submitted while a write (and its sync) is in
/// progress wait, and the writer takes all of them as its next group — one
/// `write(2)` and one `fdatasync` for the lot (group commit). Nothing waits
/// for a timer: a record submitted to an idle writer is written at once, and
/// a busy disk makes the groups larger by itself.
public struct GroupCommit<Item> {
    /// What `submit` asks of the caller.
    public enum Submitted: Equatable {
        /// Queued; the writer is busy and takes it with its next group.
        case queued
        /// Queued; the writer is waiting for work: signal it.
        case wakeWriter
        /// No writer runs (not started yet, or stopped): nothing was queued,
        /// the caller writes the item itself.
        case writeYourself
    }

    /// What the writer does next.
    public enum Step {
        /// Write these items as one group, then call `next()` again.
        case write([Item])
        /// Nothing to write: wait for a signal, then call `next()` again.
        case wait
        /// Stopped and nothing left: the writer ends.
        case stop
    }

    private enum Phase { case notStarted, running, stopping, stopped }

    private var phase = Phase.notStarted
    private var waiting: [Item] = []
    private var writing = false

    public init() {}

    /// Items waiting for the next group.
    public var waitingCount: Int { waiting.count }

    /// True while a group is being written.
    public var isWriting: Bool { writing }

    /// From now on items are queued for a writer (which the caller starts).
    public mutating func start() {
        if phase == .notStarted { phase = .running }
    }

    public mutating func submit(_ item: Item) -> Submitted {
        switch phase {
        case .notStarted, .stopped: return .writeYourself
        case .running, .stopping:
            waiting.append(item)
            return writing ? .queued : .wakeWriter
        }
    }

    /// Called by the writer when it is ready: at first, and after each
    /// group it was given (whose write is then over).
    public mutating func next() -> Step {
        writing = false
        if !waiting.isEmpty {
            writing = true
            defer { waiting = [] }
            return .write(waiting)
        }
        if phase == .stopping {
            phase = .stopped
            return .stop
        }
        return phase == .stopped ? .stop : .wait
    }

    /// The writer writes what is queued, then stops; later items are written
    /// by their callers. True when the writer must be woken to see it.
    public mutating func stop() -> Bool {
        switch phase {
        case .notStarted, .stopped:
            phase = .stopped
            return false
        case .running, .stopping:
            phase = .stopping
            return !writing
        }
    }
}

/// Runs a `GroupCommit` over a `WriteAheadLog`: `submit` is called by any
/// thread (a receiver's event loop) and never does I/O while a writer runs;
/// the writer (`run`, on a thread of its own) appends each group with one
/// `appendGroup` and hands the outcome to `completion`, in log order.
public final class GroupCommitWriter<Item>: @unchecked Sendable {
    // @unchecked: `schedule` is read and written only with `condition`
    // locked; `log` is Sendable; items move from the submitting thread to
    // the writer through `schedule`, so each is used by one thread at a time.
    public typealias Completion = (_ group: [Item], _ outcome: Result<[UInt64], WriteAheadLog.OpenError>) -> Void

    public let log: WriteAheadLog
    private let condition = ThreadCondition()
    private var schedule = GroupCommit<(record: [UInt8], item: Item)>()
    private let completion: Completion

    /// `completion` is called once per group, with no lock held, on the
    /// writer's thread (or the submitter's, when no writer runs).
    public init(log: WriteAheadLog, completion: @escaping Completion) {
        self.log = log
        self.completion = completion
    }

    /// Items go to a writer from now on: call before starting a thread on `run`.
    public func start() {
        condition.lock()
        schedule.start()
        condition.unlock()
    }

    /// Hands a record (framed with `WriteAheadLog.frame`) to the writer. When
    /// no writer runs, writes it on this thread instead, completion included.
    public func submit(_ record: [UInt8], _ item: Item) {
        condition.lock()
        let submitted = schedule.submit((record, item))
        condition.unlock()
        // Signalled after unlocking: a writer woken while the lock is still
        // held would block on it at once and need a second wake-up. None is
        // lost: the writer decides to wait and waits under the lock.
        if submitted == .wakeWriter { condition.signal() }
        if submitted == .writeYourself { write([(record, item)]) }
    }

    /// The writer's loop: writes groups until `stop`, and what was queued
    /// before it.
    public func run() {
        while writeNextGroup() {}
    }

    /// Writes the queued items as one group if there are any; false when
    /// there were none. Lets a test be the writer, one group at a time.
    @discardableResult
    public func writeWaitingGroup() -> Bool {
        condition.lock()
        let step = schedule.next()
        condition.unlock()
        guard case .write(let group) = step else { return false }
        write(group)
        return true
    }

    /// Writes what is queued, then lets the writer end; what is submitted
    /// later is written by its submitter.
    public func stop() {
        condition.lock()
        if schedule.stop() { condition.signal() }
        condition.unlock()
    }

    /// One step of the writer; false once it is stopped.
    private func writeNextGroup() -> Bool {
        condition.lock()
        var step = schedule.next()
        while case .wait = step {
            condition.wait()
            step = schedule.next()
        }
        condition.unlock()
        switch step {
        case .write(let group):
            write(group)
            return true
        case .wait, .stop:
            return false
        }
    }

    private func write(_ group: [(record: [UInt8], item: Item)]) {
        let outcome: Result<[UInt64], WriteAheadLog.OpenError>
        do throws(WriteAheadLog.OpenError) {
            outcome = .success(try log.appendGroup(group.map(\.record)))
        } catch {
            outcome = .failure(error)
        }
        completion(group.map(\.item), outcome)
    }
}
