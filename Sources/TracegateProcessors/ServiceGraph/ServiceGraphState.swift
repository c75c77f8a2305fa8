import TracegateCore

/// The edges of the service graph, from spans: a client (or producer) span
/// and the server (or consumer) span it is the parent of make one request
/// from the client's service to the server's. Names and labels as the
/// Collector's servicegraph connector behind its Prometheus exporter:
/// `traces_service_graph_request_total{client,server,connection_type}`,
/// `…_request_failed_total`, and the latency histograms
/// `…_request_server_seconds` / `…_request_client_seconds`.
///
/// A half waits for the other in a bounded store for `store.ttl`. A client
/// span that expires unpaired but names what it called (`peer.service`, a
/// database) becomes an edge to that virtual node; other expired halves are
/// counted as unpaired. Pure: the caller gives the time.
public struct ServiceGraphState: Sendable {
    public let config: ServiceGraphConfig
    private let bounds: [Double]

    struct Key: Hashable, Sendable {
        var trace: TraceID
        var span: SpanID
    }

    /// One side of an edge.
    struct Half: Sendable {
        var service: String
        var seconds: Double
        var failed: Bool
        /// Client side: the server it names (virtual node) and how.
        var peer: (name: String, type: String)?
    }

    struct Pending: Sendable {
        var client: Half?
        var server: Half?
        var expires: ContinuousClock.Instant
    }

    struct EdgeKey: Hashable, Comparable, Sendable {
        var client: String
        var server: String
        var connectionType: String

        static func < (a: EdgeKey, b: EdgeKey) -> Bool {
            (a.client, a.server, a.connectionType) < (b.client, b.server, b.connectionType)
        }
    }

    struct Edge: Sendable {
        var requests = 0
        var failed = 0
        var server: Histogram
        var client: Histogram
    }

    struct Histogram: Sendable {
        var buckets: [Int]
        var sum = 0.0
        var count = 0
    }

    private var pending: [Key: Pending] = [:]
    private var edges: [EdgeKey: Edge] = [:]
    /// Halves that expired without their other half, by side.
    public private(set) var unpaired: [String: Int] = [:]
    /// Halves not held because `max_items` were waiting.
    public private(set) var dropped = 0

    public init(config: ServiceGraphConfig) {
        self.config = config
        bounds = config.buckets.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
    }

    public var pendingCount: Int { pending.count }
    public var edgeCount: Int { edges.count }

    public mutating func record(_ batch: SpanBatch, now: ContinuousClock.Instant) {
        for rs in batch.resourceSpans {
            let service = rs.resource.serviceName
            for ss in rs.scopeSpans {
                for span in ss.spans { record(span, service: service, now: now) }
            }
        }
    }

    private mutating func record(_ span: Span, service: String, now: ContinuousClock.Instant) {
        let seconds = Double(span.durationNanos) / 1e9
        let failed = span.status.code == .error
        switch span.kind {
        case .client, .producer:
            let key = Key(trace: span.traceID, span: span.spanID)
            let half = Half(service: service, seconds: seconds, failed: failed, peer: peer(of: span))
            store(key, now: now) { $0.client = half }
        case .server, .consumer:
            guard let parent = span.parentSpanID else { return }
            let key = Key(trace: span.traceID, span: parent)
            let half = Half(service: service, seconds: seconds, failed: failed, peer: nil)
            store(key, now: now) { $0.server = half }
        default:
            return
        }
    }

    private mutating func store(_ key: Key, now: ContinuousClock.Instant, _ set: (inout Pending) -> Void) {
        if var p = pending[key] {
            set(&p)
            if let client = p.client, let server = p.server {
                pending.removeValue(forKey: key)
                complete(client: client, server: server, connectionType: "")
            } else {
                pending[key] = p
            }
            return
        }
        guard pending.count < config.maxItems else {
            dropped += 1
            return
        }
        var p = Pending(expires: now + config.ttl)
        set(&p)
        pending[key] = p
    }

    private mutating func complete(client: Half, server: Half, connectionType: String, serverName: String? = nil) {
        let key = EdgeKey(client: client.service, server: serverName ?? server.service, connectionType: connectionType)
        var edge = edges[key] ?? Edge(server: Histogram(buckets: Array(repeating: 0, count: bounds.count + 1)), client: Histogram(buckets: Array(repeating: 0, count: bounds.count + 1)))
        edge.requests += 1
        if client.failed || server.failed { edge.failed += 1 }
        add(&edge.server, server.seconds)
        add(&edge.client, client.seconds)
        edges[key] = edge
    }

    private func add(_ h: inout Histogram, _ seconds: Double) {
        let slot = bounds.firstIndex { seconds <= $0 } ?? bounds.count
        h.buckets[slot] += 1
        h.sum += seconds
        h.count += 1
    }

    /// What an unpaired client span names as its server, and the connection type.
    private func peer(of span: Span) -> (name: String, type: String)? {
        for key in config.peerAttributes {
            guard case .string(let name)? = span.attributes[key: key], !name.isEmpty else { continue }
            let type = key.hasPrefix("db.") ? "database" : (key.hasPrefix("messaging.") ? "messaging_system" : "virtual_node")
            return (name, type)
        }
        return nil
    }

    /// Settles the halves whose wait is over.
    public mutating func expire(now: ContinuousClock.Instant) {
        var expired: [Key] = []
        for (key, p) in pending where p.expires <= now { expired.append(key) }
        for key in expired {
            let p = pending.removeValue(forKey: key)!
            if let client = p.client {
                if let peer = client.peer {
                    // The server side is outside the traced world: its latency is the client's.
                    complete(client: client, server: Half(service: peer.name, seconds: client.seconds, failed: client.failed), connectionType: peer.type, serverName: peer.name)
                } else {
                    unpaired["client", default: 0] += 1
                }
            }
            if p.server != nil { unpaired["server", default: 0] += 1 }
        }
    }

    /// The Prometheus text of every edge.
    public func render() -> String {
        guard !edges.isEmpty else { return "" }
        let keys = edges.keys.sorted()
        func labels(_ k: EdgeKey) -> String {
            "client=\"\(SpanMetricsState.escape(k.client))\",server=\"\(SpanMetricsState.escape(k.server))\",connection_type=\"\(k.connectionType)\""
        }
        var out = "# HELP traces_service_graph_request_total Requests between two services, from paired client and server spans.\n# TYPE traces_service_graph_request_total counter\n"
        for k in keys { out += "traces_service_graph_request_total{\(labels(k))} \(edges[k]!.requests)\n" }
        out += "# HELP traces_service_graph_request_failed_total Requests where the client or the server span is in error.\n# TYPE traces_service_graph_request_failed_total counter\n"
        for k in keys { out += "traces_service_graph_request_failed_total{\(labels(k))} \(edges[k]!.failed)\n" }
        for (side, pick) in [("server", { (e: Edge) in e.server }), ("client", { (e: Edge) in e.client })] {
            let name = "traces_service_graph_request_\(side)_seconds"
            out += "# HELP \(name) Request latency measured by the \(side) span.\n# TYPE \(name) histogram\n"
            for k in keys {
                let h = pick(edges[k]!)
                var cumulative = 0
                for (i, bound) in bounds.enumerated() {
                    cumulative += h.buckets[i]
                    out += "\(name)_bucket{\(labels(k)),le=\"\(SpanMetricsState.number(bound))\"} \(cumulative)\n"
                }
                out += "\(name)_bucket{\(labels(k)),le=\"+Inf\"} \(h.count)\n"
                out += "\(name)_sum{\(labels(k))} \(SpanMetricsState.number(h.sum))\n"
                out += "\(name)_count{\(labels(k))} \(h.count)\n"
            }
        }
        return out
    }
}
