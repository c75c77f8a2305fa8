import Metrics

extension BatchProcessor {
    /// `tracegate_processor_batch_send_size`: spans per batch sent on, a
    /// histogram. Made at first use, after the metrics backend is bootstrapped.
    static let sendSizes = Recorder(label: "tracegate_processor_batch_send_size")
}
