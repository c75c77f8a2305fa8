import Glibc
import Logging
import Synchronization
import Testing
import TracegateCore
import TracegateOTLP
@testable import TracegateExporters

@Suite struct FileExporterTests {
    /// A fresh directory under /tmp, removed by the caller.
    static func directory() -> String {
        var template = Array("/tmp/tg-file-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: made!) + "/"
    }

    static func remove(_ directory: String) {
        for name in files(in: directory) { unlink(directory + name) }
        rmdir(directory)
    }

    static func files(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func contents(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    static func batch(_ name: String, attributeBytes: Int = 10) -> SpanBatch {
        let span = Span(
            traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), name: name, startTimeUnixNano: 10, endTimeUnixNano: 20,
            attributes: [Attribute("payload", .string(String(repeating: "x", count: attributeBytes)))])
        return SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: [span])])])
    }

    static func config(_ path: String, maxMegabytes: Int? = nil, maxBackups: Int = 100) -> FileExporterConfig {
        var c = FileExporterConfig()
        c.path = path
        if let maxMegabytes {
            var r = FileExporterConfig.Rotation()
            r.maxMegabytes = maxMegabytes
            r.maxBackups = maxBackups
            c.rotation = r
        }
        return c
    }

    @Test func writesOneOTLPJSONRequestPerLineThatDecodesBackToTheBatch() throws {
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let exporter = FileExporter(id: "file", config: Self.config(dir + "spans.jsonl"), logger: Logger(label: "t"))
        let batches = [Self.batch("first"), Self.batch("second \n with a newline")]
        for b in batches { try exporter.export(b) }
        exporter.close()
        let lines = Self.contents(dir + "spans.jsonl").split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 2)
        for (line, batch) in zip(lines, batches) {
            #expect(try OTLPJSONDecoder.decode(Array(line)).batch == batch)
        }
        // Appends to what is there.
        let again = FileExporter(id: "file", config: Self.config(dir + "spans.jsonl"), logger: Logger(label: "t"))
        try again.export(Self.batch("third"))
        again.close()
        #expect(Self.contents(dir + "spans.jsonl").split(separator: UInt8(ascii: "\n")).count == 3)
    }

    @Test func rotatesBySizeAndKeepsMaxBackups() throws {
        let dir = Self.directory()
        defer { Self.remove(dir) }
        let second = Mutex(1_765_000_000)
        let exporter = FileExporter(
            id: "file", config: Self.config(dir + "spans.jsonl.gz", maxMegabytes: 1, maxBackups: 2), logger: Logger(label: "t"),
            now: { (second.withLock { $0 += 1; return $0 }, 5) })
        // ~400 KiB a line: a new file every second line.
        for i in 0..<7 { try exporter.export(Self.batch("b\(i)", attributeBytes: 400 << 10)) }
        exporter.close()
        let names = Self.files(in: dir)
        #expect(names.count == 3, "the file and two backups: \(names)")
        #expect(names.last == "spans.jsonl.gz")
        #expect(names.dropLast().allSatisfy { $0.hasPrefix("spans-2025-12-0") && $0.hasSuffix(".005.jsonl.gz") }, "\(names)")
        // The newest backups were kept: lines 4-5 and the current file's line 6.
        let kept = names.flatMap { name in
            Self.contents(dir + name).split(separator: UInt8(ascii: "\n")).map { line in
                (try? OTLPJSONDecoder.decode(Array(line)).batch.resourceSpans[0].scopeSpans[0].spans[0].name) ?? "?"
            }
        }
        #expect(kept == ["b2", "b3", "b4", "b5", "b6"])
    }

    @Test func aFileThatCannotBeOpenedIsARetryableFailure() {
        let exporter = FileExporter(id: "file", config: Self.config("/nonexistent-dir/x/spans.jsonl"), logger: Logger(label: "t"))
        #expect {
            try exporter.export(Self.batch("x"))
        } throws: { error in
            guard let failure = error as? ExportFailure else { return false }
            return failure.retryable && failure.message.contains("/nonexistent-dir/x/spans.jsonl")
        }
    }

    @Test func namesRotatedFilesBeforeTheExtension() {
        #expect(FileExporter.split("/var/log/spans.jsonl.gz") == ("/var/log/", "spans", ".jsonl.gz"))
        #expect(FileExporter.split("spans") == ("", "spans", ""))
        #expect(FileExporter.split("./.hidden.json") == ("./", ".hidden", ".json"))
        #expect(FileExporter.timestamp(seconds: 0, milliseconds: 7) == "1970-01-01T00-00-00.007")
    }

    @Test func readsTheKeys() {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: "file:\n  path: /tmp/s.jsonl\n  compression: zstd\n  rotation: { max_megabytes: 10 }\n", diagnostics: diagnostics)!
        let c = FileExporterConfig.read(root.map("file"))
        #expect(c.rotation?.maxMegabytes == 10 && c.rotation?.maxBackups == 100)
        #expect(diagnostics.problems.map(\.description) == ["gw.yaml:3: file.compression: expected none or gzip, got 'zstd'"])
    }
}
