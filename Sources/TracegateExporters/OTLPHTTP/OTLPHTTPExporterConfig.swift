import TracegateCore

/// Settings of the `otlphttp` exporter: forwards spans to another OTLP/HTTP
/// receiver (a central Tracegate, an OpenTelemetry Collector, a vendor). Keys
/// and defaults follow the collector's `otlphttp` exporter.
public struct OTLPHTTPExporterConfig: Sendable, Equatable {
    /// Wire encoding of the request body.
    public enum Encoding: String, Sendable, Equatable {
        case proto, json
    }

    /// Base URL of the receiver, e.g. `http://gateway:4318`; `/v1/traces` is appended.
    public var endpoint: String = ""
    /// Full URL of the traces endpoint, used as is; overrides `endpoint`.
    public var tracesEndpoint: String = ""
    /// `proto` (`application/x-protobuf`, the default) or `json` (`application/json`).
    public var encoding: Encoding = .proto
    /// `gzip` (the default) or `none`.
    public var gzip: Bool = true
    /// Extra request headers, e.g. `authorization: "Bearer ${env:TOKEN}"`.
    public var headers: [String: String] = [:]
    /// How long one request may take, connection included.
    public var timeout: Duration = .seconds(30)
    /// `tls.ca_file`, `tls.cert_file`, `tls.key_file`, `tls.insecure_skip_verify` (tests only).
    public var tls = CurlTLSOptions()
    /// `sending_queue`: consumers, capacity in spans, and the persistent queue.
    public var sendingQueue = SendingQueueConfig(numConsumers: 4, queueSize: 100_000)
    /// `retry_on_failure`, with the collector's defaults (5 s, 30 s, 300 s).
    public var retry = RetryPolicy()

    public init() {}

    /// The URL requests go to.
    public var url: String {
        if !tracesEndpoint.isEmpty { return tracesEndpoint }
        return endpoint.hasSuffix("/") ? endpoint + "v1/traces" : endpoint + "/v1/traces"
    }

    /// `requireEndpoint: false` reads the settings without a destination, for
    /// exporters that set it per endpoint (`loadbalancing`'s `protocol.otlp`).
    /// Headers the exporter sets itself.
    static let reservedHeaders: Set<String> = ["content-type", "content-encoding", "content-length", "host", "connection", "transfer-encoding"]

    public static func read(_ map: ConfigMap, requireEndpoint: Bool = true) -> OTLPHTTPExporterConfig {
        var c = OTLPHTTPExporterConfig()
        c.endpoint = map.string("endpoint") ?? ""
        c.tracesEndpoint = map.string("traces_endpoint") ?? ""
        if c.endpoint.isEmpty && c.tracesEndpoint.isEmpty && requireEndpoint {
            map.report(nil, "endpoint or traces_endpoint is required")
        }
        for (key, value) in [("endpoint", c.endpoint), ("traces_endpoint", c.tracesEndpoint)]
        where !value.isEmpty && !(value.hasPrefix("http://") || value.hasPrefix("https://")) {
            map.report(key, "expected an http:// or https:// URL, got '\(value)'")
        }
        if let text = map.string("encoding") {
            if let e = Encoding(rawValue: text) { c.encoding = e } else { map.report("encoding", "expected proto or json, got '\(text)'") }
        }
        if let gzip = map.compression() { c.gzip = gzip }
        c.headers = map.forwardingHeaders(reserved: reservedHeaders)
        c.timeout = map.duration("timeout", default: c.timeout)
        if c.timeout <= .zero { map.report("timeout", "must be greater than zero") }
        let tls = map.map("tls")
        c.tls.caFile = tls.string("ca_file")
        c.tls.certFile = tls.string("cert_file")
        c.tls.keyFile = tls.string("key_file")
        c.tls.insecureSkipVerify = tls.bool("insecure_skip_verify", default: false)
        if (c.tls.certFile == nil) != (c.tls.keyFile == nil) { tls.report(nil, "cert_file and key_file go together") }
        tls.finish()
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        c.retry = RetryPolicy.read(map.map("retry_on_failure"), defaults: c.retry)
        map.finish()
        return c
    }
}
