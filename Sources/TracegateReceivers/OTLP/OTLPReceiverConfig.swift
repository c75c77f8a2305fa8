import TracegateCore

/// Settings of the `otlp` receiver: which protocols it serves.
public struct OTLPReceiverConfig: Sendable, Equatable {
    /// OTLP/HTTP; nil when `protocols.http` is absent.
    public var http: OTLPHTTPConfig?

    public init(http: OTLPHTTPConfig? = OTLPHTTPConfig()) { self.http = http }

    public static func read(_ map: ConfigMap) -> OTLPReceiverConfig {
        var c = OTLPReceiverConfig(http: nil)
        let protocols = map.map("protocols")
        if protocols.has("http") { c.http = OTLPHTTPConfig.read(protocols.map("http")) }
        if protocols.has("grpc") {
            _ = protocols.value("grpc")
            protocols.report("grpc", "OTLP/gRPC is not available in this version of tracegate yet; use protocols.http")
        }
        if c.http == nil && !protocols.has("grpc") {
            map.report("protocols", "at least one protocol (http) must be configured")
        }
        protocols.finish()
        map.finish()
        return c
    }
}
