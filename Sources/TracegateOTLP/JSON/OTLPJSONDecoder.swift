import TracegateCore

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (the body of an OTLP/HTTP
/// request with `Content-Type: application/json`) into the span model.
///
/// The mapping is the OTLP specification's: proto3 JSON with lowerCamelCase
/// names (the proto's snake_case names are accepted too), trace and span ids
/// as case-insensitive hex rather than base64 (`""` is an absent id), enums as
/// numbers (value names such as `"SPAN_KIND_SERVER"` are accepted too), 64-bit
/// integers as decimal strings or numbers (read exactly), bytes as base64,
/// `null` as the default value, unknown fields ignored.
///
/// A document that is not such a request (malformed JSON, a value of the wrong
/// type, an id that is not hex) is an `OTLPDecodeError` naming the field. A
/// well-formed span that breaks a rule (`SpanRules`) is rejected by itself with
/// the same partial-success report the protobuf decoder gives: an id of the
/// wrong length, such as 30 hex digits for a trace id, is a 15-byte trace_id
/// there and is treated as one here.
public enum OTLPJSONDecoder {
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(OTLPDecodeError) -> DecodedRequest {
        var reader = OTLPJSONReader(bytes)
        do throws(JSONFailure) {
            try reader.request()
        } catch {
            throw OTLPDecodeError(error.message)
        }
        var decoded = reader.builder.finish()
        decoded.repairedStrings = reader.repairedStrings
        return decoded
    }

    public static func decode(_ bytes: [UInt8]) throws(OTLPDecodeError) -> DecodedRequest {
        let result: Result<DecodedRequest, OTLPDecodeError> = bytes.withUnsafeBytes { buffer in
            do throws(OTLPDecodeError) { return .success(try decode(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

private let spanKindNames: [(StaticString, Int32)] = [
    ("SPAN_KIND_UNSPECIFIED", 0), ("SPAN_KIND_INTERNAL", 1), ("SPAN_KIND_SERVER", 2),
    ("SPAN_KIND_CLIENT", 3), ("SPAN_KIND_PRODUCER", 4), ("SPAN_KIND_CONSUMER", 5),
]

private let statusCodeNames: [(StaticString, Int32)] = [
    ("STATUS_CODE_UNSET", 0), ("STATUS_CODE_OK", 1), ("STATUS_CODE_ERROR", 2),
]

/// One message reader per proto message. Each object loop catches failures of
/// its members and adds the member's name to their path; each array loop adds
/// the index. Repeated fields that occur twice are concatenated (as protobuf
/// merges them); other duplicate fields: the last one wins.
struct OTLPJSONReader {
    private var s: JSONScanner
    var builder = DecodedRequestBuilder()

    init(_ bytes: UnsafeRawBufferPointer) {
        s = JSONScanner(bytes)
    }

    var repairedStrings: Int { s.repairedStrings }

    mutating func request() throws(JSONFailure) {
        if s.isAtEnd { throw JSONFailure("request body is empty; expected a JSON object (ExportTraceServiceRequest)") }
        _ = try s.beginObject("a JSON object (ExportTraceServiceRequest)", allowNull: false)
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("resourceSpans", "resource_spans") {
                    try resourceSpansList()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        try s.expectEnd()
    }

    private mutating func resourceSpansList() throws(JSONFailure) {
        guard try s.beginArray() else { return }
        var first = true
        var index = 0
        while try s.nextElement(&first) {
            do throws(JSONFailure) {
                builder.append(try resourceSpans(index))
            } catch { throw error.atIndex(index) }
            index += 1
        }
    }

    private mutating func resourceSpans(_ resourceIndex: Int) throws(JSONFailure) -> ResourceSpans {
        var out = ResourceSpans()
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("scopeSpans", "scope_spans") {
                    try scopeSpansList(resourceIndex, into: &out.scopeSpans)
                } else if key.is("resource") {
                    out.resource = try resource()
                } else if key.is("schemaUrl", "schema_url") {
                    out.schemaURL = try s.readString()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    private mutating func resource() throws(JSONFailure) -> Resource {
        var out = Resource()
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("attributes") {
                    try attributeList(into: &out.attributes)
                } else if key.is("droppedAttributesCount", "dropped_attributes_count") {
                    out.droppedAttributesCount = try s.readUInt32()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    private mutating func scopeSpansList(_ resourceIndex: Int, into list: inout [ScopeSpans]) throws(JSONFailure) {
        guard try s.beginArray() else { return }
        var first = true
        var index = 0
        while try s.nextElement(&first) {
            do throws(JSONFailure) {
                list.append(try scopeSpans(resourceIndex, index))
            } catch { throw error.atIndex(index) }
            index += 1
        }
    }

    private mutating func scopeSpans(_ resourceIndex: Int, _ scopeIndex: Int) throws(JSONFailure) -> ScopeSpans {
        var out = ScopeSpans()
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("spans") {
                    try spanList(resourceIndex, scopeIndex, into: &out.spans)
                } else if key.is("scope") {
                    out.scope = try scope()
                } else if key.is("schemaUrl", "schema_url") {
                    out.schemaURL = try s.readString()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    private mutating func scope() throws(JSONFailure) -> InstrumentationScope {
        var out = InstrumentationScope()
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("name") {
                    out.name = try s.readString()
                } else if key.is("version") {
                    out.version = try s.readString()
                } else if key.is("attributes") {
                    try attributeList(into: &out.attributes)
                } else if key.is("droppedAttributesCount", "dropped_attributes_count") {
                    out.droppedAttributesCount = try s.readUInt32()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    private mutating func spanList(_ resourceIndex: Int, _ scopeIndex: Int, into list: inout [Span]) throws(JSONFailure) {
        guard try s.beginArray() else { return }
        var first = true
        var index = 0
        while try s.nextElement(&first) {
            do throws(JSONFailure) {
                let fields = try span()
                do throws(SpanRejection) {
                    list.append(try fields.validated())
                } catch {
                    builder.reject(resource: resourceIndex, scope: scopeIndex, span: index, error)
                }
            } catch { throw error.atIndex(index) }
            index += 1
        }
    }

    /// A span's fields as read, before validation.
    struct SpanFields {
        var traceID = WireID.absent
        var spanID = WireID.absent
        var parentSpanID = WireID.absent
        var traceState = ""
        var flags: UInt32 = 0
        var name = ""
        var kind = SpanKind.unspecified
        var start: UInt64 = 0
        var end: UInt64 = 0
        var attributes: [Attribute] = []
        var droppedAttributes: UInt32 = 0
        var events: [SpanEvent] = []
        var droppedEvents: UInt32 = 0
        var links: [SpanLink] = []
        var droppedLinks: UInt32 = 0
        /// Links whose ids are malformed: counted as dropped, as in protobuf.
        var malformedLinks: UInt32 = 0
        var status = SpanStatus()

        func validated() throws(SpanRejection) -> Span {
            let ids = try SpanRules.validate(
                traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, startTimeUnixNano: start, endTimeUnixNano: end)
            return Span(
                traceID: ids.traceID, spanID: ids.spanID, parentSpanID: ids.parentSpanID, traceState: traceState,
                flags: flags, name: name, kind: kind, startTimeUnixNano: start, endTimeUnixNano: end,
                attributes: attributes, droppedAttributesCount: droppedAttributes, events: events,
                droppedEventsCount: droppedEvents, links: links, droppedLinksCount: droppedLinks &+ malformedLinks,
                status: status)
        }
    }

    private mutating func span() throws(JSONFailure) -> SpanFields {
        var out = SpanFields()
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("traceId", "trace_id") {
                    out.traceID = try id(digits: 32)
                } else if key.is("spanId", "span_id") {
                    out.spanID = try id(digits: 16)
                } else if key.is("parentSpanId", "parent_span_id") {
                    out.parentSpanID = try id(digits: 16)
                } else if key.is("name") {
                    out.name = try s.readString()
                } else if key.is("kind") {
                    out.kind = SpanKind(rawValue: try s.readEnum("SpanKind", names: spanKindNames))
                } else if key.is("startTimeUnixNano", "start_time_unix_nano") {
                    out.start = try s.readUInt64()
                } else if key.is("endTimeUnixNano", "end_time_unix_nano") {
                    out.end = try s.readUInt64()
                } else if key.is("attributes") {
                    try attributeList(into: &out.attributes)
                } else if key.is("status") {
                    out.status = try status()
                } else if key.is("events") {
                    try eventList(into: &out.events)
                } else if key.is("links") {
                    try linkList(into: &out.links, malformed: &out.malformedLinks)
                } else if key.is("flags") {
                    out.flags = try s.readUInt32()
                } else if key.is("traceState", "trace_state") {
                    out.traceState = try s.readString()
                } else if key.is("droppedAttributesCount", "dropped_attributes_count") {
                    out.droppedAttributes = try s.readUInt32()
                } else if key.is("droppedEventsCount", "dropped_events_count") {
                    out.droppedEvents = try s.readUInt32()
                } else if key.is("droppedLinksCount", "dropped_links_count") {
                    out.droppedLinks = try s.readUInt32()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    /// An id: hex digits, either case. Any even number of digits is read (as
    /// that many bytes, judged by `SpanRules` like a protobuf id of that
    /// length); text that is not hex is a decode error.
    private mutating func id(digits: Int) throws(JSONFailure) -> WireID {
        guard let text = try s.readStringContent("a string of \(digits) hex digits") else { return .absent }
        if let id = text.withBytes(Self.hexID) { return id }
        var problem = "expected \(digits) hex digits, got \(quoted(text.string))"
        if text.withBytes(base64Decode)?.count == digits / 2 { problem += " (OTLP/JSON ids are hex, not base64)" }
        throw JSONFailure(problem)
    }

    private static func hexID(_ bytes: UnsafeRawBufferPointer) -> WireID? {
        guard bytes.count % 2 == 0 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<bytes.count {
            guard let d = hexDigitValue(bytes[i]) else { return nil }
            // Only the last 32 digits are kept; a longer id is refused by its length anyway.
            high = high << 4 | low >> 60
            low = low << 4 | UInt64(d)
        }
        let count = bytes.count / 2
        return WireID(count: count, high: count == 16 ? high : 0, low: low)
    }

    private mutating func status() throws(JSONFailure) -> SpanStatus {
        var out = SpanStatus()
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("code") {
                    out.code = StatusCode(rawValue: try s.readEnum("StatusCode", names: statusCodeNames))
                } else if key.is("message") {
                    out.message = try s.readString()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    private mutating func eventList(into list: inout [SpanEvent]) throws(JSONFailure) {
        guard try s.beginArray() else { return }
        var first = true
        var index = 0
        while try s.nextElement(&first) {
            do throws(JSONFailure) {
                list.append(try event())
            } catch { throw error.atIndex(index) }
            index += 1
        }
    }

    private mutating func event() throws(JSONFailure) -> SpanEvent {
        var out = SpanEvent(timeUnixNano: 0, name: "")
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("timeUnixNano", "time_unix_nano") {
                    out.timeUnixNano = try s.readUInt64()
                } else if key.is("name") {
                    out.name = try s.readString()
                } else if key.is("attributes") {
                    try attributeList(into: &out.attributes)
                } else if key.is("droppedAttributesCount", "dropped_attributes_count") {
                    out.droppedAttributesCount = try s.readUInt32()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    private mutating func linkList(into list: inout [SpanLink], malformed: inout UInt32) throws(JSONFailure) {
        guard try s.beginArray() else { return }
        var first = true
        var index = 0
        while try s.nextElement(&first) {
            do throws(JSONFailure) {
                if let link = try link() {
                    list.append(link)
                } else {
                    malformed &+= 1
                }
            } catch { throw error.atIndex(index) }
            index += 1
        }
    }

    /// A link, or nil when its ids are not a 16-byte trace id and an 8-byte span id.
    private mutating func link() throws(JSONFailure) -> SpanLink? {
        var traceID = WireID.absent
        var spanID = WireID.absent
        var traceState = ""
        var attributes: [Attribute] = []
        var droppedAttributes: UInt32 = 0
        var flags: UInt32 = 0
        if try s.beginObject() {
            var first = true
            while let key = try s.nextKey(&first) {
                do throws(JSONFailure) {
                    if key.is("traceId", "trace_id") {
                        traceID = try id(digits: 32)
                    } else if key.is("spanId", "span_id") {
                        spanID = try id(digits: 16)
                    } else if key.is("traceState", "trace_state") {
                        traceState = try s.readString()
                    } else if key.is("attributes") {
                        try attributeList(into: &attributes)
                    } else if key.is("droppedAttributesCount", "dropped_attributes_count") {
                        droppedAttributes = try s.readUInt32()
                    } else if key.is("flags") {
                        flags = try s.readUInt32()
                    } else {
                        try s.skipValue()
                    }
                } catch { throw error.inField(key) }
            }
        }
        guard case let (trace, span)? = SpanRules.linkIDs(traceID: traceID, spanID: spanID) else { return nil }
        return SpanLink(
            traceID: trace, spanID: span, traceState: traceState, attributes: attributes,
            droppedAttributesCount: droppedAttributes, flags: flags)
    }

    // MARK: - Attributes

    private mutating func attributeList(into list: inout [Attribute]) throws(JSONFailure) {
        guard try s.beginArray() else { return }
        var first = true
        var index = 0
        while try s.nextElement(&first) {
            do throws(JSONFailure) {
                list.append(try keyValue())
            } catch { throw error.atIndex(index) }
            index += 1
        }
    }

    private mutating func keyValue() throws(JSONFailure) -> Attribute {
        var out = Attribute("", .empty)
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("key") {
                    out.key = try s.readString()
                } else if key.is("value") {
                    out.value = try anyValue()
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    /// `AnyValue`: the member that is set; `{}` (or null) is `.empty`. A
    /// member that is null is not set. `stringValueStrindex` only has meaning
    /// with a profiles dictionary: as in the protobuf decoder, it gives `.empty`.
    private mutating func anyValue() throws(JSONFailure) -> AnyValue {
        var out = AnyValue.empty
        guard try s.beginObject() else { return out }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if try s.consumeNull() {
                    // not set
                } else if key.is("stringValue", "string_value") {
                    out = .string(try s.readString())
                } else if key.is("intValue", "int_value") {
                    out = .int(try s.readInt64())
                } else if key.is("boolValue", "bool_value") {
                    out = .bool(try s.readBool())
                } else if key.is("doubleValue", "double_value") {
                    out = .double(try s.readDouble())
                } else if key.is("arrayValue", "array_value") {
                    out = .array(try arrayValue())
                } else if key.is("kvlistValue", "kvlist_value") {
                    out = .kvlist(try kvlistValue())
                } else if key.is("bytesValue", "bytes_value") {
                    out = .bytes(try s.readBase64())
                } else if key.is("stringValueStrindex", "string_value_strindex") {
                    _ = try s.readInt64()
                    out = .empty
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return out
    }

    /// `ArrayValue`: `{"values": [AnyValue, ...]}`.
    private mutating func arrayValue() throws(JSONFailure) -> [AnyValue] {
        var values: [AnyValue] = []
        guard try s.beginObject() else { return values }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("values") {
                    guard try s.beginArray() else { continue }
                    var firstElement = true
                    var index = 0
                    while try s.nextElement(&firstElement) {
                        do throws(JSONFailure) {
                            values.append(try anyValue())
                        } catch { throw error.atIndex(index) }
                        index += 1
                    }
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return values
    }

    /// `KeyValueList`: `{"values": [KeyValue, ...]}`.
    private mutating func kvlistValue() throws(JSONFailure) -> [Attribute] {
        var values: [Attribute] = []
        guard try s.beginObject() else { return values }
        var first = true
        while let key = try s.nextKey(&first) {
            do throws(JSONFailure) {
                if key.is("values") {
                    try attributeList(into: &values)
                } else {
                    try s.skipValue()
                }
            } catch { throw error.inField(key) }
        }
        return values
    }
}
