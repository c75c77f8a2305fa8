import Testing
@testable import TracegateCore

@Suite struct TraceIDTests {
    @Test func roundTripsLowercaseHex() {
        let id = TraceID(hex: "5B8EFFF798038103D269B633813FC60C")
        #expect(id?.hex == "5b8efff798038103d269b633813fc60c")
        #expect(id?.bytes.count == 16)
    }

    @Test func rejectsWrongLengthAndNonHex() {
        #expect(TraceID(hex: "5b8efff798038103d269b633813fc60") == nil)
        #expect(TraceID(hex: "zz8efff798038103d269b633813fc60c") == nil)
        #expect(SpanID(hex: "00f067aa0ba902b") == nil)
    }

    @Test func zeroIdsAreInvalid() {
        #expect(TraceID(high: 0, low: 0).isValid == false)
        #expect(SpanID(0).isValid == false)
        #expect(SpanID(hex: "00f067aa0ba902b7")?.isValid == true)
    }
}
