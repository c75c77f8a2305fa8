#if canImport(Glibc)
import Glibc
#endif
import TracegateCore
import Synchronization

/// Resolves a name to its addresses with `getaddrinfo`, on a thread of its
/// own: the call blocks, and must not hold a thread of the cooperative pool.
enum DNSLookup {
    /// `host:port` of every address (`[v6]:port` for IPv6), sorted and unique;
    /// nil when the lookup failed or took longer than `timeout`.
    static func endpoints(_ hostname: String, port: Int, timeout: Duration) async -> [String]? {
        let result = Mutex<[String]??>(nil)
        let done = AsyncStream<Void>.makeStream()
        startThread(name: "tg-dns") {
            let value = resolve(hostname, port: port)
            result.withLock { $0 = .some(value) }
            done.continuation.finish()
        }
        _ = await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in done.stream {} }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        // A lookup still running after the timeout finishes on its thread and is ignored.
        return result.withLock { $0 } ?? nil
    }

    static func resolve(_ hostname: String, port: Int) -> [String]? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(hostname, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(first) }
        var out: Set<String> = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if info.pointee.ai_family == AF_INET, let addr = info.pointee.ai_addr {
                addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    if inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count)) != nil {
                        out.insert("\(Self.text(buffer)):\(port)")
                    }
                }
            } else if info.pointee.ai_family == AF_INET6, let addr = info.pointee.ai_addr {
                addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var a = sin6.pointee.sin6_addr
                    if inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count)) != nil {
                        out.insert("[\(Self.text(buffer))]:\(port)")
                    }
                }
            }
            node = info.pointee.ai_next
        }
        return out.sorted()
    }

    /// The text inet_ntop wrote into `buffer`, up to its NUL.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
