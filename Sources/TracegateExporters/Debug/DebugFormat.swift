import TracegateCore

#if canImport(Glibc)
import Glibc
#endif

/// The text the `debug` exporter logs for a batch, at `normal` and
/// `detailed` verbosity. Everything in it came from clients: control
/// characters are escaped, so a value cannot start a log line of its own.
enum DebugFormat {
    /// One line per span, under a line per resource and per scope.
    static func normal(_ batch: SpanBatch) -> String {
        var out = ""
        for (r, rs) in batch.resourceSpans.enumerated() {
            out += "ResourceSpans #\(r)\(attributes(rs.resource.attributes, leading: " "))\n"
            for (s, ss) in rs.scopeSpans.enumerated() {
                out += "ScopeSpans #\(s) \(text(ss.scope.name))\(ss.scope.version.isEmpty ? "" : " " + text(ss.scope.version))\n"
                for span in ss.spans {
                    out += "\(text(span.name)) \(span.traceID) \(span.spanID) kind=\(kindName(span.kind)) status=\(statusName(span.status.code))"
                    out += " duration=\(duration(span.durationNanos))\(attributes(span.attributes, leading: " "))\n"
                }
            }
        }
        return out
    }

    /// Every field, one per line, in the Collector's debug exporter's order.
    static func detailed(_ batch: SpanBatch) -> String {
        var out = ""
        for (r, rs) in batch.resourceSpans.enumerated() {
            out += "ResourceSpans #\(r)\n"
            out += "Resource SchemaURL: \(text(rs.schemaURL))\n"
            out += attributeLines("Resource attributes", rs.resource.attributes, indent: "")
            for (s, ss) in rs.scopeSpans.enumerated() {
                out += "ScopeSpans #\(s)\n"
                out += "ScopeSpans SchemaURL: \(text(ss.schemaURL))\n"
                out += "InstrumentationScope \(text(ss.scope.name)) \(text(ss.scope.version))\n"
                out += attributeLines("InstrumentationScope attributes", ss.scope.attributes, indent: "")
                for (i, span) in ss.spans.enumerated() {
                    out += "Span #\(i)\n"
                    out += "    Trace ID       : \(span.traceID)\n"
                    out += "    Parent ID      : \(span.parentSpanID.map { "\($0)" } ?? "")\n"
                    out += "    ID             : \(span.spanID)\n"
                    out += "    Name           : \(text(span.name))\n"
                    out += "    Kind           : \(kindName(span.kind))\n"
                    out += "    TraceState     : \(text(span.traceState))\n"
                    out += "    Flags          : \(span.flags)\n"
                    out += "    Start time     : \(utc(span.startTimeUnixNano))\n"
                    out += "    End time       : \(utc(span.endTimeUnixNano))\n"
                    out += "    Status code    : \(statusName(span.status.code))\n"
                    out += "    Status message : \(text(span.status.message))\n"
                    out += "    DroppedAttributesCount: \(span.droppedAttributesCount)\n"
                    out += "    DroppedEventsCount: \(span.droppedEventsCount)\n"
                    out += "    DroppedLinksCount: \(span.droppedLinksCount)\n"
                    out += attributeLines("Attributes", span.attributes, indent: "")
                    for (e, event) in span.events.enumerated() {
                        out += "SpanEvent #\(e)\n"
                        out += "     -> Name: \(text(event.name))\n"
                        out += "     -> Timestamp: \(utc(event.timeUnixNano))\n"
                        out += "     -> DroppedAttributesCount: \(event.droppedAttributesCount)\n"
                        out += attributeLines("     -> Attributes", event.attributes, indent: "     ")
                    }
                    for (l, link) in span.links.enumerated() {
                        out += "SpanLink #\(l)\n"
                        out += "     -> Trace ID: \(link.traceID)\n"
                        out += "     -> ID: \(link.spanID)\n"
                        out += "     -> TraceState: \(text(link.traceState))\n"
                        out += "     -> DroppedAttributesCount: \(link.droppedAttributesCount)\n"
                        out += attributeLines("     -> Attributes", link.attributes, indent: "     ")
                    }
                }
            }
        }
        return out
    }

    private static func attributeLines(_ title: String, _ attributes: [Attribute], indent: String) -> String {
        guard !attributes.isEmpty else { return "" }
        var out = "\(title):\n"
        for a in attributes { out += "\(indent)     -> \(text(a.key)): \(typed(a.value))\n" }
        return out
    }

    private static func attributes(_ attributes: [Attribute], leading: String) -> String {
        attributes.map { "\(leading)\(text($0.key))=\(plain($0.value))" }.joined()
    }

    /// A value with its type, as the Collector prints it: `Str(GET)`, `Int(200)`.
    static func typed(_ value: AnyValue) -> String {
        switch value {
        case .empty: "Empty()"
        case .string(let s): "Str(\(text(s)))"
        case .bool(let b): "Bool(\(b))"
        case .int(let i): "Int(\(i))"
        case .double(let d): "Double(\(d))"
        case .bytes(let b): "Bytes(\(b.map { hexByte($0) }.joined()))"
        case .array(let values): "Slice([\(values.map(plain).joined(separator: ","))])"
        case .kvlist(let list): "Map({\(list.map { "\(text($0.key)):\(plain($0.value))" }.joined(separator: ","))})"
        }
    }

    /// A value as text; strings are quoted when they hold a space, `=` or a quote.
    static func plain(_ value: AnyValue) -> String {
        switch value {
        case .empty: ""
        case .string(let s): s.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) || s.isEmpty ? "\"\(text(s).replacing("\"", with: "\\\""))\"" : text(s)
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .bytes(let b): b.map { hexByte($0) }.joined()
        case .array(let values): "[\(values.map(plain).joined(separator: ","))]"
        case .kvlist(let list): "{\(list.map { "\(text($0.key)):\(plain($0.value))" }.joined(separator: ","))}"
        }
    }

    /// A client's string with control characters escaped (`\n`, `\u{1b}`).
    static func text(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    private static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }

    static func kindName(_ kind: SpanKind) -> String {
        switch kind {
        case .unspecified: "Unspecified"
        case .internal: "Internal"
        case .server: "Server"
        case .client: "Client"
        case .producer: "Producer"
        case .consumer: "Consumer"
        default: "Kind(\(kind.rawValue))"
        }
    }

    static func statusName(_ code: StatusCode) -> String {
        switch code {
        case .unset: "Unset"
        case .ok: "Ok"
        case .error: "Error"
        default: "Code(\(code.rawValue))"
        }
    }

    /// `2018-12-13 14:51:00.000000001 +0000 UTC`, as the Collector prints times.
    static func utc(_ nanos: UInt64) -> String {
        UTCTime(unixNano: nanos).formatted(dateTimeSeparator: " ", fractionDigits: 9, suffix: " +0000 UTC")
    }

    /// `12.3ms`, `1.204s`, `850µs`.
    static func duration(_ nanos: UInt64) -> String {
        if nanos >= 1_000_000_000 { return trimmed(Double(nanos) / 1e9, 3) + "s" }
        if nanos >= 1_000_000 { return trimmed(Double(nanos) / 1e6, 1) + "ms" }
        if nanos >= 1_000 { return "\(nanos / 1_000)µs" }
        return "\(nanos)ns"
    }

    private static func trimmed(_ value: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return "\(rounded)"
    }
}
