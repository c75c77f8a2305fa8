import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import TracegateCore
@testable import TracegateProcessors

final class CollectingConsumer: SpanConsumer {
    let batches = Mutex<[SpanBatch]>([])
    let discarded = Mutex(0)
    /// Tests waiting in `until`, each with what it waits for.
    private let watchers = Mutex<[(condition: @Sendable (CollectingConsumer) -> Bool, continuation: CheckedContinuation<Void, Never>)]>([])

    func consume(_ batch: SpanBatch) {
        batches.withLock { $0.append(batch) }
        changed()
    }

    func discard(_ count: Int) {
        discarded.withLock { $0 += count }
        changed()
    }

    var spanCount: Int { batches.withLock { $0.reduce(0) { $0 + $1.spanCount } } }
    var sizes: [Int] { batches.withLock { $0.map(\.spanCount) } }

    /// Returns once `condition` holds: checked now and after every batch or
    /// discard that arrives, so a test waits for what it expects without
    /// polling (the time it waits for comes from a `ManualClock`).
    func until(_ condition: @escaping @Sendable (CollectingConsumer) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let holds = watchers.withLock { w in
                if condition(self) { return true }
                w.append((condition, continuation))
                return false
            }
            if holds { continuation.resume() }
        }
    }

    private func changed() {
        let ready = watchers.withLock { w in
            let (done, waiting) = (w.filter { $0.condition(self) }, w.filter { !$0.condition(self) })
            w = waiting
            return done.map(\.continuation)
        }
        for continuation in ready { continuation.resume() }
    }
}

func spans(_ count: Int, offset: UInt64 = 0) -> SpanBatch {
    SpanBatch(resourceSpans: [
        ResourceSpans(scopeSpans: [
            ScopeSpans(
                spans: (0..<UInt64(count)).map {
                    Span(traceID: TraceID(high: 1, low: offset + $0 + 1), spanID: SpanID($0 + 1), name: "s", startTimeUnixNano: 1, endTimeUnixNano: 2)
                })
        ])
    ])
}

func config(size: Int, max: Int = 0, timeout: Duration) -> BatchProcessorConfig {
    var c = BatchProcessorConfig()
    c.sendBatchSize = size
    c.sendBatchMaxSize = max
    c.timeout = timeout
    return c
}

@Suite struct BatchProcessorTests {
    @Test func sendsAsSoonAsSendBatchSizeIsReached() {
        let out = CollectingConsumer()
        let batch = BatchProcessor(config: config(size: 10, timeout: .seconds(3600)), next: out)
        batch.consume(spans(4))
        #expect(out.sizes == [])
        batch.consume(spans(7))
        #expect(out.sizes == [11])
    }

    @Test func splitsBatchesAboveSendBatchMaxSize() {
        let out = CollectingConsumer()
        let batch = BatchProcessor(config: config(size: 10, max: 10, timeout: .seconds(3600)), next: out)
        batch.consume(spans(25))
        #expect(out.sizes == [10, 10, 5])
    }

    @Test func sendsAPartialBatchAfterTheTimeout() async throws {
        let out = CollectingConsumer()
        let clock = ManualClock()
        let batch = BatchProcessor(config: config(size: 1000, timeout: .milliseconds(20)), next: out, clock: clock)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await batch.run() }
                batch.consume(spans(3))
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .milliseconds(19))
                #expect(out.sizes == [])
                clock.advance(by: .milliseconds(1))
                await out.until { $0.sizes == [3] }
                clock.advance(by: .milliseconds(5))
                batch.consume(spans(2))
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .milliseconds(19))
                #expect(out.sizes == [3])
                clock.advance(by: .milliseconds(1))
                await out.until { $0.sizes == [3, 2] }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func flushesWhatIsLeftOnShutdown() async throws {
        let out = CollectingConsumer()
        let batch = BatchProcessor(config: config(size: 1000, timeout: .seconds(3600)), next: out)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await batch.run() }
                batch.consume(spans(5))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(out.sizes == [5])
    }

    @Test func validatesItsConfiguration() {
        let diagnostics = ConfigDiagnostics(file: "c.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: "send_batch_size: 100\nsend_batch_max_size: 10\ntimeout: 0s\nextra: 1\n", diagnostics: diagnostics)!
        _ = BatchProcessorConfig.read(root)
        #expect(diagnostics.problems.map(\.description) == [
            "c.yaml:2: send_batch_max_size: must be 0 or at least send_batch_size (100)",
            "c.yaml:3: timeout: must be greater than zero",
            "c.yaml:4: extra: unknown key",
        ])
    }

    func serviceSpans(_ service: String, _ count: Int, first: UInt64 = 1) -> SpanBatch {
        SpanBatch(resourceSpans: [testResource(service, (0..<UInt64(count)).map { testSpan(first + $0, name: service) })])
    }

    func metadataConfig(size: Int, timeout: Duration, limit: Int = 1000) -> BatchProcessorConfig {
        var c = config(size: size, timeout: timeout)
        c.metadataKeys = ["service.name"]
        c.metadataCardinalityLimit = limit
        return c
    }

    @Test func batchesSeparatelyPerMetadataValue() {
        let out = CollectingConsumer()
        let batch = BatchProcessor(config: metadataConfig(size: 3, timeout: .seconds(3600)), next: out)
        batch.consume(SpanBatch(resourceSpans: serviceSpans("api", 2).resourceSpans + serviceSpans("web", 2).resourceSpans))
        #expect(out.sizes == [])
        batch.consume(serviceSpans("api", 1, first: 10))
        #expect(out.batches.withLock { $0.map { Set($0.spanNames) } } == [["api"]])
        #expect(out.sizes == [3])
        batch.flush()
        #expect(out.batches.withLock { $0.map { Set($0.spanNames) } } == [["api"], ["web"]])
    }

    @Test func eachMetadataBatchHasItsOwnTimeout() async throws {
        let out = CollectingConsumer()
        let clock = ManualClock()
        let batch = BatchProcessor(config: metadataConfig(size: 1000, timeout: .milliseconds(30)), next: out, clock: clock)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await batch.run() }
                batch.consume(serviceSpans("api", 2))
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .milliseconds(10))
                batch.consume(serviceSpans("web", 1))
                // api's batch waited 30 ms, web's 20.
                clock.advance(by: .milliseconds(20))
                await out.until { $0.sizes.count == 1 }
                #expect(out.batches.withLock { $0.map(\.spanNames) } == [["api", "api"]])
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .milliseconds(10))
                await out.until { $0.sizes.count == 2 }
                #expect(out.batches.withLock { $0.map(\.spanNames) } == [["api", "api"], ["web"]])
                batch.consume(serviceSpans("api", 1))
                await clock.sleepers(atLeast: 1)
                clock.advance(by: .milliseconds(30))
                await out.until { $0.sizes == [2, 1, 1] }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test func combinationsBeyondTheCardinalityLimitShareAnOverflowBatch() {
        let out = CollectingConsumer()
        let batch = BatchProcessor(config: metadataConfig(size: 1000, timeout: .seconds(3600), limit: 2), next: out)
        for service in ["a", "b", "c", "d"] { batch.consume(serviceSpans(service, 1)) }
        batch.consume(serviceSpans("a", 1))
        batch.flush()
        #expect(out.batches.withLock { $0.map(\.spanNames) } == [["a", "a"], ["b"], ["c", "d"]])
    }

    @Test func readsAndValidatesMetadataKeys() {
        let (good, none) = parseSettings("metadata_keys: [service.name, tenant]\nmetadata_cardinality_limit: 50\n", BatchProcessorConfig.read)
        #expect(none == [])
        #expect(good.metadataKeys == ["service.name", "tenant"] && good.metadataCardinalityLimit == 50)
        let (_, problems) = parseSettings("metadata_keys: [tenant, tenant]\nmetadata_cardinality_limit: 0\n", BatchProcessorConfig.read)
        #expect(problems == [
            "p.yaml:1: metadata_keys: a key is listed twice",
            "p.yaml:2: metadata_cardinality_limit: must be between 1 and 1000000, got 0",
        ])
    }
}
