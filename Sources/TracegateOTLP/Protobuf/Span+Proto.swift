import COTLP
import CProtobufC
import TracegateCore

extension ProtobufCBinaryData {
    var rawBuffer: UnsafeRawBufferPointer {
        guard len > 0, let data else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data, count: len)
    }
}

extension Span {
    /// Maps one span and validates it with the shared rules (`SpanRules`).
    init(proto s: UnsafeMutablePointer<CSpan>, strings: borrowing StringTable) throws(SpanRejection) {
        let p = s.pointee
        let ids = try SpanRules.validate(
            traceID: WireID(bytes: p.trace_id.rawBuffer), spanID: WireID(bytes: p.span_id.rawBuffer),
            parentSpanID: WireID(bytes: p.parent_span_id.rawBuffer),
            startTimeUnixNano: p.start_time_unix_nano, endTimeUnixNano: p.end_time_unix_nano)

        var events: [SpanEvent] = []
        if p.n_events > 0 {
            events.reserveCapacity(p.n_events)
            for i in 0..<p.n_events {
                guard let e = p.events[i]?.pointee else { continue }
                events.append(
                    SpanEvent(
                        timeUnixNano: e.time_unix_nano, name: strings.string(e.name),
                        attributes: [Attribute](proto: e.n_attributes, e.attributes, strings: strings, level: ValueLevel.eventAttribute),
                        droppedAttributesCount: e.dropped_attributes_count))
            }
        }
        var links: [SpanLink] = []
        var droppedLinks = p.dropped_links_count
        if p.n_links > 0 {
            links.reserveCapacity(p.n_links)
            for i in 0..<p.n_links {
                guard let l = p.links[i]?.pointee else { continue }
                guard
                    case let (linkTrace, linkSpan)? = SpanRules.linkIDs(
                        traceID: WireID(bytes: l.trace_id.rawBuffer), spanID: WireID(bytes: l.span_id.rawBuffer))
                else {
                    droppedLinks &+= 1
                    continue
                }
                links.append(
                    SpanLink(
                        traceID: linkTrace, spanID: linkSpan, traceState: strings.string(l.trace_state),
                        attributes: [Attribute](proto: l.n_attributes, l.attributes, strings: strings, level: ValueLevel.linkAttribute),
                        droppedAttributesCount: l.dropped_attributes_count, flags: l.flags))
            }
        }
        var status = SpanStatus()
        if let st = p.status?.pointee {
            status = SpanStatus(code: StatusCode(rawValue: Int32(bitPattern: st.code.rawValue)), message: strings.string(st.message))
        }
        self.init(
            traceID: ids.traceID, spanID: ids.spanID, parentSpanID: ids.parentSpanID, traceState: strings.string(p.trace_state),
            flags: p.flags, name: strings.string(p.name), kind: SpanKind(rawValue: Int32(bitPattern: p.kind.rawValue)),
            startTimeUnixNano: p.start_time_unix_nano, endTimeUnixNano: p.end_time_unix_nano,
            attributes: [Attribute](proto: p.n_attributes, p.attributes, strings: strings, level: ValueLevel.spanAttribute),
            droppedAttributesCount: p.dropped_attributes_count, events: events,
            droppedEventsCount: p.dropped_events_count, links: links, droppedLinksCount: droppedLinks,
            status: status)
    }
}
