import Testing
@testable import TracegateOTLP

@Suite struct ExportResponseTests {
    @Test func fullSuccessIsAnEmptyMessage() {
        #expect(ExportResponseEncoder.encode(rejectedSpans: 0, errorMessage: "") == [])
    }

    @Test func partialSuccessCarriesCountAndMessage() {
        // field 1 (partial_success) { field 1 varint 4, field 2 "bad spans" }
        let expected: [UInt8] = [0x0a, 0x0d, 0x08, 0x04, 0x12, 0x09] + Array("bad spans".utf8)
        #expect(ExportResponseEncoder.encode(rejectedSpans: 4, errorMessage: "bad spans") == expected)
    }

    @Test func rpcStatusEncodesCodeAndMessage() {
        #expect(RPCStatus(code: .invalidArgument, message: "no").encoded() == [0x08, 0x03, 0x12, 0x02, 0x6e, 0x6f])
        #expect(RPCStatus(code: .unavailable, message: "").encoded() == [0x08, 0x0e])
    }
}
