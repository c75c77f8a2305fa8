import Metrics
import TracegateCore

/// Sends each resource (or span) to the exporters its routing attribute
/// picks, or to `default_exporters`. The last stage of its pipeline: it holds
/// the pipeline's exporter queues by name. Every queue had room reserved for
/// every span, so each one is told to `discard` the spans it does not get;
/// once exported, every reservation is back to zero.
public final class RoutingProcessor: SpanConsumer {
    public let id: String
    public let config: RoutingProcessorConfig
    private let consumers: [any SpanConsumer]
    /// Route value → indices into `consumers`.
    private let routes: [String: [Int]]
    private let defaults: [Int]
    private let unrouted: Counter

    /// `exporters` are the pipeline's exporter queues by name; names the
    /// configuration uses but this dictionary lacks are ignored (the
    /// configuration check rejects them before this is built).
    public init(id: String, config: RoutingProcessorConfig, exporters: [(name: String, consumer: any SpanConsumer)]) {
        self.id = id
        self.config = config
        self.consumers = exporters.map(\.consumer)
        let index = Dictionary(exporters.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        func indices(_ names: [String]) -> [Int] {
            var seen = Set<Int>()
            return names.compactMap { index[$0] }.filter { seen.insert($0).inserted }
        }
        self.routes = Dictionary(config.table.map { ($0.value, indices($0.exporters)) }, uniquingKeysWith: { a, _ in a })
        self.defaults = indices(config.defaultExporters)
        self.unrouted = Counter(label: "tracegate_routing_unrouted_spans_total", dimensions: [("processor", id)])
    }

    public func consume(_ batch: SpanBatch) {
        let total = batch.spanCount
        var outputs = [SpanBatch](repeating: SpanBatch(), count: consumers.count)
        var counts = [Int](repeating: 0, count: consumers.count)
        var lost = 0
        for rs in batch.resourceSpans {
            switch config.attributeSource {
            case .resource:
                let targets = targets(for: rs.resource.attributes[key: config.fromAttribute])
                let n = rs.spanCount
                if targets.isEmpty { lost += n }
                for t in targets {
                    outputs[t].resourceSpans.append(rs)
                    counts[t] += n
                }
            case .span:
                lost += routeSpans(of: rs, into: &outputs, counts: &counts)
            }
        }
        if lost > 0 { unrouted.increment(by: Int64(lost)) }
        for i in consumers.indices {
            if counts[i] > 0 { consumers[i].consume(outputs[i]) }
            if total - counts[i] > 0 { consumers[i].discard(total - counts[i]) }
        }
    }

    public func discard(_ count: Int) {
        for consumer in consumers { consumer.discard(count) }
    }

    private func targets(for value: AnyValue?) -> [Int] {
        guard let value, let key = value.routingKey, let targets = routes[key] else { return defaults }
        return targets
    }

    /// Splits one resource's spans by their own attribute, keeping resource
    /// and scope with each piece; returns the spans that go nowhere.
    private func routeSpans(of rs: ResourceSpans, into outputs: inout [SpanBatch], counts: inout [Int]) -> Int {
        var lost = 0
        var pieces: [Int: ResourceSpans] = [:]
        for ss in rs.scopeSpans {
            var byTarget: [Int: [Span]] = [:]
            for span in ss.spans {
                let targets = targets(for: span.attributes[key: config.fromAttribute])
                if targets.isEmpty { lost += 1 }
                for t in targets { byTarget[t, default: []].append(span) }
            }
            for (t, spans) in byTarget {
                pieces[t, default: ResourceSpans(resource: rs.resource, schemaURL: rs.schemaURL)].scopeSpans.append(
                    ScopeSpans(scope: ss.scope, schemaURL: ss.schemaURL, spans: spans))
                counts[t] += spans.count
            }
        }
        for (t, piece) in pieces { outputs[t].resourceSpans.append(piece) }
        return lost
    }
}

extension AnyValue {
    /// The text a route's `value` is compared with: strings as they are,
    /// numbers and booleans in their usual text form; nil for other types.
    var routingKey: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .double(let d): return String(d)
        default: return nil
        }
    }
}
