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
    /// Longest time a request may take to arrive, head and body, counted from
    /// its first byte (or from the connection's start); slower clients are
    /// disconnected.
    public var readTimeout: Duration = .seconds(30)
    /// Longest time a keep-alive connection may sit idle between requests
    /// before it is closed; zero: no limit. Frees the slots of clients that
    /// connect and then say nothing (with `max_connections` set, such clients
    /// would otherwise keep others out).
    public var idleTimeout: Duration = .seconds(60)
    /// Most connections served at once; 0 means no limit. Connections above
    /// it are closed as soon as they are accepted.
    public var maxConnections: Int = 0
    /// Bearer tokens required of every request (`receivers.otlp.auth`); nil: none.
    public var auth: BearerAuth? = nil
    /// Request metadata written into resource attributes (`receivers.otlp.include_metadata`, `metadata_keys`).
    public var metadata = RequestMetadataConfig()
    /// `tls`: serve HTTPS with these files instead of plain HTTP; nil: plain.
    public var tls: ReceiverTLSConfig? = nil

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

    /// The `endpoint` key of a listener's settings (receivers, the query
    /// extension): nil when absent, or when malformed (reported).
    public static func readEndpoint(_ map: ConfigMap) -> (host: String, port: Int)? {
        guard let value = map.value("endpoint"), let text = value.string() else { return nil }
        guard let hostPort = parseEndpoint(text) else {
            map.report("endpoint", "expected host:port, got '\(text)'")
            return nil
        }
        return hostPort
    }

    public static func read(_ map: ConfigMap) -> OTLPHTTPConfig {
        var c = OTLPHTTPConfig()
        if let (host, port) = readEndpoint(map) {
            c.host = host
            c.port = port
        }
        c.maxRequestBodySize = map.byteSize("max_request_body_size", default: c.maxRequestBodySize)
        if c.maxRequestBodySize <= 0 { map.report("max_request_body_size", "must be greater than zero") }
        c.tracesURLPath = map.string("traces_url_path", default: c.tracesURLPath)
        if !c.tracesURLPath.hasPrefix("/") { map.report("traces_url_path", "must start with /") }
        c.readTimeout = map.duration("read_timeout", default: c.readTimeout)
        if c.readTimeout <= .zero { map.report("read_timeout", "must be greater than zero") }
        c.idleTimeout = map.duration("idle_timeout", default: c.idleTimeout)
        if c.idleTimeout < .zero { map.report("idle_timeout", "must not be negative") }
        c.maxConnections = map.int("max_connections", default: c.maxConnections, range: 0...1_000_000)
        if map.has("tls") { c.tls = ReceiverTLSConfig.read(map.map("tls")) }
        map.finish()
        return c
    }
}
