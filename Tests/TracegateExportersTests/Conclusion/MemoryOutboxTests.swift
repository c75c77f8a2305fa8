import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct MemoryOutboxTests {
    let t0 = ContinuousClock.now

    func pending(_ n: Int) -> [MemoryOutbox.Pending] {
        (0..<n).map { i in MemoryOutbox.Pending(conclusion: sampleConclusion(String(repeating: "\(i % 10)", count: 32)), lastActivityUnixNano: 0) }
    }

    @Test func pastMaxPendingTheOldestNewNotificationsArePushedOut() {
        var o = MemoryOutbox(maxPending: 3, batchSize: 10)
        let items = pending(5)
        let out = o.add(items)
        #expect(out.map(\.conclusion.traceID) == items.prefix(2).map(\.conclusion.traceID))
        #expect(o.count == 3)
    }

    @Test func claimsTakeDueRetriesFirstThenNewOnesUpToBatchSize() {
        var o = MemoryOutbox(maxPending: 100, batchSize: 2)
        _ = o.add(pending(3))
        var first = o.take(now: t0)
        #expect(first.count == 2 && first.allSatisfy { $0.delivery.attempts == 1 })
        var rng = SeededGenerator()
        let failure = DeliveryOutcome.failed(message: "HTTP 503", retryable: true, retryAfter: nil)
        first[0].delivery.finish(failure, now: t0, policy: DeliveryPolicy(), using: &rng)
        o.retry([first[0]])
        let retryAt = o.nextRetry!
        #expect(retryAt > t0)
        // Before its retry instant only the new one is claimed.
        let claimed = o.take(now: t0)
        #expect(claimed.map(\.conclusion.traceID) == pending(3)[2...].map(\.conclusion.traceID))
        let again = o.take(now: retryAt)
        #expect(again.map(\.conclusion.traceID) == [first[0].conclusion.traceID] && again[0].delivery.attempts == 2)
        #expect(o.count == 0 && o.nextRetry == nil)
    }
}
