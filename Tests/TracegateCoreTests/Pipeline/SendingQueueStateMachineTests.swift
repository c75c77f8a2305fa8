import Testing
@testable import TracegateCore

/// The sending queue's decisions, driven by hand: no threads, no sockets, no
/// sleeps. Time is an instant the test moves (`clock`).
@Suite struct SendingQueueStateMachineTests {
    typealias Machine = SendingQueueStateMachine

    /// A start instant the tests count from.
    let t0 = ContinuousClock.now

    /// No jitter: the backoff is exactly initial × multiplier^attempt, capped.
    let exactRetry = RetryPolicy(
        initialInterval: .seconds(1), maxInterval: .seconds(4), maxElapsedTime: .seconds(10), multiplier: 2, randomizationFactor: 0)

    func machine(capacity: Int = 100, coalesce: Int = 0, retry: RetryPolicy? = nil, persistent: Bool = false) -> Machine {
        Machine(capacity: capacity, coalesceSpans: coalesce, retry: retry ?? exactRetry, persistent: persistent)
    }

    func batch(_ spans: Int) -> SpanBatch { makeBatch(services: ["a"], spansEach: spans) }

    func take(_ m: inout Machine, consumer: Int = 0, at now: ContinuousClock.Instant) -> Machine.Export? {
        guard case .export(let export) = m.nextExport(for: consumer, now: now) else { return nil }
        return export
    }

    // MARK: Reservations

    @Test func refusesAReservationThatDoesNotFitAndCountsIt() {
        var m = machine(capacity: 10)
        #expect(m.reserve(6) == .reserved)
        #expect(m.reserve(5) == .refused)
        #expect(m.reserve(4) == .reserved)
        #expect(m.reserve(1) == .refused)
        #expect(m.stats.reservedSpans == 10)
        #expect(m.stats.refusedReservations == 2)
    }

    @Test func aRefusalMakesTheQueueFullUntilARequestOfItsSizeFits() {
        var m = machine(capacity: 10)
        #expect(m.reserve(6) == .reserved)
        #expect(m.fullness() == .reserved)
        #expect(m.reserve(5) == .refused)
        #expect(m.fullness() == .refused)
        m.release(2)
        #expect(m.fullness() == .reserved)
        #expect(m.reserve(5) == .reserved)
        #expect(m.reserve(1) == .reserved)
        #expect(m.fullness() == .refused)
    }

    @Test func aFullLogRefusesOnlyWhenThereIsRoomOtherwiseAndCountsBoth() {
        var m = machine(capacity: 10, persistent: true)
        #expect(m.reserve(5, diskFull: true) == .refusedDiskFull)
        #expect(m.fullness(diskFull: true) == .refusedDiskFull)
        #expect(m.reserve(20, diskFull: true) == .refused)  // no room: the disk is not asked
        #expect(m.stats.refusedReservations == 2)
        #expect(m.stats.refusedDiskFull == 2)
        #expect(m.stats.reservedSpans == 0)
    }

    @Test func releaseAndFinishedExportsFreeTheRoom() {
        var m = machine(capacity: 10)
        m.start(consumers: 1)
        #expect(m.reserve(10) == .reserved)
        m.release(3)
        _ = m.enqueue(batch(7), acceptedAt: t0)
        let export = take(&m, at: t0)!
        #expect(m.reserve(4) == .refused)
        m.exportSucceeded(export)
        let moved = m.finished(export)
        #expect(moved)  // the watermark moved
        #expect(m.stats.reservedSpans == 0)
        #expect(m.stats.exportedSpans == 7)
        #expect(m.reserve(10) == .reserved)
    }

    @Test func closingRefusesReservations() {
        var m = machine()
        _ = m.beginDrain(deadline: t0 + .seconds(5), now: t0)
        #expect(m.reserve(1) == .refused)
        #expect(m.fullness() == .refused)
    }

    // MARK: Queueing and merging

    @Test func aWaitingConsumerIsWokenByTheNextBatch() {
        var m = machine()
        m.start(consumers: 2)
        guard case .wait = m.nextExport(for: 0, now: t0), case .wait = m.nextExport(for: 1, now: t0) else {
            Issue.record("consumers of an empty queue wait")
            return
        }
        #expect(m.enqueue(batch(1), acceptedAt: t0) == [0])
        #expect(m.enqueue(batch(1), acceptedAt: t0) == [1])
        #expect(m.enqueue(batch(1), acceptedAt: t0) == [])
    }

    @Test func mergesQueuedBatchesUpToTheLimitAndNoFurther() {
        var m = machine(coalesce: 10)
        m.start(consumers: 1)
        for spans in [4, 5, 2, 10, 11] { _ = m.enqueue(batch(spans), acceptedAt: t0) }
        #expect(take(&m, at: t0)?.spanCount == 9)  // 4 + 5; + 2 would be 11
        #expect(take(&m, at: t0)?.spanCount == 2)  // 2 + 10 would be 12
        #expect(take(&m, at: t0)?.spanCount == 10)
        #expect(take(&m, at: t0)?.spanCount == 11)  // larger than the limit alone: as it came
        #expect(m.stats.queuedSpans == 0)
    }

    @Test func withoutALimitBatchesGoOutAsTheyCame() {
        var m = machine(coalesce: 0)
        m.start(consumers: 1)
        for spans in [1, 1, 1] { _ = m.enqueue(batch(spans), acceptedAt: t0) }
        #expect(take(&m, at: t0)?.spanCount == 1)
        #expect(m.stats.queuedSpans == 2)
    }

    @Test func withATimeoutSmallBatchesWaitForMoreUntilTheOldestIsDue() {
        var m = Machine(capacity: 100, coalesceSpans: 10, coalesceTimeout: .milliseconds(200), retry: exactRetry, persistent: true)
        m.start(consumers: 1)
        guard case .wait = m.nextExport(for: 0, now: t0) else { return }
        let first = m.submitToLog(acceptedAt: t0)
        #expect(m.logWritten(batch(4), ticket: first, sequence: 1, now: t0) == [])  // 4 of 10: not due
        #expect(m.timerToSet() == t0 + .milliseconds(200))
        #expect(m.timerToSet() == nil)  // set already
        let second = m.submitToLog(acceptedAt: t0 + .milliseconds(50))
        #expect(m.logWritten(batch(3), ticket: second, sequence: 2, now: t0 + .milliseconds(50)) == [])
        #expect(m.timerToSet() == nil)  // the oldest batch's timer covers it
        #expect(m.timerFired(now: t0 + .milliseconds(199)) == [])  // early: nothing is due
        #expect(m.timerFired(now: t0 + .milliseconds(200)) == [0])
        let export = take(&m, at: t0 + .milliseconds(200))
        #expect(export?.sequences == [1, 2])
        #expect(m.timerToSet() == nil)  // nothing left waiting
    }

    @Test func withATimeoutAFullExportIsDueAtOnce() {
        var m = Machine(capacity: 100, coalesceSpans: 10, coalesceTimeout: .milliseconds(200), retry: exactRetry)
        m.start(consumers: 1)
        guard case .wait = m.nextExport(for: 0, now: t0) else { return }
        #expect(m.enqueue(batch(6), acceptedAt: t0) == [])
        guard case .wait = m.nextExport(for: 0, now: t0 + .milliseconds(10)) else {
            Issue.record("6 of 10 spans, 10 ms old: the consumer waits")
            return
        }
        #expect(m.enqueue(batch(4), acceptedAt: t0 + .milliseconds(20)) == [0])  // 10 of 10
        #expect(take(&m, at: t0 + .milliseconds(20))?.spanCount == 10)
    }

    @Test func withATimeoutADrainExportsWhatWaitsAtOnce() {
        var m = Machine(capacity: 100, coalesceSpans: 10, coalesceTimeout: .seconds(5), retry: exactRetry)
        m.start(consumers: 1)
        guard case .wait = m.nextExport(for: 0, now: t0) else { return }
        #expect(m.enqueue(batch(2), acceptedAt: t0) == [])
        #expect(m.beginDrain(deadline: t0 + .seconds(1), now: t0) == [0])
        #expect(take(&m, at: t0)?.spanCount == 2)
        #expect(m.timerToSet() == nil)
    }

    @Test func recoveredBatchesAreDueAtOnce() {
        var m = Machine(capacity: 100, coalesceSpans: 10, coalesceTimeout: .seconds(5), retry: exactRetry, persistent: true)
        m.recover(batch(3), sequence: 1)
        m.start(consumers: 1)
        #expect(take(&m, at: t0)?.sequences == [1])
    }

    @Test func mergedLogRecordsAreAcknowledgedTogether() {
        var m = machine(coalesce: 100, persistent: true)
        m.start(consumers: 1)
        m.recover(batch(3), sequence: 1)
        m.recover(batch(4), sequence: 2)
        #expect(m.stats.reservedSpans == 7)  // replayed spans count against the capacity
        #expect(m.backlog.watermark == .unknown)
        let export = take(&m, at: t0)!
        #expect(export.sequences == [1, 2])
        m.exportSucceeded(export)
        let moved = m.finished(export)
        #expect(moved)
        #expect(m.backlog.watermark == .none)
    }

    @Test func logWritesQueueTheirBatchesAndAFailedOneGivesItsRoomBack() {
        var m = machine(persistent: true)
        m.start(consumers: 1)
        #expect(m.reserve(10) == .reserved)
        let written = m.submitToLog(acceptedAt: t0)
        let failed = m.submitToLog(acceptedAt: t0 + .seconds(1))
        let held = m.submitToLog(acceptedAt: t0 + .seconds(2))
        guard case .wait = m.nextExport(for: 0, now: t0) else {
            Issue.record("nothing is queued before its record is written")
            return
        }
        #expect(m.logWritten(batch(3), ticket: written, sequence: 7, now: t0) == [0])
        let refused = m.logWriteFailed(batch(4), ticket: failed, acknowledged: false, now: t0)
        #expect(!refused.watermarkMoved)  // the written batch is older and waits
        _ = m.logWriteFailed(batch(3), ticket: held, acknowledged: true, now: t0)
        m.countFailedWrite()
        #expect(m.stats.reservedSpans == 6)  // the refused request's 4 are free
        #expect(m.stats.queuedSpans == 6)
        #expect(m.stats.failedWrites == 1)
        #expect(take(&m, at: t0)?.sequences == [7])
        #expect(take(&m, at: t0)?.sequences == [])  // kept in memory only
    }

    // MARK: Retry schedule

    /// A machine whose one consumer took a batch of `spans` at `t0`.
    func exporting(_ spans: Int, retry: RetryPolicy? = nil) -> (Machine, Machine.Export) {
        var m = machine(retry: retry)
        m.start(consumers: 1)
        _ = m.enqueue(batch(spans), acceptedAt: t0)
        return (m, take(&m, at: t0)!)
    }

    func fail(
        _ m: inout Machine, _ export: Machine.Export, at now: ContinuousClock.Instant, retryable: Bool = true, retryAfter: Duration? = nil
    ) -> Machine.FailureAction {
        var random = SystemRandomNumberGenerator()
        return m.exportFailed(export, retryable: retryable, retryAfter: retryAfter, now: now, random: &random)
    }

    @Test func backoffGrowsByTheMultiplierAndIsCapped() {
        var (m, export) = exporting(5)
        var now = t0
        var delays: [Duration] = []
        for _ in 0..<4 {
            guard case .retry(let next, let at, let delay) = fail(&m, export, at: now) else {
                Issue.record("a retryable failure within max_elapsed_time is retried")
                return
            }
            #expect(at == now + delay)
            delays.append(delay)
            now = at
            guard case .export(let again) = m.retryDue(next) else { return }
            export = again
        }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(4)])
        #expect(m.stats.failedAttempts == 4)
        #expect(m.stats.droppedSpans == 0)
    }

    @Test func aLongerRetryAfterHintWins() {
        var (m, export) = exporting(1)
        guard case .retry(_, let at, _) = fail(&m, export, at: t0, retryAfter: .seconds(3)) else {
            Issue.record("expected a retry")
            return
        }
        #expect(at == t0 + .seconds(3))
    }

    @Test func dropsOnceMaxElapsedTimeHasPassedSinceTheFirstAttempt() {
        var (m, export) = exporting(5)
        guard case .retry(let next, _, _) = fail(&m, export, at: t0 + .seconds(9)) else {
            Issue.record("within max_elapsed_time: retried")
            return
        }
        guard case .drop = fail(&m, next, at: t0 + .seconds(10)) else {
            Issue.record("past max_elapsed_time: dropped")
            return
        }
        #expect(m.stats.droppedSpans == 5)
        let moved = m.finished(next)
        #expect(moved)
    }

    @Test func dropsPermanentFailuresAndEveryFailureWithRetriesOff() {
        var (m, export) = exporting(2)
        guard case .drop = fail(&m, export, at: t0, retryable: false) else {
            Issue.record("a permanent failure is dropped")
            return
        }
        var (off, offExport) = exporting(3, retry: RetryPolicy(enabled: false))
        guard case .drop = fail(&off, offExport, at: t0) else {
            Issue.record("retry_on_failure disabled: dropped")
            return
        }
        #expect(m.stats.droppedSpans == 2)
        #expect(off.stats.droppedSpans == 3)
    }

    @Test func zeroMaxElapsedTimeRetriesForever() {
        var (m, export) = exporting(1, retry: RetryPolicy(initialInterval: .seconds(1), maxInterval: .seconds(1), maxElapsedTime: .zero, randomizationFactor: 0))
        guard case .retry = fail(&m, export, at: t0 + .seconds(86_400 * 365)) else {
            Issue.record("expected a retry")
            return
        }
    }

    // MARK: Drain and shutdown

    @Test func drainExportsWhatIsQueuedThenConsumersEnd() {
        var m = machine()
        m.start(consumers: 2)
        #expect(m.reserve(3) == .reserved)
        _ = m.enqueue(batch(3), acceptedAt: t0)
        let export = take(&m, consumer: 0, at: t0)!
        guard case .wait = m.nextExport(for: 1, now: t0) else { return }  // nothing left for 1
        let deadline = t0 + .seconds(10)
        #expect(m.beginDrain(deadline: deadline, now: t0) == [1])  // nothing for it: woken to end
        #expect(m.drainStep(now: t0) == .wait(until: deadline))
        guard case .finish(last: false) = m.nextExport(for: 1, now: t0) else {
            Issue.record("an idle consumer ends once the queue is closing")
            return
        }
        m.exportSucceeded(export)
        _ = m.finished(export)
        guard case .finish(last: true) = m.nextExport(for: 0, now: t0) else {
            Issue.record("the last consumer ends once the queue is drained")
            return
        }
        #expect(m.runningConsumers == 0)
        #expect(m.drainStep(now: t0 + .seconds(1)) == .abandon(lostSpans: 0, wake: []))
        #expect(m.drainStep(now: t0 + .seconds(1)) == .finished(lostSpans: 0))
    }

    @Test func drainWaitsForLogWritesInProgress() {
        var m = machine(persistent: true)
        m.start(consumers: 1)
        let ticket = m.submitToLog(acceptedAt: t0)
        _ = m.beginDrain(deadline: t0 + .seconds(10), now: t0)
        guard case .wait = m.nextExport(for: 0, now: t0) else {
            Issue.record("a consumer waits for the writes the log's writer still holds")
            return
        }
        #expect(m.logWritten(batch(2), ticket: ticket, sequence: 1, now: t0) == [0])
        #expect(take(&m, at: t0)?.spanCount == 2)
    }

    @Test func theDeadlineAbandonsRetriesAndTheGraceEndsInStuck() {
        var m = machine()
        m.start(consumers: 2)
        #expect(m.reserve(8) == .reserved)
        _ = m.enqueue(batch(5), acceptedAt: t0)
        _ = m.enqueue(batch(3), acceptedAt: t0)
        let retrying = take(&m, consumer: 0, at: t0)!
        let blocked = take(&m, consumer: 1, at: t0)!  // inside the exporter, never returns
        guard case .retry(let waiting, _, _) = fail(&m, retrying, at: t0) else { return }
        let deadline = t0 + .seconds(2)
        _ = m.beginDrain(deadline: deadline, now: t0)
        #expect(m.drainStep(now: t0 + .seconds(1)) == .wait(until: deadline))
        #expect(m.drainStep(now: deadline) == .abandon(lostSpans: 8, wake: []))
        #expect(m.reserve(1) == .refused)
        // The retry's wait is cut short: an in-memory queue drops those spans.
        guard case .abandon(let abandoned, .dropped) = m.retryDue(waiting) else {
            Issue.record("abandoned retries are not tried again")
            return
        }
        _ = m.finished(abandoned)
        guard case .finish(last: false) = m.nextExport(for: 0, now: deadline) else { return }
        #expect(m.stats.droppedSpans == 5)
        #expect(m.drainStep(now: deadline + .milliseconds(500)) == .wait(until: deadline + .seconds(1)))
        #expect(m.drainStep(now: deadline + .seconds(1)) == .stuck(lostSpans: 8))
        _ = blocked
    }

    @Test func aPersistentQueueKeepsAbandonedSpansInTheLog() {
        var m = machine(persistent: true)
        m.start(consumers: 1)
        m.recover(batch(4), sequence: 1)
        let export = take(&m, at: t0)!
        _ = m.beginDrain(deadline: t0, now: t0)
        _ = m.drainStep(now: t0)
        guard case .abandon(_, .keptInLog) = fail(&m, export, at: t0) else {
            Issue.record("after the deadline a failed export is not retried")
            return
        }
        #expect(m.exportNotAttempted(export) == .keptInLog)
        #expect(m.stats.droppedSpans == 0)
    }

    @Test func queuedBatchesAreNotTakenAfterTheDeadline() {
        var m = machine()
        m.start(consumers: 1)
        _ = m.enqueue(batch(2), acceptedAt: t0)
        _ = m.beginDrain(deadline: t0, now: t0)
        #expect(m.drainStep(now: t0) == .abandon(lostSpans: 0, wake: []))
        guard case .finish(last: true) = m.nextExport(for: 0, now: t0) else {
            Issue.record("an abandoned queue hands out nothing more")
            return
        }
        #expect(m.drainStep(now: t0) == .finished(lostSpans: 0))
    }

    @Test func aQueueNeverStartedFinishesItsDrainAtOnce() {
        var m = machine()
        _ = m.beginDrain(deadline: t0 + .seconds(60), now: t0)
        #expect(m.drainStep(now: t0) == .abandon(lostSpans: 0, wake: []))
        #expect(m.drainStep(now: t0) == .finished(lostSpans: 0))
    }

    @Test func theDeadlineWakesConsumersWaitingForWork() {
        var m = machine(persistent: true)
        m.start(consumers: 1)
        _ = m.submitToLog(acceptedAt: t0)  // never written before the deadline
        _ = m.beginDrain(deadline: t0 + .seconds(1), now: t0)
        guard case .wait = m.nextExport(for: 0, now: t0) else { return }
        #expect(m.drainStep(now: t0 + .seconds(1)) == .abandon(lostSpans: 0, wake: [0]))
    }
}
