import Metrics
import Prometheus
import Synchronization

/// The process-wide Prometheus registry behind swift-metrics. `MetricsSystem`
/// may be bootstrapped once per process; `bootstrap()` does it the first time
/// and returns the same registry afterwards (tests start several gateways in
/// one process).
public enum MetricsBootstrap {
    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Value histograms of counts (the default buckets are for seconds).
    static let countBuckets: [Double] = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 8192, 10000, 20000, 50000, 100_000]

    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        registry.withLock { existing in
            if let existing { return existing }
            let made = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: made)
            factory.valueHistogramBuckets["tracegate_processor_batch_send_size"] = countBuckets
            MetricsSystem.bootstrap(factory)
            existing = made
            return made
        }
    }

    /// The registry, if `bootstrap()` ran.
    public static var current: PrometheusCollectorRegistry? { registry.withLock { $0 } }
}
