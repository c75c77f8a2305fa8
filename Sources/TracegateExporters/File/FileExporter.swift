import Logging
import Synchronization
import TracegateCore
import TracegateOTLP

#if canImport(Glibc)
import Glibc
#endif

/// `file`: appends each batch to a file as one OTLP/JSON
/// `ExportTraceServiceRequest` per line (the Collector's file exporter
/// format), readable back with `tracegate replay FILE --to URL`.
///
/// Every line is written with one `write(2)` loop on an `O_APPEND`
/// descriptor, nothing is buffered in the process: what `export` returned
/// for is in the file. A write that fails half-way is cut back off, so a
/// retry never leaves half a line before the whole one.
public final class FileExporter: SpanExporter {
    public let id: String
    public let config: FileExporterConfig
    private let logger: Logger
    /// The open file and its size; one writer at a time keeps lines whole
    /// and in order.
    private let file = Mutex<OpenFile?>(nil)
    /// Names rotated files; tests inject one.
    private let now: @Sendable () -> (seconds: Int, milliseconds: Int)

    /// Only touched under `file`'s lock.
    final class OpenFile {
        let fd: Int32
        var size: Int

        init(fd: Int32, size: Int) {
            self.fd = fd
            self.size = size
        }

        deinit { Glibc.close(fd) }
    }

    public init(
        id: String, config: FileExporterConfig, logger: Logger,
        now: @escaping @Sendable () -> (seconds: Int, milliseconds: Int) = FileExporter.wallClock
    ) {
        self.id = id
        self.config = config
        self.logger = logger.with("exporter", "\(id)")
        self.now = now
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        var line = OTLPJSONRequestEncoder.encode(batch)
        line.append(UInt8(ascii: "\n"))
        if config.compression == .gzip {
            guard let member = GzipDeflater.deflate(line) else { throw ExportFailure(retryable: false, message: "gzip compression failed") }
            line = member
        }
        let result: Result<Void, ExportFailure> = file.withLock { open in
            do throws(ExportFailure) {
                try write(line, into: &open)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    public func close() {
        file.withLock { $0 = nil }
    }

    private func write(_ line: [UInt8], into open: inout OpenFile?) throws(ExportFailure) {
        var current: OpenFile
        if let already = open {
            current = already
        } else {
            current = try openFile()
            open = current
        }
        if let rotation = config.rotation, current.size > 0, current.size + line.count > rotation.maxMegabytes << 20 {
            open = nil  // closes it
            try rotate(rotation)
            current = try openFile()
            open = current
        }
        let start = current.size
        var written = 0
        let failure: Int32? = line.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(current.fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        if let failure {
            // Half a line would break the one after it: cut it off.
            if written > 0 { _ = ftruncate(current.fd, off_t(start)) }
            throw ExportFailure(retryable: true, message: "writing \(config.path): \(String(cString: strerror(failure)))")
        }
        current.size = start + written
    }

    private func openFile() throws(ExportFailure) -> OpenFile {
        let fd = Glibc.open(config.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ExportFailure(retryable: true, message: "opening \(config.path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        let size = fstat(fd, &status) == 0 ? Int(status.st_size) : 0
        return OpenFile(fd: fd, size: size)
    }

    /// Renames the file to `name-YYYY-MM-DDTHH-MM-SS.mmm.ext` beside it and
    /// removes the oldest rotated files past `max_backups`.
    private func rotate(_ rotation: FileExporterConfig.Rotation) throws(ExportFailure) {
        let (directory, stem, ext) = Self.split(config.path)
        let (seconds, milliseconds) = now()
        let rotated = directory + stem + "-" + Self.timestamp(seconds: seconds, milliseconds: milliseconds) + ext
        guard rename(config.path, rotated) == 0 else {
            throw ExportFailure(retryable: true, message: "rotating \(config.path): \(String(cString: strerror(errno)))")
        }
        logger.info("file rotated", metadata: ["path": "\(config.path)", "rotated_to": "\(rotated)"])
        guard rotation.maxBackups > 0 else { return }
        let backups = Self.rotatedFiles(of: config.path)
        for old in backups.dropLast(rotation.maxBackups) { unlink(old) }
    }

    /// The rotated files of `path`, oldest first (their names sort by time).
    static func rotatedFiles(of path: String) -> [String] {
        let (directory, stem, ext) = split(path)
        guard let dir = opendir(directory.isEmpty ? "." : directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            // stem-YYYY-MM-DDTHH-MM-SS.mmm + ext
            guard name.hasPrefix(stem + "-"), name.hasSuffix(ext), name.utf8.count == stem.utf8.count + 24 + ext.utf8.count else { continue }
            names.append(directory + name)
        }
        return names.sorted()
    }

    /// `dir/`, `spans`, `.jsonl.gz` of `dir/spans.jsonl.gz` (the extension
    /// from the first dot of the file name).
    static func split(_ path: String) -> (directory: String, stem: String, ext: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let dot = name.dropFirst().firstIndex(of: ".") else { return (directory, name, "") }
        return (directory, String(name[..<dot]), String(name[dot...]))
    }

    /// UTC `YYYY-MM-DDTHH-MM-SS.mmm` (no colons: file names).
    static func timestamp(seconds: Int, milliseconds: Int) -> String {
        UTCTime(seconds: Int64(seconds), nanoseconds: Int64(milliseconds) * 1_000_000)
            .formatted(timeSeparator: "-", fractionDigits: 3, suffix: "")
    }

    public static func wallClock() -> (seconds: Int, milliseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int(ts.tv_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
