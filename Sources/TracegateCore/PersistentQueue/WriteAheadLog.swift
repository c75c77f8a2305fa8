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
import Synchronization

/// The disk side of a persistent sending queue: an append-only log of
/// checksummed records in numbered segment files, and a cursor that says
/// which records have been exported.
///
/// Layout of `directory`:
/// - `00000000000000000001.wal`, … segments: a 32-byte header (the magic
///   `TGWAL002`; the segment's number; where its last record ends, written
///   when appends move on to the next segment, 0 while open; the number the
///   file had before it was reused, 0 for a new file; each UInt64 LE), then
///   records `[length: UInt32 LE][crc32c(payload) ^ mask(segment): UInt32 LE][payload]`.
///   Segments of the first format (`TGWAL001`: the magic alone, unmasked
///   checksums) are still read.
/// - `spare`: an exported segment kept to be reused as the next one. Writing
///   over blocks a file already has needs no metadata in the flush, which
///   makes `fdatasync` about 40 % cheaper on ext4 than appending. What the
///   file held before is still behind the new records; the checksum mask,
///   different for every segment number, makes those old records fail the
///   check, so reading stops where the new records end.
/// - `cursor`: `[segment: UInt64 LE][offset: UInt64 LE][crc32c of those 16 bytes]`,
///   the first record not yet exported. Rewritten in place after each export;
///   a torn or missing cursor replays from the oldest segment (at-least-once).
/// - `lock`: held with `flock` while open, so two processes cannot share a log.
///
/// Durability: `appendGroup` returns once all its records are written (one
/// `pwritev(2)`, continued where a short write stopped), so they survive
/// the process being killed (they are in the page cache); with `fsync: true`
/// it also `fdatasync`s once for the group, so they survive a power loss.
/// Recovery stops reading a segment at the first record whose length or
/// checksum is wrong (a write torn by a crash, or a damaged file), logs the
/// file and byte offset and how much it skipped, and keeps every record
/// before it; where a reused segment that was never sealed ends that way,
/// that is its end, not damage. New records always go to a fresh segment
/// (the spare, or a new file).
///
/// Thread-safe, with three locks so that the two sides never wait for each
/// other's I/O: `tail` (the segment being written) is held by an append for
/// its whole write and sync, and taken by nothing else; `cursorFile` is held
/// by an acknowledgement while it rewrites the cursor and deletes segments;
/// `ledger` (which records are pending, sizes) is held by either only for
/// bookkeeping, never across a system call.
public final class WriteAheadLog: Sendable {
    /// A record as recovered at open: its sequence number (for `acknowledge`) and payload.
    public struct Record: Sendable {
        public var sequence: UInt64
        public var payload: [UInt8]
    }

    /// Why a log cannot be opened or written.
    public struct OpenError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    struct Position: Comparable, Sendable {
        var segment: UInt64
        var offset: UInt64
        static func < (a: Position, b: Position) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
    }

    /// The segment appends go to; only appends touch it.
    private struct Tail {
        var fd: Int32 = -1
        var segment: UInt64 = 0
        var offset: UInt64 = 0
        /// Just past the last record written whole: the segment's seal.
        var end: UInt64 = 0
    }

    /// What appends and acknowledgements share.
    private struct Ledger {
        /// Size of every segment on disk, by number.
        var segmentSizes: [UInt64: Int] = [:]
        /// Records not yet acknowledged, in log order, from `pendingHead` on.
        var pending: [(sequence: UInt64, start: Position)] = []
        var pendingHead = 0
        var acknowledged: Set<UInt64> = []
        var nextSequence: UInt64 = 1
        var recovered: [Record] = []
        var diskBytes = 0
        /// Just past the last record appended whole: where the cursor goes
        /// when nothing is pending.
        var end = Position(segment: 0, offset: 0)
    }

    static let magic: [UInt8] = Array("TGWAL002".utf8)
    static let headerSize = 32
    /// The first format: the magic alone, checksums not masked.
    static let magicV1: [UInt8] = Array("TGWAL001".utf8)
    static let headerSizeV1 = 8
    /// The file name of the exported segment kept for reuse.
    static let spareName = "spare"
    /// Bytes in front of each record's payload: its length and checksum.
    public static let recordOverhead = 8
    /// A record longer than this is taken for a corrupt length field.
    static let maxRecordSize = 1 << 30

    public let directory: String
    /// Bytes all segments together may use; `isFull` turns true at this size.
    public let maxSize: Int
    public let segmentSize: Int
    public let fsync: Bool
    private let logger: Logger
    private let lockFD: Int32
    private let tail: Mutex<Tail>
    private let ledger: Mutex<Ledger>
    /// The cursor file's descriptor; held while it is rewritten.
    private let cursorFile: Mutex<Int32>
    /// Whether `spare` holds an exported segment; held across its renames.
    private let spare: Mutex<Bool>

    /// What recovery skipped at open: one line per corrupt or truncated spot.
    public let recoveryProblems: [String]

    /// Opens (creating if needed) the log in `directory`, and reads back the
    /// records not yet exported; take them with `takeRecovered()`.
    public init(directory: String, maxSize: Int, segmentSize: Int? = nil, fsync: Bool, logger: Logger) throws(OpenError) {
        self.directory = directory
        self.maxSize = maxSize
        let segmentSize = segmentSize ?? max(64 << 10, min(maxSize / 8, 64 << 20))
        self.segmentSize = segmentSize
        self.fsync = fsync
        self.logger = logger.with("queue_directory", "\(directory)")
        // mkdir -p, one component at a time; an existing one is fine (a file
        // in the way shows up as ENOTDIR at the lock file just below).
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for part in directory.split(separator: "/") {
            prefix += part + "/"
            guard mkdir(prefix, 0o777) == 0 || errno == EEXIST else {
                throw OpenError(description: "cannot create \(directory): \(Self.errnoText())")
            }
        }
        let lockFD = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw OpenError(description: "cannot open \(directory)/lock: \(Self.errnoText())") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            close(lockFD)
            throw OpenError(description: "\(directory) is in use by another process (its lock file is held)")
        }
        let cursorFD = open(directory + "/cursor", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard cursorFD >= 0 else {
            close(lockFD)
            throw OpenError(description: "cannot open \(directory)/cursor: \(Self.errnoText())")
        }
        var recovery = Recovery(directory: directory, fsync: fsync, logger: logger)
        var tail = Tail()
        do throws(OpenError) {
            try recovery.run(cursorFD: cursorFD, tail: &tail)
        } catch {
            if tail.fd >= 0 { close(tail.fd) }
            close(cursorFD)
            close(lockFD)
            throw error
        }
        self.lockFD = lockFD
        self.cursorFile = Mutex(cursorFD)
        self.tail = Mutex(tail)
        self.spare = Mutex(recovery.spare)
        self.ledger = Mutex(recovery.ledger)
        self.recoveryProblems = recovery.problems
    }

    deinit {
        tail.withLock { t in
            if t.fd >= 0 {
                Self.seal(t)
                close(t.fd)
            }
        }
        cursorFile.withLock { if $0 >= 0 { close($0) } }
        close(lockFD)
    }

    /// The records recovered at open, once; later calls return nothing.
    public func takeRecovered() -> [Record] {
        ledger.withLock { l in
            defer { l.recovered = [] }
            return l.recovered
        }
    }

    /// Bytes the segments use now.
    public var diskBytes: Int { ledger.withLock { $0.diskBytes } }

    /// True when the segments have reached `maxSize`: the queue refuses new data.
    public var isFull: Bool { ledger.withLock { $0.diskBytes >= maxSize } }

    /// Records appended or recovered and not yet acknowledged.
    public var pendingCount: Int { ledger.withLock { $0.pending.count - $0.pendingHead } }

    /// A payload framed as a record: `[length][crc32c][payload]`. Pure, so a
    /// caller frames on its own thread and the writer only writes.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var record = [UInt8]()
        record.reserveCapacity(payload.count + recordOverhead)
        appendLE(UInt32(payload.count), to: &record)
        appendLE(CRC32C.checksum(payload), to: &record)
        record += payload
        return record
    }

    /// Appends one record and returns its sequence number (`appendGroup` of one).
    public func append(_ payload: [UInt8]) throws(OpenError) -> UInt64 {
        try appendGroup([Self.frame(payload)])[0]
    }

    /// Appends records framed by `frame` with one `pwritev(2)` (and one
    /// `fdatasync` with `fsync`), and returns their sequence numbers, in
    /// order. All or nothing for the caller: on an error none of them is
    /// pending (some may be whole on disk and replayed after a restart:
    /// delivery is at-least-once).
    public func appendGroup(_ records: [[UInt8]]) throws(OpenError) -> [UInt64] {
        guard !records.isEmpty else { return [] }
        return try tail.withLock { (tail: inout Tail) throws(OpenError) -> [UInt64] in
            if tail.offset >= UInt64(segmentSize) { try startSegment(tail.segment + 1, &tail) }
            let segment = tail.segment
            let first = tail.offset
            // Each checksum masked with this segment's number (see the layout
            // above). A group of records is copied into one buffer and masked
            // there; a lone record (most groups) is not copied: its masked
            // 8-byte header and the rest of it go out with one pwritev.
            let mask = Self.mask(segment)
            let byteCount = records.reduce(0) { $0 + $1.count }
            do throws(OpenError) {
                let status: Int32
                if records.count == 1 {
                    let record = records[0]
                    var header = [UInt8](record[0..<Self.recordOverhead])
                    Self.maskChecksum(&header, at: 0, mask)
                    status = header.withUnsafeBytes { h in
                        record.withUnsafeBytes { r in
                            Self.writeAll(tail.fd, [h, UnsafeRawBufferPointer(rebasing: r[Self.recordOverhead...])], at: first)
                        }
                    }
                } else {
                    var bytes: [UInt8] = []
                    bytes.reserveCapacity(byteCount)
                    for record in records {
                        let at = bytes.count
                        bytes += record
                        Self.maskChecksum(&bytes, at: at, mask)
                    }
                    status = bytes.withUnsafeBytes { Self.writeAll(tail.fd, [$0], at: first) }
                }
                if status != 0 { throw OpenError(description: "write to \(directory) failed: \(Self.errnoText(status))") }
                if fsync && fdatasync(tail.fd) != 0 { throw OpenError(description: "fdatasync failed: \(Self.errnoText())") }
            } catch {
                // Part of the group may be in the file; recovery stops there.
                // The next append starts a new segment so that later records
                // stay readable.
                tail.offset = UInt64(max(segmentSize, Self.headerSize + 1))
                throw error
            }
            tail.offset += UInt64(byteCount)
            tail.end = tail.offset
            let end = tail.offset
            return ledger.withLock { l in
                l.segmentSizes[segment, default: 0] += byteCount
                l.diskBytes += byteCount
                var sequences: [UInt64] = []
                sequences.reserveCapacity(records.count)
                var at = first
                for record in records {
                    sequences.append(l.nextSequence)
                    l.pending.append((l.nextSequence, Position(segment: segment, offset: at)))
                    l.nextSequence += 1
                    at += UInt64(record.count)
                }
                l.end = Position(segment: segment, offset: end)
                return sequences
            }
        }
    }

    /// Marks a record exported. The cursor moves past every record exported so
    /// far in log order, and segments wholly behind it are deleted. Never
    /// waits for an append's I/O.
    public func acknowledge(_ sequence: UInt64) { acknowledge([sequence]) }

    /// Marks records exported together (one export of merged records): the
    /// cursor is written once for all of them.
    public func acknowledge(_ sequences: [UInt64]) {
        guard !sequences.isEmpty else { return }
        cursorFile.withLock { fd in
            let moved: (cursor: Position, dead: [UInt64])? = ledger.withLock { l in
                l.acknowledged.formUnion(sequences)
                var moved = false
                while l.pendingHead < l.pending.count, l.acknowledged.remove(l.pending[l.pendingHead].sequence) != nil {
                    l.pendingHead += 1
                    moved = true
                }
                guard moved else { return nil }
                if l.pendingHead > 1024 && l.pendingHead * 2 > l.pending.count {
                    l.pending.removeFirst(l.pendingHead)
                    l.pendingHead = 0
                }
                let cursor = l.pendingHead < l.pending.count ? l.pending[l.pendingHead].start : l.end
                // Segments before the cursor's are before `end` too, so never
                // the one an append is writing.
                let dead = l.segmentSizes.keys.filter { $0 < cursor.segment }.sorted()
                for segment in dead { l.diskBytes -= l.segmentSizes.removeValue(forKey: segment)! }
                return (cursor, dead)
            }
            guard let moved else { return }
            writeCursor(fd, moved.cursor)
            spare.withLock { spare in
                for segment in moved.dead { Self.retire(directory, segment, spare: &spare) }
            }
        }
    }

    // MARK: - Recovery

    /// Reads what the directory holds at open, before the log is shared.
    private struct Recovery {
        let directory: String
        let fsync: Bool
        let logger: Logger
        var ledger = Ledger()
        var problems: [String] = []
        var spare = false

        init(directory: String, fsync: Bool, logger: Logger) {
            self.directory = directory
            self.fsync = fsync
            self.logger = logger
        }

        mutating func run(cursorFD: Int32, tail: inout Tail) throws(OpenError) {
            let segments = listSegments()
            spare = access(directory + "/" + WriteAheadLog.spareName, F_OK) == 0
            var cursor = readCursor(cursorFD) ?? Position(segment: segments.first ?? 0, offset: 0)
            if let first = segments.first, cursor.segment < first {
                cursor = Position(segment: first, offset: 0)
            }
            for segment in segments {
                let path = WriteAheadLog.segmentPath(directory, segment)
                if segment < cursor.segment {
                    WriteAheadLog.retire(directory, segment, spare: &spare)
                    continue
                }
                let bytes = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
                let size = scan(segment, bytes, from: segment == cursor.segment ? cursor.offset : 0)
                ledger.segmentSizes[segment] = size
                ledger.diskBytes += size
            }
            let number = (segments.last ?? 0) + 1
            let first = try WriteAheadLog.openSegment(directory, number, fsync: fsync, spare: &spare)
            tail = Tail(fd: first, segment: number, offset: UInt64(WriteAheadLog.headerSize), end: UInt64(WriteAheadLog.headerSize))
            ledger.segmentSizes[tail.segment] = WriteAheadLog.headerSize
            ledger.diskBytes += WriteAheadLog.headerSize
            ledger.end = Position(segment: tail.segment, offset: tail.offset)
            if ledger.pending.isEmpty { WriteAheadLog.writeCursor(cursorFD, ledger.end, logger: logger) }
            let live = Set(ledger.pending.map(\.start.segment))
            for segment in ledger.segmentSizes.keys.sorted() where segment < tail.segment && !live.contains(segment) {
                ledger.diskBytes -= ledger.segmentSizes.removeValue(forKey: segment)!
                WriteAheadLog.retire(directory, segment, spare: &spare)
            }
            if !ledger.recovered.isEmpty || !problems.isEmpty {
                logger.info(
                    "persistent queue recovered",
                    metadata: ["records": "\(ledger.recovered.count)", "bytes": "\(ledger.diskBytes)", "problems": "\(problems.count)"])
            }
        }

        /// Reads the records of one segment from `offset` (the cursor, or
        /// the start); returns the bytes the segment's records take up
        /// (what it counts towards `max_size`).
        private mutating func scan(_ segment: UInt64, _ bytes: [UInt8], from offset: UInt64) -> Int {
            let name = WriteAheadLog.segmentPath(directory, segment)
            guard let header = WriteAheadLog.Header(bytes) else {
                skip(name, at: 0, of: bytes.count, "missing or wrong segment header")
                return bytes.count
            }
            if header.version == 2 && header.segment != segment {
                skip(name, at: 0, of: bytes.count, "the header names segment \(header.segment)")
                return bytes.count
            }
            // A sealed segment ends where its seal says; bytes after it are
            // from the file's earlier use.
            let end = min(bytes.count, header.sealedEnd ?? bytes.count)
            // Reused and never sealed (the segment being written when the
            // process stopped): the first record that does not check is
            // where its records end, not damage.
            let endsAtFirstBadRecord = header.sealedEnd == nil && header.previousUse != 0
            var at = max(header.size, Int(clamping: offset))
            if at > end {
                skip(name, at: end, of: end, "the cursor (offset \(at)) points past the end of the segment")
                return end
            }
            func stop(_ reason: String) -> Int {
                if endsAtFirstBadRecord {
                    logger.debug("persistent queue: reused segment ends", metadata: ["file": "\(name)", "offset": "\(at)"])
                    return at
                }
                skip(name, at: at, of: end, reason)
                return end
            }
            while at < end {
                guard end - at >= 8 else { return stop("truncated record header") }
                let length = Int(WriteAheadLog.readLE(bytes, at))
                let crc = WriteAheadLog.readLE(bytes, at + 4) ^ header.mask
                guard length <= WriteAheadLog.maxRecordSize, length <= end - at - 8 else {
                    return stop("truncated record (length \(length), \(end - at - 8) bytes left)")
                }
                let payload = Array(bytes[(at + 8)..<(at + 8 + length)])
                guard CRC32C.checksum(payload) == crc else { return stop("checksum mismatch") }
                let sequence = ledger.nextSequence
                ledger.nextSequence += 1
                ledger.pending.append((sequence, Position(segment: segment, offset: UInt64(at))))
                ledger.recovered.append(Record(sequence: sequence, payload: payload))
                at += 8 + length
            }
            if let sealed = header.sealedEnd, sealed > bytes.count {
                skip(name, at: bytes.count, of: sealed, "the segment ends before its seal at byte \(sealed)")
            }
            return end
        }

        private mutating func skip(_ file: String, at offset: Int, of size: Int, _ reason: String) {
            let line = "\(file): skipped \(size - offset) bytes from byte offset \(offset): \(reason)"
            problems.append(line)
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

        private func readCursor(_ fd: Int32) -> Position? {
            var buffer = [UInt8](repeating: 0, count: 20)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 20, 0) }
            guard n == 20 else {
                if n > 0 { logger.warning("persistent queue: cursor file is short; replaying from the oldest segment") }
                return nil
            }
            guard CRC32C.checksum(Array(buffer[0..<16])) == WriteAheadLog.readLE(buffer, 16) else {
                logger.warning("persistent queue: cursor checksum mismatch; replaying from the oldest segment")
                return nil
            }
            let segment = UInt64(WriteAheadLog.readLE(buffer, 0)) | UInt64(WriteAheadLog.readLE(buffer, 4)) << 32
            let offset = UInt64(WriteAheadLog.readLE(buffer, 8)) | UInt64(WriteAheadLog.readLE(buffer, 12)) << 32
            return Position(segment: segment, offset: offset)
        }
    }

    // MARK: - Files

    /// A segment's header, either format.
    struct Header {
        var version: Int
        var size: Int
        var segment: UInt64
        /// Where the last record ends, once appends moved on; nil while open.
        var sealedEnd: Int?
        /// The number the file had before it was reused; 0 for a new file.
        var previousUse: UInt64
        /// What each record's checksum is masked with.
        var mask: UInt32

        init?(_ bytes: [UInt8]) {
            if bytes.count >= WriteAheadLog.headerSizeV1 && Array(bytes[0..<8]) == WriteAheadLog.magicV1 {
                self = Header(version: 1, size: WriteAheadLog.headerSizeV1, segment: 0, sealedEnd: nil, previousUse: 0, mask: 0)
                return
            }
            guard bytes.count >= WriteAheadLog.headerSize && Array(bytes[0..<8]) == WriteAheadLog.magic else { return nil }
            let segment = WriteAheadLog.readLE64(bytes, 8)
            let sealed = WriteAheadLog.readLE64(bytes, 16)
            self = Header(
                version: 2, size: WriteAheadLog.headerSize, segment: segment,
                sealedEnd: sealed == 0 ? nil : Int(clamping: sealed), previousUse: WriteAheadLog.readLE64(bytes, 24),
                mask: WriteAheadLog.mask(segment))
        }

        private init(version: Int, size: Int, segment: UInt64, sealedEnd: Int?, previousUse: UInt64, mask: UInt32) {
            self.version = version
            self.size = size
            self.segment = segment
            self.sealedEnd = sealedEnd
            self.previousUse = previousUse
            self.mask = mask
        }
    }

    /// What a segment's record checksums are masked with: different for
    /// any two segment numbers less than 2^32 apart (multiplying by an odd
    /// number is a bijection modulo 2^32).
    static func mask(_ segment: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: segment) &* 0x9E37_79B1 }

    /// Moves appends to a new segment (the tail lock is held), sealing the
    /// one they leave.
    private func startSegment(_ number: UInt64, _ tail: inout Tail) throws(OpenError) {
        let fd = try spare.withLock { (spare: inout Bool) throws(OpenError) -> Int32 in
            try Self.openSegment(directory, number, fsync: fsync, spare: &spare)
        }
        if tail.fd >= 0 {
            Self.seal(tail)
            close(tail.fd)
        }
        tail = Tail(fd: fd, segment: number, offset: UInt64(Self.headerSize), end: UInt64(Self.headerSize))
        ledger.withLock { l in
            l.segmentSizes[number] = Self.headerSize
            l.diskBytes += Self.headerSize
            l.end = Position(segment: number, offset: UInt64(Self.headerSize))
        }
    }

    /// Writes where a segment's records end into its header. Not flushed:
    /// a seal lost to a power failure leaves the segment read to its first
    /// record that does not check, as an open one.
    private static func seal(_ tail: Tail) {
        var end = [UInt8]()
        appendLE64(tail.end, to: &end)
        _ = end.withUnsafeBytes { pwrite(tail.fd, $0.baseAddress, 8, 16) }
    }

    /// Opens segment `number` for appends, reusing the spare when there is
    /// one (`spare` says so, and its lock is held), and writes its header;
    /// returns its descriptor. With `fsync`, the header and the file's name
    /// are flushed before any record goes in, so a record flushed later is
    /// never in a file that recovery would not find or would not take for
    /// this segment.
    private static func openSegment(_ directory: String, _ number: UInt64, fsync: Bool, spare: inout Bool) throws(OpenError) -> Int32 {
        let path = segmentPath(directory, number)
        var fd: Int32 = -1
        var previousUse: UInt64 = 0
        if spare {
            spare = false
            let sparePath = directory + "/" + spareName
            if rename(sparePath, path) == 0 {
                fd = open(path, O_RDWR | O_CLOEXEC)
                if fd >= 0 {
                    var old = [UInt8](repeating: 0, count: 16)
                    let n = old.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 16, 0) }
                    previousUse = n == 16 ? max(1, readLE64(old, 8)) : 1
                }
            }
        }
        if fd < 0 {
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            previousUse = 0
        }
        guard fd >= 0 else { throw OpenError(description: "cannot create \(path): \(errnoText())") }
        var header = magic
        appendLE64(number, to: &header)
        appendLE64(0, to: &header)
        appendLE64(previousUse, to: &header)
        do throws(OpenError) {
            try writeAll(fd, header, at: 0, directory: directory)
            if fsync {
                guard fdatasync(fd) == 0 else { throw OpenError(description: "fdatasync of \(path) failed: \(errnoText())") }
                let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                defer { if dir >= 0 { close(dir) } }
                guard dir >= 0, syncFile(dir) == 0 else { throw OpenError(description: "fsync of \(directory) failed: \(errnoText())") }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Gets rid of an exported segment: it becomes the spare when there is
    /// none (its lock held by the caller), or is deleted.
    private static func retire(_ directory: String, _ segment: UInt64, spare: inout Bool) {
        let path = segmentPath(directory, segment)
        if !spare && rename(path, directory + "/" + spareName) == 0 {
            spare = true
        } else {
            unlink(path)
        }
    }

    private func writeCursor(_ fd: Int32, _ p: Position) { Self.writeCursor(fd, p, logger: logger) }

    private static func writeCursor(_ fd: Int32, _ p: Position, logger: Logger) {
        var out: [UInt8] = []
        appendLE(UInt32(truncatingIfNeeded: p.segment), to: &out)
        appendLE(UInt32(truncatingIfNeeded: p.segment >> 32), to: &out)
        appendLE(UInt32(truncatingIfNeeded: p.offset), to: &out)
        appendLE(UInt32(truncatingIfNeeded: p.offset >> 32), to: &out)
        appendLE(CRC32C.checksum(out), to: &out)
        let n = out.withUnsafeBytes { pwrite(fd, $0.baseAddress, 20, 0) }
        if n != 20 { logger.warning("persistent queue: cannot write the cursor; exported records may be sent again after a restart", metadata: ["error": "\(errnoText())"]) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64, directory: String) throws(OpenError) {
        let status = bytes.withUnsafeBytes { writeAll(fd, [$0], at: offset) }
        if status != 0 { throw OpenError(description: "write to \(directory) failed: \(errnoText(status))") }
    }

    /// Writes `pieces` one after another at `offset` with pwritev, again from
    /// where a short write stopped; 0 when all are written, else the errno.
    private static func writeAll(_ fd: Int32, _ pieces: [UnsafeRawBufferPointer], at offset: UInt64) -> Int32 {
        var vectors = pieces.compactMap { piece in
            piece.count > 0 ? iovec(iov_base: UnsafeMutableRawPointer(mutating: piece.baseAddress), iov_len: piece.count) : nil
        }
        var next = 0
        var at = off_t(offset)
        while next < vectors.count {
            let n = vectors.withUnsafeMutableBufferPointer { v in pwritev(fd, v.baseAddress! + next, Int32(v.count - next), at) }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            at += off_t(n)
            var left = n
            while next < vectors.count && left >= vectors[next].iov_len {
                left -= vectors[next].iov_len
                next += 1
            }
            if left > 0 {
                vectors[next].iov_base += left
                vectors[next].iov_len -= left
            }
        }
        return 0
    }

    /// XORs the checksum of the record at `at` in `bytes` with `mask`.
    private static func maskChecksum(_ bytes: inout [UInt8], at: Int, _ mask: UInt32) {
        bytes.withUnsafeMutableBytes { raw in
            let crc = raw.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
            raw.storeBytes(of: (UInt32(littleEndian: crc) ^ mask).littleEndian, toByteOffset: at + 4, as: UInt32.self)
        }
    }

    private func segmentPath(_ number: UInt64) -> String { Self.segmentPath(directory, number) }

    private static func segmentPath(_ directory: String, _ number: UInt64) -> String {
        let digits = String(number)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wal"
    }

    private static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    private static func appendLE(_ v: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    private static func appendLE64(_ v: UInt64, to out: inout [UInt8]) {
        appendLE(UInt32(truncatingIfNeeded: v), to: &out)
        appendLE(UInt32(truncatingIfNeeded: v >> 32), to: &out)
    }

    private static func readLE(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    private static func readLE64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        UInt64(readLE(bytes, at)) | UInt64(readLE(bytes, at + 4)) << 32
    }
}

/// `fsync(2)`, by a name the `fsync` settings above do not hide.
private func syncFile(_ fd: Int32) -> Int32 { fsync(fd) }
