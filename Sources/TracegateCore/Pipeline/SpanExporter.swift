/// Why an export did not succeed, and whether trying again can help.
public struct ExportFailure: Error, Sendable, CustomStringConvertible {
    /// A retryable failure (the sink is down, overloaded, or timed out) is tried
    /// again; a permanent one (the sink rejected the data) is dropped and counted.
    public var retryable: Bool
    public var message: String
    /// The sink's own hint for when to try again (`Retry-After`).
    public var retryAfter: Duration?

    public init(retryable: Bool, message: String, retryAfter: Duration? = nil) {
        self.retryable = retryable
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(retryable ? "retryable" : "permanent"): \(message)" }
}

/// The end of a pipeline. `export` runs on one of the sending queue's consumer
/// threads and may block (libpq, libcurl); it is never called on an event loop.
public protocol SpanExporter: Sendable {
    /// The component id from the configuration, e.g. `postgres` or `postgres/main`.
    var id: String { get }
    func export(_ batch: SpanBatch) throws(ExportFailure)
    /// Releases connections; called once after the last export.
    func close()
}
