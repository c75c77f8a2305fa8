import Logging
import Testing
@testable import TracegateCore

@Suite struct PipelineShutdownTests {
    @Test func closedPipelineRefusesNewOffersAndReservesNothing() async {
        let queue = SendingQueue(
            exporter: RecordingExporter(), config: .init(numConsumers: 1, queueSize: 100), retry: fastRetry, logger: quietLogger)
        let pipeline = Pipeline(id: "traces", entry: FanOut([queue]), queues: [queue])
        let ingress = PipelineIngress(pipelines: [pipeline])
        #expect(ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 3)) == .accepted)
        await pipeline.close()
        guard case .refused(_, let reason, .pipelineFull) = ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 3)) else {
            Issue.record("a closed pipeline must refuse")
            return
        }
        #expect(reason.contains("shutting down"))
        #expect(queue.currentStats.reservedSpans == 3)
    }

    @Test func closeReturnsWhenTheLastOfferInProgressLeaves() async {
        let queue = SendingQueue(
            exporter: RecordingExporter(), config: .init(numConsumers: 1, queueSize: 10), retry: fastRetry, logger: quietLogger)
        let pipeline = Pipeline(id: "traces", entry: FanOut([queue]), queues: [queue])
        #expect(pipeline.enter())
        #expect(pipeline.enter())
        let closing = Task { await pipeline.close() }
        pipeline.leave()
        pipeline.leave()
        await closing.value  // resumed by the last leave, no polling
        #expect(!pipeline.enter())
    }

    @Test func closeWaitsForNothingWhenNoOfferIsInProgress() async {
        let queue = SendingQueue(
            exporter: RecordingExporter(), config: .init(numConsumers: 1, queueSize: 10), retry: fastRetry, logger: quietLogger)
        let pipeline = Pipeline(id: "traces", entry: FanOut([queue]), queues: [queue])
        #expect(pipeline.enter())
        pipeline.leave()
        await pipeline.close()
        #expect(!pipeline.enter())
    }
}
