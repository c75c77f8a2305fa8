/// Reads the jsonb text PostgreSQL returns for `attributes`, `events` and
/// `links` (`{"key": value, …}`, arrays of such objects) without building a
/// document: values are byte ranges of the text, written back out as they
/// are (a JSON string token stays a valid JSON string token). The text is
/// the server's own rendering of stored jsonb, but it is read defensively:
/// anything unexpected ends the walk, never the process, and nesting is
/// skipped by counting brackets, not by recursion.
public struct StoredJSON: Sendable {
    public let bytes: [UInt8]

    public init(_ text: String) { bytes = Array(text.utf8) }

    /// One value: its kind and where its text is.
    public struct Value: Sendable {
        public enum Kind: Sendable { case string, number, bool, null, object, array }
        public var kind: Kind
        public var range: Range<Int>
    }

    /// The members of the object at `start` (or of the whole text), as
    /// (key token range, value). Keys are JSON string tokens, quotes included.
    public func members(of range: Range<Int>? = nil) -> [(key: Range<Int>, value: Value)] {
        var i = skipBlanks(range?.lowerBound ?? 0)
        let end = range?.upperBound ?? bytes.count
        guard i < end, bytes[i] == UInt8(ascii: "{") else { return [] }
        i += 1
        var out: [(Range<Int>, Value)] = []
        while true {
            i = skipBlanks(i)
            guard i < end, bytes[i] == UInt8(ascii: "\"") else { return out }
            guard let keyEnd = stringEnd(i) else { return out }
            let key = i..<keyEnd
            i = skipBlanks(keyEnd)
            guard i < end, bytes[i] == UInt8(ascii: ":") else { return out }
            guard let v = value(at: skipBlanks(i + 1)) else { return out }
            out.append((key, v))
            i = skipBlanks(v.range.upperBound)
            guard i < end, bytes[i] == UInt8(ascii: ",") else { return out }
            i += 1
        }
    }

    /// The elements of the array at `range` (or of the whole text).
    public func elements(of range: Range<Int>? = nil) -> [Value] {
        var i = skipBlanks(range?.lowerBound ?? 0)
        let end = range?.upperBound ?? bytes.count
        guard i < end, bytes[i] == UInt8(ascii: "[") else { return [] }
        i = skipBlanks(i + 1)
        var out: [Value] = []
        if i < end && bytes[i] == UInt8(ascii: "]") { return out }
        while let v = value(at: i) {
            out.append(v)
            i = skipBlanks(v.range.upperBound)
            guard i < end, bytes[i] == UInt8(ascii: ",") else { return out }
            i = skipBlanks(i + 1)
        }
        return out
    }

    public func value(at start: Int) -> Value? {
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return stringEnd(start).map { Value(kind: .string, range: start..<$0) }
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            return containerEnd(start).map { Value(kind: bytes[start] == UInt8(ascii: "{") ? .object : .array, range: start..<$0) }
        case UInt8(ascii: "t"): return literal(start, "true", .bool)
        case UInt8(ascii: "f"): return literal(start, "false", .bool)
        case UInt8(ascii: "n"): return literal(start, "null", .null)
        default:
            var i = start
            while i < bytes.count, Self.isNumberByte(bytes[i]) { i += 1 }
            return i > start ? Value(kind: .number, range: start..<i) : nil
        }
    }

    public func text(_ range: Range<Int>) -> Substring {
        Substring(decoding: bytes[range], as: UTF8.self)
    }

    /// The string token's content, unescaped (for the few fields read as values: ids, names).
    public func string(_ v: Value) -> String? {
        guard v.kind == .string else { return nil }
        let inner = bytes[(v.range.lowerBound + 1)..<(v.range.upperBound - 1)]
        if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
        var out: [UInt8] = []
        var i = inner.startIndex
        while i < inner.endIndex {
            let c = inner[i]
            guard c == UInt8(ascii: "\\"), i + 1 < inner.endIndex else {
                out.append(c)
                i += 1
                continue
            }
            let e = inner[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard i + 4 <= inner.endIndex, let unit = UInt32(String(decoding: inner[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                    return nil
                }
                i += 4
                var scalar = unit
                if (0xD800..<0xDC00).contains(unit), i + 6 <= inner.endIndex, inner[i] == UInt8(ascii: "\\"),
                    let low = UInt32(String(decoding: inner[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16), (0xDC00..<0xE000).contains(low)
                {
                    scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public func member(_ members: [(key: Range<Int>, value: Value)], _ name: String) -> Value? {
        let quoted = Array("\"\(name)\"".utf8)
        return members.first { bytes[$0.key].elementsEqual(quoted) }?.value
    }

    private func literal(_ start: Int, _ word: String, _ kind: Value.Kind) -> Value? {
        let w = Array(word.utf8)
        guard start + w.count <= bytes.count, bytes[start..<(start + w.count)].elementsEqual(w) else { return nil }
        return Value(kind: kind, range: start..<(start + w.count))
    }

    private static func isNumberByte(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    private func skipBlanks(_ start: Int) -> Int {
        var i = start
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x09 || bytes[i] == 0x0D { i += 1 }
        return i
    }

    /// One past the closing quote of the string token at `start`.
    private func stringEnd(_ start: Int) -> Int? {
        var i = start + 1
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        return nil
    }

    /// One past the bracket closing the object or array at `start`.
    private func containerEnd(_ start: Int) -> Int? {
        var depth = 0
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                guard let e = stringEnd(i) else { return nil }
                i = e
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return i + 1 }
            default: break
            }
            i += 1
        }
        return nil
    }
}
