import TracegateCore

/// Settings of the `otlp` exporter: forwards spans over OTLP/gRPC to another
/// receiver (a central Tracegate, an OpenTelemetry Collector, a vendor).
/// Keys and defaults follow the collector's `otlp` exporter; as there, a
/// plain `host:port` is reached over TLS unless `tls.insecure: true`.
public struct OTLPGRPCExporterConfig: Sendable, Equatable {
    /// `endpoint`: `host:port`, `[v6]:port`, or either with `http://`
    /// (plain HTTP/2) or `https://` (TLS) in front.
    public var endpoint: String = ""
    /// Host part of `endpoint` (brackets of an IPv6 address removed).
    public var host: String = ""
    /// Port part of `endpoint`.
    public var port: Int = 0
    /// Whether the connection uses TLS: `https://`, or a plain `host:port`
    /// without `tls.insecure: true`. `http://` never does.
    public var useTLS: Bool = true
    /// `tls`: how the server is verified and how this client identifies itself.
    public var tls = GRPCClientTLSOptions()
    /// `headers`: metadata sent with every call, e.g. `authorization: "Bearer ${env:TOKEN}"`.
    /// Names are lowercased (HTTP/2 requires it).
    public var headers: [String: String] = [:]
    /// `compression`: `gzip` (the default) or `none`.
    public var gzip: Bool = true
    /// `timeout`: how long one call may take (sent as `grpc-timeout` too);
    /// connecting is bounded by it separately.
    public var timeout: Duration = .seconds(5)
    /// `keepalive`: HTTP/2 PINGs that find a dead connection.
    public var keepalive = GRPCKeepalive()
    /// `sending_queue`: consumers (calls in flight on the one connection),
    /// capacity in spans, and the persistent queue.
    public var sendingQueue = SendingQueueConfig(numConsumers: 4, queueSize: 100_000)
    /// `retry_on_failure`, with the collector's defaults (5 s, 30 s, 300 s).
    public var retry = RetryPolicy()

    public init() {}

    /// `scheme://` of `:scheme` and of log lines.
    public var scheme: String { useTLS ? "https" : "http" }

    /// `:authority` of every call: the endpoint without its scheme.
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// An endpoint split into its parts.
    public struct Endpoint: Sendable, Equatable {
        public enum Scheme: String, Sendable { case http, https }
        public var scheme: Scheme?
        public var host: String
        public var port: Int
    }

    /// Splits `endpoint`: an optional `http://` or `https://`, a host (an
    /// IPv6 address in brackets), `:` and a port, and at most a trailing `/`.
    /// The error says what is wrong.
    public static func parseEndpoint(_ text: String) -> Result<Endpoint, EndpointError> {
        var rest = Substring(text)
        var scheme: Endpoint.Scheme?
        for s in [Endpoint.Scheme.http, .https] where rest.hasPrefix(s.rawValue + "://") {
            scheme = s
            rest = rest.dropFirst(s.rawValue.count + 3)
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") else { return .failure(EndpointError("expected host:port without a path, got '\(text)'")) }
        guard let colon = rest.lastIndex(of: ":") else {
            return .failure(EndpointError("expected host:port (the port is required), got '\(text)'"))
        }
        var host = rest[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = host.dropFirst().dropLast()
        } else if host.contains(":") {
            return .failure(EndpointError("an IPv6 address goes in brackets, e.g. [::1]:4317, got '\(text)'"))
        }
        guard !host.isEmpty else { return .failure(EndpointError("the host is missing in '\(text)'")) }
        guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            return .failure(EndpointError("expected a port 1-65535 in '\(text)'"))
        }
        return .success(Endpoint(scheme: scheme, host: String(host), port: port))
    }

    /// Why an endpoint cannot be used.
    public struct EndpointError: Error, Sendable, Equatable {
        public var message: String
        init(_ message: String) { self.message = message }
    }

    /// Sets `endpoint` and what follows from it (host, port, TLS or not).
    public mutating func setEndpoint(_ parsed: Endpoint, as text: String) {
        endpoint = text
        host = parsed.host
        port = parsed.port
        switch parsed.scheme {
        case .http?: useTLS = false
        case .https?: useTLS = true
        case nil: useTLS = !tls.insecure
        }
    }

    /// HTTP/2 pseudo-headers and the headers the call sets itself: a
    /// configured one would make the request invalid or lie about its body.
    static let reservedHeaders: Set<String> = ["content-type", "te", "grpc-encoding", "grpc-accept-encoding", "grpc-timeout", "host", "connection"]

    /// `requireEndpoint: false` reads the settings without a destination, for
    /// exporters that set it per endpoint (`loadbalancing`'s `protocol.otlp`).
    public static func read(_ map: ConfigMap, requireEndpoint: Bool = true) -> OTLPGRPCExporterConfig {
        var c = OTLPGRPCExporterConfig()
        let tls = map.map("tls")
        c.tls.insecure = tls.bool("insecure", default: false)
        c.tls.caFile = tls.string("ca_file")
        c.tls.certFile = tls.string("cert_file")
        c.tls.keyFile = tls.string("key_file")
        c.tls.insecureSkipVerify = tls.bool("insecure_skip_verify", default: false)
        if (c.tls.certFile == nil) != (c.tls.keyFile == nil) { tls.report(nil, "cert_file and key_file go together") }
        for (key, value) in [("ca_file", c.tls.caFile), ("cert_file", c.tls.certFile), ("key_file", c.tls.keyFile)] where value?.isEmpty == true {
            tls.report(key, "must name a file (is its environment variable set?)")
        }
        if c.tls.insecure && (c.tls.caFile != nil || c.tls.certFile != nil || c.tls.insecureSkipVerify) {
            tls.report("insecure", "insecure: true turns TLS off; the other tls keys would be ignored")
        }
        if let text = map.string("endpoint"), !text.isEmpty {
            switch parseEndpoint(text) {
            case .success(let parsed):
                c.setEndpoint(parsed, as: text)
                if parsed.scheme == .https && c.tls.insecure {
                    tls.report("insecure", "contradicts the https:// endpoint")
                }
                if parsed.scheme == .http && (c.tls.caFile != nil || c.tls.certFile != nil) {
                    tls.report(nil, "TLS files are set but the endpoint is http:// (plain HTTP/2); use https:// or host:port")
                }
            case .failure(let error):
                map.report("endpoint", error.message)
            }
        } else if requireEndpoint {
            map.report(nil, "endpoint is required (host:port)")
        }
        if c.tls.caFile != nil || c.tls.certFile != nil, !c.tls.insecure {
            // Loaded now so that `tracegate validate` finds a missing or broken file.
            do throws(GRPCClientTLSError) {
                _ = try c.tls.makeContext()
            } catch {
                tls.report(error.key, error.message)
            }
        }
        tls.finish()
        if let gzip = map.compression() { c.gzip = gzip }
        c.headers = map.forwardingHeaders(reserved: reservedHeaders)
        c.timeout = map.duration("timeout", default: c.timeout)
        if c.timeout <= .zero { map.report("timeout", "must be greater than zero") }
        let keepalive = map.map("keepalive")
        c.keepalive.time = keepalive.duration("time", default: c.keepalive.time)
        c.keepalive.timeout = keepalive.duration("timeout", default: c.keepalive.timeout)
        c.keepalive.permitWithoutStream = keepalive.bool("permit_without_stream", default: c.keepalive.permitWithoutStream)
        // gRPC clients refuse to ping more often than every 10 s: servers
        // answer faster pings with GOAWAY (too_many_pings).
        if c.keepalive.time < .seconds(10) { keepalive.report("time", "must be at least 10s") }
        if c.keepalive.timeout <= .zero { keepalive.report("timeout", "must be greater than zero") }
        keepalive.finish()
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        c.retry = RetryPolicy.read(map.map("retry_on_failure"), defaults: c.retry)
        map.finish()
        return c
    }
}

/// `keepalive` of the `otlp` exporter, with the keys of the collector's gRPC
/// client settings. While calls are in flight (or always, with
/// `permit_without_stream`), an HTTP/2 PING goes out every `time`; when its
/// acknowledgement does not come within `timeout` the connection is closed
/// (its calls fail and are retried on a new one).
public struct GRPCKeepalive: Sendable, Equatable {
    /// `time`: interval between PINGs (at least 10 s).
    public var time: Duration = .seconds(30)
    /// `timeout`: how long to wait for the PING acknowledgement.
    public var timeout: Duration = .seconds(10)
    /// `permit_without_stream`: ping an idle connection too. Off by default,
    /// as servers count pings on an idle connection as abuse.
    public var permitWithoutStream: Bool = false

    public init() {}
}
