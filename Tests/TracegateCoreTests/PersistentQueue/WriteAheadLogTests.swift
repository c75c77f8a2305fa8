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
        // header 32 + 2 full records of 108 bytes + half of the third
        handle.truncateFile(atOffset: UInt64(32 + 2 * 108 + 50))
        handle.closeFile()
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == [payload(0), payload(1)])
        #expect(reopened.recoveryProblems.count == 1)
        #expect(reopened.recoveryProblems.first?.contains("byte offset \(32 + 2 * 108)") == true)
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
        bytes[32 + 108 + 8 + 10] ^= 0xFF  // inside the second record's payload
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == [payload(0)])
        #expect(reopened.recoveryProblems.first?.contains("checksum mismatch") == true)
        #expect(reopened.recoveryProblems.first?.contains("byte offset 140") == true)
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

    @Test func anExportedSegmentIsReusedAndItsOldRecordsNeverComeBack() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spare = dir + "/spare"
        func inode(_ path: String) -> UInt64? { (try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] as? UInt64 }
        var reusedFile = ""
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, segmentSize: 1024, fsync: true, logger: quietLogger)
            // Records 0…4 (208 bytes framed) fill segment 1, 5…9 segment 2, 10 starts segment 3.
            let seqs = try (0..<11).map { try log.append(payload($0, size: 200)) }
            #expect(segments(dir).count == 3)
            let first = inode(dir + "/" + segments(dir)[0])
            log.acknowledge(Array(seqs.prefix(10)))
            // Segments 1 and 2 were exported: 1 is kept as the spare, 2 deleted.
            #expect(inode(spare) == first)
            #expect(segments(dir).count == 1)
            // Fill segment 3 with smaller records; segment 4 reuses the spare's file.
            var n = 0
            while segments(dir).count < 2 {
                _ = try log.append(payload(20 + n, size: 100))
                n += 1
            }
            #expect(inode(spare) == nil)
            reusedFile = dir + "/" + segments(dir).last!
            #expect(inode(reusedFile) == first)
            _ = try log.append(payload(99, size: 50))
        }
        // Segment 1's old records are still in the file behind the new ones.
        let bytes = [UInt8](FileManager.default.contents(atPath: reusedFile)!)
        #expect(bytes.count == 32 + 5 * 208)
        // Unseal it, as if the process had died before it moved on or closed.
        var unsealed = bytes
        for k in 16..<24 { unsealed[k] = 0 }
        try Data(unsealed).write(to: URL(fileURLWithPath: reusedFile))
        for sealed in [false, true] {
            if sealed { try Data(bytes).write(to: URL(fileURLWithPath: reusedFile)) }
            let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, segmentSize: 1024, fsync: true, logger: quietLogger)
            let payloads = reopened.takeRecovered().map(\.payload)
            // Record 10 on, then the small ones, then 99: none of segment 1's old records, and no complaint.
            #expect(payloads.first == payload(10, size: 200))
            #expect(payloads.last == payload(99, size: 50))
            #expect(payloads.filter { $0.count == 200 }.count == 1)
            #expect(reopened.recoveryProblems.isEmpty)
        }
    }

    @Test func damageInsideAReusedSegmentIsReportedAsDamage() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try WriteAheadLog(directory: dir, maxSize: 1 << 20, segmentSize: 512, fsync: false, logger: quietLogger)
            // Records 0…4 (108 bytes framed) fill segment 1; 5 starts segment 2.
            let seqs = try (0..<6).map { try log.append(payload($0)) }
            log.acknowledge(Array(seqs.prefix(5)))  // the cursor moves into 2: 1 becomes the spare
            for i in 0..<7 { _ = try log.append(payload(10 + i)) }  // 2 fills (5, 10…13), 3 reuses the spare (14…16)
            #expect(segments(dir).count == 2)
        }
        // Closed, so segment 3 is sealed: damage inside it is damage, not its end.
        let reused = segments(dir).last!
        let file = dir + "/" + reused
        var bytes = [UInt8](FileManager.default.contents(atPath: file)!)
        bytes[32 + 108 + 8 + 10] ^= 0xFF  // the second record's payload
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, segmentSize: 512, fsync: false, logger: quietLogger)
        #expect(reopened.recoveryProblems.count == 1)
        #expect(reopened.recoveryProblems.first?.contains(reused) == true)
        #expect(reopened.recoveryProblems.first?.contains("checksum mismatch") == true)
        #expect(reopened.recoveryProblems.first?.contains("byte offset 140") == true)
        #expect(reopened.takeRecovered().map(\.payload) == [payload(5)] + (10...14).map { payload($0) })
    }

    @Test func segmentsOfTheFirstFormatAreStillRead() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // TGWAL001: the magic, then records with unmasked checksums.
        var file = Array("TGWAL001".utf8)
        for i in 0..<3 { file += WriteAheadLog.frame(payload(i)) }
        try Data(file).write(to: URL(fileURLWithPath: dir + "/00000000000000000007.wal"))
        let reopened = try WriteAheadLog(directory: dir, maxSize: 1 << 20, fsync: false, logger: quietLogger)
        #expect(reopened.takeRecovered().map(\.payload) == (0..<3).map { payload($0) })
        #expect(reopened.recoveryProblems.isEmpty)
        #expect(segments(dir).last == "00000000000000000008.wal")
    }

    @Test func checksumMasksDifferForEveryNearbySegment() {
        let masks = Set((1...100_000 as ClosedRange<UInt64>).map { WriteAheadLog.mask($0) })
        #expect(masks.count == 100_000)
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
