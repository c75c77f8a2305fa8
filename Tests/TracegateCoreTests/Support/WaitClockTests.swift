import Synchronization
import Testing
import TracegateCore

@Suite struct ManualClockTests {
    final class Woken: Sendable {
        let order = Mutex<[Int]>([])
    }

    @Test func sleepersWakeWhenTheClockPassesTheirDeadline() async throws {
        let clock = ManualClock()
        let start = clock.now
        let woken = Woken()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for ms in [30, 10, 20] {
                group.addTask {
                    try await clock.sleep(until: start + .milliseconds(ms))
                    woken.order.withLock { $0.append(ms) }
                }
            }
            await clock.sleepers(atLeast: 3)
            clock.advance(by: .milliseconds(9))
            #expect(clock.sleeperCount == 3)
            clock.advance(by: .milliseconds(11))
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .milliseconds(10))
            try await group.waitForAll()
        }
        #expect(Set(woken.order.withLock { $0 }) == [10, 20, 30])
        #expect(clock.now == start + .milliseconds(30))
        // A deadline already passed does not wait.
        try await clock.sleep(until: start)
    }

    @Test func cancellingASleeperThrows() async {
        let clock = ManualClock()
        let task = Task { try await clock.sleep(until: clock.now + .seconds(3600)) }
        await clock.sleepers(atLeast: 1)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(clock.sleeperCount == 0)
    }
}
