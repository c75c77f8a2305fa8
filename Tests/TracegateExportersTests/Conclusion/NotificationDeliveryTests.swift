import Testing
@testable import TracegateExporters

@Suite struct NotificationDeliveryTests {
    let t0 = ContinuousClock.now
    let policy = DeliveryPolicy(initialInterval: .seconds(1), maxInterval: .seconds(8), maxAttempts: 3)
    let failure = DeliveryOutcome.failed(message: "HTTP 500", retryable: true, retryAfter: nil)

    @Test func deliveredOnTheFirstAttempt() {
        var d = NotificationDelivery()
        var rng = SeededGenerator()
        #expect(d.isDue(now: t0))
        let r1 = d.begin(now: t0)
        #expect(r1)
        #expect(d.phase == .inFlight)
        let r2 = d.begin(now: t0)
        #expect(!r2, "an attempt in flight cannot start again")
        let r3 = d.finish(.delivered, now: t0, policy: policy, using: &rng)
        #expect(r3 == .delivered)
        #expect(d.attempts == 1 && !d.isDue(now: t0 + .seconds(100)))
    }

    @Test func aRetryableFailureWaitsWithJitteredExponentialBackoff() {
        var d = NotificationDelivery()
        var rng = SeededGenerator()
        _ = d.begin(now: t0)
        guard case .waiting(let first) = d.finish(failure, now: t0, policy: policy, using: &rng) else {
            Issue.record("expected a retry")
            return
        }
        // 1 s ± 25 %.
        #expect(first >= t0 + .milliseconds(750) && first <= t0 + .milliseconds(1250))
        #expect(!d.isDue(now: t0 + .milliseconds(700)))
        let r4 = d.begin(now: t0 + .milliseconds(700))
        #expect(!r4)
        #expect(d.isDue(now: first))
        _ = d.begin(now: first)
        guard case .waiting(let second) = d.finish(failure, now: first, policy: policy, using: &rng) else {
            Issue.record("expected a second retry")
            return
        }
        // 2 s ± 25 %.
        #expect(second - first >= .milliseconds(1500) && second - first <= .milliseconds(2500))
        #expect(d.lastError == "HTTP 500")
    }

    @Test func becomesDeadAfterMaxAttempts() {
        var d = NotificationDelivery()
        var rng = SeededGenerator()
        var now = t0
        for attempt in 1...3 {
            let r5 = d.begin(now: now)
            #expect(r5)
            let phase = d.finish(failure, now: now, policy: policy, using: &rng)
            if attempt < 3 {
                guard case .waiting(let until) = phase else {
                    Issue.record("attempt \(attempt) should be retried")
                    return
                }
                now = until
            } else {
                #expect(phase == .dead)
            }
        }
        #expect(d.attempts == 3 && d.lastError == "HTTP 500")
        let r6 = d.begin(now: now + .seconds(3600))
        #expect(!r6)
    }

    @Test func aPermanentFailureIsDeadAtOnce() {
        var d = NotificationDelivery()
        var rng = SeededGenerator()
        _ = d.begin(now: t0)
        let r7 = d.finish(.failed(message: "HTTP 400", retryable: false, retryAfter: nil), now: t0, policy: policy, using: &rng)
        #expect(r7 == .dead)
        #expect(d.attempts == 1)
    }

    @Test func honoursRetryAfterLongerThanTheBackoff() {
        var d = NotificationDelivery()
        var rng = SeededGenerator()
        _ = d.begin(now: t0)
        let phase = d.finish(.failed(message: "HTTP 503", retryable: true, retryAfter: .seconds(30)), now: t0, policy: policy, using: &rng)
        #expect(phase == .waiting(until: t0 + .seconds(30)))
    }

    @Test func resumesFromAStoredAttemptCount() {
        // The postgres store rebuilds the state from an outbox row's attempts.
        var d = NotificationDelivery(attempts: 2)
        var rng = SeededGenerator()
        _ = d.begin(now: t0)
        let r8 = d.finish(failure, now: t0, policy: policy, using: &rng)
        #expect(r8 == .dead)
    }

    @Test func backoffIsCappedByMaxInterval() {
        var rng = SeededGenerator()
        for _ in 0..<50 {
            #expect(policy.delay(afterAttempt: 20, retryAfter: nil, using: &rng) <= .seconds(10))
        }
    }

    @Test func classifiesHTTPStatuses() {
        #expect(NotificationSender.outcome(status: 204, retryAfter: nil, body: []) == .delivered)
        #expect(NotificationSender.outcome(status: 500, retryAfter: nil, body: Array("boom".utf8)) == .failed(message: "HTTP 500: boom", retryable: true, retryAfter: nil))
        #expect(NotificationSender.outcome(status: 429, retryAfter: .seconds(2), body: []) == .failed(message: "HTTP 429", retryable: true, retryAfter: .seconds(2)))
        #expect(NotificationSender.outcome(status: 408, retryAfter: nil, body: []) == .failed(message: "HTTP 408", retryable: true, retryAfter: nil))
        #expect(NotificationSender.outcome(status: 404, retryAfter: nil, body: []) == .failed(message: "HTTP 404", retryable: false, retryAfter: nil))
    }
}
