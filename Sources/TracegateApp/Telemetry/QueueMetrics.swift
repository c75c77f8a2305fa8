import Metrics
import Synchronization
import TracegateCore

/// Exposes the sending queues' counters as metrics, read at each scrape
/// (the queue keeps plain counters under its own lock; nothing is added to
/// its hot path). The queues are asked for at each scrape, so a reload's new
/// queues are counted from their start:
///
/// - `tracegate_exporter_queue_size{exporter}`: spans holding room (batching, queued, being exported)
/// - `tracegate_exporter_queue_capacity{exporter}`: `sending_queue.queue_size`
/// - `tracegate_exporter_sent_spans_total{exporter}`
/// - `tracegate_exporter_dropped_spans_total{exporter}`: given up (permanent error, max_elapsed_time, shutdown)
/// - `tracegate_exporter_send_failures_total{exporter}`: failed export attempts (each retried or dropped)
final class QueueMetrics: Sendable {
    private struct Series {
        let size: Gauge
        let sent: Counter
        let dropped: Counter
        let failures: Counter
        /// The stats seen at the last scrape, to turn totals into increments.
        var last: SendingQueueStats
    }

    private let queues: @Sendable () -> [String: SendingQueue]
    /// By queue: a replaced exporter's new queue starts from zero, its
    /// series go on from where the old one left.
    private let series = Mutex<[ObjectIdentifier: Series]>([:])

    init(queues: @escaping @Sendable () -> [String: SendingQueue]) {
        self.queues = queues
        refresh()
    }

    /// Brings the metrics up to date; called before each scrape.
    func refresh() {
        let current = queues()
        series.withLock { series in
            var seen: Set<ObjectIdentifier> = []
            for name in current.keys.sorted() {
                let queue = current[name]!
                let id = ObjectIdentifier(queue)
                seen.insert(id)
                let now = queue.currentStats
                guard var s = series[id] else {
                    let dimensions = [("exporter", name)]
                    Gauge(label: "tracegate_exporter_queue_capacity", dimensions: dimensions).record(queue.config.queueSize)
                    let fresh = Series(
                        size: Gauge(label: "tracegate_exporter_queue_size", dimensions: dimensions),
                        sent: Counter(label: "tracegate_exporter_sent_spans_total", dimensions: dimensions),
                        dropped: Counter(label: "tracegate_exporter_dropped_spans_total", dimensions: dimensions),
                        failures: Counter(label: "tracegate_exporter_send_failures_total", dimensions: dimensions),
                        last: SendingQueueStats())
                    series[id] = Self.record(fresh, now)
                    continue
                }
                s = Self.record(s, now)
                series[id] = s
            }
            series = series.filter { seen.contains($0.key) }
        }
    }

    private static func record(_ s: Series, _ now: SendingQueueStats) -> Series {
        var s = s
        s.size.record(now.reservedSpans)
        if now.exportedSpans > s.last.exportedSpans { s.sent.increment(by: now.exportedSpans - s.last.exportedSpans) }
        if now.droppedSpans > s.last.droppedSpans { s.dropped.increment(by: now.droppedSpans - s.last.droppedSpans) }
        if now.failedAttempts > s.last.failedAttempts { s.failures.increment(by: now.failedAttempts - s.last.failedAttempts) }
        s.last = now
        return s
    }
}
