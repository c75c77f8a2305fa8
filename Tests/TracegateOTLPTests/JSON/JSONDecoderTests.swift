import Foundation
import Testing
import TracegateCore
@testable import TracegateOTLP

private func decodeJSON(_ text: String) throws -> DecodedRequest {
    try OTLPJSONDecoder.decode(Array(text.utf8))
}

/// The decode error's message, or nil when the document decodes.
private func jsonError(_ text: String) -> String? {
    jsonError(Array(text.utf8))
}

private func jsonError(_ bytes: [UInt8]) -> String? {
    do throws(OTLPDecodeError) {
        _ = try OTLPJSONDecoder.decode(bytes)
        return nil
    } catch {
        return error.message
    }
}

/// One span inside a request, for tests about span fields.
private func request(span: String, resource: String = "{}") -> String {
    #"{"resourceSpans":[{"resource":\#(resource),"scopeSpans":[{"spans":[\#(span)]}]}]}"#
}

private func onlySpan(_ decoded: DecodedRequest) -> Span? {
    decoded.batch.resourceSpans.first?.scopeSpans.first?.spans.first
}

private let validIDs = #""traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8""#

@Suite struct JSONDecoderTests {
    let t0: UInt64 = 1_700_000_000_000_000_000

    // MARK: - Fixtures

    @Test func decodesTheSpecificationsExamplePayloadExactly() throws {
        let decoded = try OTLPJSONDecoder.decode(try fixture("otlp_example_trace.json"))
        #expect(decoded.rejectedSpans == 0)
        #expect(decoded.errorMessage == "")
        let expected = SpanBatch(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [Attribute("service.name", .string("my.service"))]),
                scopeSpans: [
                    ScopeSpans(
                        scope: InstrumentationScope(
                            name: "my.library", version: "1.0.0",
                            attributes: [Attribute("my.scope.attribute", .string("some scope attribute"))]),
                        spans: [
                            Span(
                                traceID: TraceID(high: 0x5B8E_FFF7_9803_8103, low: 0xD269_B633_813F_C60C),
                                spanID: SpanID(0xEEE1_9B7E_C3C1_B174), parentSpanID: SpanID(0xEEE1_9B7E_C3C1_B173),
                                traceState: "", flags: 0, name: "I'm a server span", kind: .server,
                                startTimeUnixNano: 1_544_712_660_000_000_000, endTimeUnixNano: 1_544_712_661_000_000_000,
                                attributes: [Attribute("my.span.attr", .string("some value"))], droppedAttributesCount: 0,
                                events: [], droppedEventsCount: 0, links: [], droppedLinksCount: 0, status: SpanStatus())
                        ])
                ])
        ])
        #expect(decoded.batch == expected)
        // Field by field, so that a difference says where.
        let rs = try #require(decoded.batch.resourceSpans.first)
        #expect(rs.schemaURL == "")
        #expect(rs.resource.droppedAttributesCount == 0)
        let ss = try #require(rs.scopeSpans.first)
        #expect(ss.schemaURL == "")
        #expect(ss.scope.droppedAttributesCount == 0)
        let span = try #require(ss.spans.first)
        #expect(span.traceID.hex == "5b8efff798038103d269b633813fc60c")
        #expect(span.spanID.hex == "eee19b7ec3c1b174")
        #expect(span.parentSpanID?.hex == "eee19b7ec3c1b173")
        #expect(span.name == "I'm a server span")
        #expect(span.kind == .server)
        #expect(span.startTimeUnixNano == 1_544_712_660_000_000_000)
        #expect(span.endTimeUnixNano == 1_544_712_661_000_000_000)
        #expect(span.attributes == [Attribute("my.span.attr", .string("some value"))])
        #expect(span.status == SpanStatus())
    }

    @Test func allTypesJSONDecodesToTheSameBatchAsTheProtobuf() throws {
        let fromJSON = try OTLPJSONDecoder.decode(try fixture("all_types.json"))
        let fromProtobuf = try OTLPProtobufDecoder.decode(try fixture("all_types.binpb"))
        #expect(fromProtobuf.batch.spanCount == 6)
        #expect(fromJSON.rejectedSpans == 0)
        #expect(fromJSON.errorMessage == "")
        // Piece by piece first, so that a difference is easy to find.
        for (json, proto) in zip(fromJSON.batch.resourceSpans, fromProtobuf.batch.resourceSpans) {
            #expect(json.resource == proto.resource)
            #expect(json.schemaURL == proto.schemaURL)
            for (jsonScope, protoScope) in zip(json.scopeSpans, proto.scopeSpans) {
                #expect(jsonScope.scope == protoScope.scope)
                #expect(jsonScope.schemaURL == protoScope.schemaURL)
                for (jsonSpan, protoSpan) in zip(jsonScope.spans, protoScope.spans) { #expect(jsonSpan == protoSpan) }
            }
        }
        #expect(fromJSON.batch == fromProtobuf.batch)
    }

    /// invalid_spans.binpb (see Tests/Fixtures/README.md) written as OTLP/JSON.
    static let invalidSpansJSON = #"""
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"invalid-svc"}}]},
         "scopeSpans":[{"scope":{"name":"invalid.scope"},"spans":[
          {"traceId":"11111111111111111111111111111111","spanId":"2222222222222201","name":"valid-1","kind":1,
           "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000010000000"},
          {"traceId":"11111111111111111111111111111111","spanId":"2222222222222202","parentSpanId":"2222222222222201",
           "name":"valid-2","kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000020000000"},
          {"traceId":"00000000000000000000000000000000","spanId":"2222222222222203","name":"zero-trace-id","kind":1,
           "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000030000000"},
          {"traceId":"111111111111111111111111111111","spanId":"2222222222222204","name":"short-trace-id","kind":1,
           "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000040000000"},
          {"traceId":"11111111111111111111111111111111","spanId":"0000000000000000","name":"zero-span-id","kind":1,
           "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000050000000"},
          {"traceId":"11111111111111111111111111111111","spanId":"2222222222222206","name":"end-before-start","kind":1,
           "startTimeUnixNano":"1700000000060000000","endTimeUnixNano":"1700000000000000000"}
        ]}]}]}
        """#

    @Test func invalidSpansGiveTheSamePartialSuccessAsProtobuf() throws {
        let fromJSON = try decodeJSON(Self.invalidSpansJSON)
        let fromProtobuf = try OTLPProtobufDecoder.decode(try fixture("invalid_spans.binpb"))
        #expect(fromJSON.rejectedSpans == 4)
        #expect(fromJSON.rejectedSpans == fromProtobuf.rejectedSpans)
        #expect(fromJSON.errorMessage == fromProtobuf.errorMessage)
        #expect(fromJSON.batch == fromProtobuf.batch)
        #expect(
            fromJSON.errorMessage
                == "rejected 4 invalid spans: resource_spans[0].scope_spans[0].spans[2]: trace_id is all zeros; "
                + "resource_spans[0].scope_spans[0].spans[3]: trace_id must be 16 bytes, got 15; "
                + "resource_spans[0].scope_spans[0].spans[4]: span_id is all zeros; …")
    }

    @Test func missingAndEmptyIDsAreRejectedLikeAbsentProtobufIDs() throws {
        let missing = try decodeJSON(request(span: #"{"spanId":"a1a2a3a4a5a6a7a8","startTimeUnixNano":"1","endTimeUnixNano":"2"}"#))
        #expect(missing.rejectedSpans == 1)
        #expect(missing.errorMessage == "rejected 1 invalid span: resource_spans[0].scope_spans[0].spans[0]: trace_id must be 16 bytes, got 0")
        #expect(missing.batch.isEmpty)
        #expect(missing.batch.resourceSpans.isEmpty, "a resource without valid spans is left out, as in protobuf")
        let empty = try decodeJSON(request(span: #"{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":""}"#))
        #expect(empty.errorMessage.hasSuffix("span_id must be 8 bytes, got 0"))
        let longParent = try decodeJSON(request(span: "{\(validIDs),\"parentSpanId\":\"a1a2a3a4a5a6a7a8a9\"}"))
        #expect(longParent.errorMessage.hasSuffix("parent_span_id must be empty or 8 bytes, got 9"))
        let nullSpan = try decodeJSON(request(span: "null"))
        #expect(nullSpan.rejectedSpans == 1)
    }

    // MARK: - Field names and value forms

    @Test func acceptsSnakeCaseFieldNames() throws {
        let snake = #"""
            {"resource_spans":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"svc"}}],
              "dropped_attributes_count":2},"schema_url":"https://r",
             "scope_spans":[{"scope":{"name":"s","version":"1","dropped_attributes_count":1},"schema_url":"https://s",
              "spans":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"a1a2a3a4a5a6a7a8",
               "parent_span_id":"b1b2b3b4b5b6b7b8","trace_state":"k=v","flags":257,"name":"op","kind":3,
               "start_time_unix_nano":"100","end_time_unix_nano":"200","dropped_attributes_count":1,
               "dropped_events_count":2,"dropped_links_count":3,
               "attributes":[{"key":"i","value":{"int_value":"-7"}},{"key":"b","value":{"bool_value":true}},
                 {"key":"d","value":{"double_value":1.25}},{"key":"y","value":{"bytes_value":"AAE="}},
                 {"key":"a","value":{"array_value":{"values":[{"string_value":"x"}]}}},
                 {"key":"k","value":{"kvlist_value":{"values":[{"key":"n","value":{"int_value":1}}]}}}],
               "events":[{"time_unix_nano":"150","name":"e","dropped_attributes_count":4}],
               "links":[{"trace_id":"2122232425262728292a2b2c2d2e2f30","span_id":"e1e2e3e4e5e6e7e8",
                 "trace_state":"l=1","dropped_attributes_count":5,"flags":1}],
               "status":{"code":2,"message":"bad"}}]}]}]}
            """#
        let camel = #"""
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}],
              "droppedAttributesCount":2},"schemaUrl":"https://r",
             "scopeSpans":[{"scope":{"name":"s","version":"1","droppedAttributesCount":1},"schemaUrl":"https://s",
              "spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8",
               "parentSpanId":"b1b2b3b4b5b6b7b8","traceState":"k=v","flags":257,"name":"op","kind":3,
               "startTimeUnixNano":"100","endTimeUnixNano":"200","droppedAttributesCount":1,
               "droppedEventsCount":2,"droppedLinksCount":3,
               "attributes":[{"key":"i","value":{"intValue":"-7"}},{"key":"b","value":{"boolValue":true}},
                 {"key":"d","value":{"doubleValue":1.25}},{"key":"y","value":{"bytesValue":"AAE="}},
                 {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}},
                 {"key":"k","value":{"kvlistValue":{"values":[{"key":"n","value":{"intValue":1}}]}}}],
               "events":[{"timeUnixNano":"150","name":"e","droppedAttributesCount":4}],
               "links":[{"traceId":"2122232425262728292a2b2c2d2e2f30","spanId":"e1e2e3e4e5e6e7e8",
                 "traceState":"l=1","droppedAttributesCount":5,"flags":1}],
               "status":{"code":2,"message":"bad"}}]}]}]}
            """#
        let fromSnake = try decodeJSON(snake)
        let fromCamel = try decodeJSON(camel)
        #expect(fromSnake.batch == fromCamel.batch)
        let rs = try #require(fromCamel.batch.resourceSpans.first)
        #expect(rs.schemaURL == "https://r")
        #expect(rs.resource.droppedAttributesCount == 2)
        #expect(rs.scopeSpans[0].schemaURL == "https://s")
        #expect(rs.scopeSpans[0].scope == InstrumentationScope(name: "s", version: "1", droppedAttributesCount: 1))
        let span = try #require(onlySpan(fromCamel))
        #expect(
            span
                == Span(
                    traceID: TraceID(hex: "0102030405060708090a0b0c0d0e0f10")!, spanID: SpanID(hex: "a1a2a3a4a5a6a7a8")!,
                    parentSpanID: SpanID(hex: "b1b2b3b4b5b6b7b8")!, traceState: "k=v", flags: 257, name: "op", kind: .client,
                    startTimeUnixNano: 100, endTimeUnixNano: 200,
                    attributes: [
                        Attribute("i", .int(-7)), Attribute("b", .bool(true)), Attribute("d", .double(1.25)),
                        Attribute("y", .bytes([0, 1])), Attribute("a", .array([.string("x")])),
                        Attribute("k", .kvlist([Attribute("n", .int(1))])),
                    ],
                    droppedAttributesCount: 1, events: [SpanEvent(timeUnixNano: 150, name: "e", droppedAttributesCount: 4)],
                    droppedEventsCount: 2,
                    links: [
                        SpanLink(
                            traceID: TraceID(hex: "2122232425262728292a2b2c2d2e2f30")!, spanID: SpanID(hex: "e1e2e3e4e5e6e7e8")!,
                            traceState: "l=1", droppedAttributesCount: 5, flags: 1)
                    ],
                    droppedLinksCount: 3, status: SpanStatus(code: .error, message: "bad")))
    }

    @Test func sixtyFourBitIntegersAreExactAsNumbersAndAsStrings() throws {
        // 2^53 + 1 and its neighbours do not survive a trip through Double.
        let span = #"""
            {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8",
             "startTimeUnixNano":1700000000000000001,"endTimeUnixNano":18446744073709551615,
             "attributes":[
               {"key":"n.max","value":{"intValue":9223372036854775807}},
               {"key":"n.min","value":{"intValue":-9223372036854775808}},
               {"key":"s.max","value":{"intValue":"9223372036854775807"}},
               {"key":"s.min","value":{"intValue":"-9223372036854775808"}},
               {"key":"p53","value":{"intValue":9007199254740993}},
               {"key":"exp","value":{"intValue":1.5e3}},
               {"key":"exp.s","value":{"intValue":"2500E-2"}},
               {"key":"neg.zero","value":{"intValue":-0}},
               {"key":"zero.frac","value":{"intValue":"0.000"}}
             ],
             "events":[{"timeUnixNano":9007199254740993,"name":"e"}]}
            """#
        let decoded = try decodeJSON(request(span: span))
        let s = try #require(onlySpan(decoded))
        #expect(s.startTimeUnixNano == 1_700_000_000_000_000_001)
        #expect(s.endTimeUnixNano == UInt64.max)
        #expect(s.attributes[key: "n.max"] == .int(Int64.max))
        #expect(s.attributes[key: "n.min"] == .int(Int64.min))
        #expect(s.attributes[key: "s.max"] == .int(Int64.max))
        #expect(s.attributes[key: "s.min"] == .int(Int64.min))
        #expect(s.attributes[key: "p53"] == .int(9_007_199_254_740_993))
        #expect(s.attributes[key: "exp"] == .int(1500))
        #expect(s.attributes[key: "exp.s"] == .int(25))
        #expect(s.attributes[key: "neg.zero"] == .int(0))
        #expect(s.attributes[key: "zero.frac"] == .int(0))
        #expect(s.events.first?.timeUnixNano == 9_007_199_254_740_993)
    }

    @Test func idsAreCaseInsensitiveHex() throws {
        let upper = try decodeJSON(
            request(span: #"{"traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"A1A2A3A4A5A6A7A8","parentSpanId":"B1b2B3b4B5b6B7b8"}"#))
        let lower = try decodeJSON(
            request(span: #"{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8","parentSpanId":"b1b2b3b4b5b6b7b8"}"#))
        #expect(upper.rejectedSpans == 0)
        #expect(upper.batch == lower.batch)
        #expect(onlySpan(upper)?.parentSpanID?.hex == "b1b2b3b4b5b6b7b8")
    }

    @Test func emptyOrZeroParentSpanIDMeansRoot() throws {
        for parent in [#""parentSpanId":"""#, #""parentSpanId":"0000000000000000""#, #""parentSpanId":null"#] {
            let decoded = try decodeJSON(request(span: "{\(validIDs),\(parent)}"))
            #expect(decoded.rejectedSpans == 0, "\(parent)")
            #expect(onlySpan(decoded)?.parentSpanID == nil, "\(parent)")
        }
    }

    @Test func enumsAsNumbersOrNames() throws {
        let cases: [(String, SpanKind, StatusCode)] = [
            (#""kind":2,"status":{"code":1}"#, .server, .ok),
            (#""kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_ERROR"}"#, .consumer, .error),
            (#""kind":"span_kind_client","status":{"code":"status_code_unset"}"#, .client, .unset),
            (#""kind":"2","status":{"code":"2"}"#, .server, .error),
            (#""kind":9,"status":{"code":7}"#, SpanKind(rawValue: 9), StatusCode(rawValue: 7)),
            (#""kind":null,"status":null"#, .unspecified, .unset),
        ]
        for (fields, kind, code) in cases {
            let span = try #require(onlySpan(try decodeJSON(request(span: "{\(validIDs),\(fields)}"))), "\(fields)")
            #expect(span.kind == kind, "\(fields)")
            #expect(span.status.code == code, "\(fields)")
        }
        #expect(
            jsonError(request(span: "{\(validIDs),\"kind\":\"SPAN_KIND_SIDEWAYS\"}"))
                == #"resourceSpans[0].scopeSpans[0].spans[0].kind: unknown SpanKind "SPAN_KIND_SIDEWAYS""#)
    }

    @Test func unknownFieldsAreIgnoredAtEveryLevel() throws {
        let junk = #""x-unknown":{"a":[1,2.5e3,"s",true,false,null,{"deep":[[]]}]},"other":"\"q\"""#
        let text = #"""
            {\#(junk),"resourceSpans":[{\#(junk),"resource":{\#(junk),"attributes":[{\#(junk),"key":"k","value":{\#(junk),"stringValue":"v"}}],"entityRefs":[{"type":"t"}]},
              "scopeSpans":[{\#(junk),"scope":{\#(junk),"name":"s"},"spans":[{\#(junk),\#(validIDs),
                "events":[{\#(junk),"name":"e"}],"links":[{\#(junk),"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8"}],
                "status":{\#(junk),"code":1}}]}]}],"trailing":[]}
            """#
        let decoded = try decodeJSON(text)
        #expect(decoded.rejectedSpans == 0)
        let rs = try #require(decoded.batch.resourceSpans.first)
        #expect(rs.resource.attributes == [Attribute("k", .string("v"))])
        #expect(rs.scopeSpans[0].scope.name == "s")
        let span = try #require(onlySpan(decoded))
        #expect(span.events.map(\.name) == ["e"])
        #expect(span.links.count == 1)
        #expect(span.status.code == .ok)
    }

    @Test func anyValueForms() throws {
        let attributes = #"""
            [{"key":"empty","value":{}},{"key":"none"},{"key":"null","value":null},
             {"key":"null.member","value":{"stringValue":null}},
             {"key":"d.int","value":{"doubleValue":2}},{"key":"d.str","value":{"doubleValue":"1.5"}},
             {"key":"d.nan","value":{"doubleValue":"NaN"}},{"key":"d.inf","value":{"doubleValue":"-Infinity"}},
             {"key":"d.exp","value":{"doubleValue":1e-3}},
             {"key":"b.url","value":{"bytesValue":"-_8"}},{"key":"b.nopad","value":{"bytesValue":"AAH+/w"}},
             {"key":"b.empty","value":{"bytesValue":""}},
             {"key":"a.empty","value":{"arrayValue":{}}},{"key":"kv.empty","value":{"kvlistValue":{}}},
             {"key":"strindex","value":{"stringValueStrindex":3}},
             {"key":"esc","value":{"stringValue":"\u00e9\ud83d\ude00\n\t\"\\\/"}},
             {"key":"lone","value":{"stringValue":"a\ud800b"}},
             {"key":"last.wins","value":{"stringValue":"s","intValue":"5"}}]
            """#
        let span = try #require(onlySpan(try decodeJSON(request(span: "{\(validIDs),\"attributes\":\(attributes)}"))))
        let a = span.attributes
        #expect(a.map(\.key).count == 18)
        #expect(a[key: "empty"] == .empty)
        #expect(a[key: "none"] == .empty)
        #expect(a[key: "null"] == .empty)
        #expect(a[key: "null.member"] == .empty)
        #expect(a[key: "d.int"] == .double(2))
        #expect(a[key: "d.str"] == .double(1.5))
        if case .double(let nan)? = a[key: "d.nan"] { #expect(nan.isNaN) } else { Issue.record("d.nan is \(String(describing: a[key: "d.nan"]))") }
        #expect(a[key: "d.inf"] == .double(-.infinity))
        #expect(a[key: "d.exp"] == .double(0.001))
        #expect(a[key: "b.url"] == .bytes([0xfb, 0xff]))
        #expect(a[key: "b.nopad"] == .bytes([0x00, 0x01, 0xfe, 0xff]))
        #expect(a[key: "b.empty"] == .bytes([]))
        #expect(a[key: "a.empty"] == .array([]))
        #expect(a[key: "kv.empty"] == .kvlist([]))
        #expect(a[key: "strindex"] == .empty)
        #expect(a[key: "esc"] == .string("é😀\n\t\"\\/"))
        #expect(a[key: "lone"] == .string("a\u{FFFD}b"))
        #expect(a[key: "last.wins"] == .int(5))
    }

    @Test func escapedMemberNamesAndWhitespace() throws {
        let text = " \r\n\t{ \"resource\\u0053pans\" : [ { \"scopeSpans\" : [ { \"spans\" : [ { \"trace\\u0049d\" : \"0102030405060708090a0b0c0d0e0f10\" , \"spanId\":\"a1a2a3a4a5a6a7a8\" } ] } ] } ] } \n"
        let decoded = try decodeJSON(text)
        #expect(decoded.batch.spanCount == 1)
        // A byte order mark is allowed too.
        #expect(try OTLPJSONDecoder.decode([0xEF, 0xBB, 0xBF] + Array("{}".utf8)).batch.isEmpty)
    }

    @Test func malformedLinksAreCountedAsDroppedLikeProtobuf() throws {
        let links = #"""
            [{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"a1a2a3a4a5a6a7a8"},
             {"traceId":"0102","spanId":"a1a2a3a4a5a6a7a8"},{"spanId":"a1a2a3a4a5a6a7a8"}]
            """#
        let span = try #require(onlySpan(try decodeJSON(request(span: "{\(validIDs),\"links\":\(links),\"droppedLinksCount\":2}"))))
        #expect(span.links.count == 1)
        #expect(span.droppedLinksCount == 4)
    }

    @Test func emptyRequestObjects() throws {
        #expect(try decodeJSON("{}").batch.isEmpty)
        #expect(try decodeJSON(#"{"resourceSpans":[]}"#).batch.isEmpty)
        #expect(try decodeJSON(#"{"resourceSpans":null}"#).batch.isEmpty)
        #expect(try decodeJSON(#"{"resourceSpans":[{},{"scopeSpans":[{}]}]}"#).batch.resourceSpans.isEmpty)
    }

    // MARK: - Errors

    @Test func errorMessagesSayWhereAndWhat() {
        let cases: [(String, String)] = [
            (request(span: "{},{},{},{\"traceId\":\"xyz\"}"), #"resourceSpans[0].scopeSpans[0].spans[3].traceId: expected 32 hex digits, got "xyz""#),
            (
                request(span: "{\"traceId\":\"0102030405060708090a0b0c0d0e0f1\"}"),
                #"resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits, got "0102030405060708090a0b0c0d0e0f1""#
            ),
            (
                request(span: "{\"traceId\":\"AQIDBAUGBwgJCgsMDQ4PEA==\"}"),
                #"resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits, got "AQIDBAUGBwgJCgsMDQ4PEA==" (OTLP/JSON ids are hex, not base64)"#
            ),
            (request(span: "{\"spanId\":12}"), "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected a string of 16 hex digits, got a number"),
            (
                request(span: "{\"startTimeUnixNano\":\"soon\"}"),
                #"resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an unsigned 64-bit integer, got "soon""#
            ),
            (
                request(span: "{\"startTimeUnixNano\":-1}"),
                "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an unsigned 64-bit integer, got -1"
            ),
            (
                request(span: "{\"start_time_unix_nano\":18446744073709551616}"),
                "resourceSpans[0].scopeSpans[0].spans[0].start_time_unix_nano: expected an unsigned 64-bit integer, got 18446744073709551616"
            ),
            (request(span: "{\"flags\":4294967296}"), "resourceSpans[0].scopeSpans[0].spans[0].flags: expected an unsigned 32-bit integer, got 4294967296"),
            (request(span: "{\"name\":5}"), "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got a number"),
            (request(span: "{\"attributes\":{}}"), "resourceSpans[0].scopeSpans[0].spans[0].attributes: expected an array, got an object"),
            (
                request(span: "{\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":1.5}}]}"),
                "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: expected a signed 64-bit integer, got 1.5"
            ),
            (
                request(span: "{\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"9223372036854775808\"}}]}"),
                #"resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: expected a signed 64-bit integer, got "9223372036854775808""#
            ),
            (
                request(span: "{\"attributes\":[{\"key\":\"k\",\"value\":{\"boolValue\":\"true\"}}]}"),
                "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue: expected true or false, got a string"
            ),
            (
                request(span: "{\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"not base64!\"}}]}"),
                #"resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: expected a base64 string, got "not base64!""#
            ),
            (
                request(span: "{\"attributes\":[{\"key\":\"k\",\"value\":{\"arrayValue\":{\"values\":[{},{\"doubleValue\":\"much\"}]}}}]}"),
                #"resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[1].doubleValue: expected a number, got "much""#
            ),
            (request(span: "{\"status\":{\"code\":true}}"), "resourceSpans[0].scopeSpans[0].spans[0].status.code: expected a StatusCode number or name, got a boolean"),
            (request(span: "{}", resource: "[]"), "resourceSpans[0].resource: expected an object, got an array"),
            (#"{"resourceSpans":{}}"#, "resourceSpans: expected an array, got an object"),
            (#"{"resource_spans":[5]}"#, "resource_spans[0]: expected an object, got a number"),
            ("[]", "expected a JSON object (ExportTraceServiceRequest), got an array"),
            ("null", "expected a JSON object (ExportTraceServiceRequest), got null"),
            ("", "request body is empty; expected a JSON object (ExportTraceServiceRequest)"),
            ("  \n", "request body is empty; expected a JSON object (ExportTraceServiceRequest)"),
            ("{} {}", "invalid JSON at byte 3: unexpected data after the end of the document"),
            (#"{"resourceSpans":[}"#, "resourceSpans[0]: invalid JSON at byte 18: expected a value, got '}'"),
            (#"{"resourceSpans":[{},]}"#, "resourceSpans[1]: invalid JSON at byte 21: expected a value, got ']'"),
            (#"{"a":1,}"#, "invalid JSON at byte 7: expected a member name in double quotes"),
            (#"{"a" 1}"#, "invalid JSON at byte 5: expected ':' after a member name"),
            (#"{"a":1 "b":2}"#, "invalid JSON at byte 7: expected ',' or '}' after an object member"),
            (#"{"a":tru}"#, "a: invalid JSON at byte 5: invalid literal (expected true)"),
            (#"{"a":01}"#, "invalid JSON at byte 6: expected ',' or '}' after an object member"),
            (#"{"a":1.}"#, "a: invalid JSON at byte 7: invalid number"),
            (#"{"a":"x\qy"}"#, "a: invalid JSON at byte 7: invalid escape \\q"),
            (#"{"a":"\u12"}"#, "a: invalid JSON at byte 6: \\u must be followed by 4 hex digits"),
            ("{\"a\":\"tab\there\"}", "a: invalid JSON at byte 9: control character byte 0x9 in a string (it must be escaped)"),
            (#"{'a':1}"#, "invalid JSON at byte 1: expected a member name in double quotes"),
        ]
        for (text, expected) in cases {
            #expect(jsonError(text) == expected, "\(text)")
        }
    }

    @Test func truncatedDocumentsAreErrorsAtEveryLength() throws {
        let bytes = try fixture("all_types.json")
        var lastNewline = bytes.count
        while bytes[lastNewline - 1] == UInt8(ascii: "\n") || bytes[lastNewline - 1] == UInt8(ascii: " ") { lastNewline -= 1 }
        for n in 0..<lastNewline {
            let message = jsonError(Array(bytes.prefix(n)))
            #expect(message != nil, "a prefix of \(n) bytes decoded")
            if n > 0, let message {
                #expect(message.contains("unexpected end of input"), "\(n): \(message)")
            }
        }
        #expect(jsonError(Array(bytes.prefix(lastNewline))) == nil)
        let example = Array(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"trunc"#.utf8)
        #expect(jsonError(example) == "resourceSpans[0].scopeSpans[0].spans[0].name: invalid JSON: unexpected end of input at byte 57")
    }

    @Test func deepNestingIsAnErrorNotAStackOverflow() {
        let depth = 100_000
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        // Arrays are not messages: the scanner's own bound (objects and arrays).
        #expect(jsonError("{\"unknown\":\(arrays)}")?.contains("nesting deeper than \(JSONScanner.maxDepth) levels") == true)
        var value = "{\"stringValue\":\"leaf\"}"
        for _ in 0..<200 { value = "{\"arrayValue\":{\"values\":[\(value)]}}" }
        let message = jsonError(request(span: "{\(validIDs),\"attributes\":[{\"key\":\"k\",\"value\":\(value)}]}"))
        // Messages: the one limit and message both decoders use.
        #expect(message == NestingLimit.message(at: "resource_spans[0].scope_spans[0].spans[0].attributes[0].value"))
        // Nesting that is allowed decodes.
        var shallow = "{\"intValue\":1}"
        for _ in 0..<30 { shallow = "{\"arrayValue\":{\"values\":[\(shallow)]}}" }
        #expect(jsonError(request(span: "{\(validIDs),\"attributes\":[{\"key\":\"k\",\"value\":\(shallow)}]}")) == nil)
    }

    @Test func randomMutationsAreErrorsOrRequestsNeverCrashes() throws {
        let documents = [try fixture("all_types.json"), try fixture("otlp_example_trace.json"), Array(Self.invalidSpansJSON.utf8)]
        // Bytes that matter to JSON, so that mutations reach past the first error.
        let interesting = Array("{}[]\",:\\0123456789-+.eEtfnul \n".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        var rng = SystemRandomNumberGenerator()
        var decodedCount = 0
        for document in documents {
            for _ in 0..<1500 {
                var mutated = document
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let at = Int.random(in: 0..<mutated.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: mutated[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: mutated[at] = interesting.randomElement(using: &rng)!
                    case 2: mutated.remove(at: at)
                    default: mutated.insert(interesting.randomElement(using: &rng)!, at: at)
                    }
                    if mutated.isEmpty { break }
                }
                if (try? OTLPJSONDecoder.decode(mutated)) != nil { decodedCount += 1 }
            }
        }
        // Some mutations (inside strings, whitespace) leave a valid request.
        #expect(decodedCount > 0)
    }

    // MARK: - Large fixture

    @Test func decodesAJSONRenderingOfTheLargeFixture() throws {
        // many_spans.binpb as OTLP/JSON, written by the Swift side: every span
        // with its ids as hex and times as strings, attributes by kind.
        let proto = try OTLPProtobufDecoder.decode(try fixture("many_spans.binpb"))
        let json = renderJSON(proto.batch)
        let decoded = try decodeJSON(json)
        #expect(decoded.rejectedSpans == 0)
        #expect(decoded.batch == proto.batch)
    }
}

// MARK: - Encoder

@Suite struct JSONEncoderTests {
    @Test func fullSuccessIsAnEmptyObject() {
        #expect(String(decoding: OTLPJSONEncoder.encodeResponse(rejectedSpans: 0, errorMessage: ""), as: UTF8.self) == "{}")
    }

    @Test func partialSuccessHasTheCountAsAStringAndTheMessage() {
        #expect(
            String(decoding: OTLPJSONEncoder.encodeResponse(rejectedSpans: 4, errorMessage: "bad \"spans\"\n\u{1}é…"), as: UTF8.self)
                == #"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"bad \"spans\"\n\u0001é…"}}"#)
        #expect(
            String(decoding: OTLPJSONEncoder.encodeResponse(rejectedSpans: 0, errorMessage: "warning"), as: UTF8.self)
                == #"{"partialSuccess":{"errorMessage":"warning"}}"#)
        #expect(
            String(decoding: OTLPJSONEncoder.encodeResponse(rejectedSpans: 2, errorMessage: ""), as: UTF8.self)
                == #"{"partialSuccess":{"rejectedSpans":"2"}}"#)
    }

    @Test func statusHasCodeAndMessage() {
        #expect(
            String(decoding: OTLPJSONEncoder.encodeStatus(RPCStatus(code: .invalidArgument, message: "no \\ way")), as: UTF8.self)
                == #"{"code":3,"message":"no \\ way"}"#)
        #expect(String(decoding: OTLPJSONEncoder.encodeStatus(RPCStatus(code: .unavailable, message: "")), as: UTF8.self) == #"{"code":14}"#)
    }

    @Test func theDecoderReadsWhatTheEncoderEscapes() throws {
        // A message with every control character round-trips through the scanner.
        let message = String(decoding: (0..<0x20).map { UInt8($0) } + Array("\"\\/é😀".utf8), as: UTF8.self)
        var string: [UInt8] = []
        OTLPJSONEncoder.appendString(message, to: &string)
        let text = "{\"resourceSpans\":[{\"schemaUrl\":" + String(decoding: string, as: UTF8.self)
            + ",\"scopeSpans\":[{\"spans\":[{\(validIDs)}]}]}]}"
        // NUL is the one that cannot be kept: it becomes U+FFFD, counted.
        let decoded = try decodeJSON(text)
        #expect(decoded.batch.resourceSpans.first?.schemaURL == message.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}"))
        #expect(decoded.repairedStrings == 1)
    }
}

// MARK: - A small OTLP/JSON writer for tests

private func renderJSON(_ batch: SpanBatch) -> String {
    func string(_ s: String) -> String {
        var out: [UInt8] = []
        OTLPJSONEncoder.appendString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
    func value(_ v: AnyValue) -> String {
        switch v {
        case .empty: return "{}"
        case .string(let s): return "{\"stringValue\":\(string(s))}"
        case .bool(let b): return "{\"boolValue\":\(b)}"
        case .int(let i): return "{\"intValue\":\"\(i)\"}"
        case .double(let d): return "{\"doubleValue\":\(d)}"
        case .bytes(let b): return "{\"bytesValue\":\"\(base64(b))\"}"
        case .array(let values): return "{\"arrayValue\":{\"values\":[\(values.map(value).joined(separator: ","))]}}"
        case .kvlist(let kvs): return "{\"kvlistValue\":{\"values\":\(attributes(kvs))}}"
        }
    }
    func attributes(_ list: [Attribute]) -> String {
        "[" + list.map { "{\"key\":\(string($0.key)),\"value\":\(value($0.value))}" }.joined(separator: ",") + "]"
    }
    func span(_ s: Span) -> String {
        var fields = [
            "\"traceId\":\"\(s.traceID.hex)\"", "\"spanId\":\"\(s.spanID.hex)\"",
            "\"parentSpanId\":\"\(s.parentSpanID?.hex ?? "")\"", "\"traceState\":\(string(s.traceState))",
            "\"flags\":\(s.flags)", "\"name\":\(string(s.name))", "\"kind\":\(s.kind.rawValue)",
            "\"startTimeUnixNano\":\"\(s.startTimeUnixNano)\"", "\"endTimeUnixNano\":\(s.endTimeUnixNano)",
            "\"attributes\":\(attributes(s.attributes))", "\"droppedAttributesCount\":\(s.droppedAttributesCount)",
            "\"droppedEventsCount\":\(s.droppedEventsCount)", "\"droppedLinksCount\":\(s.droppedLinksCount)",
            "\"status\":{\"code\":\(s.status.code.rawValue),\"message\":\(string(s.status.message))}",
        ]
        fields.append(
            "\"events\":[" + s.events.map {
                "{\"timeUnixNano\":\"\($0.timeUnixNano)\",\"name\":\(string($0.name)),\"attributes\":\(attributes($0.attributes)),\"droppedAttributesCount\":\($0.droppedAttributesCount)}"
            }.joined(separator: ",") + "]")
        fields.append(
            "\"links\":[" + s.links.map {
                "{\"traceId\":\"\($0.traceID.hex)\",\"spanId\":\"\($0.spanID.hex)\",\"traceState\":\(string($0.traceState)),\"attributes\":\(attributes($0.attributes)),\"droppedAttributesCount\":\($0.droppedAttributesCount),\"flags\":\($0.flags)}"
            }.joined(separator: ",") + "]")
        return "{" + fields.joined(separator: ",") + "}"
    }
    let resources = batch.resourceSpans.map { rs in
        let scopes = rs.scopeSpans.map { ss in
            "{\"scope\":{\"name\":\(string(ss.scope.name)),\"version\":\(string(ss.scope.version)),\"attributes\":\(attributes(ss.scope.attributes)),\"droppedAttributesCount\":\(ss.scope.droppedAttributesCount)},"
                + "\"schemaUrl\":\(string(ss.schemaURL)),\"spans\":[\(ss.spans.map(span).joined(separator: ","))]}"
        }
        return "{\"resource\":{\"attributes\":\(attributes(rs.resource.attributes)),\"droppedAttributesCount\":\(rs.resource.droppedAttributesCount)},"
            + "\"schemaUrl\":\(string(rs.schemaURL)),\"scopeSpans\":[\(scopes.joined(separator: ","))]}"
    }
    return "{\"resourceSpans\":[\(resources.joined(separator: ","))]}"
}

private func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    var out = ""
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        var chunk: UInt32 = 0
        for k in 0..<3 { chunk = chunk << 8 | UInt32(k < n ? bytes[i + k] : 0) }
        for k in 0..<4 { out.append(k <= n ? alphabet[Int(chunk >> UInt32(18 - 6 * k) & 63)] : "=") }
        i += 3
    }
    return out
}
