import Testing
import TracegateCore
@testable import TracegateExporters

/// The postgres store's claims without a database: rows as `ConclusionSQL.claim` returns them.
@Suite struct NotificationClaimTests {
    let t0 = ContinuousClock.now
    let policy = DeliveryPolicy(initialInterval: .seconds(1), maxInterval: .seconds(60), maxAttempts: 3)

    /// A claimed row: id, attempts, last activity, then the payload's fields.
    func row(_ id: Int, attempts: Int = 0, trace: String? = nil) -> [String?] {
        let trace = trace ?? String(repeating: "\(id % 10)", count: 32)
        return ["\(id)", "\(attempts)", "1700000000.5", trace, "GET \"/cart\"", "checkout", "{billing,checkout}", "3", "1",
            "2023-11-14T22:13:20.000000Z", "2023-11-14T22:13:20.002500Z", "2.5", "error", "false", "{00000000000000aa}", "false"]
    }

    @Test func rowsThatAreNotNotificationsAreSetAsideForTheDeadLetters() {
        var bad = row(2)
        bad[7] = "three"
        let claim = NotificationClaim(rows: [row(1), bad, row(3)], batchSize: 1)
        #expect(claim.unreadable == ["2"])
        #expect(claim.items.map(\.id) == ["1", "3"])
        #expect(claim.items[0].conclusion == sampleConclusion(String(repeating: "1", count: 32)))
        #expect(claim.items[0].lastActivity == 1_700_000_000.5)
    }

    @Test func whenDropsTheTracesItLeavesOut() {
        var claim = NotificationClaim(rows: [row(1), row(2), row(3)], batchSize: 2)
        let dropped = claim.keep { $0.id != "2" }
        #expect(dropped == ["2"] && claim.items.map(\.id) == ["1", "3"])
    }

    @Test func requestsCarryBatchSizeItemsUntilOneFails() {
        var claim = NotificationClaim(rows: (1...5).map { row($0) }, batchSize: 2)
        var rng = SeededGenerator()
        let first = claim.nextGroup(now: t0)!
        #expect(first.map(\.id) == ["1", "2"] && first.allSatisfy { $0.delivery.attempts == 1 })
        let ok = claim.finish(first, .delivered, now: t0, policy: policy, using: &rng)
        #expect(ok.delivered.map(\.id) == ["1", "2"] && ok.retries.isEmpty && ok.dead.isEmpty)
        let second = claim.nextGroup(now: t0)!
        let failed = claim.finish(second, .failed(message: "HTTP 503", retryable: true, retryAfter: .seconds(30)), now: t0, policy: policy, using: &rng)
        #expect(failed.retries.map(\.id) == ["3", "4"] && failed.retries.allSatisfy { $0.wait == .seconds(30) && $0.error == "HTTP 503" })
        // The endpoint is failing: the fifth waits for a later claim.
        let third = claim.nextGroup(now: t0)
        #expect(third == nil)
        #expect(claim.delivered.map(\.id) == ["1", "2"])
    }

    @Test func theLastAttemptOrAPermanentFailureIsADeadLetter() {
        var claim = NotificationClaim(rows: [row(1, attempts: 2), row(2)], batchSize: 2)
        var rng = SeededGenerator()
        let group = claim.nextGroup(now: t0)!
        let writes = claim.finish(group, .failed(message: "HTTP 500", retryable: true, retryAfter: nil), now: t0, policy: policy, using: &rng)
        #expect(writes.dead == ["1"] && writes.retries.map(\.id) == ["2"])
        var permanent = NotificationClaim(rows: [row(3)], batchSize: 1)
        let only = permanent.nextGroup(now: t0)!
        let refused = permanent.finish(only, .failed(message: "HTTP 400", retryable: false, retryAfter: nil), now: t0, policy: policy, using: &rng)
        #expect(refused.dead == ["3"])
    }
}
