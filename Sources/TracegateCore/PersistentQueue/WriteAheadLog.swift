#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// The disk side of a persistent sending queue: an append-only log of
/// checksummed records in numbered segment files, and a cursor that says
/// which records have been exported.
///
/// Layout of `directory`:
/// - `00000000000000000001.wal`, … segments: an 8-byte magic `TGWAL001`, then
///   records `[length: UInt32 LE][crc32c(payload): UInt32 LE][payload]`.
/// - `cursor`: `[segment: UInt64 LE][offset: UInt64 LE][crc32c of those 16 bytes]`,
///   the first record not yet exported. Rewritten in place after each export;
///   a torn or missing cursor replays from the oldest segment (at-least-once).
/// - `lock`: held with `flock` while open, so two processes cannot share a log.
///
/// Durability: `append` returns after `write(2)`, so a record survives the
/// process being killed (it is in the page cache); with `fsync: true` it also
/// `fdatasync`s, so it survives a power loss, at the cost of a disk flush per
/// append. Recovery stops reading a segment at the first record whose length or
/// checksum is wrong (a write torn by a crash, or a damaged file), logs the
/// file and byte offset and how much it skipped, and keeps every record before
/// it. New records always go to a fresh segment.
///
/// Not thread-safe: the owning `SendingQueue` calls it under its lock.
public final class WriteAheadLog {
    /// A record as recovered at open: its sequence number (for `acknowledge`) and payload.
    public struct Record {
        public var sequence: UInt64
        public var payload: [UInt8]
    }

    /// Why a log cannot be opened.
    public struct OpenError: Error, CustomStringConvertible {
        public var description: String
    }

    private struct Position: Comparable {
        var segment: UInt64
        var offset: UInt64
        static func < (a: Position, b: Position) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
    }

    static let magic: [UInt8] = Array("TGWAL001".utf8)
    static let headerSize = 8
    /// A record longer than this is taken for a corrupt length field.
    static let maxRecordSize = 1 << 30

    public let directory: String
    /// Bytes all segments together may use; `isFull` turns true at this size.
    public let maxSize: Int
    public let segmentSize: Int
    public let fsync: Bool
    private let logger: Logger

    private var lockFD: Int32 = -1
    private var cursorFD: Int32 = -1
    private var writeFD: Int32 = -1
    private var writeSegment: UInt64 = 0
    private var writeOffset: UInt64 = 0
    /// Size of every segment on disk, by number.
    private var segmentSizes: [UInt64: Int] = [:]
    /// Records not yet acknowledged, in log order, from `pendingHead` on.
    private var pending: [(sequence: UInt64, start: Position)] = []
    private var pendingHead = 0
    private var acknowledged: Set<UInt64> = []
    private var nextSequence: UInt64 = 1
    private var recovered: [Record] = []

    /// Bytes the segments use now.
    public private(set) var diskBytes = 0
    /// What recovery skipped at open: one line per corrupt or truncated spot.
    public private(set) var recoveryProblems: [String] = []

    /// Opens (creating if needed) the log in `directory`, and reads back the
    /// records not yet exported; take them with `takeRecovered()`.
    public init(directory: String, maxSize: Int, segmentSize: Int? = nil, fsync: Bool, logger: Logger) throws(OpenError) {
        self.directory = directory
        self.maxSize = maxSize
        self.segmentSize = segmentSize ?? max(64 << 10, min(maxSize / 8, 64 << 20))
        self.fsync = fsync
        var logger = logger
        logger[metadataKey: "queue_directory"] = "\(directory)"
        self.logger = logger
        // mkdir -p, one component at a time; an existing one is fine (a file
        // in the way shows up as ENOTDIR at the lock file just below).
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for part in directory.split(separator: "/") {
            prefix += part + "/"
            guard mkdir(prefix, 0o777) == 0 || errno == EEXIST else {
                throw OpenError(description: "cannot create \(directory): \(Self.errnoText())")
            }
        }
        lockFD = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw OpenError(description: "cannot open \(directory)/lock: \(Self.errnoText())") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            close(lockFD)
            throw OpenError(description: "\(directory) is in use by another process (its lock file is held)")
        }
        do throws(OpenError) {
            try recover()
        } catch {
            closeAll()
            throw error
        }
    }

    deinit { closeAll() }

    /// The records recovered at open, once; later calls return nothing.
    public func takeRecovered() -> [Record] {
        defer { recovered = [] }
        return recovered
    }

    /// True when the segments have reached `maxSize`: the queue refuses new data.
    public var isFull: Bool { diskBytes >= maxSize }

    /// Appends a record and returns its sequence number. Returns after the
    /// bytes are written (and flushed with `fsync`).
    public func append(_ payload: [UInt8]) throws(OpenError) -> UInt64 {
        if writeOffset >= UInt64(segmentSize) { try startSegment(writeSegment + 1) }
        var record = [UInt8]()
        record.reserveCapacity(payload.count + 8)
        Self.appendLE(UInt32(payload.count), to: &record)
        Self.appendLE(CRC32C.checksum(payload), to: &record)
        record += payload
        let start = Position(segment: writeSegment, offset: writeOffset)
        do throws(OpenError) {
            try writeAll(writeFD, record)
            if fsync && fdatasync(writeFD) != 0 { throw OpenError(description: "fdatasync failed: \(Self.errnoText())") }
        } catch {
            // Part of the record may be in the file; recovery stops there. The
            // next append starts a new segment so that later records stay readable.
            writeOffset = UInt64(max(segmentSize, Self.headerSize + 1))
            throw error
        }
        writeOffset += UInt64(record.count)
        segmentSizes[writeSegment, default: 0] += record.count
        diskBytes += record.count
        let sequence = nextSequence
        nextSequence += 1
        pending.append((sequence, start))
        return sequence
    }

    /// Marks a record exported. The cursor moves past every record exported so
    /// far in log order, and segments wholly behind it are deleted.
    public func acknowledge(_ sequence: UInt64) {
        acknowledged.insert(sequence)
        var moved = false
        while pendingHead < pending.count, acknowledged.remove(pending[pendingHead].sequence) != nil {
            pendingHead += 1
            moved = true
        }
        guard moved else { return }
        if pendingHead > 1024 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        let cursor = pendingHead < pending.count ? pending[pendingHead].start : Position(segment: writeSegment, offset: writeOffset)
        writeCursor(cursor)
        for segment in segmentSizes.keys.sorted() where segment < cursor.segment {
            deleteSegment(segment)
        }
    }

    /// Records appended or recovered and not yet acknowledged.
    public var pendingCount: Int { pending.count - pendingHead }

    // MARK: - Recovery

    private func recover() throws(OpenError) {
        cursorFD = open(directory + "/cursor", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard cursorFD >= 0 else { throw OpenError(description: "cannot open \(directory)/cursor: \(Self.errnoText())") }
        let segments = listSegments()
        var cursor = readCursor() ?? Position(segment: segments.first ?? 0, offset: 0)
        if let first = segments.first, cursor.segment < first {
            cursor = Position(segment: first, offset: 0)
        }
        for segment in segments {
            if segment < cursor.segment {
                unlink(segmentPath(segment))
                continue
            }
            let bytes = readFile(segmentPath(segment))
            segmentSizes[segment] = bytes.count
            diskBytes += bytes.count
            scan(segment, bytes, from: segment == cursor.segment ? cursor.offset : 0)
        }
        try startSegment((segments.last ?? 0) + 1)
        if pending.isEmpty { writeCursor(Position(segment: writeSegment, offset: writeOffset)) }
        let live = Set(pending.map(\.start.segment))
        for segment in segmentSizes.keys.sorted() where segment < writeSegment && !live.contains(segment) {
            deleteSegment(segment)
        }
        if !recovered.isEmpty || !recoveryProblems.isEmpty {
            logger.info(
                "persistent queue recovered",
                metadata: ["records": "\(recovered.count)", "bytes": "\(diskBytes)", "problems": "\(recoveryProblems.count)"])
        }
    }

    /// Reads the records of one segment from `offset` (the cursor, or the start).
    private func scan(_ segment: UInt64, _ bytes: [UInt8], from offset: UInt64) {
        let name = segmentPath(segment)
        guard bytes.count >= Self.headerSize, Array(bytes[0..<Self.headerSize]) == Self.magic else {
            skip(name, at: 0, of: bytes.count, "missing or wrong segment header")
            return
        }
        var at = max(Self.headerSize, Int(clamping: offset))
        if at > bytes.count {
            skip(name, at: bytes.count, of: bytes.count, "the cursor (offset \(at)) points past the end of the segment")
            return
        }
        while at < bytes.count {
            guard bytes.count - at >= 8 else {
                skip(name, at: at, of: bytes.count, "truncated record header")
                return
            }
            let length = Int(Self.readLE(bytes, at))
            let crc = Self.readLE(bytes, at + 4)
            guard length <= Self.maxRecordSize, length <= bytes.count - at - 8 else {
                skip(name, at: at, of: bytes.count, "truncated record (length \(length), \(bytes.count - at - 8) bytes left)")
                return
            }
            let payload = Array(bytes[(at + 8)..<(at + 8 + length)])
            guard CRC32C.checksum(payload) == crc else {
                skip(name, at: at, of: bytes.count, "checksum mismatch")
                return
            }
            let sequence = nextSequence
            nextSequence += 1
            pending.append((sequence, Position(segment: segment, offset: UInt64(at))))
            recovered.append(Record(sequence: sequence, payload: payload))
            at += 8 + length
        }
    }

    private func skip(_ file: String, at offset: Int, of size: Int, _ reason: String) {
        let line = "\(file): skipped \(size - offset) bytes from byte offset \(offset): \(reason)"
        recoveryProblems.append(line)
        logger.error(
            "persistent queue: corrupt or truncated data skipped",
            metadata: ["file": "\(file)", "offset": "\(offset)", "skipped_bytes": "\(size - offset)", "reason": "\(reason)"])
    }

    private func listSegments() -> [UInt64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> UInt64? in
            guard name.hasSuffix(".wal") else { return nil }
            return UInt64(name.dropLast(4))
        }.sorted()
    }

    private func readCursor() -> Position? {
        var buffer = [UInt8](repeating: 0, count: 20)
        let n = buffer.withUnsafeMutableBytes { pread(cursorFD, $0.baseAddress, 20, 0) }
        guard n == 20 else {
            if n > 0 { logger.warning("persistent queue: cursor file is short; replaying from the oldest segment") }
            return nil
        }
        guard CRC32C.checksum(Array(buffer[0..<16])) == Self.readLE(buffer, 16) else {
            logger.warning("persistent queue: cursor checksum mismatch; replaying from the oldest segment")
            return nil
        }
        let segment = UInt64(Self.readLE(buffer, 0)) | UInt64(Self.readLE(buffer, 4)) << 32
        let offset = UInt64(Self.readLE(buffer, 8)) | UInt64(Self.readLE(buffer, 12)) << 32
        return Position(segment: segment, offset: offset)
    }

    // MARK: - Files

    private func startSegment(_ number: UInt64) throws(OpenError) {
        if writeFD >= 0 { close(writeFD) }
        let path = segmentPath(number)
        writeFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard writeFD >= 0 else { throw OpenError(description: "cannot create \(path): \(Self.errnoText())") }
        try writeAll(writeFD, Self.magic)
        writeSegment = number
        writeOffset = UInt64(Self.headerSize)
        segmentSizes[number] = Self.headerSize
        diskBytes += Self.headerSize
    }

    private func deleteSegment(_ number: UInt64) {
        guard number != writeSegment, let size = segmentSizes.removeValue(forKey: number) else { return }
        unlink(segmentPath(number))
        diskBytes -= size
    }

    private func writeCursor(_ p: Position) {
        var out: [UInt8] = []
        Self.appendLE(UInt32(truncatingIfNeeded: p.segment), to: &out)
        Self.appendLE(UInt32(truncatingIfNeeded: p.segment >> 32), to: &out)
        Self.appendLE(UInt32(truncatingIfNeeded: p.offset), to: &out)
        Self.appendLE(UInt32(truncatingIfNeeded: p.offset >> 32), to: &out)
        Self.appendLE(CRC32C.checksum(out), to: &out)
        let n = out.withUnsafeBytes { pwrite(cursorFD, $0.baseAddress, 20, 0) }
        if n != 20 { logger.warning("persistent queue: cannot write the cursor; exported records may be sent again after a restart", metadata: ["error": "\(Self.errnoText())"]) }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(OpenError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OpenError(description: "write to \(directory) failed: \(Self.errnoText())")
            }
            done += n
        }
    }

    private func readFile(_ path: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
    }

    private func segmentPath(_ number: UInt64) -> String {
        let digits = String(number)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wal"
    }

    private func closeAll() {
        for fd in [writeFD, cursorFD, lockFD] where fd >= 0 { close(fd) }
        writeFD = -1
        cursorFD = -1
        lockFD = -1
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    private static func appendLE(_ v: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    private static func readLE(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}
