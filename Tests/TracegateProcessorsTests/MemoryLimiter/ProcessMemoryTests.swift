#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TracegateProcessors

/// `ProcessMemory.releaseCleanFilePages`, on this test process itself.
@Suite struct ProcessMemoryTests {
    /// Resident file-backed memory of this process (`RssFile`), in KiB.
    static func residentFileKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("RssFile:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    @Test func releasesProgramTextAndTheProcessRunsOn() {
        let before = Self.residentFileKiB()
        let released = ProcessMemory.releaseCleanFilePages()
        let after = Self.residentFileKiB()
        #expect(released > 0)
        #expect(after < before)
        // Code and read-only data come back on use.
        #expect(Array(0..<1000).map { String($0) }.joined(separator: ",").count == 3889)
        #expect(ProcessMemory.releaseCleanFilePages() >= 0)
    }

    /// A private file mapping that was written and then made read-only (as
    /// the dynamic loader does with relocated data) holds the only copy of
    /// what was written: it must not be released.
    @Test func leavesWrittenReadOnlyMappingsAlone() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tg-pm-\(getpid())").path
        defer { unlink(path) }
        let size = 4 * 4096
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x61, count: size)))
        let fd = open(path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let mapping, mapping != MAP_FAILED else {
            Issue.record("mmap failed")
            return
        }
        defer { munmap(mapping, size) }
        let bytes = mapping.assumingMemoryBound(to: UInt8.self)
        for i in stride(from: 0, to: size, by: 4096) { bytes[i] = 0x7A }  // copy-on-write: private pages now
        #expect(mprotect(mapping, size, PROT_READ) == 0)
        _ = ProcessMemory.releaseCleanFilePages()
        for i in stride(from: 0, to: size, by: 4096) { #expect(bytes[i] == 0x7A) }  // not the file's 0x61
        #expect(bytes[1] == 0x61)
    }
}
