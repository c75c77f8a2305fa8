import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct TraceConclusionOutboxRowTests {
    let columns: [String?] = [
        "0123456789abcdef0123456789abcdef", "GET \"/cart\"", "checkout", "{billing,checkout}", "3", "1",
        "2023-11-14T22:13:20.000000Z", "2023-11-14T22:13:20.002500Z", "2.500", "error", "false", "{00000000000000aa}", "false",
    ]

    @Test func theClaimedColumnsAreTheNotification() {
        #expect(TraceConclusion(payloadColumns: columns[...]) == sampleConclusion())
    }

    @Test func aRootlessTraceHasNoRootNameOrService() {
        var c = columns
        c[1] = nil
        c[2] = nil
        #expect(TraceConclusion(payloadColumns: c[...])?.rootName == nil)
    }

    @Test func aPayloadThatIsNotANotificationIsRefused() {
        for (i, bad) in [(0, nil), (3, nil), (4, "x"), (8, "fast"), (10, "yes"), (11, "{a")] as [(Int, String?)] {
            var c = columns
            c[i] = bad
            #expect(TraceConclusion(payloadColumns: c[...]) == nil, "column \(i)")
        }
        #expect(TraceConclusion(payloadColumns: columns.dropLast()) == nil)
    }

    @Test func textArraysUnquoteAndUnescape() {
        #expect(TraceConclusion.textArray("{}") == [])
        #expect(TraceConclusion.textArray("{a,b}") == ["a", "b"])
        #expect(TraceConclusion.textArray(#"{"a b","c,d","e\"f","g\\h",""}"#) == ["a b", "c,d", "e\"f", "g\\h", ""])
        #expect(TraceConclusion.textArray(#"{"NULL"}"#) == ["NULL"])
        #expect(TraceConclusion.textArray("{NULL}") == nil)
        #expect(TraceConclusion.textArray("a,b") == nil)
        #expect(TraceConclusion.textArray(#"{"a}"#) == nil)
    }
}
