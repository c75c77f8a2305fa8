import Foundation
import Logging
import Testing
@testable import TracegateCore

/// A fresh directory under the system temp dir, removed by `cleanup`.
private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "tg-wal-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func segments(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".wal") }.sorted()
}

private func payload(_ n: Int, size: Int = 100) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ n) } }

@Suite struct WriteAheadLogTests {
    @Test func recordsNotAcknowledgedAreRecoveredAfterReopen() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
            for i in 0..<5 { _ = try log.append(payload(i)) }
        }
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == (0..<5).map { payload($0) })
        #expect(reopened.recoveryProblems.isEmpty)
    }

    @Test func acknowledgedRecordsAreNotReplayedEvenWhenAcknowledgedOutOfOrder() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: true, logger: quietLogger)
            let seqs = try (0..<4).map { try log.append(payload($0)) }
            log.acknowledge(seqs[1])  // out of order: the cursor cannot pass record 0 yet
            log.acknowledge(seqs[0])
            log.acknowledge(seqs[3])
        }
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        // Record 3 is after the unacknowledged record 2: it is replayed too (at-least-once).
        #expect(reopened.takeRecovered().map(\.payload) == [payload(2), payload(3)])
    }

    @Test func truncatedTailIsSkippedWithItsOffsetAndEarlierRecordsKept() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
            for i in 0..<3 { _ = try log.append(payload(i)) }
        }
        let file = dir + "/" + segments(dir).last!
        let handle = FileHandle(forUpdatingAtPath: file)!
        // header 8 + 2 full records of 108 bytes + half of the third
        handle.truncateFile(atOffset: UInt64(8 + 2 * 108 + 50))
        handle.closeFile()
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == [payload(0), payload(1)])
        #expect(reopened.recoveryProblems.count == 1)
        #expect(reopened.recoveryProblems.first?.contains("byte offset \(8 + 2 * 108)") == true)
    }

    @Test func flippedByteFailsTheChecksumAndStopsTheSegmentThere() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
            for i in 0..<3 { _ = try log.append(payload(i)) }
        }
        let file = dir + "/" + segments(dir).last!
        var bytes = [UInt8](FileManager.default.contents(atPath: file)!)
        bytes[8 + 108 + 8 + 10] ^= 0xFF  // inside the second record's payload
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == [payload(0)])
        #expect(reopened.recoveryProblems.first?.contains("checksum mismatch") == true)
        #expect(reopened.recoveryProblems.first?.contains("byte offset 116") == true)
        // New records go to a fresh segment and survive the next restart.
        _ = try reopened.append(payload(9))
    }

    @Test func fullAtMaxSizeAndRoomComesBackWhenSegmentsAreExported() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try WriteAheadLog(directory: dir, maxSize: 4096, segmentSize: 1024, fsync: false, logger: quietLogger)
        var seqs: [UInt64] = []
        while !log.isFull { seqs.append(try log.append(payload(seqs.count, size: 200))) }
        #expect(log.diskBytes >= 4096)
        #expect(segments(dir).count > 2)
        for s in seqs { log.acknowledge(s) }
        #expect(!log.isFull)
        #expect(segments(dir).count == 1)  // only the segment being written remains
        #expect(log.diskBytes < 1024 + 208)
    }

    @Test func secondOpenOfTheSameDirectoryIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(throws: WriteAheadLog.OpenError.self) {
            _ = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        }
        _ = first
    }

    @Test func checksumIsCRC32C() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    #if arch(x86_64)
    @Test func x86ProcessorsOfTheseYearsChecksumWithTheirInstruction() {
        // SSE 4.2 (2008 on): the checks below then test the instruction path.
        #expect(CRC32C.hasInstruction)
    }
    #endif

    @Test func checksumOfEveryLengthAndAlignmentMatchesTheBitwiseDefinition() {
        // The processor's instruction (where there is one) and the
        // slicing-by-8 tables against CRC-32C computed one bit at a time.
        func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                crc ^= UInt32(b)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 7) {
                #expect(CRC32C.checksum(Array(data[start..<end])) == bitwise(data[start..<end]))
                let viaPointer = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                #expect(viaPointer == bitwise(data[start..<end]))
                let viaTables = data.withUnsafeBytes { CRC32C.tableChecksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                #expect(viaTables == bitwise(data[start..<end]))
            }
        }
    }
}

/// Encodes a batch as the span ids it holds, enough to check the queue's
/// replay without an OTLP codec (TracegateCore has none).
struct SpanIDCodec: SpanBatchCodec {
    func encode(_ batch: SpanBatch) -> [UInt8] {
        var out: [UInt8] = []
        batch.forEachSpan { _, _, span in out += withUnsafeBytes(of: span.spanID.value.littleEndian, Array.init) }
        return out
    }

    func decode(_ bytes: [UInt8]) throws -> SpanBatch {
        let ids = stride(from: 0, to: bytes.count, by: 8).map { i in
            bytes[i..<(i + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        return SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: ids.map { makeSpan($0) })])])
    }
}

@Suite struct PersistentSendingQueueTests {
    @Test func spansQueuedBeforeACrashAreExportedAfterReopen() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = SendingQueueConfig(numConsumers: 1, queueSize: 100, persistent: true, directory: dir, maxSize: 1 << 20)
        do {
            // Never started: nothing is exported, as if the process died after acknowledging.
            let log = try WriteAheadLog(directory: dir, maxSize: config.maxSize, fsync: false, logger: quietLogger)
            let queue = SendingQueue(
                exporter: RecordingExporter(), config: config, retry: fastRetry, logger: quietLogger,
                persistence: QueuePersistence(log: log, codec: SpanIDCodec()))
            #expect(queue.tryReserve(10))
            queue.consume(makeBatch(services: ["a"], spansEach: 6))
            queue.consume(makeBatch(services: ["a"], spansEach: 4))
        }
        let exporter = RecordingExporter()
        let log = try WriteAheadLog(directory: dir, maxSize: config.maxSize, fsync: false, logger: quietLogger)
        let queue = SendingQueue(
            exporter: exporter, config: config, retry: fastRetry, logger: quietLogger,
            persistence: QueuePersistence(log: log, codec: SpanIDCodec()), coalesceSpans: 100)
        #expect(queue.currentStats.reservedSpans == 10)
        queue.start()
        await queue.shutdown(deadline: .now + .seconds(5))
        #expect(exporter.spanCount == 10)
        // Merged behind the log into one export, as a hoisted batch processor would.
        #expect(exporter.exported.withLock { $0.count } == 1)
        #expect(log.pendingCount == 0)
    }

    @Test func refusesReservationsWhenTheLogIsFull() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = SendingQueueConfig(numConsumers: 1, queueSize: 1_000_000, persistent: true, directory: dir, maxSize: 1 << 20)
        let log = try WriteAheadLog(directory: dir, maxSize: 2048, segmentSize: 1024, fsync: false, logger: quietLogger)
        let queue = SendingQueue(
            exporter: RecordingExporter(), config: config, retry: fastRetry, logger: quietLogger,
            persistence: QueuePersistence(log: log, codec: SpanIDCodec()))
        var accepted = 0
        while queue.tryReserve(50) {
            queue.consume(makeBatch(services: ["a"], spansEach: 50))
            accepted += 1
        }
        #expect(accepted > 0)
        #expect(queue.currentStats.refusedDiskFull == 1)
        #expect(queue.isFull)  // a receiver refusing at the request head counts too
        #expect(queue.currentStats.refusedDiskFull == 2)
        #expect(queue.currentStats.diskBytes >= 2048)
    }
}
