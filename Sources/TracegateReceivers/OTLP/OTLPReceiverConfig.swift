import TracegateCore

/// Settings of the `otlp` receiver: which protocols it serves.
public struct OTLPReceiverConfig: Sendable, Equatable {
    /// OTLP/HTTP; nil when `protocols.http` is absent.
    public var http: OTLPHTTPConfig?
    /// OTLP/gRPC; nil when `protocols.grpc` is absent.
    public var grpc: OTLPGRPCConfig?

    public init(http: OTLPHTTPConfig? = OTLPHTTPConfig(), grpc: OTLPGRPCConfig? = nil) {
        self.http = http
        self.grpc = grpc
    }

    public static func read(_ map: ConfigMap) -> OTLPReceiverConfig {
        var c = OTLPReceiverConfig(http: nil)
        let protocols = map.map("protocols")
        if protocols.has("http") { c.http = OTLPHTTPConfig.read(protocols.map("http")) }
        if protocols.has("grpc") { c.grpc = OTLPGRPCConfig.read(protocols.map("grpc")) }
        if map.has("auth") {
            // One token list for both protocols, as a client sends the same
            // header whichever it uses.
            let auth = BearerAuth.read(map.map("auth"))
            c.http?.auth = auth
            c.grpc?.auth = auth
        }
        // Read whatever the protocols: unknown keys stay errors either way.
        let metadata = RequestMetadataConfig.read(map)
        c.http?.metadata = metadata
        c.grpc?.metadata = metadata
        if c.http == nil && c.grpc == nil {
            map.report("protocols", "at least one protocol (http or grpc) must be configured")
        }
        protocols.finish()
        map.finish()
        return c
    }
}
