import Testing
import TracegateCore
@testable import TracegateOTLP

/// A NUL or invalid UTF-8 in any string becomes U+FFFD with everything after
/// it kept, and each repaired string is counted; both decoders.
@Suite struct StringRepairTests {
    static func batch(name: String, key: String = "db.statement", value: String) -> SpanBatch {
        let span = Span(
            traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), name: name,
            startTimeUnixNano: 1, endTimeUnixNano: 2, attributes: [Attribute(key, .string(value))],
            events: [SpanEvent(timeUnixNano: 1, name: "ev\u{0}ent")],
            status: SpanStatus(code: .error, message: "bad\u{0}"))
        return SpanBatch(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [Attribute("service.name", .string("svc\u{0}x"))]),
                scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "sc\u{0}ope"), spans: [span])])
        ])
    }

    static func check(_ decoded: DecodedRequest, repaired: Int) {
        let rs = decoded.batch.resourceSpans[0]
        let span = rs.scopeSpans[0].spans[0]
        #expect(span.name == "odd-nul\u{FFFD}name")
        #expect(span.attributes[key: "db.statement"] == .string("select 1\u{FFFD}; drop"))
        #expect(span.events[0].name == "ev\u{FFFD}ent")
        #expect(span.status.message == "bad\u{FFFD}")
        #expect(rs.resource.attributes[key: "service.name"] == .string("svc\u{FFFD}x"))
        #expect(rs.scopeSpans[0].scope.name == "sc\u{FFFD}ope")
        #expect(decoded.repairedStrings == repaired)
    }

    @Test func protobufKeepsEverythingAfterANul() throws {
        let bytes = OTLPProtobufEncoder.encode(Self.batch(name: "odd-nul\u{0}name", value: "select 1\u{0}; drop"))
        Self.check(try OTLPProtobufDecoder.decode(bytes), repaired: 6)
    }

    @Test func jsonKeepsEverythingAfterANul() throws {
        let json = OTLPJSONRequestEncoder.encode(Self.batch(name: "odd-nul\u{0}name", value: "select 1\u{0}; drop"))
        #expect(String(decoding: json, as: UTF8.self).contains(#"odd-nul\u0000name"#))
        Self.check(try OTLPJSONDecoder.decode(json), repaired: 6)
    }

    /// Invalid UTF-8 (written over a placeholder in the encoded request).
    @Test(arguments: ["protobuf", "json"]) func invalidUTF8BecomesReplacementCharacters(encoding: String) throws {
        let marker = "AAAAAAAAAAAAAAAAAAAAA"  // long: takes the hashed path
        let short = "BBBB"  // short: takes the inline path
        let batch = Self.batch(name: "n" + short, value: "v" + marker + "tail")
        var bytes = encoding == "protobuf" ? OTLPProtobufEncoder.encode(batch) : OTLPJSONRequestEncoder.encode(batch)
        for (text, replacement) in [(marker, [UInt8](repeating: 0xFF, count: 1)), (short, [0xE2, 0x82, 0x28, 0x41])] {
            let pattern = Array(text.utf8)
            let at = try #require(bytes.firstRange(of: pattern))
            bytes.replaceSubrange(at.lowerBound..<at.lowerBound + replacement.count, with: replacement)
        }
        let decoded = encoding == "protobuf" ? try OTLPProtobufDecoder.decode(bytes) : try OTLPJSONDecoder.decode(bytes)
        let span = decoded.batch.resourceSpans[0].scopeSpans[0].spans[0]
        #expect(span.name == "n\u{FFFD}(A")
        #expect(span.attributes[key: "db.statement"] == .string("v\u{FFFD}" + String(marker.dropFirst()) + "tail"))
        // The two above plus the four NULs of the batch.
        #expect(decoded.repairedStrings == 6)
    }

    @Test func validNonASCIIIsNotCounted() throws {
        let batch = Self.batch(name: "résumé ✓", value: "日本語のテキスト、十六バイトより長い")
        let decoded = try OTLPProtobufDecoder.decode(OTLPProtobufEncoder.encode(batch))
        let span = decoded.batch.resourceSpans[0].scopeSpans[0].spans[0]
        #expect(span.name == "résumé ✓")
        #expect(span.attributes[key: "db.statement"] == .string("日本語のテキスト、十六バイトより長い"))
        #expect(decoded.repairedStrings == 4)  // the batch's four NULs only
    }
}
