#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive HTTP/1.1 connection on a plain blocking socket, for a load
/// generator thread: a request is one `writev`, its answer a `recv` or two.
///
/// Why not SwiftNIO here: a request through an event loop costs two thread
/// hops (the sending task to the loop and the answer back to the task) and
/// ~75 µs of CPU, which the load generator then takes from the gateway it
/// measures on the same cores; and an async task's sleep wakes up to a few
/// milliseconds late, which an open-loop run would count as the gateway's
/// latency. A thread per connection with `nanosleep` keeps to its schedule.
final class BlockingHTTPConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let fd: Int32
    private let headPrefix: [UInt8]
    /// Bytes received and not yet consumed, from index 0.
    private var buffer = [UInt8](repeating: 0, count: 16 << 10)
    private var buffered = 0

    init(host: String, port: Int, path: String, contentType: String) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(list) }
        var connected: Int32 = -1
        var lastErrno: Int32 = 0
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let ai = candidate, connected < 0 {
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                    connected = s
                } else {
                    lastErrno = errno
                    close(s)
                }
            }
            candidate = ai.pointee.ai_next
        }
        guard connected >= 0 else { throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(lastErrno)))") }
        var one: Int32 = 1
        setsockopt(connected, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        fd = connected
        headPrefix = Array("POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: \(contentType)\r\nContent-Length: ".utf8)
    }

    deinit { close(fd) }

    /// Sends a POST and returns the response's status code.
    func post(_ body: [UInt8]) throws -> Int {
        let head = headPrefix + Array("\(body.count)\r\n\r\n".utf8)
        try head.withUnsafeBytes { h in
            try body.withUnsafeBytes { b in try writeAll(h, b) }
        }
        return try readResponse()
    }

    private func writeAll(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) throws {
        var headSent = 0
        var bodySent = 0
        while headSent < head.count || bodySent < body.count {
            var iov = [
                iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress! + headSent), iov_len: head.count - headSent),
                iovec(iov_base: body.count > 0 ? UnsafeMutableRawPointer(mutating: body.baseAddress! + bodySent) : nil, iov_len: body.count - bodySent),
            ]
            let first = headSent < head.count ? 0 : 1
            let n = iov.withUnsafeMutableBufferPointer { writev(fd, $0.baseAddress! + first, Int32(2 - first)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "write: \(String(cString: strerror(errno)))")
            }
            var written = n
            let fromHead = min(written, head.count - headSent)
            headSent += fromHead
            written -= fromHead
            bodySent += written
        }
    }

    /// Reads one response: status line, headers up to the blank line, then
    /// `Content-Length` bytes of body (the gateway always sends it).
    private func readResponse() throws -> Int {
        var headerEnd = -1
        while true {
            headerEnd = findHeaderEnd()
            if headerEnd >= 0 { break }
            try fill()
        }
        let (status, length) = parseHead(headerEnd)
        let total = headerEnd + length
        while buffered < total { try fill() }
        // One request at a time: anything past this response is not expected,
        // but kept in order.
        if buffered > total {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + total, byteCount: buffered - total)
            }
        }
        buffered -= total
        return status
    }

    private func fill() throws {
        if buffered == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
        let n = buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + buffered, raw.count - buffered, 0) }
        if n < 0 {
            if errno == EINTR { return }
            throw Failure(description: "read: \(String(cString: strerror(errno)))")
        }
        if n == 0 { throw Failure(description: "the server closed the connection") }
        buffered += n
    }

    /// Index just past "\r\n\r\n", or -1.
    private func findHeaderEnd() -> Int {
        guard buffered >= 4 else { return -1 }
        for i in 3..<buffered where buffer[i] == 10 && buffer[i - 1] == 13 && buffer[i - 2] == 10 && buffer[i - 3] == 13 {
            return i + 1
        }
        return -1
    }

    private func parseHead(_ end: Int) -> (status: Int, contentLength: Int) {
        let text = String(decoding: buffer[0..<end], as: UTF8.self)
        var lines = text.split(separator: "\r\n").makeIterator()
        let statusLine = lines.next() ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var length = 0
        while let line = lines.next() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: " \t")) ?? 0
            }
        }
        return (status, length)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return s
    }
}
