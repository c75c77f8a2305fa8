import Foundation

/// The memory store's dead-letter file. Appends are serialized in-process;
/// `tracegate notifications retry-dead` rewrites it with what still fails.
final class DeadLetterFile: Sendable {
    let path: String
    private let lock = NSLock()

    init(path: String) { self.path = path }

    func append(_ letters: [DeadLetter]) throws {
        let text = letters.map { $0.jsonLine + "\n" }.joined()
        lock.lock()
        defer { lock.unlock() }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// Every letter in the file, and the lines that could not be read.
    func readAll() throws -> (letters: [DeadLetter], unreadable: [String]) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], []) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var letters: [DeadLetter] = []
        var bad: [String] = []
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            if let letter = try? DeadLetter(jsonLine: String(line)) { letters.append(letter) } else { bad.append(String(line)) }
        }
        return (letters, bad)
    }

    /// Replaces the file's content.
    func rewrite(_ letters: [DeadLetter], keeping lines: [String]) throws {
        let text = (lines + letters.map(\.jsonLine)).map { $0 + "\n" }.joined()
        lock.lock()
        defer { lock.unlock() }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
