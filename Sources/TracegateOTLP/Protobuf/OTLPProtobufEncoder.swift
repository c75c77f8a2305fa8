import COTLP
import CProtobufC
import CTracegateShims
import TracegateCore

/// Encodes the span model as `ExportTraceServiceRequest` protobuf bytes,
/// through protobuf-c: the C message is built in an arena, packed, and the
/// arena released as a whole. Used to forward spans and by the load generator.
public enum OTLPProtobufEncoder {
    public static func encode(_ batch: SpanBatch) -> [UInt8] {
        let builder = MessageBuilder()
        defer { builder.release() }
        let request = builder.make(CRequest.self, opentelemetry__proto__collector__trace__v1__export_trace_service_request__init)
        request.pointee.n_resource_spans = batch.resourceSpans.count
        request.pointee.resource_spans = builder.pointers(batch.resourceSpans) { b, rs in b.resourceSpans(rs) }
        let size = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(request)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(request, buffer.baseAddress)
        }
    }
}

/// Allocates C message parts in one arena.
private struct MessageBuilder {
    let arena: UnsafeMutablePointer<tg_arena>

    init() {
        arena = .allocate(capacity: 1)
        tg_arena_init(arena, 64 * 1024)
    }

    func release() {
        tg_arena_destroy(arena)
        arena.deallocate()
    }

    func raw(_ size: Int) -> UnsafeMutableRawPointer {
        guard let p = tg_arena_alloc_bytes(arena, max(size, 1)) else { fatalError("out of memory encoding a request") }
        return p
    }

    func make<T>(_ type: T.Type, _ initialize: (UnsafeMutablePointer<T>?) -> Void) -> UnsafeMutablePointer<T> {
        let p = raw(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
        initialize(p)
        return p
    }

    /// A `T **` array of `items.count` messages built by `build`.
    func pointers<S, T>(_ items: [S], _ build: (Self, S) -> UnsafeMutablePointer<T>) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
        guard !items.isEmpty else { return nil }
        let array = raw(MemoryLayout<UnsafeMutablePointer<T>?>.stride * items.count)
            .bindMemory(to: UnsafeMutablePointer<T>?.self, capacity: items.count)
        for (i, item) in items.enumerated() { array[i] = build(self, item) }
        return array
    }

    /// A string field (declared `bytes` in our protos, see StringTable).
    func text(_ s: String) -> ProtobufCBinaryData {
        var s = s
        return s.withUTF8 { utf8 in
            guard utf8.count > 0 else { return ProtobufCBinaryData(len: 0, data: nil) }
            let p = raw(utf8.count).bindMemory(to: UInt8.self, capacity: utf8.count)
            p.initialize(from: utf8.baseAddress!, count: utf8.count)
            return ProtobufCBinaryData(len: utf8.count, data: p)
        }
    }

    /// A nested message packed into a `bytes` field.
    func packed<T>(
        _ message: UnsafeMutablePointer<T>, _ size: (UnsafePointer<T>?) -> Int, _ pack: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?) -> Int
    ) -> ProtobufCBinaryData {
        let count = size(message)
        guard count > 0 else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = raw(count).bindMemory(to: UInt8.self, capacity: count)
        return ProtobufCBinaryData(len: pack(message, p), data: p)
    }

    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = raw(bytes.count).bindMemory(to: UInt8.self, capacity: bytes.count)
        p.initialize(from: bytes, count: bytes.count)
        return ProtobufCBinaryData(len: bytes.count, data: p)
    }

    func resourceSpans(_ rs: ResourceSpans) -> UnsafeMutablePointer<CResourceSpans> {
        let out = make(CResourceSpans.self, opentelemetry__proto__trace__v1__resource_spans__init)
        let resource = make(CResource.self, opentelemetry__proto__resource__v1__resource__init)
        resource.pointee.n_attributes = rs.resource.attributes.count
        resource.pointee.attributes = pointers(rs.resource.attributes) { b, a in b.keyValue(a) }
        resource.pointee.dropped_attributes_count = rs.resource.droppedAttributesCount
        out.pointee.resource = resource
        out.pointee.schema_url = text(rs.schemaURL)
        out.pointee.n_scope_spans = rs.scopeSpans.count
        out.pointee.scope_spans = pointers(rs.scopeSpans) { b, ss in b.scopeSpans(ss) }
        return out
    }

    func scopeSpans(_ ss: ScopeSpans) -> UnsafeMutablePointer<CScopeSpans> {
        let out = make(CScopeSpans.self, opentelemetry__proto__trace__v1__scope_spans__init)
        let scope = make(CScope.self, opentelemetry__proto__common__v1__instrumentation_scope__init)
        scope.pointee.name = text(ss.scope.name)
        scope.pointee.version = text(ss.scope.version)
        scope.pointee.n_attributes = ss.scope.attributes.count
        scope.pointee.attributes = pointers(ss.scope.attributes) { b, a in b.keyValue(a) }
        scope.pointee.dropped_attributes_count = ss.scope.droppedAttributesCount
        out.pointee.scope = scope
        out.pointee.schema_url = text(ss.schemaURL)
        out.pointee.n_spans = ss.spans.count
        out.pointee.spans = pointers(ss.spans) { b, s in b.span(s) }
        return out
    }

    func span(_ s: Span) -> UnsafeMutablePointer<CSpan> {
        let out = make(CSpan.self, opentelemetry__proto__trace__v1__span__init)
        out.pointee.trace_id = binary(s.traceID.bytes)
        out.pointee.span_id = binary(s.spanID.bytes)
        if let parent = s.parentSpanID { out.pointee.parent_span_id = binary(parent.bytes) }
        out.pointee.trace_state = text(s.traceState)
        out.pointee.flags = s.flags
        out.pointee.name = text(s.name)
        out.pointee.kind = .init(rawValue: UInt32(bitPattern: s.kind.rawValue))
        out.pointee.start_time_unix_nano = s.startTimeUnixNano
        out.pointee.end_time_unix_nano = s.endTimeUnixNano
        out.pointee.n_attributes = s.attributes.count
        out.pointee.attributes = pointers(s.attributes) { b, a in b.keyValue(a) }
        out.pointee.dropped_attributes_count = s.droppedAttributesCount
        out.pointee.n_events = s.events.count
        out.pointee.events = pointers(s.events) { b, e in b.event(e) }
        out.pointee.dropped_events_count = s.droppedEventsCount
        out.pointee.n_links = s.links.count
        out.pointee.links = pointers(s.links) { b, l in b.link(l) }
        out.pointee.dropped_links_count = s.droppedLinksCount
        if s.status != SpanStatus() {
            let status = make(CStatus.self, opentelemetry__proto__trace__v1__status__init)
            status.pointee.code = .init(rawValue: UInt32(bitPattern: s.status.code.rawValue))
            status.pointee.message = text(s.status.message)
            out.pointee.status = status
        }
        return out
    }

    func event(_ e: SpanEvent) -> UnsafeMutablePointer<CEvent> {
        let out = make(CEvent.self, opentelemetry__proto__trace__v1__span__event__init)
        out.pointee.time_unix_nano = e.timeUnixNano
        out.pointee.name = text(e.name)
        out.pointee.n_attributes = e.attributes.count
        out.pointee.attributes = pointers(e.attributes) { b, a in b.keyValue(a) }
        out.pointee.dropped_attributes_count = e.droppedAttributesCount
        return out
    }

    func link(_ l: SpanLink) -> UnsafeMutablePointer<CLink> {
        let out = make(CLink.self, opentelemetry__proto__trace__v1__span__link__init)
        out.pointee.trace_id = binary(l.traceID.bytes)
        out.pointee.span_id = binary(l.spanID.bytes)
        out.pointee.trace_state = text(l.traceState)
        out.pointee.n_attributes = l.attributes.count
        out.pointee.attributes = pointers(l.attributes) { b, a in b.keyValue(a) }
        out.pointee.dropped_attributes_count = l.droppedAttributesCount
        out.pointee.flags = l.flags
        return out
    }

    func keyValue(_ a: Attribute) -> UnsafeMutablePointer<CKeyValue> {
        let out = make(CKeyValue.self, opentelemetry__proto__common__v1__key_value__init)
        out.pointee.key = text(a.key)
        out.pointee.value = anyValue(a.value)
        return out
    }

    func anyValue(_ v: AnyValue) -> UnsafeMutablePointer<CAnyValue> {
        let out = make(CAnyValue.self, opentelemetry__proto__common__v1__any_value__init)
        // The oneof case numbers are the proto field numbers (see AnyValue+Proto).
        switch v {
        case .empty:
            break
        case .string(let s):
            out.pointee.value_case = .init(rawValue: 1)
            out.pointee.string_value = text(s)
        case .bool(let b):
            out.pointee.value_case = .init(rawValue: 2)
            out.pointee.bool_value = b ? 1 : 0
        case .int(let i):
            out.pointee.value_case = .init(rawValue: 3)
            out.pointee.int_value = i
        case .double(let d):
            out.pointee.value_case = .init(rawValue: 4)
            out.pointee.double_value = d
        case .array(let items):
            // Declared bytes in our protos (see common.proto): packed here,
            // one level at a time, as the decoder unpacks them.
            out.pointee.value_case = .init(rawValue: 5)
            let array = make(Opentelemetry__Proto__Common__V1__ArrayValue.self, opentelemetry__proto__common__v1__array_value__init)
            array.pointee.n_values = items.count
            array.pointee.values = pointers(items) { b, item in b.anyValue(item) }
            out.pointee.array_value = packed(array, opentelemetry__proto__common__v1__array_value__get_packed_size,
                                             opentelemetry__proto__common__v1__array_value__pack)
        case .kvlist(let kv):
            out.pointee.value_case = .init(rawValue: 6)
            let list = make(Opentelemetry__Proto__Common__V1__KeyValueList.self, opentelemetry__proto__common__v1__key_value_list__init)
            list.pointee.n_values = kv.count
            list.pointee.values = pointers(kv) { b, a in b.keyValue(a) }
            out.pointee.kvlist_value = packed(list, opentelemetry__proto__common__v1__key_value_list__get_packed_size,
                                              opentelemetry__proto__common__v1__key_value_list__pack)
        case .bytes(let bytes):
            out.pointee.value_case = .init(rawValue: 7)
            out.pointee.bytes_value = binary(bytes)
        }
        return out
    }
}
