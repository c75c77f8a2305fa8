import Metrics
import TracegateCore

/// Head sampling: keeps or drops each span from its trace id (and
/// `tracestate`) alone, so the spans of one trace get the same decision on
/// every replica and in every process that uses the same settings. Dropped
/// spans are given back to the exporter queues with `discard`.
public final class ProbabilisticSampler: SpanConsumer {
    public let id: String
    public let config: ProbabilisticSamplerConfig
    private let next: any SpanConsumer
    private let defaultThreshold: SamplingThreshold
    private let thresholds: [String: SamplingThreshold]
    private let sampled: Counter
    private let dropped: Counter

    public init(id: String, config: ProbabilisticSamplerConfig, next: any SpanConsumer) {
        self.id = id
        self.config = config
        self.next = next
        defaultThreshold = SamplingThreshold(percentage: config.samplingPercentage, precision: config.samplingPrecision)
        thresholds = config.overrides.mapValues { SamplingThreshold(percentage: $0, precision: config.samplingPrecision) }
        sampled = Counter(label: "tracegate_sampler_spans_total", dimensions: [("processor", id), ("decision", "sampled")])
        dropped = Counter(label: "tracegate_sampler_spans_total", dimensions: [("processor", id), ("decision", "dropped")])
    }

    public func consume(_ batch: SpanBatch) {
        var out = SpanBatch()
        var droppedCount = 0
        var keptCount = 0
        for rs in batch.resourceSpans {
            let service = rs.resource.serviceName
            var kept = ResourceSpans(resource: rs.resource, schemaURL: rs.schemaURL)
            for ss in rs.scopeSpans {
                var spans: [Span] = []
                spans.reserveCapacity(ss.spans.count)
                for span in ss.spans {
                    if let span = sample(span, service: service) { spans.append(span) } else { droppedCount += 1 }
                }
                if !spans.isEmpty {
                    keptCount += spans.count
                    kept.scopeSpans.append(ScopeSpans(scope: ss.scope, schemaURL: ss.schemaURL, spans: spans))
                }
            }
            if !kept.scopeSpans.isEmpty { out.resourceSpans.append(kept) }
        }
        if droppedCount > 0 {
            dropped.increment(by: Int64(droppedCount))
            next.discard(droppedCount)
        }
        if keptCount > 0 {
            sampled.increment(by: Int64(keptCount))
            next.consume(out)
        }
    }

    public func discard(_ count: Int) { next.discard(count) }

    /// The span as it leaves the sampler (with `th` in its `tracestate` in
    /// proportional mode), or nil when it is dropped.
    public func sample(_ span: Span, service: String) -> Span? {
        switch config.mode {
        case .hashSeed:
            let percentage = config.overrides[service] ?? config.samplingPercentage
            return HashSeedSampling.keeps(span.traceID, percentage: percentage, seed: config.hashSeed) ? span : nil
        case .proportional:
            let threshold = thresholds[service] ?? defaultThreshold
            if threshold == .never { return nil }
            if span.traceState.isEmpty {
                // The common case: nothing to parse or keep.
                guard threshold.keeps(randomness: SamplingThreshold.randomness(of: span.traceID)) else { return nil }
                var out = span
                out.traceState = "ot=th:" + threshold.tracestateValue
                return out
            }
            var state = OTelTraceState(span.traceState)
            let randomness = state.randomness ?? SamplingThreshold.randomness(of: span.traceID)
            guard threshold.keeps(randomness: randomness) else { return nil }
            // An upstream sampler that already kept the span at a lower
            // probability set the larger threshold: its adjusted count stands.
            if let upstream = state.threshold, upstream >= threshold { return span }
            state.threshold = threshold
            var out = span
            out.traceState = state.encoded
            return out
        }
    }
}

/// The collector's `hash_seed` scheme: MurmurHash3 (32-bit) of the 16 trace
/// id bytes with the seed, reduced to 14 bits, kept below `percentage × 2^14 / 100`.
public enum HashSeedSampling {
    public static func keeps(_ traceID: TraceID, percentage: Double, seed: UInt32) -> Bool {
        let buckets: UInt32 = 0x4000
        let limit = UInt32((min(max(percentage, 0), 100) / 100 * Double(buckets)).rounded(.down))
        return hash(traceID, seed: seed) & (buckets - 1) < limit
    }

    /// MurmurHash3 x86 32-bit over the trace id's bytes in wire order.
    public static func hash(_ traceID: TraceID, seed: UInt32) -> UInt32 {
        let c1: UInt32 = 0xcc9e_2d51
        let c2: UInt32 = 0x1b87_3593
        var h = seed
        // Four 4-byte blocks, each read little-endian from the big-endian id bytes.
        for half in [traceID.high, traceID.low] {
            for shift in [UInt64(32), 0] {
                let word = UInt32(truncatingIfNeeded: half >> shift)
                var k = word.byteSwapped
                k &*= c1
                k = k << 15 | k >> 17
                k &*= c2
                h ^= k
                h = h << 13 | h >> 19
                h = h &* 5 &+ 0xe654_6b64
            }
        }
        h ^= 16
        h ^= h >> 16
        h &*= 0x85eb_ca6b
        h ^= h >> 13
        h &*= 0xc2b2_ae35
        h ^= h >> 16
        return h
    }
}
