/// Why a pipeline refused a request; receivers map it to a status and count
/// it as the metric `reason`.
public enum RefusalKind: String, Sendable, Equatable, CaseIterable {
    /// An exporter queue has no room: HTTP 503, gRPC UNAVAILABLE.
    case pipelineFull = "pipeline_full"
    /// The memory limiter is above its soft limit: HTTP 429, gRPC RESOURCE_EXHAUSTED.
    case memoryLimit = "memory_limit"
    /// A persistent queue could not write the request to its log: HTTP 503,
    /// gRPC UNAVAILABLE.
    case queueWrite = "queue_write"
}

/// A stage that may refuse new data before the pipeline reserves room for it
/// (the memory limiter). A `Pipeline` consults its gates before every offer
/// and before a receiver decodes a request.
public protocol AdmissionGate: Sendable {
    /// The refusal a request of about `bytes` decoded bytes gets now (0: not
    /// decoded yet); nil when it may pass. Must not block: receivers call it
    /// on their event loops.
    func refusal(forBytes bytes: Int) -> Admission?
    /// A batch of about `bytes` bytes passed every gate and was accepted.
    func admitted(bytes: Int)
}
