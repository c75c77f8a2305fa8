import Synchronization

/// Metrics that a component renders itself in the Prometheus text format,
/// appended to `/metrics` after those of the swift-metrics registry: series
/// with fractional counts (scaled by sampling probability), their own
/// histogram buckets, expiry and a cardinality limit, which swift-metrics
/// handles cannot express.
public final class RenderedMetrics: Sendable {
    public static let shared = RenderedMetrics()

    private struct Source {
        let owner: ObjectIdentifier
        let render: @Sendable () -> String
    }

    private let sources = Mutex<[String: Source]>([:])

    public init() {}

    /// Adds (or, for the same `id`, replaces: a reload's successor) a source.
    public func register(_ id: String, owner: AnyObject, render: @escaping @Sendable () -> String) {
        sources.withLock { $0[id] = Source(owner: ObjectIdentifier(owner), render: render) }
    }

    /// Removes `owner`'s source; a successor registered under the same id stays.
    public func unregister(_ id: String, owner: AnyObject) {
        sources.withLock { sources in
            if sources[id]?.owner == ObjectIdentifier(owner) { sources.removeValue(forKey: id) }
        }
    }

    /// Every source's text, by id.
    public func render() -> String {
        let all = sources.withLock { $0 }
        return all.keys.sorted().map { all[$0]!.render() }.joined()
    }
}
