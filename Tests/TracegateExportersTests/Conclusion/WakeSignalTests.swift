import Testing
@testable import TracegateExporters

@Suite struct WakeSignalTests {
    @Test func aSignalSentWhileBusyEndsTheNextWaitAtOnce() async {
        let s = WakeSignal()
        s.signal()
        let begun = ContinuousClock.now
        await s.wait(until: nil)
        #expect(ContinuousClock.now - begun < .seconds(5))
    }

    @Test func aWaitEndsAtItsDeadlineWithoutASignal() async {
        let s = WakeSignal()
        let deadline = ContinuousClock.now + .milliseconds(30)
        await s.wait(until: deadline)
        #expect(ContinuousClock.now >= deadline)
    }

    @Test func aSignalEndsAWaitThatHasNoDeadline() async {
        let s = WakeSignal()
        async let waited: Void = s.wait(until: nil)
        // Signalled before or during the wait: either way it returns.
        s.signal()
        await waited
    }

    @Test func cancellationEndsAWait() async {
        let s = WakeSignal()
        let task = Task { await s.wait(until: nil) }
        task.cancel()
        await task.value
    }
}
