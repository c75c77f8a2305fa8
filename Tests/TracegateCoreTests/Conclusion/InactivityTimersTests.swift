import Testing
import TracegateCore

@Suite struct InactivityTimersTests {
    let origin = ContinuousClock.now

    func at(_ ms: Int) -> ContinuousClock.Instant { origin + .milliseconds(ms) }

    @Test func firesNoEarlierThanTheDeadlineAndNoLaterThanOneTick() {
        var timers = InactivityTimers<Int>(granularity: .milliseconds(100), origin: origin)
        timers.schedule(1, at: at(250))
        #expect(timers.popExpired(now: at(249)).isEmpty)
        #expect(timers.popExpired(now: at(250)) == [1])
        #expect(timers.count == 0)
    }

    @Test func touchingMovesTheDeadline() {
        var timers = InactivityTimers<Int>(granularity: .milliseconds(100), origin: origin)
        timers.schedule(1, at: at(1000))
        timers.schedule(2, at: at(1000))
        timers.schedule(1, at: at(5000))
        #expect(timers.popExpired(now: at(1000)) == [2])
        #expect(timers.popExpired(now: at(4999)).isEmpty)
        #expect(timers.nextWake() == at(5000))
        #expect(timers.popExpired(now: at(6000)) == [1])
        #expect(timers.nextWake() == nil)
    }

    @Test func popsInDeadlineOrderAcrossTicksAndHonoursLimit() {
        var timers = InactivityTimers<Int>(granularity: .milliseconds(10), origin: origin)
        for i in (0..<100).reversed() { timers.schedule(i, at: at(i * 10 + 5)) }
        let first = timers.popExpired(now: at(10_000), limit: 30)
        #expect(first == Array(0..<30))
        let rest = timers.popExpired(now: at(10_000))
        #expect(rest == Array(30..<100))
    }

    @Test func cancelForgetsAKey() {
        var timers = InactivityTimers<Int>(granularity: .milliseconds(10), origin: origin)
        timers.schedule(7, at: at(20))
        let first = timers.cancel(7)
        #expect(first)
        let second = timers.cancel(7)
        #expect(!second)
        #expect(timers.popExpired(now: at(100)).isEmpty)
    }

    @Test func aDeadlineInThePastFiresAtTheNextPop() {
        var timers = InactivityTimers<Int>(granularity: .milliseconds(10), origin: origin)
        _ = timers.popExpired(now: at(1000))
        timers.schedule(3, at: at(500))
        #expect(timers.popExpired(now: at(1000)) == [3])
    }
}
