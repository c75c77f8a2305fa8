import Testing
import TracegateCore
@testable import TracegateOTLP

@Suite struct ProtobufDecoderTests {
    let t0: UInt64 = 1_700_000_000_000_000_000

    @Test func decodesEveryFieldOfAllTypesFixture() throws {
        let decoded = try OTLPProtobufDecoder.decode(try fixture("all_types.binpb"))
        #expect(decoded.rejectedSpans == 0)
        #expect(decoded.errorMessage == "")
        #expect(decoded.batch.resourceSpans.count == 2)
        #expect(decoded.batch.spanCount == 6)

        let rs = decoded.batch.resourceSpans[0]
        #expect(rs.schemaURL == "https://opentelemetry.io/schemas/1.21.0")
        #expect(rs.resource.serviceName == "fixture-svc")
        #expect(rs.resource.droppedAttributesCount == 1)
        #expect(rs.resource.attributes.map(\.key) == ["service.name", "res.bool", "res.int", "res.double", "res.bytes", "res.array", "res.kvlist"])
        #expect(rs.resource.attributes[key: "res.bytes"] == .bytes([0xde, 0xad, 0xbe, 0xef]))
        #expect(rs.resource.attributes[key: "res.array"] == .array([.string("a"), .int(1), .bool(false), .double(1.5)]))
        #expect(
            rs.resource.attributes[key: "res.kvlist"]
                == .kvlist([Attribute("inner.str", .string("x")), Attribute("inner.kv", .kvlist([Attribute("deep.int", .int(7))]))]))

        let ss = rs.scopeSpans[0]
        #expect(ss.schemaURL == "https://opentelemetry.io/schemas/1.24.0")
        #expect(ss.scope == InstrumentationScope(name: "fixture.scope", version: "1.2.3", attributes: [Attribute("scope.attr", .string("scope-value"))]))

        let root = ss.spans[0]
        #expect(root.traceID.hex == "0102030405060708090a0b0c0d0e0f10")
        #expect(root.spanID.hex == "a1a2a3a4a5a6a7a8")
        #expect(root.parentSpanID == nil)
        #expect(root.traceState == "vendor=value")
        #expect(root.flags == 0x101)
        #expect(root.name == "résumé ✓")
        #expect(root.kind == .server)
        #expect(root.startTimeUnixNano == t0)
        #expect(root.endTimeUnixNano == t0 + 1_000_000_000)
        #expect(root.droppedAttributesCount == 3)
        #expect(root.droppedEventsCount == 5)
        #expect(root.droppedLinksCount == 7)
        #expect(root.status == SpanStatus(code: .error, message: "boom"))
        #expect(
            root.attributes == [
                Attribute("str", .string("hello")), Attribute("str.empty", .string("")),
                Attribute("str.unicode", .string("résumé ✓")), Attribute("bool.true", .bool(true)),
                Attribute("bool.false", .bool(false)), Attribute("int.neg", .int(-42)),
                Attribute("int.max", .int(Int64.max)), Attribute("double", .double(3.25)),
                Attribute("bytes", .bytes([0x00, 0x01, 0xfe, 0xff])),
                Attribute("array", .array([.string("x"), .int(-1), .double(2.5), .bool(true), .bytes([0])])),
                Attribute("kvlist", .kvlist([Attribute("k1", .string("v1")), Attribute("nested", .kvlist([Attribute("n.int", .int(5))]))])),
                Attribute("empty.value", .empty),
            ])
        #expect(
            root.events == [
                SpanEvent(
                    timeUnixNano: t0 + 10_000_000, name: "cache.miss",
                    attributes: [Attribute("cache.key", .string("user:1")), Attribute("cache.hit", .bool(false))], droppedAttributesCount: 2),
                SpanEvent(
                    timeUnixNano: t0 + 20_000_000, name: "exception",
                    attributes: [Attribute("exception.type", .string("ValueError")), Attribute("exception.message", .string("bad"))]),
            ])
        #expect(
            root.links == [
                SpanLink(
                    traceID: TraceID(hex: "2122232425262728292a2b2c2d2e2f30")!, spanID: SpanID(hex: "e1e2e3e4e5e6e7e8")!,
                    traceState: "link=state", attributes: [Attribute("link.kind", .string("follows")), Attribute("link.index", .int(1))],
                    droppedAttributesCount: 4, flags: 0x301)
            ])

        let child = ss.spans[1]
        #expect(child.parentSpanID?.hex == "a1a2a3a4a5a6a7a8")
        #expect(child.flags == 0x301)
        #expect(child.kind == .internal)
        #expect(child.status == SpanStatus(code: .ok, message: ""))
        #expect(child.links.first?.spanID.hex == "c1c2c3c4c5c6c7c8")

        let grandchild = ss.spans[2]
        #expect(grandchild.kind == .client)
        #expect(grandchild.status == SpanStatus())
        #expect(grandchild.events == [SpanEvent(timeUnixNano: t0 + 250_000_000, name: "retry")])
        #expect(grandchild.durationNanos == 100_000_000)

        let other = decoded.batch.resourceSpans[1]
        #expect(other.resource.serviceName == "other-svc")
        #expect(other.schemaURL == "")
        #expect(other.scopeSpans[0].scope.name == "other.scope")
        #expect(other.scopeSpans[0].spans.map(\.kind) == [.unspecified, .producer, .consumer])
        #expect(other.scopeSpans[0].spans.map(\.status) == [SpanStatus(), SpanStatus(), SpanStatus()])
        #expect(other.scopeSpans[0].spans[2].spanID.hex == "c0ffee0000000001")
    }

    @Test func rejectsInvalidSpansIndividuallyWithPartialSuccess() throws {
        let decoded = try OTLPProtobufDecoder.decode(try fixture("invalid_spans.binpb"))
        #expect(decoded.rejectedSpans == 4)
        #expect(decoded.batch.spanCount == 2)
        let names = decoded.batch.resourceSpans.flatMap { $0.scopeSpans.flatMap { $0.spans.map(\.name) } }
        #expect(names == ["valid-1", "valid-2"])
        #expect(decoded.errorMessage.hasPrefix("rejected 4 invalid spans: "))
        #expect(decoded.errorMessage.contains("spans[2]: trace_id is all zeros"))
        #expect(decoded.errorMessage.contains("spans[3]: trace_id must be 16 bytes, got 15"))
        #expect(decoded.errorMessage.contains("spans[4]: span_id is all zeros"))
    }

    @Test func garbageBytesAreADecodeErrorNotACrash() throws {
        #expect(throws: OTLPDecodeError.self) { try OTLPProtobufDecoder.decode(try fixture("garbage.bin")) }
        // Every prefix of a valid message is either a valid message or an error.
        let bytes = try fixture("all_types.binpb")
        for n in stride(from: 1, to: bytes.count, by: 7) {
            _ = try? OTLPProtobufDecoder.decode(Array(bytes.prefix(n)))
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var mutated = bytes
            for _ in 0..<3 { mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? OTLPProtobufDecoder.decode(mutated)
        }
    }

    @Test func emptyRequestDecodesToAnEmptyBatch() throws {
        let decoded = try OTLPProtobufDecoder.decode(try fixture("empty.binpb"))
        #expect(decoded.batch.isEmpty)
        #expect(decoded.rejectedSpans == 0)
    }

    @Test func decodesTheLargeFixture() throws {
        let decoded = try OTLPProtobufDecoder.decode(try fixture("many_spans.binpb"))
        #expect(decoded.batch.spanCount == 1000)
        #expect(decoded.rejectedSpans == 0)
        var services = Set<String>()
        decoded.batch.forEachSpan { resource, _, span in
            services.insert(resource.serviceName)
            #expect(span.attributes.count == 8)
        }
        #expect(services.count == 3)
    }
}
