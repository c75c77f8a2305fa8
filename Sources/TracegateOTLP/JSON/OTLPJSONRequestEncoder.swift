#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore

/// Writes a batch as an OTLP/JSON `ExportTraceServiceRequest`, for the
/// `otlphttp` exporter's `encoding: json`: lowerCamelCase keys, hex ids,
/// 64-bit integers as strings, enums as integers, bytes as base64.
public enum OTLPJSONRequestEncoder {
    public static func encode(_ batch: SpanBatch) -> [UInt8] {
        var w = Writer()
        w.raw(#"{"resourceSpans":["#)
        for (i, rs) in batch.resourceSpans.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw(#"{"resource":{"attributes":"#)
            w.attributes(rs.resource.attributes)
            w.raw(#","droppedAttributesCount":\#(rs.resource.droppedAttributesCount)}"#)
            if !rs.schemaURL.isEmpty { w.key("schemaUrl"); w.string(rs.schemaURL) }
            w.raw(#","scopeSpans":["#)
            for (j, ss) in rs.scopeSpans.enumerated() {
                if j > 0 { w.raw(",") }
                w.raw(#"{"scope":{"name":"#)
                w.string(ss.scope.name)
                w.key("version"); w.string(ss.scope.version)
                w.key("attributes"); w.attributes(ss.scope.attributes)
                w.raw(#","droppedAttributesCount":\#(ss.scope.droppedAttributesCount)}"#)
                if !ss.schemaURL.isEmpty { w.key("schemaUrl"); w.string(ss.schemaURL) }
                w.raw(#","spans":["#)
                for (k, span) in ss.spans.enumerated() {
                    if k > 0 { w.raw(",") }
                    w.span(span)
                }
                w.raw("]}")
            }
            w.raw("]}")
        }
        w.raw("]}")
        return w.out
    }

    private struct Writer {
        var out: [UInt8] = []

        mutating func raw(_ s: String) { out += s.utf8 }
        mutating func key(_ k: String) { raw(",\"\(k)\":") }
        mutating func string(_ s: String) { OTLPJSONEncoder.appendString(s, to: &out) }

        mutating func span(_ s: Span) {
            raw(#"{"traceId":""#); raw(s.traceID.hex)
            raw(#"","spanId":""#); raw(s.spanID.hex); raw("\"")
            if let parent = s.parentSpanID { raw(#","parentSpanId":""#); raw(parent.hex); raw("\"") }
            if !s.traceState.isEmpty { key("traceState"); string(s.traceState) }
            if s.flags != 0 { raw(#","flags":\#(s.flags)"#) }
            key("name"); string(s.name)
            raw(#","kind":\#(s.kind.rawValue),"startTimeUnixNano":"\#(s.startTimeUnixNano)","endTimeUnixNano":"\#(s.endTimeUnixNano)""#)
            key("attributes"); attributes(s.attributes)
            if s.droppedAttributesCount != 0 { raw(#","droppedAttributesCount":\#(s.droppedAttributesCount)"#) }
            raw(#","events":["#)
            for (i, e) in s.events.enumerated() {
                if i > 0 { raw(",") }
                raw(#"{"timeUnixNano":"\#(e.timeUnixNano)","name":"#)
                string(e.name)
                key("attributes"); attributes(e.attributes)
                if e.droppedAttributesCount != 0 { raw(#","droppedAttributesCount":\#(e.droppedAttributesCount)"#) }
                raw("}")
            }
            raw("]")
            if s.droppedEventsCount != 0 { raw(#","droppedEventsCount":\#(s.droppedEventsCount)"#) }
            raw(#","links":["#)
            for (i, l) in s.links.enumerated() {
                if i > 0 { raw(",") }
                raw(#"{"traceId":"\#(l.traceID.hex)","spanId":"\#(l.spanID.hex)""#)
                if !l.traceState.isEmpty { key("traceState"); string(l.traceState) }
                key("attributes"); attributes(l.attributes)
                if l.droppedAttributesCount != 0 { raw(#","droppedAttributesCount":\#(l.droppedAttributesCount)"#) }
                if l.flags != 0 { raw(#","flags":\#(l.flags)"#) }
                raw("}")
            }
            raw("]")
            if s.droppedLinksCount != 0 { raw(#","droppedLinksCount":\#(s.droppedLinksCount)"#) }
            raw(#","status":{"code":\#(s.status.code.rawValue)"#)
            if !s.status.message.isEmpty { key("message"); string(s.status.message) }
            raw("}}")
        }

        mutating func attributes(_ attributes: [Attribute]) {
            raw("[")
            for (i, a) in attributes.enumerated() {
                if i > 0 { raw(",") }
                raw(#"{"key":"#)
                string(a.key)
                key("value")
                value(a.value)
                raw("}")
            }
            raw("]")
        }

        mutating func value(_ v: AnyValue) {
            switch v {
            case .empty: raw("{}")
            case .string(let s): raw(#"{"stringValue":"#); string(s); raw("}")
            case .bool(let b): raw(#"{"boolValue":\#(b)}"#)
            case .int(let n): raw(#"{"intValue":"\#(n)"}"#)
            case .double(let d):
                if d.isFinite { raw(#"{"doubleValue":\#(d)}"#) } else { raw(#"{"doubleValue":"\#(d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity")"}"#) }
            case .bytes(let b): raw(#"{"bytesValue":""#); raw(Data(b).base64EncodedString()); raw("\"}")
            case .array(let items):
                raw(#"{"arrayValue":{"values":["#)
                for (i, item) in items.enumerated() {
                    if i > 0 { raw(",") }
                    value(item)
                }
                raw("]}}")
            case .kvlist(let attrs):
                raw(#"{"kvlistValue":{"values":"#)
                attributes(attrs)
                raw("}}")
            }
        }
    }
}
