import TracegateCore

/// The record format of persistent sending queues: a batch as the protobuf
/// `ExportTraceServiceRequest` it would be forwarded as.
public struct OTLPBatchCodec: SpanBatchCodec {
    public init() {}

    public func encode(_ batch: SpanBatch) -> [UInt8] { OTLPProtobufEncoder.encode(batch) }

    public func decode(_ bytes: [UInt8]) throws -> SpanBatch { try OTLPProtobufDecoder.decode(bytes).batch }

    public var recordsAreOTLPRequests: Bool { true }
}
