/// How a persistent queue turns a batch into the bytes of a log record and
/// back. TracegateCore knows no wire format; the graph injects the OTLP
/// protobuf encoding (`OTLPBatchCodec` in TracegateOTLP).
public protocol SpanBatchCodec: Sendable {
    func encode(_ batch: SpanBatch) -> [UInt8]
    func decode(_ bytes: [UInt8]) throws -> SpanBatch
}
