import TracegateCore

/// Accepts every batch and keeps nothing: measures the gateway without a sink.
public struct NopExporter: SpanExporter {
    public let id: String
    public init(id: String) { self.id = id }
    public func export(_ batch: SpanBatch) throws(ExportFailure) {}
    public func close() {}
}
