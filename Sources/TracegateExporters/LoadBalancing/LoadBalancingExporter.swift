import Logging
import Metrics
import Synchronization
import TracegateCore

/// Splits each batch by trace id over a consistent-hash ring of endpoints and
/// hands every part to that endpoint's own sending queue and exporter
/// (`otlp` or `otlphttp`, as `protocol` says), so one slow or failing endpoint retries on its own and never
/// makes the others receive spans twice.
///
/// The parts are admitted all or nothing: when some endpoint's queue has no
/// room (or no endpoint is known yet), nothing of the batch is handed over and
/// the export fails as retryable, so this exporter's own queue keeps the batch
/// and tries again with backoff (and, when it fills up, receivers refuse new
/// data). The endpoint list is fixed (`resolver.static`) or replaced when DNS
/// answers change (`resolver.dns`, see `LoadBalancingService`).
public final class LoadBalancingExporter: SpanExporter {
    /// The endpoints in use, their ring and their queues, replaced as a whole.
    struct Routing: Sendable {
        var endpoints: [String] = []
        var ring: HashRing?
        var queues: [SendingQueue] = []
    }

    public let id: String
    public let config: LoadBalancingExporterConfig
    private let logger: Logger
    private let routing = Mutex(Routing())
    /// The gateway's export threads, for the endpoint queues (nil: each
    /// endpoint queue gets threads of its own).
    private let threads: ExportThreadPool?

    public init(id: String, config: LoadBalancingExporterConfig, logger: Logger, threads: ExportThreadPool? = nil) {
        self.id = id
        self.config = config
        self.threads = threads
        var logger = logger
        logger[metadataKey: "exporter"] = "\(id)"
        self.logger = logger
        if config.dns == nil { _ = update(endpoints: config.hostnames) }
    }

    /// The endpoints in use, in ring order of their names.
    public var endpoints: [String] { routing.withLock { $0.endpoints } }

    /// The queue of each endpoint in use, in `endpoints` order.
    public var endpointQueues: [SendingQueue] { routing.withLock { $0.queues } }

    /// Replaces the endpoint list. Returns the queues of new endpoints (to
    /// start) and of endpoints that are gone (to drain and shut down); the
    /// queues of endpoints that stay are kept as they are.
    @discardableResult
    public func update(endpoints newList: [String]) -> (added: [SendingQueue], removed: [SendingQueue]) {
        let wanted = Array(Set(newList)).sorted()
        return routing.withLock { r in
            guard wanted != r.endpoints else { return ([], []) }
            let old = Dictionary(uniqueKeysWithValues: zip(r.endpoints, r.queues))
            var added: [SendingQueue] = []
            let queues = wanted.map { endpoint in
                if let queue = old[endpoint] { return queue }
                let queue = makeQueue(endpoint)
                added.append(queue)
                return queue
            }
            let removed = r.endpoints.filter { !wanted.contains($0) }.map { old[$0]! }
            r = Routing(endpoints: wanted, ring: wanted.isEmpty ? nil : HashRing(endpoints: wanted, virtualNodes: config.virtualNodes), queues: queues)
            return (added, removed)
        }
    }

    private func makeQueue(_ endpoint: String) -> SendingQueue {
        let protocolSettings = config.endpointProtocol
        let exporter: any SpanExporter
        switch protocolSettings {
        case .otlphttp(var otlp):
            otlp.endpoint = LoadBalancingExporterConfig.baseURL(endpoint)
            otlp.tracesEndpoint = ""
            exporter = OTLPHTTPExporter(id: "\(id)/\(endpoint)", config: otlp, logger: logger)
        case .otlp(var otlp):
            do {
                // Static hostnames were checked when the file was read, and
                // DNS answers are addresses with a port; the TLS files were
                // loaded then too, so this fails only if they changed since.
                otlp.setEndpoint(try OTLPGRPCExporterConfig.parseEndpoint(endpoint).get(), as: endpoint)
                exporter = try OTLPGRPCExporter(id: "\(id)/\(endpoint)", config: otlp, logger: logger)
            } catch {
                logger.error("cannot build the exporter of an endpoint; its spans are dropped", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
                exporter = UnusableEndpoint(id: "\(id)/\(endpoint)", reason: "\(error)")
            }
        }
        return SendingQueue(
            exporter: exporter, config: protocolSettings.sendingQueue, retry: protocolSettings.retry, logger: logger, threads: threads)
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        let current = routing.withLock { $0 }
        guard let ring = current.ring else {
            throw ExportFailure(retryable: true, message: "no endpoint resolved yet")
        }
        let parts = Self.split(batch, ring: ring)
        var reserved: [Int] = []
        for (i, part) in parts.enumerated() where part.count > 0 {
            guard current.queues[i].tryReserve(part.count) else {
                for j in reserved { current.queues[j].release(parts[j].count) }
                throw ExportFailure(retryable: true, message: "the queue of endpoint \(current.endpoints[i]) is full or closing")
            }
            reserved.append(i)
        }
        for i in reserved {
            Counter(label: "tracegate_loadbalancing_routed_spans_total", dimensions: [("exporter", id), ("endpoint", current.endpoints[i])])
                .increment(by: Int64(parts[i].count))
            current.queues[i].consume(parts[i].batch)
        }
    }

    public func close() {}

    /// The exporter of an endpoint whose own exporter could not be built:
    /// every batch fails for good, with the reason, and is counted as dropped.
    struct UnusableEndpoint: SpanExporter {
        let id: String
        let reason: String
        func export(_ batch: SpanBatch) throws(ExportFailure) { throw ExportFailure(retryable: false, message: reason) }
        func close() {}
    }

    /// The batch cut into one part per endpoint of the current ring.
    public func split(_ batch: SpanBatch) -> [(batch: SpanBatch, count: Int)] {
        guard let ring = routing.withLock({ $0.ring }) else { return [] }
        return Self.split(batch, ring: ring)
    }

    /// The batch cut into one part per ring endpoint, keeping resource and scope.
    static func split(_ batch: SpanBatch, ring: HashRing) -> [(batch: SpanBatch, count: Int)] {
        var parts = Array(repeating: (batch: SpanBatch(), count: 0), count: ring.endpointCount)
        for rs in batch.resourceSpans {
            var perEndpoint = Array(repeating: ResourceSpans(resource: rs.resource, schemaURL: rs.schemaURL), count: ring.endpointCount)
            for ss in rs.scopeSpans {
                var spans = Array(repeating: [Span](), count: ring.endpointCount)
                for span in ss.spans { spans[ring.endpoint(for: span.traceID)].append(span) }
                for i in spans.indices where !spans[i].isEmpty {
                    perEndpoint[i].scopeSpans.append(ScopeSpans(scope: ss.scope, schemaURL: ss.schemaURL, spans: spans[i]))
                    parts[i].count += spans[i].count
                }
            }
            for i in perEndpoint.indices where !perEndpoint[i].scopeSpans.isEmpty {
                parts[i].batch.resourceSpans.append(perEndpoint[i])
            }
        }
        return parts
    }
}
