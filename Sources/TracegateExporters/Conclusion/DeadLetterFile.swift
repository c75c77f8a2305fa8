#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TracegateCore

/// The memory store's dead-letter file. Appends are serialized in-process;
/// `tracegate notifications retry-dead` rewrites it with what still fails.
final class DeadLetterFile: Sendable {
    let path: String
    private let lock = Mutex(())

    init(path: String) { self.path = path }

    func append(_ letters: [DeadLetter]) throws {
        let text = letters.map { $0.jsonLine + "\n" }.joined()
        try lock.withLock { _ throws(DeadLetterFileError) in
            // O_APPEND: each write lands at the end, as seekToEnd then write did.
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw DeadLetterFileError(path: path, operation: "open", code: errno) }
            defer { close(fd) }
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DeadLetterFileError(path: path, operation: "write", code: errno)
                }
                bytes = bytes.dropFirst(n)
            }
        }
    }

    /// Every letter in the file, and the lines that could not be read.
    func readAll() throws -> (letters: [DeadLetter], unreadable: [String]) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], []) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var letters: [DeadLetter] = []
        var bad: [String] = []
        for line in text.split(separator: "\n") where !line.trimmingBlanks().isEmpty {
            if let letter = try? DeadLetter(jsonLine: String(line)) { letters.append(letter) } else { bad.append(String(line)) }
        }
        return (letters, bad)
    }

    /// Replaces the file's content.
    func rewrite(_ letters: [DeadLetter], keeping lines: [String]) throws {
        let text = (lines + letters.map(\.jsonLine)).map { $0 + "\n" }.joined()
        try lock.withLock { _ in try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) }
    }
}

/// A failed system call on the dead-letter file.
struct DeadLetterFileError: Error, CustomStringConvertible {
    let path: String
    let operation: String
    let code: Int32
    var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}
