import Testing
import TracegateCore

@Suite struct ConclusionHorizonTests {
    let t0 = ContinuousClock.now

    @Test func watermarkIsTheOldestUnfinishedBatchWhateverOrderTheyFinish() {
        var b = UnstoredBacklog()
        #expect(b.watermark == .none)
        let a = b.admit(acceptedAt: t0)
        let c = b.admit(acceptedAt: t0 + .seconds(1))
        let d = b.admit(acceptedAt: t0 + .seconds(2))
        let movedC = b.finish(c)
        #expect(!movedC)
        #expect(b.watermark == .since(t0))
        let movedA = b.finish(a)
        #expect(movedA)
        #expect(b.watermark == .since(t0 + .seconds(2)))
        let movedD = b.finish(d)
        #expect(movedD)
        #expect(b.watermark == .none)
    }

    @Test func replayedSpansHoldEveryTrace() {
        var b = UnstoredBacklog()
        let r = b.admit(acceptedAt: nil)
        let h = ConclusionHorizon(now: t0 + .seconds(100), watermarks: [b.watermark])
        #expect(!h.allows(lastActivity: t0, window: .seconds(3)))
        b.finish(r)
        #expect(ConclusionHorizon(now: t0 + .seconds(100), watermarks: [b.watermark]).allows(lastActivity: t0, window: .seconds(3)))
    }

    @Test func traceWithSpansWaitingInsideItsWindowDoesNotConcludeDuringAnOutage() {
        // Root and child stored at t0; the other children accepted at t0+1s
        // wait 25 s for the database; the window is 3 s.
        let backlog = UnstoredBacklog.Watermark.since(t0 + .seconds(1))
        let during = ConclusionHorizon(now: t0 + .seconds(26), watermarks: [.none, backlog])
        #expect(!during.allows(lastActivity: t0, window: .seconds(3)))
        #expect(during.lag(now: t0 + .seconds(26)) == .seconds(25))
        let after = ConclusionHorizon(now: t0 + .seconds(26), watermarks: [.none])
        #expect(after.allows(lastActivity: t0, window: .seconds(3)))
    }

    @Test func spansAcceptedAfterTheWindowDoNotHoldTheTrace() {
        let h = ConclusionHorizon(now: t0 + .seconds(30), watermarks: [.since(t0 + .seconds(10))])
        #expect(h.allows(lastActivity: t0, window: .seconds(3)))
        #expect(!h.allows(lastActivity: t0 + .seconds(8), window: .seconds(3)))
    }
}
