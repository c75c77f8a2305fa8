import Testing
@testable import TracegateApp

/// When the gateway releases unused program pages, driven by hand.
@Suite struct IdleReleaseScheduleTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    @Test func theFirstCheckReleasesWhateverTheTraffic() {
        var schedule = IdleReleaseSchedule(afterRequests: .seconds(10))
        #expect(schedule.check(requests: 7, now: at(0.5)) == .startUp)
        // Nothing came since: nothing more is owed, however long it stays quiet.
        #expect(schedule.check(requests: 7, now: at(60)) == nil)
    }

    @Test func afterRequestsItReleasesOncePerQuietPeriod() {
        var schedule = IdleReleaseSchedule(afterRequests: .seconds(10))
        _ = schedule.check(requests: 0, now: at(0.5))
        #expect(schedule.check(requests: 3, now: at(1.5)) == nil)  // requests: the quiet period starts again
        #expect(schedule.check(requests: 3, now: at(11.4)) == nil)  // 9.9 s quiet
        #expect(schedule.check(requests: 3, now: at(11.5)) == .idle)  // 10 s quiet
        #expect(schedule.check(requests: 3, now: at(30)) == nil)  // released already
        #expect(schedule.check(requests: 4, now: at(31)) == nil)
        #expect(schedule.check(requests: 4, now: at(41)) == .idle)
    }

    @Test func nothingIsReleasedWhileRequestsKeepComing() {
        var schedule = IdleReleaseSchedule(afterRequests: .seconds(10))
        _ = schedule.check(requests: 0, now: at(0.5))
        for second in 1...60 {
            #expect(schedule.check(requests: second, now: at(Double(second))) == nil)
        }
    }
}
