import Testing
import TracegateCore
@testable import TracegateExporters

/// The postgres store's conclusion timing, driven with made-up instants: no
/// threads, no database.
@Suite struct ConclusionTrackerTests {
    let t0 = ContinuousClock.now
    let a = TraceID(high: 1, low: 1)
    let b = TraceID(high: 1, low: 2)

    func tracker(concludeAfterRoot: Duration = .zero) -> ConclusionTracker {
        var t = ConclusionTracker(
            settings: .init(inactivity: .seconds(1), maxWait: .seconds(5), concludeAfterRoot: concludeAfterRoot, sweepInterval: .seconds(5)),
            now: t0)
        // The first round sweeps what a previous run left open.
        let first = t.nextStep(now: t0, horizon: horizon(t0))
        #expect(first == .conclude(.init(due: [], early: [], sweep: true, hold: .zero)))
        return t
    }

    func horizon(_ now: ContinuousClock.Instant, oldestUnstored: ContinuousClock.Instant? = nil) -> ConclusionHorizon {
        ConclusionHorizon(now: now, watermarks: [oldestUnstored.map { .since($0) } ?? .none])
    }

    func due(_ step: ConclusionTracker.Step) -> [TraceID] {
        if case .conclude(let work) = step { return work.due }
        return []
    }

    @Test func aTraceIsAskedAboutAfterInactivityNotBefore() {
        var t = tracker()
        _ = t.observe(traces: [a], roots: [a], now: t0)
        let step1 = t.nextStep(now: t0 + .milliseconds(990), horizon: horizon(t0 + .milliseconds(990)))
        #expect(step1 == .wait(until: t0 + .seconds(1)))
        // A later span moves the deadline.
        _ = t.observe(traces: [a], roots: [], now: t0 + .milliseconds(500))
        let early = due(t.nextStep(now: t0 + .milliseconds(1100), horizon: horizon(t0 + .milliseconds(1100))))
        #expect(early.isEmpty)
        let step = t.nextStep(now: t0 + .milliseconds(1520), horizon: horizon(t0 + .milliseconds(1520)))
        #expect(step == .conclude(.init(due: [a], early: [], sweep: false, hold: .zero)))
        #expect(t.openCount == 0)
    }

    @Test func observeWakesTheStoreOnlyWhenItSleepsPastTheNewDeadline() {
        var t = tracker()
        // Asleep until the next sweep: a trace due sooner wakes it, once.
        let step2 = t.nextStep(now: t0 + .milliseconds(10), horizon: horizon(t0 + .milliseconds(10)))
        #expect(step2 == .wait(until: t0 + .seconds(5)))
        let woke3 = t.observe(traces: [a], roots: [], now: t0 + .milliseconds(20))
        #expect(woke3)
        let woke4 = t.observe(traces: [b], roots: [], now: t0 + .milliseconds(30))
        #expect(!woke4, "already woken")
        let step5 = t.nextStep(now: t0 + .milliseconds(40), horizon: horizon(t0 + .milliseconds(40)))
        #expect(step5 == .wait(until: t0 + .milliseconds(1020)))
        // Asleep until a's deadline: a later one does not wake it.
        let woke6 = t.observe(traces: [b], roots: [], now: t0 + .milliseconds(50))
        #expect(!woke6)
    }

    @Test func aBacklogHoldsTimersAndTheWindowGrowsByItsLag() {
        var t = tracker()
        _ = t.observe(traces: [a], roots: [], now: t0)
        // Due by the clock, but a span accepted at t0 + 0.5 s is not stored yet.
        let now = t0 + .seconds(2)
        let step7 = t.nextStep(now: now, horizon: horizon(now, oldestUnstored: t0 + .milliseconds(500)))
        #expect(step7 == .wait(until: t0 + .seconds(5)))
        let later = t0 + .seconds(3)
        let step = t.nextStep(now: later, horizon: horizon(later, oldestUnstored: t0 + .milliseconds(1500)))
        #expect(step == .conclude(.init(due: [a], early: [], sweep: false, hold: .milliseconds(1500))))
    }

    @Test func spansOfUnknownAgeHoldEvenTheSweep() {
        var t = tracker()
        _ = t.observe(traces: [a], roots: [], now: t0)
        let now = t0 + .seconds(10)
        let replayed = ConclusionHorizon(now: now, watermarks: [.unknown])
        let step8 = t.nextStep(now: now, horizon: replayed)
        #expect(step8 == .wait(until: nil))
        let step9 = t.nextStep(now: now, horizon: horizon(now))
        #expect(step9 == .conclude(.init(due: [a], early: [], sweep: true, hold: .zero)))
        let step10 = t.nextStep(now: now, horizon: horizon(now))
        #expect(step10 == .wait(until: now + .seconds(5)))
    }

    @Test func aDatabaseErrorRetriesTheTracesAndTheSweepASecondLater() {
        var t = tracker()
        _ = t.observe(traces: [a, b], roots: [], now: t0)
        let now = t0 + .seconds(1)
        guard case .conclude(let work) = t.nextStep(now: now, horizon: horizon(now)) else {
            Issue.record("expected work")
            return
        }
        #expect(Set(work.due) == [a, b])
        t.failed(work, now: now)
        let retry = now + ConclusionTracker.retryAfterDatabaseError
        #expect(t.deadline(of: a) == retry && t.deadline(of: b) == retry)
        let step11 = t.nextStep(now: now, horizon: horizon(now))
        #expect(step11 == .wait(until: retry))
        guard case .conclude(let again) = t.nextStep(now: retry, horizon: horizon(retry)) else {
            Issue.record("expected work")
            return
        }
        #expect(Set(again.due) == [a, b] && again.sweep)
    }

    @Test func aTraceNotDueYetByTheDatabaseIsAskedAgainWhenItWillBe() {
        var t = tracker()
        _ = t.observe(traces: [a, b], roots: [], now: t0)
        let now = t0 + .seconds(1)
        _ = t.nextStep(now: now, horizon: horizon(now))
        let rows = [
            // Another replica stored a later span of a.
            ConclusionTracker.RowState(trace: a, closed: false, late: false, remaining: .milliseconds(700)),
            // b's row was locked by a writer: due already.
            ConclusionTracker.RowState(trace: b, closed: false, late: false, remaining: .milliseconds(-5)),
        ]
        let late12 = t.checked(notConcluded: [a, b], rows: rows, now: now)
        #expect(late12 == 0)
        #expect(t.deadline(of: a) == now + .milliseconds(700))
        #expect(t.deadline(of: b) == now + ConclusionTracker.soonestRecheck)
    }

    @Test func aClosedTraceIsForgottenAndItsLateSpansCounted() {
        var t = tracker()
        _ = t.observe(traces: [a], roots: [], now: t0)
        let now = t0 + .seconds(1)
        _ = t.nextStep(now: now, horizon: horizon(now))
        let late = t.checked(notConcluded: [a], rows: [.init(trace: a, closed: true, late: true, remaining: .zero)], now: now)
        #expect(late == 1 && t.openCount == 0)
    }

    @Test func anAbsentRowIsPolledAtHalfTheWindowUntilMaxWait() {
        var t = tracker()
        _ = t.observe(traces: [a], roots: [], now: t0)
        var now = t0 + .seconds(1)
        _ = t.nextStep(now: now, horizon: horizon(now))
        _ = t.checked(notConcluded: [a], rows: [], now: now)
        // Half of the 1 s inactivity, within [absentPollFloor, absentPollCeiling].
        #expect(t.deadline(of: a) == now + .milliseconds(500))
        // Still absent more than max_wait (5 s) after first missed: given up (the sweep covers it).
        while t.openCount > 0 {
            now = t.deadline(of: a)!
            let popped13 = due(t.nextStep(now: now, horizon: horizon(now)))
            #expect(popped13.contains(a))
            _ = t.checked(notConcluded: [a], rows: [], now: now)
        }
        #expect(now - (t0 + .seconds(1)) > .seconds(5) && now - (t0 + .seconds(1)) <= .milliseconds(5500))
        // A new span restarts it.
        _ = t.observe(traces: [a], roots: [], now: now)
        #expect(t.openCount == 1)
    }

    @Test func concludeAfterRootMakesACompleteTraceDueThatLongAfterItsRoot() {
        var t = ConclusionTracker(
            settings: .init(inactivity: .seconds(60), maxWait: .seconds(300), concludeAfterRoot: .seconds(2), sweepInterval: .seconds(5)), now: t0)
        _ = t.nextStep(now: t0, horizon: horizon(t0))
        _ = t.observe(traces: [a], roots: [], now: t0)
        _ = t.observe(traces: [a], roots: [a], now: t0 + .seconds(1))
        #expect(t.deadline(of: a) == t0 + .seconds(3))
        let now = t0 + .seconds(3)
        let step14 = t.nextStep(now: now, horizon: horizon(now))
        #expect(step14 == .conclude(.init(due: [a], early: [a], sweep: false, hold: .zero)))
        // Not concluded (incomplete, say): asked again when the database says.
        _ = t.checked(notConcluded: [a], rows: [.init(trace: a, closed: false, late: false, remaining: .seconds(58))], now: now)
        #expect(t.deadline(of: a) == now + .seconds(58))
        t.concluded([a])
        // Its root was forgotten: a later span waits the whole window.
        _ = t.observe(traces: [a], roots: [], now: now + .seconds(60))
        #expect(t.deadline(of: a) == now + .seconds(120))
    }
}
