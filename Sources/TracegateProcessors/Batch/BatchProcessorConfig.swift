import TracegateCore

/// Settings of the `batch` processor (the collector's keys and defaults).
public struct BatchProcessorConfig: Sendable, Equatable {
    /// Spans that make a batch ready to send, whatever the timeout.
    public var sendBatchSize: Int = 8192
    /// Upper bound on a sent batch; larger batches are split. 0 means no bound.
    public var sendBatchMaxSize: Int = 0
    /// How long the first span of a batch waits for others before it is sent.
    public var timeout: Duration = .milliseconds(200)
    /// Resource attribute keys (e.g. `service.name`) whose values split the
    /// batching: one pending batch per distinct combination. Empty: one batch.
    public var metadataKeys: [String] = []
    /// Most pending batches of distinct metadata combinations at once;
    /// spans of further combinations share one overflow batch.
    public var metadataCardinalityLimit: Int = 1000

    public init() {}

    public static func read(_ map: ConfigMap) -> BatchProcessorConfig {
        var c = BatchProcessorConfig()
        c.sendBatchSize = map.int("send_batch_size", default: c.sendBatchSize, range: 1...10_000_000)
        c.sendBatchMaxSize = map.int("send_batch_max_size", default: c.sendBatchMaxSize, range: 0...10_000_000)
        c.timeout = map.duration("timeout", default: c.timeout)
        if let keys = map.stringList("metadata_keys") {
            var seen = Set<String>()
            for (key, _) in keys where !key.isEmpty && seen.insert(key).inserted { c.metadataKeys.append(key) }
            if keys.contains(where: { $0.0.isEmpty }) { map.report("metadata_keys", "keys must not be empty") }
            if seen.count < keys.count && !keys.contains(where: { $0.0.isEmpty }) { map.report("metadata_keys", "a key is listed twice") }
        }
        c.metadataCardinalityLimit = map.int("metadata_cardinality_limit", default: c.metadataCardinalityLimit, range: 1...1_000_000)
        if c.sendBatchMaxSize > 0 && c.sendBatchMaxSize < c.sendBatchSize {
            map.report("send_batch_max_size", "must be 0 or at least send_batch_size (\(c.sendBatchSize))")
        }
        if c.timeout <= .zero { map.report("timeout", "must be greater than zero") }
        map.finish()
        return c
    }
}
