import Testing
import TracegateCore
@testable import TracegateOTLP

/// Requests nested to, and just past, `NestingLimit.levels` (100 levels of
/// messages below the request), in both encodings. Levels: request 0,
/// ResourceSpans 1, ScopeSpans 2, Span 3, KeyValue 4, its AnyValue 5; each
/// array below adds an ArrayValue and an AnyValue.
@Suite struct NestingLimitTests {
    /// A value whose deepest message sits at `level` (5 or more).
    static func value(deepestAt level: Int) -> AnyValue {
        // k arrays around a string: the string's AnyValue is at 5 + 2k;
        // k + 1 arrays, the innermost empty: that ArrayValue is at 6 + 2k.
        if level % 2 == 1 {
            var v = AnyValue.string("leaf")
            for _ in 0..<(level - 5) / 2 { v = .array([v]) }
            return v
        }
        var v = AnyValue.array([])
        for _ in 0..<(level - 6) / 2 { v = .array([v]) }
        return v
    }

    static func batch(_ value: AnyValue) -> SpanBatch {
        let span = Span(
            traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), name: "deep",
            startTimeUnixNano: 1, endTimeUnixNano: 2, attributes: [Attribute("ok", .int(1)), Attribute("deep", value)])
        return SpanBatch(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: [span])])])
    }

    static let expectedMessage =
        "messages nested deeper than 100 levels (the protobuf limit) at resource_spans[0].scope_spans[0].spans[0].attributes[1].value"

    @Test(arguments: [99, 100]) func protobufAcceptsUpToTheLimit(level: Int) throws {
        let value = Self.value(deepestAt: level)
        let bytes = OTLPProtobufEncoder.encode(Self.batch(value))
        let decoded = try OTLPProtobufDecoder.decode(bytes)
        #expect(decoded.batch.resourceSpans[0].scopeSpans[0].spans[0].attributes[key: "deep"] == value)
        // Forwarding encodes it again, and the JSON encoder writes it.
        #expect(try OTLPProtobufDecoder.decode(OTLPProtobufEncoder.encode(decoded.batch)).batch == decoded.batch)
        #expect(try OTLPJSONDecoder.decode(OTLPJSONRequestEncoder.encode(decoded.batch)).batch == decoded.batch)
    }

    @Test func protobufRefusesOneLevelPast() {
        let bytes = OTLPProtobufEncoder.encode(Self.batch(Self.value(deepestAt: 101)))
        do {
            _ = try OTLPProtobufDecoder.decode(bytes)
            Issue.record("a request nested 101 levels deep was accepted")
        } catch {
            #expect(error.message == Self.expectedMessage)
        }
    }

    @Test func protobufRefusesTwentyThousandLevelsWithoutRecursing() {
        // The request that crashed the gateway: kvlists nested 20,000 deep.
        // Built by hand: the encoder, like every Swift walk, relies on the limit.
        var inner: [UInt8] = [0x0A, 0x01, 0x78]  // AnyValue{string_value: "x"}
        for _ in 0..<20_000 {
            let kv = [0x0A, 0x01, 0x6B] + lengthDelimited(2, inner)  // KeyValue{key "k", value}
            let list = lengthDelimited(1, kv)  // KeyValueList{values}
            inner = lengthDelimited(6, list)  // AnyValue{kvlist_value}
        }
        let keyValue = [0x0A, 0x01, 0x64] + lengthDelimited(2, inner)
        let span: [UInt8] = lengthDelimited(1, [UInt8](repeating: 1, count: 16)) + lengthDelimited(2, [UInt8](repeating: 2, count: 8))
            + lengthDelimited(9, keyValue)
        let request = lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, span)))
        #expect(throws: OTLPDecodeError.self) { _ = try OTLPProtobufDecoder.decode(request) }
        do {
            _ = try OTLPProtobufDecoder.decode(request)
        } catch {
            #expect(error.message == "messages nested deeper than 100 levels (the protobuf limit) at resource_spans[0].scope_spans[0].spans[0].attributes[0].value")
        }
    }

    @Test func malformedWireIsRefusedAsInvalid() {
        // A length past the end of the message.
        #expect(throws: OTLPDecodeError.self) { _ = try OTLPProtobufDecoder.decode([0x0A, 0x05, 0x12, 0x00]) }
        // A group (wire type 3).
        #expect(throws: OTLPDecodeError.self) { _ = try OTLPProtobufDecoder.decode([0x0B, 0x0C]) }
    }

    /// Found by `make fuzz`: protobuf-c refuses a key whose first byte has no
    /// field bits (0x00-0x07) but takes field 0 written in two bytes
    /// (0x80 0x00) as an unknown field. The walk must not refuse what
    /// protobuf-c takes, deep inside a message it enters.
    @Test func aFieldZeroKeyInTwoBytesIsAnUnknownFieldAsForProtobufC() throws {
        // 40 arrays (level 85) around an AnyValue that holds the odd key and its varint:
        // long enough for the walk to enter it instead of skipping it.
        var inner: [UInt8] = [0x80, 0x00, 0x01]
        for _ in 0..<40 { inner = lengthDelimited(5, lengthDelimited(1, inner)) }  // AnyValue{array_value{values}}
        let keyValue = [0x0A, 0x01, 0x64] + lengthDelimited(2, inner)
        let span: [UInt8] = lengthDelimited(1, [UInt8](repeating: 1, count: 16)) + lengthDelimited(2, [UInt8](repeating: 2, count: 8))
            + [0x2A, 0x01, 0x73] + lengthDelimited(9, keyValue)
        let request = lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, span)))
        _ = try OTLPProtobufDecoder.decode(request)
        // A key of six bytes is refused, as protobuf-c refuses it.
        #expect(throws: OTLPDecodeError.self) { _ = try OTLPProtobufDecoder.decode([0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01]) }
    }

    /// `value` wrapped in arrays until it sits at `level` (odd, >= 5).
    static func wrapped(_ value: AnyValue, at level: Int) -> AnyValue {
        var v = value
        for _ in 0..<(level - 5) / 2 { v = .array([v]) }
        return v
    }

    /// Kvlists count three levels each (KeyValueList, KeyValue, AnyValue), and
    /// an empty message past the limit is past it too, as in the wire walk.
    @Test func kvlistsAndEmptyMessagesAtTheLimit() throws {
        let accepted: [AnyValue] = [
            Self.wrapped(.kvlist([]), at: 99),  // KeyValueList at 100
            Self.wrapped(.kvlist([Attribute("k", .empty)]), at: 97),  // KeyValue at 99, its empty AnyValue at 100
            Self.wrapped(.array([]), at: 99),  // ArrayValue at 100
        ]
        for value in accepted {
            let decoded = try OTLPProtobufDecoder.decode(OTLPProtobufEncoder.encode(Self.batch(value)))
            #expect(decoded.batch.resourceSpans[0].scopeSpans[0].spans[0].attributes[key: "deep"] == value)
        }
        let refused: [AnyValue] = [
            Self.wrapped(.kvlist([Attribute("k", .int(1))]), at: 99),  // KeyValue at 101
            Self.wrapped(.kvlist([Attribute("k", .kvlist([]))]), at: 97),  // AnyValue at 100 holding a KeyValueList at 101
            Self.wrapped(.array([.array([])]), at: 99),  // AnyValue at 101
        ]
        for value in refused {
            do {
                _ = try OTLPProtobufDecoder.decode(OTLPProtobufEncoder.encode(Self.batch(value)))
                Issue.record("accepted a value past the limit: \(value)")
            } catch {
                #expect(error.message == Self.expectedMessage)
            }
        }
    }

    /// Nested values are unpacked by the decoder, not by protobuf-c's unpack
    /// of the request: their bytes must still be valid messages.
    @Test func aMalformedNestedValueRefusesTheRequest() {
        // AnyValue{array_value: bytes 0x0A 0x05 ...}: a length past the end.
        let value: [UInt8] = lengthDelimited(5, [0x0A, 0x05, 0x12])
        let keyValue = [0x0A, 0x01, 0x64] + lengthDelimited(2, value)
        let span: [UInt8] = lengthDelimited(1, [UInt8](repeating: 1, count: 16)) + lengthDelimited(2, [UInt8](repeating: 2, count: 8))
            + [0x2A, 0x01, 0x73] + lengthDelimited(9, keyValue)
        let request = lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, span)))
        do {
            _ = try OTLPProtobufDecoder.decode(request)
            Issue.record("a malformed nested value was accepted")
        } catch {
            #expect(error.message == "request body is not a valid ExportTraceServiceRequest protobuf message")
        }
    }

    @Test(arguments: [99, 100]) func jsonAcceptsUpToTheLimit(level: Int) throws {
        let value = Self.value(deepestAt: level)
        let json = OTLPJSONRequestEncoder.encode(Self.batch(value))
        let decoded = try OTLPJSONDecoder.decode(json)
        #expect(decoded.batch.resourceSpans[0].scopeSpans[0].spans[0].attributes[key: "deep"] == value)
    }

    @Test func jsonRefusesOneLevelPastWithTheSameMessage() {
        let json = OTLPJSONRequestEncoder.encode(Self.batch(Self.value(deepestAt: 101)))
        do {
            _ = try OTLPJSONDecoder.decode(json)
            Issue.record("a request nested 101 levels deep was accepted")
        } catch {
            #expect(error.message == Self.expectedMessage)
        }
    }

    @Test func jsonRefusesDeepKvlistsWithTheSameMessage() {
        var json = #"{"stringValue":"x"}"#
        for _ in 0..<5_000 { json = #"{"kvlistValue":{"values":[{"key":"k","value":"# + json + "}]}}" }
        let body = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","attributes":[{"key":"d","value":"#
            + json + "}]}]}]}]}"
        do {
            _ = try OTLPJSONDecoder.decode(Array(body.utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.message == "messages nested deeper than 100 levels (the protobuf limit) at resource_spans[0].scope_spans[0].spans[0].attributes[0].value")
        }
    }
}

private func varint(_ value: Int) -> [UInt8] {
    var v = UInt64(value)
    var out: [UInt8] = []
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
    return out
}

private func lengthDelimited(_ field: Int, _ payload: [UInt8]) -> [UInt8] {
    [UInt8(field << 3 | 2)] + varint(payload.count) + payload
}
