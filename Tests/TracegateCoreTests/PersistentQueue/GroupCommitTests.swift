import Foundation
import Logging
import Synchronization
import Testing
@testable import TracegateCore

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "tg-group-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A payload that names its submitter and its place in that submitter's order.
private func payload(_ submitter: Int, _ n: Int) -> [UInt8] {
    Array("\(submitter):\(n)".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: 60)
}

/// Makes the log's next segment impossible to create: a directory where the
/// file would go (open(2) then fails with EISDIR, for root too). A real
/// failed write, as a full or broken disk would give.
private func blockSegment(_ number: Int, in dir: String) -> String {
    let digits = String(number)
    let path = dir + "/" + String(repeating: "0", count: 20 - digits.count) + digits + ".wal"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    return path
}

@Suite struct GroupCommitTests {
    @Test func recordsSubmittedDuringAWriteShareTheNextGroup() {
        var schedule = GroupCommit<String>()
        schedule.start()
        #expect(schedule.submit("a") == .wakeWriter)
        guard case .write(let first) = schedule.next() else { return #expect(Bool(false), "expected a write") }
        #expect(first == ["a"])
        // While "a" is being written, three more arrive: one group of three.
        #expect(schedule.submit("b") == .queued)
        #expect(schedule.submit("c") == .queued)
        #expect(schedule.submit("d") == .queued)
        guard case .write(let second) = schedule.next() else { return #expect(Bool(false), "expected a write") }
        #expect(second == ["b", "c", "d"])
        guard case .wait = schedule.next() else { return #expect(Bool(false), "expected to wait") }
        #expect(schedule.submit("e") == .wakeWriter)
    }

    @Test func withoutARunningWriterTheSubmitterWritesItself() {
        var schedule = GroupCommit<Int>()
        #expect(schedule.submit(1) == .writeYourself)
        #expect(schedule.waitingCount == 0)
        #expect(schedule.stop() == false)
        #expect(schedule.submit(2) == .writeYourself)
    }

    @Test func stopWritesWhatIsQueuedThenEnds() {
        var schedule = GroupCommit<Int>()
        schedule.start()
        _ = schedule.submit(1)
        guard case .write = schedule.next() else { return #expect(Bool(false), "expected a write") }
        _ = schedule.submit(2)
        #expect(schedule.stop() == false)  // busy writing: it sees the stop when it is done
        guard case .write(let last) = schedule.next() else { return #expect(Bool(false), "expected a write") }
        #expect(last == [2])
        guard case .stop = schedule.next() else { return #expect(Bool(false), "expected the writer to stop") }
        #expect(schedule.submit(3) == .writeYourself)
    }
}

@Suite struct GroupCommitWriterTests {
    @Test func concurrentAppendsAreAllDurableAndRecoverableInOrder() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let submitters = 6, each = 40
        let logOrder = Mutex<[[UInt8]]>([])
        let sequenceCounts = Mutex<[Int]>([])
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 64 << 20, segmentSize: 4096, fsync: true, logger: quietLogger)
            var writer: GroupCommitWriter<(payload: [UInt8], receipt: WriteReceipt)>? = GroupCommitWriter(log: log) { group, outcome in
                // Sequences come in log order, one per record of the group.
                if case .success(let sequences) = outcome { sequenceCounts.withLock { $0.append(sequences.count - group.count) } }
                logOrder.withLock { $0 += group.map(\.payload) }
                let failure: String? = if case .failure(let e) = outcome { e.description } else { nil }
                for item in group { item.receipt.settle(failure: failure) }
            }
            writer!.start()
            let finished = WriteReceipt()
            finished.expect()
            startThread(name: "tg-test-writer") { [weak writer] in
                writer?.run()
                finished.settle(failure: nil)
            }
            let receipts = Mutex<[WriteReceipt]>([])
            let submitter = writer!
            DispatchQueue.concurrentPerform(iterations: submitters) { s in
                for n in 0..<each {
                    let receipt = WriteReceipt()
                    receipt.expect()
                    receipts.withLock { $0.append(receipt) }
                    let bytes = payload(s, n)
                    submitter.submit(WriteAheadLog.frame(bytes), (bytes, receipt))
                }
            }
            // Every submission is answered, and none with an error.
            for receipt in receipts.withLock({ $0 }) { #expect(receipt.waitUntilSettled() == nil) }
            writer!.stop()
            #expect(finished.waitUntilSettled() == nil)
            #expect(log.pendingCount == submitters * each)
            #expect(sequenceCounts.withLock { $0.allSatisfy { $0 == 0 } })
            writer = nil
        }
        // After a restart: every record, in the order they were written, and
        // each submitter's records in the order it submitted them.
        let reopened = try WriteAheadLog(directory: dir, maxSize: 64 << 20, segmentSize: 4096, fsync: true, logger: quietLogger)
        let recovered = reopened.takeRecovered().map(\.payload)
        #expect(recovered == logOrder.withLock { $0 })
        #expect(Set(recovered) == Set((0..<submitters).flatMap { s in (0..<each).map { payload(s, $0) } }))
        for s in 0..<submitters {
            let own = recovered.filter { $0.starts(with: Array("\(s):".utf8)) }
            #expect(own == (0..<each).map { payload(s, $0) })
        }
        #expect(reopened.recoveryProblems.isEmpty)
    }

    @Test func aFailedWriteFailsEveryRequestOfItsGroupAndAcknowledgesNone() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let groups = Mutex<[(ids: [Int], failed: Bool)]>([])
        do {
            // Segments of 64 bytes: every group after the first needs a new segment.
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, segmentSize: 64, fsync: false, logger: quietLogger)
            let writer = GroupCommitWriter<(id: Int, receipt: WriteReceipt)>(log: log) { group, outcome in
                let failure: String? = if case .failure(let e) = outcome { e.description } else { nil }
                groups.withLock { $0.append((group.map(\.id), failure != nil)) }
                for item in group { item.receipt.settle(failure: failure) }
            }
            // This test is the writer thread, one group at a time.
            writer.start()
            func submit(_ id: Int) -> WriteReceipt {
                let receipt = WriteReceipt()
                receipt.expect()
                writer.submit(WriteAheadLog.frame(payload(0, id)), (id, receipt))
                return receipt
            }
            let first = submit(0)
            #expect(writer.writeWaitingGroup())
            #expect(first.waitUntilSettled() == nil)

            let blocked = blockSegment(2, in: dir)
            let group = (1...3).map { submit($0) }
            #expect(writer.writeWaitingGroup())
            for receipt in group { #expect(receipt.waitUntilSettled()?.contains("cannot create") == true) }
            #expect(log.pendingCount == 1)

            try FileManager.default.removeItem(atPath: blocked)
            let after = submit(4)
            #expect(writer.writeWaitingGroup())
            #expect(after.waitUntilSettled() == nil)
            #expect(log.pendingCount == 2)
        }
        #expect(groups.withLock { $0.map(\.ids) } == [[0], [1, 2, 3], [4]])
        #expect(groups.withLock { $0.map(\.failed) } == [false, true, false])
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, segmentSize: 64, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == [payload(0, 0), payload(0, 4)])
    }
}

@Suite struct PersistentOfferTests {
    private func persistentQueue(_ dir: String, exporter: RecordingExporter, segmentSize: Int? = nil, fsync: Bool = false) throws -> SendingQueue {
        let config = SendingQueueConfig(numConsumers: 1, queueSize: 10_000, persistent: true, directory: dir, maxSize: 1 << 20, fsync: fsync)
        let log = try WriteAheadLog(directory: dir, maxSize: config.maxSize, segmentSize: segmentSize, fsync: fsync, logger: quietLogger)
        return SendingQueue(
            exporter: exporter, config: config, retry: fastRetry, logger: quietLogger,
            persistence: QueuePersistence(log: log, codec: SpanIDCodec()))
    }

    @Test func concurrentOffersAreAcceptedOnceWrittenAndAllExported() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exporter = RecordingExporter()
        let queue = try persistentQueue(dir, exporter: exporter, fsync: true)
        queue.start()
        let ingress = PipelineIngress(pipelines: [Pipeline(id: "traces", entry: FanOut([queue]), queues: [queue])])
        let answers = Mutex<[Admission]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10 {
                let admission = ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 3))
                answers.withLock { $0.append(admission) }
            }
        }
        #expect(answers.withLock { $0 } == Array(repeating: .accepted, count: 80))
        await queue.shutdown(deadline: .now + .seconds(60))
        #expect(exporter.spanCount == 240)
        #expect(queue.currentStats.failedWrites == 0)
    }

    @Test func anOfferWhoseWriteFailsIsRefusedAndNothingOfItIsKept() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exporter = RecordingExporter()
        let queue = try persistentQueue(dir, exporter: exporter, segmentSize: 64)
        queue.start()
        let ingress = PipelineIngress(pipelines: [Pipeline(id: "traces", entry: FanOut([queue]), queues: [queue])])
        #expect(ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 10)) == .accepted)
        let blocked = blockSegment(2, in: dir)
        guard case .refused(_, let reason, .queueWrite) = ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 5)) else {
            Issue.record("expected a queue_write refusal")
            return
        }
        #expect(reason.contains("persistent queue write failed"))
        #expect(queue.currentStats.failedWrites == 1)
        try FileManager.default.removeItem(atPath: blocked)
        #expect(ingress.offerAndWait(makeBatch(services: ["a"], spansEach: 7)) == .accepted)
        await queue.shutdown(deadline: .now + .seconds(60))
        // The refused request's 5 spans were neither exported nor left reserved.
        #expect(exporter.spanCount == 17)
        #expect(queue.currentStats.reservedSpans == 0)
    }
}

@Suite struct WriteReceiptTests {
    @Test func requestBytesAreOfferedOnlyForTheUnchangedBatch() {
        let offered = makeBatch(services: ["a", "b"], spansEach: 3)
        let body: [UInt8] = [1, 2, 3]
        let receipt = WriteReceipt(request: body, of: offered)
        // Passed along by value, as the pipeline's stages do: the same batch.
        let passedOn = offered
        #expect(receipt.requestBytes(for: passedOn) == body)
        // Changed by a stage (an attribute added): the body no longer says it.
        var changed = offered
        changed.resourceSpans[0].resource.attributes.append(Attribute("tenant", .string("x")))
        #expect(receipt.requestBytes(for: changed) == nil)
        // Rebuilt with equal content is not the offered batch either.
        #expect(receipt.requestBytes(for: makeBatch(services: ["a", "b"], spansEach: 3)) == nil)
        #expect(WriteReceipt().requestBytes(for: offered) == nil)
    }

    @Test func settlesOnceEveryExpectedWriteIsOverWithTheFirstFailure() {
        let receipt = WriteReceipt()
        receipt.expect()
        receipt.expect()
        let answers = Mutex<[String?]>([])
        receipt.whenSettled { failure in answers.withLock { $0.append(failure) } }
        receipt.settle(failure: "disk full")
        #expect(answers.withLock { $0.isEmpty })
        receipt.settle(failure: nil)
        #expect(answers.withLock { $0 } == ["disk full"])
        #expect(receipt.waitUntilSettled() == "disk full")
    }
}
