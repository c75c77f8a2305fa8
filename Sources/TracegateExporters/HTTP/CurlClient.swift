import CCurl
#if canImport(Glibc)
import Glibc
#endif
import TracegateCore

/// What an HTTP server answered.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header lines of the final response, names lowercased, in order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    /// `Retry-After` as a duration (delta-seconds form; an HTTP date is ignored).
    public var retryAfter: Duration? {
        guard let value = header("retry-after")?.trimmingBlanks(), let seconds = Int(value), seconds >= 0 else {
            return nil
        }
        return .seconds(seconds)
    }
}

/// A transfer that did not produce an HTTP response: connection refused,
/// timeout, TLS failure. Always worth retrying from the caller's point of view.
public struct CurlError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var description: String { "curl error \(code): \(message)" }
}

/// TLS settings for outgoing requests.
public struct CurlTLSOptions: Sendable, Equatable {
    /// PEM file of CAs to trust instead of the system's.
    public var caFile: String?
    /// PEM client certificate and key, for servers that verify clients.
    public var certFile: String?
    public var keyFile: String?
    /// Accept any server certificate. For tests only.
    public var insecureSkipVerify = false

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, insecureSkipVerify: Bool = false) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// A blocking HTTP client on one libcurl easy handle, which keeps its
/// connections alive between requests. Used by one caller at a time (the
/// handle is not thread-safe): the OTLP/HTTP exporter checks one out per
/// export, the notifier gives each delivery worker its own; never called
/// from an event loop.
public final class CurlClient: @unchecked Sendable {
    // @unchecked: libcurl lets an easy handle move between threads as long
    // as two never use it at once; every owner hands a client to one caller
    // at a time (out of a lock-protected list, or one per worker thread).
    private let handle: UnsafeMutableRawPointer
    private let tls: CurlTLSOptions

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(tls: CurlTLSOptions = CurlTLSOptions()) {
        _ = Self.globalInit
        handle = curl_easy_init()
        self.tls = tls
    }

    deinit { curl_easy_cleanup(handle) }

    /// POSTs `body` and returns the response, whatever its status.
    public func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) throws(CurlError) -> HTTPResponse {
        try perform(method: "POST", url: url, headers: headers, body: body, timeout: timeout)
    }

    /// Runs one request. `body` is sent for every method but GET.
    public func perform(method: String, url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) throws(CurlError) -> HTTPResponse {
        curl_easy_reset(handle)
        let sink = ResponseSink()
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        // An empty `Expect:` stops libcurl from waiting for 100-continue on large bodies.
        for line in headers.map({ "\($0.0): \($0.1)" }) + ["Expect:"] {
            list = curl_slist_append(list, line)
        }
        defer { curl_slist_free_all(list) }

        let millis = max(1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        var code: CURLcode = CURLE_OK
        url.withCString { urlPtr in
            method.withCString { methodPtr in
                body.withUnsafeBytes { bodyPtr in
                    _ = tg_curl_setopt_ptr(handle, CURLOPT_URL, urlPtr)
                    _ = tg_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                    _ = tg_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, millis)
                    _ = tg_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, min(millis, 10_000))
                    _ = tg_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
                    _ = tg_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, list)
                    if method == "GET" {
                        _ = tg_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
                    } else {
                        _ = tg_curl_setopt_long(handle, CURLOPT_POST, 1)
                        _ = tg_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, bodyPtr.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
                        _ = tg_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                        if method != "POST" { _ = tg_curl_setopt_ptr(handle, CURLOPT_CUSTOMREQUEST, methodPtr) }
                    }
                    _ = tg_curl_setopt_write(handle, curlWriteBody)
                    _ = tg_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context.toOpaque())
                    _ = tg_curl_setopt_header(handle, curlWriteHeader)
                    _ = tg_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context.toOpaque())
                    withTLSOptions { code = curl_easy_perform(handle) }
                }
            }
        }
        guard code == CURLE_OK else {
            throw CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
        var status = 0
        _ = tg_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    private func withTLSOptions(_ body: () -> Void) {
        func with(_ value: String?, _ option: CURLoption, _ next: () -> Void) {
            guard let value else { return next() }
            value.withCString { ptr in
                _ = tg_curl_setopt_ptr(handle, option, ptr)
                next()
            }
        }
        if tls.insecureSkipVerify {
            _ = tg_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0)
            _ = tg_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0)
        }
        with(tls.caFile, CURLOPT_CAINFO) {
            with(tls.certFile, CURLOPT_SSLCERT) {
                with(tls.keyFile, CURLOPT_SSLKEY, body)
            }
        }
    }
}

/// Collects one response; the header list restarts at each status line, so
/// only the final response's headers remain after redirects or 100-continue.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
}

private func curlWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let data, let context else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    data.withMemoryRebound(to: UInt8.self, capacity: n) { sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
    return n
}

private func curlWriteHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let data, let context else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    let line = data.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
    if line.hasPrefix("HTTP/") {
        sink.headers.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingBlanks(newlines: true)
        sink.headers.append((name, value))
    }
    return n
}
