import TracegateCore

/// Settings of `receivers.otlp.protocols.http`.
public struct OTLPHTTPConfig: Sendable, Equatable {
    /// `host:port` to listen on.
    public var host: String = "0.0.0.0"
    public var port: Int = 4318
    /// Largest accepted body, compressed or not (413 above it).
    public var maxRequestBodySize: Int = 4 << 20
    /// The path that takes trace exports.
    public var tracesURLPath: String = "/v1/traces"

    public init() {}

    public var endpoint: String { "\(host):\(port)" }

    /// Parses `host:port` (IPv6 hosts in brackets).
    public static func parseEndpoint(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        return (host, port)
    }

    public static func read(_ map: ConfigMap) -> OTLPHTTPConfig {
        var c = OTLPHTTPConfig()
        if let value = map.value("endpoint"), let text = value.string() {
            if let (host, port) = parseEndpoint(text) {
                c.host = host
                c.port = port
            } else {
                map.report("endpoint", "expected host:port, got '\(text)'")
            }
        }
        c.maxRequestBodySize = map.byteSize("max_request_body_size", default: c.maxRequestBodySize)
        if c.maxRequestBodySize <= 0 { map.report("max_request_body_size", "must be greater than zero") }
        c.tracesURLPath = map.string("traces_url_path", default: c.tracesURLPath)
        if !c.tracesURLPath.hasPrefix("/") { map.report("traces_url_path", "must start with /") }
        map.finish()
        return c
    }
}
