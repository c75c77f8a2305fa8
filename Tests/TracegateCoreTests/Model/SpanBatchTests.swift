import Testing
@testable import TracegateCore

func makeSpan(_ n: UInt64) -> Span {
    Span(traceID: TraceID(high: 1, low: n), spanID: SpanID(n + 1), name: "s\(n)", startTimeUnixNano: 1, endTimeUnixNano: 2)
}

func makeBatch(services: [String], spansEach: Int) -> SpanBatch {
    var n: UInt64 = 0
    return SpanBatch(
        resourceSpans: services.map { service in
            ResourceSpans(
                resource: Resource(attributes: [Attribute("service.name", .string(service))]),
                scopeSpans: [
                    ScopeSpans(
                        scope: InstrumentationScope(name: "scope"),
                        spans: (0..<spansEach).map { _ in
                            n += 1
                            return makeSpan(n)
                        })
                ])
        })
}

@Suite struct SpanBatchTests {
    @Test func splitKeepsEverySpanWithItsResourceAndScope() {
        let batch = makeBatch(services: ["a", "b", "c"], spansEach: 7)
        let pieces = batch.split(maxSpans: 5)
        #expect(pieces.map(\.spanCount) == [5, 5, 5, 5, 1])
        var seen: [(String, String)] = []
        for piece in pieces {
            piece.forEachSpan { resource, _, span in seen.append((resource.serviceName, span.name)) }
        }
        var expected: [(String, String)] = []
        batch.forEachSpan { resource, _, span in expected.append((resource.serviceName, span.name)) }
        #expect(seen.map(\.0) == expected.map(\.0))
        #expect(seen.map(\.1) == expected.map(\.1))
    }

    @Test func splitOfASmallBatchIsTheBatch() {
        let batch = makeBatch(services: ["a"], spansEach: 3)
        #expect(batch.split(maxSpans: 3) == [batch])
    }

    @Test func serviceNameFallsBackToUnknownService() {
        #expect(Resource().serviceName == "unknown_service")
    }
}
