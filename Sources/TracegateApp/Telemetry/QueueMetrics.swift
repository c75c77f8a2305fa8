import Metrics
import Synchronization
import TracegateCore

/// Exposes the sending queues' counters as metrics, read at each scrape
/// (the queue keeps plain counters under its own lock; nothing is added to
/// its hot path):
///
/// - `tracegate_exporter_queue_size{exporter}`: spans holding room (batching, queued, being exported)
/// - `tracegate_exporter_queue_capacity{exporter}`: `sending_queue.queue_size`
/// - `tracegate_exporter_sent_spans_total{exporter}`
/// - `tracegate_exporter_dropped_spans_total{exporter}`: given up (permanent error, max_elapsed_time, shutdown)
/// - `tracegate_exporter_send_failures_total{exporter}`: failed export attempts (each retried or dropped)
final class QueueMetrics: Sendable {
    private struct Series: Sendable {
        let queue: SendingQueue
        let size: Gauge
        let sent: Counter
        let dropped: Counter
        let failures: Counter
    }

    private let series: [Series]
    /// The stats seen at the last scrape, to turn totals into increments.
    private let last: Mutex<[SendingQueueStats]>

    init(queues: [String: SendingQueue]) {
        series = queues.keys.sorted().map { name in
            let queue = queues[name]!
            let dimensions = [("exporter", name)]
            Gauge(label: "tracegate_exporter_queue_capacity", dimensions: dimensions).record(queue.config.queueSize)
            return Series(
                queue: queue,
                size: Gauge(label: "tracegate_exporter_queue_size", dimensions: dimensions),
                sent: Counter(label: "tracegate_exporter_sent_spans_total", dimensions: dimensions),
                dropped: Counter(label: "tracegate_exporter_dropped_spans_total", dimensions: dimensions),
                failures: Counter(label: "tracegate_exporter_send_failures_total", dimensions: dimensions))
        }
        last = Mutex(series.map { $0.queue.currentStats })
    }

    /// Brings the metrics up to date; called before each scrape.
    func refresh() {
        last.withLock { last in
            for (i, s) in series.enumerated() {
                let now = s.queue.currentStats
                s.size.record(now.reservedSpans)
                if now.exportedSpans > last[i].exportedSpans { s.sent.increment(by: now.exportedSpans - last[i].exportedSpans) }
                if now.droppedSpans > last[i].droppedSpans { s.dropped.increment(by: now.droppedSpans - last[i].droppedSpans) }
                if now.failedAttempts > last[i].failedAttempts { s.failures.increment(by: now.failedAttempts - last[i].failedAttempts) }
                last[i] = now
            }
        }
    }
}
