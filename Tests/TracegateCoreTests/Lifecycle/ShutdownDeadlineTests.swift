import Synchronization
import Testing
@testable import TracegateCore

@Suite struct ShutdownDeadlineTests {
    let t0 = ContinuousClock.now

    @Test func everyQueueStoppedAfterADrainBeganGetsItsDeadline() {
        let drain = DrainDeadline(timeout: .seconds(10))
        let begun = drain.begin(now: t0)
        #expect(begun.instant == t0 + .seconds(10))
        // A queue that stops 7 s later (after the others drained) has 3 s left, not 10.
        #expect(drain.current(now: t0 + .seconds(7)) == begun)
        // A reload's (or the next) drain begins anew.
        #expect(drain.begin(now: t0 + .seconds(60)).instant == t0 + .seconds(70))
    }

    @Test func aQueueStoppedOutsideADrainGetsTheTimeoutFromNow() {
        let drain = DrainDeadline(timeout: .seconds(10))
        #expect(drain.current(now: t0).instant == t0 + .seconds(10))
    }
}

@Suite struct CompletionSignalTests {
    @Test func waitersResumeWhenSignalledAndLaterWaitsReturnAtOnce() async {
        let signal = CompletionSignal()
        let waiter = Task { await signal.wait(until: .now + .seconds(600)) }
        signal.signal()
        #expect(await waiter.value)
        #expect(await signal.wait(until: .now))
    }

    @Test func aTimedWaitGivesUpAtItsDeadline() async {
        let signal = CompletionSignal()
        #expect(await signal.wait(until: .now + .milliseconds(20)) == false)
        #expect(!signal.isSignalled)
    }

    @Test func aCancelledWaitReturns() async {
        let signal = CompletionSignal()
        let waiter = Task { await signal.wait() }
        waiter.cancel()
        await waiter.value
        #expect(!signal.isSignalled)
    }
}
