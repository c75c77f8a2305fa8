import TracegateCore

/// Settings of the `loadbalancing` exporter: spreads spans over several
/// OTLP endpoints (gRPC or HTTP) by trace id, so that every span of a trace
/// reaches the same endpoint (the first tier in front of `tail_sampling`
/// instances). Keys follow the collector's `loadbalancing` exporter.
public struct LoadBalancingExporterConfig: Sendable, Equatable {
    /// How each endpoint is reached, and its exporter's settings.
    public enum EndpointProtocol: Sendable, Equatable {
        /// `protocol.otlp`: an `otlp` (OTLP/gRPC) exporter per endpoint, as in the collector.
        case otlp(OTLPGRPCExporterConfig)
        /// `protocol.otlphttp`: an `otlphttp` exporter per endpoint.
        case otlphttp(OTLPHTTPExporterConfig)

        /// The sending queue each endpoint gets.
        public var sendingQueue: SendingQueueConfig {
            switch self {
            case .otlp(let c): c.sendingQueue
            case .otlphttp(let c): c.sendingQueue
            }
        }

        /// The retry policy of each endpoint's queue.
        public var retry: RetryPolicy {
            switch self {
            case .otlp(let c): c.retry
            case .otlphttp(let c): c.retry
            }
        }
    }

    /// What spans are routed by. Only `traceID` is supported.
    public var routingKey: String = "traceID"
    /// `resolver.static.hostnames`: the endpoints as `host:port`; with
    /// `otlphttp` also full `http(s)://host:port` base URLs (`/v1/traces` is
    /// appended), with `otlp` also `http://` or `https://` in front.
    public var hostnames: [String] = []
    /// `resolver.dns`: endpoints are the addresses a name resolves to, each
    /// with `port`, looked up again every `interval`.
    public var dns: DNSResolverConfig?
    /// `protocol`: exactly one of `otlp` (the `otlp` exporter's settings) or
    /// `otlphttp` (the `otlphttp` exporter's); `endpoint` is set per
    /// endpoint and must not be given.
    public var endpointProtocol: EndpointProtocol = .otlphttp(OTLPHTTPExporterConfig())
    /// `sending_queue` of the exporter itself, in front of the split.
    public var sendingQueue = SendingQueueConfig(numConsumers: 2, queueSize: 100_000)
    /// `retry_on_failure` of the exporter itself: used while an endpoint's
    /// queue is full. Never gives up by default: the spans were acknowledged.
    public var retry = RetryPolicy(initialInterval: .milliseconds(200), maxInterval: .seconds(5), maxElapsedTime: .zero)
    /// Points per endpoint on the hash ring; more points spread traces more evenly.
    public var virtualNodes: Int = 200

    public init() {}

    /// The base URL of an endpoint as configured.
    public static func baseURL(_ hostname: String) -> String {
        hostname.hasPrefix("http://") || hostname.hasPrefix("https://") ? hostname : "http://\(hostname)"
    }

    public static func read(_ map: ConfigMap) -> LoadBalancingExporterConfig {
        var c = LoadBalancingExporterConfig()
        c.routingKey = map.string("routing_key", default: c.routingKey)
        if c.routingKey != "traceID" { map.report("routing_key", "only traceID is supported, got '\(c.routingKey)'") }
        let resolver = map.map("resolver")
        let hasStatic = resolver.has("static")
        let hasDNS = resolver.has("dns")
        let staticResolver = resolver.map("static")
        if let list = staticResolver.stringList("hostnames") {
            c.hostnames = list.map(\.0)
        }
        if Set(c.hostnames).count != c.hostnames.count { staticResolver.report("hostnames", "lists an endpoint twice") }
        staticResolver.finish()
        let dns = resolver.map("dns")
        var d = DNSResolverConfig()
        d.hostname = dns.string("hostname") ?? ""
        d.port = dns.int("port", default: d.port, range: 1...65535)
        d.interval = dns.duration("interval", default: d.interval)
        d.timeout = dns.duration("timeout", default: d.timeout)
        if d.interval <= .zero { dns.report("interval", "must be greater than zero") }
        if hasDNS {
            if d.hostname.isEmpty { dns.report("hostname", "is required") }
            c.dns = d
        }
        dns.finish()
        if hasStatic == hasDNS {
            resolver.report(nil, "exactly one of static or dns is required")
        } else if hasStatic && c.hostnames.isEmpty {
            staticResolver.report("hostnames", "at least one host:port is required")
        }
        resolver.finish()
        let proto = map.map("protocol")
        let hasGRPC = proto.has("otlp")
        let hasHTTP = proto.has("otlphttp")
        if hasGRPC == hasHTTP {
            proto.report(nil, "exactly one of otlp (OTLP/gRPC) or otlphttp (OTLP/HTTP) is required")
        }
        // Both are read (when present) so that every problem in either is reported.
        let grpc = proto.map("otlp")
        if grpc.has("endpoint") { grpc.report("endpoint", "is set per endpoint from the resolver") }
        let grpcConfig = OTLPGRPCExporterConfig.read(grpc, requireEndpoint: false)
        if grpcConfig.sendingQueue.persistent {
            grpc.report("sending_queue", "cannot be persistent per endpoint; make the loadbalancing exporter's own sending_queue persistent")
        }
        let http = proto.map("otlphttp")
        if http.has("endpoint") || http.has("traces_endpoint") {
            http.report("endpoint", "is set per endpoint from the resolver")
        }
        let httpConfig = OTLPHTTPExporterConfig.read(http, requireEndpoint: false)
        if httpConfig.sendingQueue.persistent {
            http.report("sending_queue", "cannot be persistent per endpoint; make the loadbalancing exporter's own sending_queue persistent")
        }
        proto.finish()
        if hasGRPC && !hasHTTP {
            c.endpointProtocol = .otlp(grpcConfig)
            // The collector's default for OTLP/gRPC.
            if var d = c.dns, !dns.has("port") {
                d.port = 4317
                c.dns = d
            }
            for (hostname, line) in staticResolver.stringList("hostnames") ?? [] {
                if case .failure(let error) = OTLPGRPCExporterConfig.parseEndpoint(hostname) {
                    map.diagnostics.report(line: line, path: staticResolver.path + ".hostnames", error.message)
                }
            }
        } else {
            c.endpointProtocol = .otlphttp(httpConfig)
        }
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        c.retry = RetryPolicy.read(map.map("retry_on_failure"), defaults: c.retry)
        c.virtualNodes = map.int("virtual_nodes", default: c.virtualNodes, range: 1...10_000)
        map.finish()
        return c
    }
}

/// `resolver.dns` of the `loadbalancing` exporter.
public struct DNSResolverConfig: Sendable, Equatable {
    /// The name to resolve (A and AAAA records), e.g. a headless service.
    public var hostname: String = ""
    /// Port of every resolved address: 4317 with `protocol.otlp`, 4318 with `protocol.otlphttp`.
    public var port: Int = 4318
    /// How often the name is resolved again.
    public var interval: Duration = .seconds(5)
    /// Longest wait for one resolution; a slower or failed one keeps the current list.
    public var timeout: Duration = .seconds(1)

    public init() {}
}
