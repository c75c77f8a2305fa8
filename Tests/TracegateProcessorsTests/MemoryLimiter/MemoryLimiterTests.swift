import Logging
import Synchronization
import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct MemoryLimiterTests {
    static let mib = 1 << 20

    /// A heap that the test sets, and counts of the trims asked for.
    final class FakeHeap: Sendable {
        let bytes = Mutex(0)
        let trims = Mutex(0)
        func set(_ mib: Int) { bytes.withLock { $0 = mib * MemoryLimiterTests.mib } }
    }

    func limiter(limit: Int = 100, spike: Int? = nil, heap: FakeHeap, next: any SpanConsumer = CollectingConsumer()) -> MemoryLimiter {
        MemoryLimiter(
            id: "memory_limiter", config: MemoryLimiterConfig(checkInterval: .milliseconds(100), limitMiB: limit, spikeLimitMiB: spike),
            next: next, logger: Logger(label: "test"),
            measure: { heap.bytes.withLock { $0 } }, trim: { heap.trims.withLock { $0 += 1 } })
    }

    func read(_ yaml: String) -> (MemoryLimiterConfig, [String]) {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        let config = MemoryLimiterConfig.read(root.map("memory_limiter"))
        return (config, diagnostics.problems.map(\.description))
    }

    @Test func spikeLimitDefaultsToAFifthOfTheLimit() {
        let (config, problems) = read("memory_limiter: { limit_mib: 500 }")
        #expect(problems.isEmpty)
        #expect(config.limitMiB == 500)
        #expect(config.spikeLimitMiB == 100)
        #expect(config.softLimitBytes == 400 * Self.mib)
        #expect(config.hardLimitBytes == 500 * Self.mib)
        #expect(config.checkInterval == .milliseconds(200))
    }

    @Test func readsEveryKey() {
        let (config, problems) = read("memory_limiter: { limit_mib: 64, spike_limit_mib: 16, check_interval: 50ms }")
        #expect(problems.isEmpty)
        #expect(config == MemoryLimiterConfig(checkInterval: .milliseconds(50), limitMiB: 64, spikeLimitMiB: 16))
    }

    @Test func reportsMissingLimitAndSpikeNotBelowLimit() {
        #expect(read("memory_limiter: { check_interval: 1s }").1 == [
            "gw.yaml:1: memory_limiter: limit_mib is required (the hard limit of heap in use, in MiB)"
        ])
        #expect(read("memory_limiter: { limit_mib: 10, spike_limit_mib: 10, check_interval: 0s, extra: 1 }").1 == [
            "gw.yaml:1: memory_limiter.check_interval: must be greater than zero",
            "gw.yaml:1: memory_limiter.spike_limit_mib: must be less than limit_mib (10)",
            "gw.yaml:1: memory_limiter.extra: unknown key",
        ])
    }

    @Test func refusesWithMemoryLimitKindAboveTheSoftLimit() {
        let heap = FakeHeap()
        let limiter = limiter(heap: heap)
        heap.set(79)
        limiter.check()
        #expect(limiter.refusal(forBytes: 0) == nil)
        heap.set(80)
        limiter.check()
        guard case .refused(let retryAfter, let reason, let kind)? = limiter.refusal(forBytes: 0) else {
            Issue.record("expected a refusal above the soft limit")
            return
        }
        #expect(kind == .memoryLimit)
        #expect(retryAfter == .seconds(1))
        #expect(reason.contains("soft limit of 80 MiB"))
        #expect(limiter.isRefusing)
        // Memory given back: accepted again at the next check.
        heap.set(40)
        limiter.check()
        #expect(limiter.refusal(forBytes: 0) == nil)
    }

    @Test func countsAdmittedBytesUntilTheNextMeasurement() {
        let heap = FakeHeap()
        let limiter = limiter(heap: heap)
        heap.set(50)
        limiter.check()
        limiter.admitted(bytes: 20 * Self.mib)
        #expect(limiter.refusal(forBytes: 0) == nil)
        limiter.admitted(bytes: 10 * Self.mib)
        #expect(limiter.refusal(forBytes: 0) != nil, "50 MiB measured + 30 MiB admitted reaches the 80 MiB soft limit")
        // The measurement replaces the estimate.
        limiter.check()
        #expect(limiter.refusal(forBytes: 0) == nil)
    }

    @Test func trimsOnlyAboveTheHardLimit() {
        let heap = FakeHeap()
        let limiter = limiter(heap: heap)
        heap.set(90)
        limiter.check()
        #expect(heap.trims.withLock { $0 } == 0)
        heap.set(100)
        limiter.check()
        #expect(heap.trims.withLock { $0 } == 1)
    }

    @Test func passesAdmittedDataThroughUnchanged() {
        let next = CollectingConsumer()
        let limiter = limiter(heap: FakeHeap(), next: next)
        limiter.consume(spans(3))
        limiter.discard(2)
        #expect(next.spanCount == 3)
        #expect(next.discarded.withLock { $0 } == 2)
    }

    @Test func pipelineRefusesBeforeDecodingAndAtOfferWhileTheGateRefuses() {
        let heap = FakeHeap()
        let next = CollectingConsumer()
        let limiter = limiter(heap: heap, next: next)
        let queue = SendingQueue(
            exporter: DiscardingExporter(), config: .init(numConsumers: 1, queueSize: 100), retry: RetryPolicy(),
            logger: Logger(label: "test"))
        let ingress = PipelineIngress(pipelines: [Pipeline(id: "traces", entry: limiter, queues: [queue], gates: [limiter])])
        heap.set(10)
        limiter.check()
        #expect(ingress.refusalBeforeDecoding() == nil)
        #expect(ingress.offerAndWait(spans(5)) == .accepted)
        #expect(queue.currentStats.reservedSpans == 5)
        heap.set(90)
        limiter.check()
        guard case .refused(_, _, .memoryLimit)? = ingress.refusalBeforeDecoding(),
            case .refused(_, _, .memoryLimit) = ingress.offerAndWait(spans(5))
        else {
            Issue.record("expected memory-limit refusals")
            return
        }
        // The refused request reserved nothing.
        #expect(queue.currentStats.reservedSpans == 5)
        #expect(next.spanCount == 5)
    }

    @Test func estimatedBatchSizeGrowsWithContent() {
        var small = spans(1)
        let base = small.estimatedByteSize
        small.resourceSpans[0].scopeSpans[0].spans[0].attributes = [Attribute("k", .string(String(repeating: "x", count: 1000)))]
        #expect(small.estimatedByteSize >= base + 1000)
        #expect(spans(10).estimatedByteSize > 5 * base, "proportional to the span count")
    }
}

struct DiscardingExporter: SpanExporter {
    var id: String { "discard" }
    func export(_ batch: SpanBatch) throws(ExportFailure) {}
    func close() {}
}
