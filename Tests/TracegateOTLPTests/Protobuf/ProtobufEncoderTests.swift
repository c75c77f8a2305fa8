import Testing
import TracegateCore
@testable import TracegateOTLP

@Suite struct ProtobufEncoderTests {
    @Test func encodeThenDecodeGivesTheSameBatch() throws {
        for name in ["all_types.binpb", "many_spans.binpb"] {
            let original = try OTLPProtobufDecoder.decode(try fixture(name)).batch
            let again = try OTLPProtobufDecoder.decode(OTLPProtobufEncoder.encode(original)).batch
            #expect(again == original, "round trip of \(name)")
        }
    }

    @Test func anEmptyBatchEncodesToNothing() {
        #expect(OTLPProtobufEncoder.encode(SpanBatch()) == [])
    }
}
