import Testing
import TracegateCore
@testable import TracegateOTLP

@Suite struct JSONRequestEncoderTests {
    @Test func encodeThenDecodeGivesTheSameBatchForEveryValueType() throws {
        for name in ["all_types.binpb", "many_spans.binpb"] {
            let original = try OTLPProtobufDecoder.decode(try fixture(name)).batch
            let json = OTLPJSONRequestEncoder.encode(original)
            let again = try OTLPJSONDecoder.decode(json)
            #expect(again.rejectedSpans == 0, "\(again.errorMessage)")
            #expect(again.batch == original, "JSON round trip of \(name)")
        }
    }

    @Test func batchCodecRoundTripsThroughProtobuf() throws {
        let original = try OTLPProtobufDecoder.decode(try fixture("all_types.binpb")).batch
        let codec = OTLPBatchCodec()
        #expect(try codec.decode(codec.encode(original)) == original)
    }
}
