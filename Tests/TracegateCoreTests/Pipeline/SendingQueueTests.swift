import Logging
import Synchronization
import Testing
@testable import TracegateCore

/// An exporter of our own interface that records what it was given and fails
/// on command: the queue's contract is what is under test here.
final class RecordingExporter: SpanExporter {
    let id = "recording"
    let exported = Mutex<[SpanBatch]>([])
    let failuresLeft: Mutex<Int>
    let retryable: Bool

    init(failures: Int = 0, retryable: Bool = true) {
        failuresLeft = Mutex(failures)
        self.retryable = retryable
    }

    func export(_ batch: SpanBatch) throws(ExportFailure) {
        let fail = failuresLeft.withLock { n in
            if n > 0 { n -= 1; return true }
            return false
        }
        if fail { throw ExportFailure(retryable: retryable, message: "injected failure") }
        exported.withLock { $0.append(batch) }
    }

    func close() {}

    var spanCount: Int { exported.withLock { $0.reduce(0) { $0 + $1.spanCount } } }
}

let fastRetry = RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(20), maxElapsedTime: .zero)

@Suite struct SendingQueueTests {
    @Test func refusesReservationsBeyondCapacityAndFreesThemAfterExport() async {
        let exporter = RecordingExporter()
        let queue = SendingQueue(exporter: exporter, config: .init(numConsumers: 1, queueSize: 10), retry: fastRetry, logger: quietLogger)
        #expect(queue.tryReserve(6))
        #expect(!queue.tryReserve(5))
        #expect(queue.tryReserve(4))
        queue.start()
        queue.consume(makeBatch(services: ["a"], spansEach: 6))
        queue.consume(makeBatch(services: ["a"], spansEach: 4))
        await queue.shutdown(deadline: .now + .seconds(5))
        #expect(exporter.spanCount == 10)
        #expect(queue.currentStats.reservedSpans == 0)
        #expect(queue.currentStats.refusedReservations == 1)
        #expect(queue.currentStats.exportedSpans == 10)
    }

    @Test func aRefusedReservationMakesTheQueueFullUntilOneOfItsSizeFits() {
        let queue = SendingQueue(exporter: RecordingExporter(), config: .init(numConsumers: 1, queueSize: 10), retry: fastRetry, logger: quietLogger)
        #expect(queue.tryReserve(6))
        #expect(!queue.isFull)  // 4 spans still fit
        #expect(!queue.tryReserve(5))
        // Receivers now refuse at the head: a request like the refused one
        // would not fit either.
        #expect(queue.isFull)
        queue.release(2)  // room for 6: a request of 5 fits again
        #expect(!queue.isFull)
        #expect(queue.tryReserve(5))
        #expect(!queue.isFull)  // a success forgets the refusal: one more span still fits
        #expect(queue.tryReserve(1))
        #expect(queue.isFull)  // no room at all
    }

    @Test func retriesRetryableFailuresUntilTheyPass() async {
        let exporter = RecordingExporter(failures: 3)
        let queue = SendingQueue(exporter: exporter, config: .init(numConsumers: 1, queueSize: 100), retry: fastRetry, logger: quietLogger)
        queue.start()
        #expect(queue.tryReserve(5))
        queue.consume(makeBatch(services: ["a"], spansEach: 5))
        await queue.shutdown(deadline: .now + .seconds(5))
        #expect(exporter.spanCount == 5)
        #expect(queue.currentStats.failedAttempts == 3)
        #expect(queue.currentStats.droppedSpans == 0)
    }

    @Test func dropsAndCountsPermanentFailures() async {
        let exporter = RecordingExporter(failures: 1, retryable: false)
        let queue = SendingQueue(exporter: exporter, config: .init(numConsumers: 1, queueSize: 100), retry: fastRetry, logger: quietLogger)
        queue.start()
        #expect(queue.tryReserve(5))
        queue.consume(makeBatch(services: ["a"], spansEach: 5))
        await queue.shutdown(deadline: .now + .seconds(5))
        #expect(exporter.spanCount == 0)
        #expect(queue.currentStats.droppedSpans == 5)
        #expect(queue.currentStats.reservedSpans == 0)
    }

    @Test func shutdownDeadlineAbandonsEndlessRetries() async {
        let exporter = RecordingExporter(failures: .max)
        let queue = SendingQueue(exporter: exporter, config: .init(numConsumers: 1, queueSize: 100), retry: fastRetry, logger: quietLogger)
        queue.start()
        #expect(queue.tryReserve(5))
        queue.consume(makeBatch(services: ["a"], spansEach: 5))
        let started = ContinuousClock.now
        await queue.shutdown(deadline: .now + .milliseconds(200))
        // Without the deadline this would retry forever. The bound is loose on
        // purpose: under a parallel test run on two cores the cooperative pool
        // wakes late (CI once took 8.3 s here); what matters is that it returns.
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(queue.currentStats.droppedSpans == 5)
    }

    @Test func ingressIsAllOrNothingAcrossPipelines() {
        let small = SendingQueue(exporter: RecordingExporter(), config: .init(numConsumers: 1, queueSize: 5), retry: fastRetry, logger: quietLogger)
        let large = SendingQueue(exporter: RecordingExporter(), config: .init(numConsumers: 1, queueSize: 100), retry: fastRetry, logger: quietLogger)
        let ingress = PipelineIngress(pipelines: [
            Pipeline(id: "traces/large", entry: FanOut([large]), queues: [large]),
            Pipeline(id: "traces/small", entry: FanOut([small]), queues: [small]),
        ])
        #expect(ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 4)) == .accepted)
        guard case .refused(_, let reason, _) = ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 4)) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(reason.contains("traces/small"))
        // The refused request left nothing reserved in the pipeline that had room.
        #expect(large.currentStats.reservedSpans == 4)
        #expect(large.currentStats.queuedSpans == 4)
    }

    @Test func retryDelayGrowsAndIsCapped() {
        let policy = RetryPolicy(initialInterval: .seconds(1), maxInterval: .seconds(10), randomizationFactor: 0)
        var rng = SystemRandomNumberGenerator()
        #expect(policy.delay(afterAttempt: 0, using: &rng) == .seconds(1))
        #expect(policy.delay(afterAttempt: 1, using: &rng) == .milliseconds(1500))
        #expect(policy.delay(afterAttempt: 30, using: &rng) == .seconds(10))
        let jittered = RetryPolicy(initialInterval: .seconds(2), maxInterval: .seconds(10), randomizationFactor: 0.5)
        for _ in 0..<100 {
            let d = jittered.delay(afterAttempt: 0, using: &rng)
            #expect(d >= .seconds(1) && d <= .seconds(3))
        }
    }
}

/// Tests log only what would be critical: retries are expected here.
let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()
