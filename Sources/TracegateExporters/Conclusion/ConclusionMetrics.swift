import Metrics

/// The metrics of one conclusion exporter, all with dimension `exporter`.
struct ConclusionMetrics: Sendable {
    /// `tracegate_conclusion_traces_open`: traces waiting to conclude (memory
    /// store: all; postgres store: those with a timer in this replica).
    let open: Gauge
    /// `tracegate_conclusion_traces_concluded_total{complete="true"|"false"}`.
    let concludedComplete: Counter
    let concludedIncomplete: Counter
    /// `tracegate_conclusion_notification_latency_seconds`: last span of the
    /// trace (gateway clock) → its endpoint answered 2xx.
    let latency: Timer
    /// `tracegate_conclusion_delivery_attempts_total{result="delivered"|"failed"}`.
    let attemptsDelivered: Counter
    let attemptsFailed: Counter
    /// `tracegate_conclusion_notifications_delivered_total`.
    let delivered: Counter
    /// `tracegate_conclusion_dead_letters_total`.
    let deadLetters: Counter
    /// `tracegate_conclusion_evicted_total`: memory store: traces concluded
    /// early because `max_traces` were open.
    let evicted: Counter
    /// `tracegate_conclusion_hold_seconds`: how far conclusions are held
    /// behind the clock because acknowledged spans are not stored (postgres
    /// store) or not observed (memory store) yet: the age of the oldest such
    /// span, 0 without a backlog. Every trace that would be due within it
    /// waits, and its notification latency grows by as much.
    let hold: Gauge
    /// `tracegate_conclusion_late_traces_total{policy}`: traces that got spans after they concluded (once per batch or timer).
    let lateTraces: Counter
    /// `tracegate_conclusion_notifications_filtered_total`: concluded traces
    /// that `when` left without a notification.
    let filtered: Counter

    init(exporter: String, latePolicy: String) {
        let d = [("exporter", exporter)]
        open = Gauge(label: "tracegate_conclusion_traces_open", dimensions: d)
        concludedComplete = Counter(label: "tracegate_conclusion_traces_concluded_total", dimensions: d + [("complete", "true")])
        concludedIncomplete = Counter(label: "tracegate_conclusion_traces_concluded_total", dimensions: d + [("complete", "false")])
        latency = Timer(label: "tracegate_conclusion_notification_latency_seconds", dimensions: d, preferredDisplayUnit: .seconds)
        attemptsDelivered = Counter(label: "tracegate_conclusion_delivery_attempts_total", dimensions: d + [("result", "delivered")])
        attemptsFailed = Counter(label: "tracegate_conclusion_delivery_attempts_total", dimensions: d + [("result", "failed")])
        delivered = Counter(label: "tracegate_conclusion_notifications_delivered_total", dimensions: d)
        deadLetters = Counter(label: "tracegate_conclusion_dead_letters_total", dimensions: d)
        evicted = Counter(label: "tracegate_conclusion_evicted_total", dimensions: d)
        hold = Gauge(label: "tracegate_conclusion_hold_seconds", dimensions: d)
        lateTraces = Counter(label: "tracegate_conclusion_late_traces_total", dimensions: d + [("policy", latePolicy)])
        filtered = Counter(label: "tracegate_conclusion_notifications_filtered_total", dimensions: d)
    }

    func recordHold(lag: Duration) { hold.record(max(0, lag.timeInterval)) }

    func concluded(complete: Bool, count: Int = 1) {
        guard count > 0 else { return }
        (complete ? concludedComplete : concludedIncomplete).increment(by: count)
    }
}
