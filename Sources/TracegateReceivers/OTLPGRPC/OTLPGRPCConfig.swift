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
    /// Bearer tokens required of every call (`receivers.otlp.auth`); nil: none.
    public var auth: BearerAuth? = nil
    /// `tls`: serve gRPC over TLS (ALPN `h2`) with these files instead of h2c; nil: h2c.
    public var tls: ReceiverTLSConfig? = nil

    public init() {}

    public var endpoint: String { "\(host):\(port)" }
    public var maxRecvMsgSize: Int { maxRecvMsgSizeMiB << 20 }

    public static func read(_ map: ConfigMap) -> OTLPGRPCConfig {
        var c = OTLPGRPCConfig()
        if let value = map.value("endpoint"), let text = value.string() {
            if let (host, port) = OTLPHTTPConfig.parseEndpoint(text) {
                c.host = host
                c.port = port
            } else {
                map.report("endpoint", "expected host:port, got '\(text)'")
            }
        }
        c.maxRecvMsgSizeMiB = map.int("max_recv_msg_size_mib", default: c.maxRecvMsgSizeMiB, range: 1...2047)
        c.maxConcurrentStreams = map.int("max_concurrent_streams", default: c.maxConcurrentStreams, range: 1...1_000_000)
        if map.has("tls") { c.tls = ReceiverTLSConfig.read(map.map("tls")) }
        map.finish()
        return c
    }
}
