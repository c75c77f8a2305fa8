/// How a persistent queue turns a batch into the bytes of a log record and
/// back. TracegateCore knows no wire format; the graph injects the OTLP
/// protobuf encoding (`OTLPBatchCodec` in TracegateOTLP).
public protocol SpanBatchCodec: Sendable {
    func encode(_ batch: SpanBatch) -> [UInt8]
    func decode(_ bytes: [UInt8]) throws -> SpanBatch
    /// Records are OTLP protobuf `ExportTraceServiceRequest`s, decoded as a
    /// receiver decodes a request: a request body that decoded into the
    /// batch unchanged may be stored as it came instead of encoding the batch.
    var recordsAreOTLPRequests: Bool { get }
}

extension SpanBatchCodec {
    public var recordsAreOTLPRequests: Bool { false }
}
