import TracegateCore

/// Settings of `receivers.otlp.protocols.grpc`, with the collector's key names.
public struct OTLPGRPCConfig: Sendable, Equatable {
    /// `host:port` to listen on.
    public var host: String = "0.0.0.0"
    public var port: Int = 4317
    /// Largest accepted request message in MiB, on the wire and after
    /// decompression (RESOURCE_EXHAUSTED above it).
    public var maxRecvMsgSizeMiB: Int = 4
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS announced to every client.
    public var maxConcurrentStreams: Int = 100
    /// Longest time a new connection may take to send the HTTP/2 preface and
    /// its SETTINGS, and a call its whole request message, from its HEADERS.
    /// Slower connections are closed, slower calls answered
    /// DEADLINE_EXCEEDED and reset.
    public var readTimeout: Duration = .seconds(30)
    /// Most connections served at once; 0 means no limit. Connections above
    /// it are closed as soon as they are accepted.
    public var maxConnections: Int = 0
    /// `keepalive.server_parameters.max_connection_idle`: a connection with
    /// no call open for this long is closed gracefully (GOAWAY); nil: never.
    public var maxConnectionIdle: Duration? = nil
    /// `keepalive.server_parameters.max_connection_age`: a connection older
    /// than this is closed gracefully (GOAWAY, calls in flight finish); nil: never.
    public var maxConnectionAge: Duration? = nil
    /// Bearer tokens required of every call (`receivers.otlp.auth`); nil: none.
    public var auth: BearerAuth? = nil
    /// Request metadata written into resource attributes (`receivers.otlp.include_metadata`, `metadata_keys`).
    public var metadata = RequestMetadataConfig()
    /// `tls`: serve gRPC over TLS (ALPN `h2`) with these files instead of h2c; nil: h2c.
    public var tls: ReceiverTLSConfig? = nil

    public init() {}

    public var endpoint: String { "\(host):\(port)" }
    public var maxRecvMsgSize: Int { maxRecvMsgSizeMiB << 20 }

    public static func read(_ map: ConfigMap) -> OTLPGRPCConfig {
        var c = OTLPGRPCConfig()
        if let (host, port) = OTLPHTTPConfig.readEndpoint(map) {
            c.host = host
            c.port = port
        }
        c.maxRecvMsgSizeMiB = map.int("max_recv_msg_size_mib", default: c.maxRecvMsgSizeMiB, range: 1...2047)
        c.maxConcurrentStreams = map.int("max_concurrent_streams", default: c.maxConcurrentStreams, range: 1...1_000_000)
        c.readTimeout = map.duration("read_timeout", default: c.readTimeout)
        if c.readTimeout <= .zero { map.report("read_timeout", "must be greater than zero") }
        c.maxConnections = map.int("max_connections", default: c.maxConnections, range: 0...1_000_000)
        let keepalive = map.map("keepalive")
        let server = keepalive.map("server_parameters")
        c.maxConnectionIdle = positiveDuration(server, "max_connection_idle")
        c.maxConnectionAge = positiveDuration(server, "max_connection_age")
        server.finish()
        keepalive.finish()
        if map.has("tls") { c.tls = ReceiverTLSConfig.read(map.map("tls")) }
        map.finish()
        return c
    }

    private static func positiveDuration(_ map: ConfigMap, _ key: String) -> Duration? {
        guard let value = map.value(key)?.duration() else { return nil }
        if value <= .zero {
            map.report(key, "must be greater than zero")
            return nil
        }
        return value
    }
}
