import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct TailSamplingProcessorTests {
    func processor(wait: Duration, clock: any WaitClock = SystemClock()) -> (TailSamplingProcessor, CollectingConsumer) {
        var c = TailSamplingConfig()
        c.decisionWait = wait
        c.policies = [SamplingPolicy(name: "errors", rule: .statusCode([.error]))]
        let out = CollectingConsumer()
        return (TailSamplingProcessor(id: "tail_sampling", config: c, next: out, clock: clock), out)
    }

    @Test func decidesIdleTracesWhileRunningAndGivesBackDroppedSpans() async throws {
        let clock = ManualClock()
        let (tail, out) = processor(wait: .milliseconds(100), clock: clock)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await tail.run() }
                tail.consume(serviceBatch("api", [sampleSpan(TraceID(high: 1, low: 1), 1, status: .error)]))
                tail.consume(serviceBatch("api", [sampleSpan(TraceID(high: 1, low: 2), 2), sampleSpan(TraceID(high: 1, low: 2), 3)]))
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .milliseconds(99))
                #expect(out.spanCount == 0 && tail.tracesHeld == 2)
                clock.advance(by: .milliseconds(1))
                await out.until { $0.spanCount == 1 && $0.discarded.withLock { $0 } == 2 }
                #expect(tail.tracesHeld == 0)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func decidesEveryHeldTraceOnShutdown() async throws {
        let (tail, out) = processor(wait: .seconds(3600))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await tail.run() }
                tail.consume(serviceBatch("api", [sampleSpan(TraceID(high: 2, low: 1), 1, status: .error)]))
                tail.consume(serviceBatch("api", [sampleSpan(TraceID(high: 2, low: 2), 2)]))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(out.spanCount == 1)
        #expect(out.discarded.withLock { $0 } == 1)
        #expect(tail.tracesHeld == 0)
    }
}
