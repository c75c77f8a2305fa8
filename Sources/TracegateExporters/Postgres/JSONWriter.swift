import TracegateCore

/// Writes the jsonb text of attributes, events and links straight into a COPY
/// buffer, with no intermediate objects. Mapping of `AnyValue`: string, bool,
/// int and double as themselves (non-finite doubles as the strings "NaN",
/// "Infinity", "-Infinity", which jsonb numbers cannot hold), bytes as base64,
/// array as an array, kvlist as an object, an unset value as null.
struct JSONWriter {
    var out: [UInt8]
    /// Attribute string values longer than this many bytes are cut (at a
    /// character boundary); `<key>.original_length` and `<key>.sha256` are
    /// added beside them. 0 means no limit.
    var maxValueBytes: Int

    init(into out: [UInt8], maxValueBytes: Int = 0) {
        self.out = out
        self.maxValueBytes = maxValueBytes
    }

    mutating func attributes(_ attributes: [Attribute]) {
        out.append(UInt8(ascii: "{"))
        for i in attributes.indices {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            string(attributes[i].key)
            out.append(UInt8(ascii: ":"))
            if maxValueBytes > 0, case .string(let s) = attributes[i].value, s.utf8.count > maxValueBytes {
                truncated(key: attributes[i].key, s)
            } else {
                value(attributes[i].value)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Writes the cut value, then the full length and SHA-256 of the whole.
    private mutating func truncated(key: String, _ s: String) {
        let bytes = Array(s.utf8)
        var end = maxValueBytes
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }  // not inside a character
        string(String(decoding: bytes[..<end], as: UTF8.self))
        out.append(UInt8(ascii: ","))
        string(key + ".original_length")
        out.append(UInt8(ascii: ":"))
        integer(Int64(bytes.count))
        out.append(UInt8(ascii: ","))
        string(key + ".sha256")
        out.append(UInt8(ascii: ":"))
        string(Digests.hex(Digests.sha256(bytes)))
    }

    mutating func value(_ v: AnyValue) {
        switch v {
        case .empty: raw("null")
        case .string(let s): string(s)
        case .bool(let b): raw(b ? "true" : "false")
        case .int(let i): integer(i)
        case .double(let d):
            if d.isFinite {
                if d == d.rounded() && abs(d) < 1e15 {
                    integer(Int64(d))
                } else {
                    raw(d.description)
                }
            } else {
                string(d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"))
            }
        case .bytes(let b): base64(b)
        case .array(let items): array(items) { $0.value($1) }
        case .kvlist(let kv): attributes(kv)
        }
    }

    mutating func events(_ events: [SpanEvent]) {
        array(events) { w, e in
            w.raw("{\"name\":")
            w.string(e.name)
            w.raw(",\"time_unix_nano\":")
            w.integer(Int64(bitPattern: e.timeUnixNano))
            w.attributes(e.attributes, dropped: e.droppedAttributesCount)
        }
    }

    mutating func links(_ links: [SpanLink]) {
        array(links) { w, l in
            w.raw("{\"trace_id\":\"")
            w.raw(l.traceID.hex)
            w.raw("\",\"span_id\":\"")
            w.raw(l.spanID.hex)
            w.raw("\",\"trace_state\":")
            w.string(l.traceState)
            w.raw(",\"flags\":")
            w.integer(Int64(l.flags))
            w.attributes(l.attributes, dropped: l.droppedAttributesCount)
        }
    }

    /// `[` each item `]`, comma-separated.
    private mutating func array<T>(_ items: [T], _ item: (inout JSONWriter, T) -> Void) {
        out.append(UInt8(ascii: "["))
        for (i, element) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            item(&self, element)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The end of an event or link object: `,"attributes":…` and the
    /// dropped count when there is one, then `}`.
    private mutating func attributes(_ attributes: [Attribute], dropped: UInt32) {
        raw(",\"attributes\":")
        self.attributes(attributes)
        if dropped > 0 {
            raw(",\"dropped_attributes_count\":")
            integer(Int64(dropped))
        }
        out.append(UInt8(ascii: "}"))
    }

    mutating func raw(_ s: String) {
        var s = s
        s.withUTF8 { out.append(contentsOf: $0) }
    }

    /// Decimal digits written in place: no String per number.
    mutating func integer(_ i: Int64) {
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var m = i.magnitude
        var digits = 1
        var rest = m
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        let end = out.count + digits
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        out.withUnsafeMutableBufferPointer { buffer in
            var at = end - 1
            repeat {
                buffer[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m % 10)
                m /= 10
                at -= 1
            } while m > 0
        }
    }

    mutating func string(_ s: String) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            for (i, c) in bytes.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[runStart..<i])
                runStart = i + 1
                switch c {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    out.append(hexDigitChar(c >> 4))
                    out.append(hexDigitChar(c & 0xF))
                }
            }
            out.append(contentsOf: bytes[runStart...])
        }
        out.append(UInt8(ascii: "\""))
    }

    mutating func base64(_ bytes: [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(base64Alphabet[Int(n >> UInt32(shift) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(base64Alphabet[Int(n >> 18 & 63)])
            out.append(base64Alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? base64Alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        out.append(UInt8(ascii: "\""))
    }
}

private let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

private func hexDigitChar(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }
