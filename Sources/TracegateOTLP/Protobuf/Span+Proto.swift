import COTLP
import CProtobufC
import TracegateCore

/// Why a span was rejected; becomes part of the partial-success message.
struct SpanRejection: Error {
    var reason: String
}

extension ProtobufCBinaryData {
    var rawBuffer: UnsafeRawBufferPointer {
        guard len > 0, let data else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data, count: len)
    }
}

extension Span {
    /// Maps and validates one span. The rules are the ones the OTLP and W3C
    /// specifications give: 16-byte non-zero trace id, 8-byte non-zero span id,
    /// empty or 8-byte parent id, and an end that is not before the start.
    init(proto s: UnsafeMutablePointer<CSpan>, strings: inout StringTable) throws(SpanRejection) {
        let p = s.pointee
        guard let traceID = TraceID(bytes: p.trace_id.rawBuffer) else {
            throw SpanRejection(reason: "trace_id must be 16 bytes, got \(p.trace_id.len)")
        }
        guard traceID.isValid else { throw SpanRejection(reason: "trace_id is all zeros") }
        guard let spanID = SpanID(bytes: p.span_id.rawBuffer) else {
            throw SpanRejection(reason: "span_id must be 8 bytes, got \(p.span_id.len)")
        }
        guard spanID.isValid else { throw SpanRejection(reason: "span_id is all zeros") }
        var parent: SpanID? = nil
        if p.parent_span_id.len != 0 {
            guard let id = SpanID(bytes: p.parent_span_id.rawBuffer) else {
                throw SpanRejection(reason: "parent_span_id must be empty or 8 bytes, got \(p.parent_span_id.len)")
            }
            parent = id.isValid ? id : nil
        }
        guard p.end_time_unix_nano >= p.start_time_unix_nano else {
            throw SpanRejection(reason: "end_time_unix_nano is before start_time_unix_nano")
        }

        var events: [SpanEvent] = []
        if p.n_events > 0 {
            events.reserveCapacity(p.n_events)
            for i in 0..<p.n_events {
                guard let e = p.events[i]?.pointee else { continue }
                events.append(
                    SpanEvent(
                        timeUnixNano: e.time_unix_nano, name: strings.string(e.name),
                        attributes: [Attribute](proto: e.n_attributes, e.attributes, strings: &strings),
                        droppedAttributesCount: e.dropped_attributes_count))
            }
        }
        var links: [SpanLink] = []
        var droppedLinks = p.dropped_links_count
        if p.n_links > 0 {
            links.reserveCapacity(p.n_links)
            for i in 0..<p.n_links {
                guard let l = p.links[i]?.pointee else { continue }
                // A link with malformed ids points nowhere: count it as dropped
                // rather than rejecting the span that carries it.
                guard let linkTrace = TraceID(bytes: l.trace_id.rawBuffer), let linkSpan = SpanID(bytes: l.span_id.rawBuffer)
                else {
                    droppedLinks &+= 1
                    continue
                }
                links.append(
                    SpanLink(
                        traceID: linkTrace, spanID: linkSpan, traceState: strings.string(l.trace_state),
                        attributes: [Attribute](proto: l.n_attributes, l.attributes, strings: &strings),
                        droppedAttributesCount: l.dropped_attributes_count, flags: l.flags))
            }
        }
        var status = SpanStatus()
        if let st = p.status?.pointee {
            status = SpanStatus(code: StatusCode(rawValue: Int32(bitPattern: st.code.rawValue)), message: strings.string(st.message))
        }
        self.init(
            traceID: traceID, spanID: spanID, parentSpanID: parent, traceState: strings.string(p.trace_state),
            flags: p.flags, name: strings.string(p.name), kind: SpanKind(rawValue: Int32(bitPattern: p.kind.rawValue)),
            startTimeUnixNano: p.start_time_unix_nano, endTimeUnixNano: p.end_time_unix_nano,
            attributes: [Attribute](proto: p.n_attributes, p.attributes, strings: &strings),
            droppedAttributesCount: p.dropped_attributes_count, events: events,
            droppedEventsCount: p.dropped_events_count, links: links, droppedLinksCount: droppedLinks,
            status: status)
    }
}
