import TracegateCore

/// Settings of the `servicegraph` processor (the keys and defaults of the
/// Collector's servicegraph connector, where it has them).
public struct ServiceGraphConfig: Sendable, Equatable {
    /// `latency_histogram_buckets`: upper bounds of the latency histograms.
    public var buckets: [Duration] = SpanMetricsConfig.defaultBuckets
    /// `store.ttl`: how long a client or server span waits for its other half.
    public var ttl: Duration = .seconds(2)
    /// `store.max_items`: unpaired spans held at once; past it, new ones are
    /// dropped (counted).
    public var maxItems = 1000
    /// `virtual_node_peer_attributes`: attributes of an unpaired client span
    /// that name the server it called (a database, an external service),
    /// tried in order.
    public var peerAttributes = ["peer.service", "db.name", "db.system", "server.address"]

    public init() {}

    public static func read(_ map: ConfigMap) -> ServiceGraphConfig {
        var c = ServiceGraphConfig()
        if let list = map.value("latency_histogram_buckets")?.items() {
            var buckets: [Duration] = []
            for item in list {
                guard let d = item.duration() else { continue }
                if d <= .zero || (buckets.last.map { d <= $0 } ?? false) {
                    item.reportProblem("bucket bounds must be greater than zero and increase")
                } else {
                    buckets.append(d)
                }
            }
            if list.isEmpty { map.report("latency_histogram_buckets", "must list at least one bound") }
            if !buckets.isEmpty { c.buckets = buckets }
        }
        if map.has("store") {
            let store = map.map("store")
            c.ttl = store.duration("ttl", default: c.ttl)
            if c.ttl <= .zero { store.report("ttl", "must be greater than zero") }
            c.maxItems = store.int("max_items", default: c.maxItems, range: 1...10_000_000)
            store.finish()
        }
        if let list = map.stringList("virtual_node_peer_attributes") { c.peerAttributes = list.map(\.0) }
        map.finish()
        return c
    }
}
