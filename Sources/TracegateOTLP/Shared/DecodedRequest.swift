import TracegateCore

/// The outcome of decoding one export request: the valid spans, and the
/// partial-success report for the rejected ones. The same for every encoding.
public struct DecodedRequest: Sendable {
    public var batch: SpanBatch
    public var rejectedSpans: Int
    /// Empty when nothing was rejected; otherwise says why, for the first few.
    public var errorMessage: String
    /// Strings that held a NUL or invalid UTF-8 and were stored with U+FFFD
    /// in their place (everything else kept).
    public var repairedStrings = 0

    public init(batch: SpanBatch, rejectedSpans: Int = 0, errorMessage: String = "") {
        self.batch = batch
        self.rejectedSpans = rejectedSpans
        self.errorMessage = errorMessage
    }
}

/// A request body that is not an `ExportTraceServiceRequest` at all.
public struct OTLPDecodeError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
