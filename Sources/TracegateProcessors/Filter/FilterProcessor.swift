import Metrics
import TracegateCore

/// Drops the spans for which its `drop` condition holds. The room reserved
/// for them in the exporter queues is given back with `discard`, and a batch
/// left empty is not passed on. Counted in
/// `tracegate_processor_dropped_spans_total{processor}`.
public final class FilterProcessor: SpanConsumer {
    public let id: String
    public let config: FilterProcessorConfig
    private let next: any SpanConsumer
    private let dropped: Counter
    private let resourceOnly: Bool

    public init(id: String, config: FilterProcessorConfig, next: any SpanConsumer) {
        self.id = id
        self.config = config
        self.next = next
        self.resourceOnly = config.drop.isResourceOnly
        self.dropped = Counter(label: "tracegate_processor_dropped_spans_total", dimensions: [("processor", id)])
    }

    public func consume(_ batch: SpanBatch) {
        var batch = batch
        let count = filter(&batch)
        if count > 0 {
            dropped.increment(by: Int64(count))
            next.discard(count)
        }
        if !batch.resourceSpans.isEmpty { next.consume(batch) }
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// Removes matching spans (and scopes and resources left empty); returns
    /// how many spans were removed. Scopes without a match are not written to,
    /// so their arrays stay shared with the caller instead of being copied.
    func filter(_ batch: inout SpanBatch) -> Int {
        let condition = config.drop
        var removed = 0
        var emptied = false
        for r in batch.resourceSpans.indices {
            let resource = batch.resourceSpans[r].resource
            let service = resource.serviceName
            if resourceOnly {
                // Decided once for the whole resource: the condition reads no
                // span field, so any span stands in for all of them.
                let probe = Span(traceID: TraceID(high: 0, low: 0), spanID: SpanID(0), name: "", startTimeUnixNano: 0, endTimeUnixNano: 0)
                if condition.matches(probe, resource: resource, service: service) {
                    removed += batch.resourceSpans[r].spanCount
                    batch.resourceSpans[r].scopeSpans = []
                    emptied = true
                }
                continue
            }
            for s in batch.resourceSpans[r].scopeSpans.indices {
                let spans = batch.resourceSpans[r].scopeSpans[s].spans
                let match = { (span: Span) in condition.matches(span, resource: resource, service: service) }
                guard spans.contains(where: match) else { continue }
                let before = spans.count
                batch.resourceSpans[r].scopeSpans[s].spans.removeAll(where: match)
                let after = batch.resourceSpans[r].scopeSpans[s].spans.count
                removed += before - after
                if after == 0 { emptied = true }
            }
        }
        if emptied {
            for r in batch.resourceSpans.indices { batch.resourceSpans[r].scopeSpans.removeAll { $0.spans.isEmpty } }
            batch.resourceSpans.removeAll { $0.scopeSpans.isEmpty }
        }
        return removed
    }
}
