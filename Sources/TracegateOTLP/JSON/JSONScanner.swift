#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A small pull reader of JSON (RFC 8259) text, for OTLPJSONDecoder. Why not
// Foundation's JSONSerialization: it first builds a tree of NSDictionary,
// NSArray and NSNumber (an allocation per value, and bridging on Linux) that
// would then be walked a second time; its numbers are NSNumbers whose
// integer-or-double nature and 64-bit range depend on the Foundation
// implementation (a timestamp must survive exactly, and fixed64 values go up
// to UInt64.max); and it cannot say where in the document a value of the wrong
// type is. Reading the bytes directly lets the decoder build the span model in
// one pass, parse 64-bit integers exactly from their digits, share the string
// table with the protobuf decoder, and report failures with the path of the
// field (`resourceSpans[0].scopeSpans[0].spans[3].traceId: ...`).

/// Why a document was refused, and where: `path` is collected innermost first
/// while the failure travels out of the nested readers.
struct JSONFailure: Error {
    var problem: String
    var path: [String] = []
    /// A request nested past `NestingLimit.levels`: reported with the one
    /// message the protobuf decoder uses too.
    var isNesting = false

    init(_ problem: String) { self.problem = problem }

    func inField(_ key: JSONKey) -> JSONFailure {
        var copy = self
        copy.path.append("." + key.text)
        return copy
    }

    func atIndex(_ index: Int) -> JSONFailure {
        var copy = self
        copy.path.append("[\(index)]")
        return copy
    }

    var message: String {
        if isNesting { return NestingLimit.message(at: nestingLocation) }
        guard !path.isEmpty else { return problem }
        var location = path.reversed().joined()
        if location.hasPrefix(".") { location.removeFirst() }
        return location + ": " + problem
    }
}

extension JSONFailure {
    /// The path in proto field names, up to and including the first attribute
    /// value (as the protobuf decoder reports it).
    fileprivate var nestingLocation: String {
        var out = ""
        for part in path.reversed() {
            if part.hasPrefix(".") || out.isEmpty && !part.hasPrefix("[") {
                let name = Self.snakeCase(part.hasPrefix(".") ? String(part.dropFirst()) : part)
                if !out.isEmpty { out += "." }
                out += name
                if name == "value" { break }
            } else {
                out += part
            }
        }
        return out
    }

    private static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// An object member's name. Points into the input unless the name had escapes.
struct JSONKey {
    var raw: UnsafeRawBufferPointer
    var decoded: [UInt8]?

    /// True when the name is `camel` or `snake` (OTLP/JSON sends lowerCamelCase;
    /// the proto field names are accepted too, as proto3 JSON parsers do).
    @inline(__always)
    func `is`(_ camel: StaticString, _ snake: StaticString) -> Bool {
        matches(camel) || matches(snake)
    }

    @inline(__always)
    func `is`(_ name: StaticString) -> Bool { matches(name) }

    @inline(__always)
    private func matches(_ name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        if let decoded {
            return decoded.count == count && decoded.withUnsafeBytes { memcmp($0.baseAddress!, name.utf8Start, count) == 0 }
        }
        return raw.count == count && memcmp(raw.baseAddress!, name.utf8Start, count) == 0
    }

    var text: String {
        if let decoded { return String(decoding: decoded, as: UTF8.self) }
        return String(decoding: raw, as: UTF8.self)
    }
}

/// The content of a string value: in the input, or unescaped into a copy.
struct JSONString {
    var raw: UnsafeRawBufferPointer
    var copy: [UInt8]?

    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let copy else { return body(raw) }
        return copy.withUnsafeBytes(body)
    }

    var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }
}

/// An integer read from a JSON number (or from a string holding one), before
/// the range check of its field type.
enum JSONInteger {
    case value(negative: Bool, magnitude: UInt64)
    case notInteger
    case tooLarge
}

struct JSONScanner {
    /// Objects and arrays together; above the message limit, which counts
    /// objects only, so that an OTLP-shaped document meets that one first.
    static let maxDepth = 3 * NestingLimit.levels

    private let input: UnsafeRawBufferPointer
    private var position = 0
    private var depth = 0
    /// Open objects; the request's is level 0, as in `NestingLimit`.
    private var objectDepth = -1
    /// Where the value `readInteger` read last starts.
    private var tokenStart = 0
    /// Unescaped string bytes; kept to reuse its capacity.
    private var scratch: [UInt8] = []
    private let strings = StringTable()

    /// Strings the table repaired (NUL, invalid UTF-8).
    var repairedStrings: Int { strings.repaired }

    init(_ input: UnsafeRawBufferPointer) {
        self.input = input
        // RFC 8259 §8.1: a parser may ignore a byte order mark.
        if input.count >= 3, input[0] == 0xEF, input[1] == 0xBB, input[2] == 0xBF { position = 3 }
    }

    // MARK: - Failures

    func syntaxError(_ what: String) -> JSONFailure {
        JSONFailure("invalid JSON at byte \(position): \(what)")
    }

    private func endOfInput() -> JSONFailure {
        JSONFailure("invalid JSON: unexpected end of input at byte \(position)")
    }

    /// "expected X, got Y" for the value that starts here.
    mutating func typeMismatch(_ expected: String) -> JSONFailure {
        skipWhitespace()
        guard position < input.count else { return endOfInput() }
        let got: String
        switch input[position] {
        case UInt8(ascii: "{"): got = "an object"
        case UInt8(ascii: "["): got = "an array"
        case UInt8(ascii: "\""): got = "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): got = "a boolean"
        case UInt8(ascii: "n"): got = "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): got = "a number"
        case UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ","):
            return syntaxError("expected a value, got '\(Character(Unicode.Scalar(input[position])))'")
        default: return syntaxError("unexpected character \(Self.describe(byte: input[position]))")
        }
        return JSONFailure("expected \(expected), got \(got)")
    }

    static func describe(byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    // MARK: - Structure

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// After the document: only whitespace may follow.
    mutating func expectEnd() throws(JSONFailure) {
        skipWhitespace()
        if position < input.count { throw syntaxError("unexpected data after the end of the document") }
    }

    var isAtEnd: Bool {
        mutating get {
            skipWhitespace()
            return position >= input.count
        }
    }

    /// Consumes `null` if that is the next value.
    mutating func consumeNull() throws(JSONFailure) -> Bool {
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func literal(_ word: StaticString) throws(JSONFailure) {
        let count = word.utf8CodeUnitCount
        guard position + count <= input.count else {
            // A prefix of the word up to the end is a truncated document.
            throw input.count - position < count && memcmp(input.baseAddress! + position, word.utf8Start, input.count - position) == 0
                ? endOfInput() : syntaxError("invalid literal (expected \(word))")
        }
        guard memcmp(input.baseAddress! + position, word.utf8Start, count) == 0 else {
            throw syntaxError("invalid literal (expected \(word))")
        }
        position += count
    }

    private mutating func enter() throws(JSONFailure) {
        depth += 1
        if depth > Self.maxDepth { throw syntaxError("nesting deeper than \(Self.maxDepth) levels") }
    }

    /// Opens an object; false (consuming it) for `null`, which proto3 JSON reads as the default value.
    mutating func beginObject(_ expected: String = "an object", allowNull: Bool = true) throws(JSONFailure) -> Bool {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        if input[position] == UInt8(ascii: "{") {
            position += 1
            try enter()
            objectDepth += 1
            if objectDepth > NestingLimit.levels {
                var failure = JSONFailure("nesting")
                failure.isNesting = true
                throw failure
            }
            return true
        }
        if allowNull, try consumeNull() { return false }
        throw typeMismatch(expected)
    }

    /// The next member's name (its ':' consumed), or nil at the closing '}'.
    mutating func nextKey(_ first: inout Bool) throws(JSONFailure) -> JSONKey? {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        if input[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            objectDepth -= 1
            return nil
        }
        if first {
            first = false
        } else {
            guard input[position] == UInt8(ascii: ",") else { throw syntaxError("expected ',' or '}' after an object member") }
            position += 1
            skipWhitespace()
            guard position < input.count else { throw endOfInput() }
        }
        guard input[position] == UInt8(ascii: "\"") else { throw syntaxError("expected a member name in double quotes") }
        let key: JSONKey
        let (start, end, escaped) = try scanString()
        if escaped {
            var bytes: [UInt8] = []
            try unescape(from: start, to: end, into: &bytes)
            key = JSONKey(raw: UnsafeRawBufferPointer(rebasing: input[start..<start]), decoded: bytes)
        } else {
            key = JSONKey(raw: UnsafeRawBufferPointer(rebasing: input[start..<end]), decoded: nil)
        }
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        guard input[position] == UInt8(ascii: ":") else { throw syntaxError("expected ':' after a member name") }
        position += 1
        return key
    }

    /// Opens an array; false (consuming it) for `null`.
    mutating func beginArray(_ expected: String = "an array") throws(JSONFailure) -> Bool {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        if input[position] == UInt8(ascii: "[") {
            position += 1
            try enter()
            return true
        }
        if try consumeNull() { return false }
        throw typeMismatch(expected)
    }

    /// True when another element follows (its ',' consumed); false at the closing ']'.
    mutating func nextElement(_ first: inout Bool) throws(JSONFailure) -> Bool {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        if input[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return false
        }
        if first {
            first = false
        } else {
            guard input[position] == UInt8(ascii: ",") else { throw syntaxError("expected ',' or ']' after an array element") }
            position += 1
        }
        return true
    }

    /// Reads and discards any value (unknown fields), checking its syntax.
    mutating func skipValue() throws(JSONFailure) {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        switch input[position] {
        case UInt8(ascii: "{"):
            _ = try beginObject()
            var first = true
            while try nextKey(&first) != nil { try skipValue() }
        case UInt8(ascii: "["):
            _ = try beginArray()
            var first = true
            while try nextElement(&first) { try skipValue() }
        case UInt8(ascii: "\""): _ = try scanString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        default: throw typeMismatch("a value")
        }
    }

    // MARK: - Strings

    /// Scans the string that starts at `position` (a '"'); returns the range of
    /// its content and whether it has escapes.
    private mutating func scanString() throws(JSONFailure) -> (Int, Int, Bool) {
        let start = position + 1
        var i = start
        var escaped = false
        scan: while i < input.count {
            let c = input[i]
            if c == UInt8(ascii: "\"") {
                position = i + 1
                return (start, i, escaped)
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                guard i + 1 < input.count else { break scan }
                switch input[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    let digitsEnd = min(i + 6, input.count)
                    guard (i + 2..<digitsEnd).allSatisfy({ hexDigitValue(input[$0]) != nil }) else {
                        position = i
                        throw syntaxError("\\u must be followed by 4 hex digits")
                    }
                    // Fewer than 4 digits, all hex, then the end: truncated.
                    guard digitsEnd == i + 6 else { break scan }
                    i += 6
                default:
                    position = i
                    let next = input[i + 1]
                    throw syntaxError(
                        next > 0x20 && next < 0x7F
                            ? "invalid escape \\\(Character(Unicode.Scalar(next)))" : "invalid escape: \\ then \(Self.describe(byte: next))")
                }
                continue
            }
            if c < 0x20 {
                position = i
                throw syntaxError("control character \(Self.describe(byte: c)) in a string (it must be escaped)")
            }
            i += 1
        }
        position = input.count
        throw endOfInput()
    }

    private func unescape(from start: Int, to end: Int, into out: inout [UInt8]) throws(JSONFailure) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(end - start)
        var i = start
        while i < end {
            let c = input[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < end else { throw JSONFailure("invalid JSON at byte \(i): incomplete escape in a string") }
            switch input[i + 1] {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: i + 2, end: end) else {
                    throw JSONFailure("invalid JSON at byte \(i): \\u must be followed by 4 hex digits")
                }
                i += 6
                var scalar = Unicode.Scalar(unit)
                if (0xD800...0xDBFF).contains(unit) {
                    // A high surrogate pairs with a following \uDC00-\uDFFF.
                    if i + 1 < end, input[i] == UInt8(ascii: "\\"), input[i + 1] == UInt8(ascii: "u"),
                        let low = hex4(at: i + 2, end: end), (0xDC00...0xDFFF).contains(low)
                    {
                        scalar = Unicode.Scalar(0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00))
                        i += 6
                    }
                }
                // A lone surrogate is not a character: it becomes U+FFFD, as
                // invalid UTF-8 does.
                UTF8.encode(scalar ?? "\u{FFFD}") { out.append($0) }
                continue
            default:
                throw JSONFailure("invalid JSON at byte \(i): invalid escape \\\(Character(Unicode.Scalar(input[i + 1])))")
            }
            i += 2
        }
    }

    private func hex4(at index: Int, end: Int) -> UInt16? {
        guard index + 4 <= end else { return nil }
        var v: UInt16 = 0
        for k in index..<index + 4 {
            guard let d = hexDigitValue(input[k]) else { return nil }
            v = v << 4 | UInt16(d)
        }
        return v
    }

    /// The content of the string value that comes next, unescaped; nil for
    /// null. It points into the input unless the string has escapes (rare in
    /// OTLP), which are decoded into a copy.
    mutating func readStringContent(_ expected: @autoclosure () -> String) throws(JSONFailure) -> JSONString? {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        guard input[position] == UInt8(ascii: "\"") else {
            if try consumeNull() { return nil }
            throw typeMismatch(expected())
        }
        let (start, end, escaped) = try scanString()
        let raw = UnsafeRawBufferPointer(rebasing: input[start..<end])
        guard escaped else { return JSONString(raw: raw, copy: nil) }
        var copy: [UInt8] = []
        try unescape(from: start, to: end, into: &copy)
        return JSONString(raw: raw, copy: copy)
    }

    /// A string value; "" for null. Goes through the string table.
    mutating func readString() throws(JSONFailure) -> String {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        guard input[position] == UInt8(ascii: "\"") else {
            if try consumeNull() { return "" }
            throw typeMismatch("a string")
        }
        let (start, end, escaped) = try scanString()
        if !escaped { return strings.string(UnsafeRawBufferPointer(rebasing: input[start..<end])) }
        // The buffer is taken out of `self` while it is in use, then put back.
        var buffer = scratch
        scratch = []
        defer { scratch = buffer }
        try unescape(from: start, to: end, into: &buffer)
        return buffer.withUnsafeBytes { strings.string($0) }
    }

    // MARK: - Scalars

    mutating func readBool() throws(JSONFailure) -> Bool {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        switch input[position] {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        case UInt8(ascii: "n"):
            try literal("null")
            return false
        default:
            throw typeMismatch("true or false")
        }
    }

    /// Scans a number token; returns its range.
    private mutating func scanNumber() throws(JSONFailure) -> Range<Int> {
        let start = position
        guard let end = Self.numberEnd(input, from: start) else {
            position = Self.numberPrefixEnd(input, from: start)
            throw position >= input.count ? endOfInput() : syntaxError("invalid number")
        }
        position = end
        return start..<end
    }

    /// The end of the JSON number literal that starts at `start`, or nil when
    /// there is none (RFC 8259 §6: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`).
    static func numberEnd(_ b: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        let n = b.count
        if i < n, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n, isDigit(b[i]) else { return nil }
        if b[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < n, isDigit(b[i]) { i += 1 }
        }
        if i < n, b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n, isDigit(b[i]) else { return nil }
            while i < n, isDigit(b[i]) { i += 1 }
        }
        if i < n, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < n, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < n, isDigit(b[i]) else { return nil }
            while i < n, isDigit(b[i]) { i += 1 }
        }
        return i
    }

    /// How far a malformed number goes, to say where it failed.
    private static func numberPrefixEnd(_ b: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start + 1
        while i < b.count, isDigit(b[i]) || b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")
            || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")
        {
            i += 1
        }
        return i
    }

    /// The exact integer a number literal denotes: `1.5e3` is 1500, `1.5` is
    /// not an integer. Never goes through Double.
    static func integer(_ b: UnsafeRawBufferPointer) -> JSONInteger {
        let n = b.count
        var i = 0
        let negative = n > 0 && b[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        // Fast path: plain digits.
        var magnitude: UInt64 = 0
        var overflow = false
        let intStart = i
        while i < n, isDigit(b[i]) {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(b[i] &- UInt8(ascii: "0")))
            magnitude = s
            overflow = overflow || o1 || o2
            i += 1
        }
        if i == n { return overflow ? .tooLarge : .value(negative: negative, magnitude: magnitude) }

        // Fraction and/or exponent: the digits D (integer then fraction part)
        // times 10^exp10 must be a whole number.
        let intEnd = i
        var fracStart = i
        var fracEnd = i
        if b[i] == UInt8(ascii: ".") {
            fracStart = i + 1
            i += 1
            while i < n, isDigit(b[i]) { i += 1 }
            fracEnd = i
        }
        var exponent = 0
        if i < n, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            var expNegative = false
            if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                expNegative = b[i] == UInt8(ascii: "-")
                i += 1
            }
            while i < n {
                exponent = min(exponent * 10 + Int(b[i] &- UInt8(ascii: "0")), 1_000_000)
                i += 1
            }
            if expNegative { exponent = -exponent }
        }
        let intCount = intEnd - intStart
        let total = intCount + (fracEnd - fracStart)
        func digit(_ k: Int) -> UInt8 {
            (k < intCount ? b[intStart + k] : b[fracStart + k - intCount]) &- UInt8(ascii: "0")
        }
        var first = 0
        while first < total, digit(first) == 0 { first += 1 }
        if first == total { return .value(negative: negative, magnitude: 0) }
        var last = total  // exclusive
        var exp10 = exponent - (fracEnd - fracStart)
        while digit(last - 1) == 0 {
            last -= 1
            exp10 += 1
        }
        if exp10 < 0 { return .notInteger }
        if last - first + exp10 > 20 { return .tooLarge }
        var value: UInt64 = 0
        for k in first..<last {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(digit(k)))
            if o1 || o2 { return .tooLarge }
            value = s
        }
        for _ in 0..<exp10 {
            let (m, o) = value.multipliedReportingOverflow(by: 10)
            if o { return .tooLarge }
            value = m
        }
        return .value(negative: negative, magnitude: value)
    }

    /// An integer given as a JSON number or as a string holding one (the
    /// proto3 JSON mapping writes 64-bit integers as strings); nil for null.
    /// `lastToken` gives its text for a message about its range.
    mutating func readInteger(_ expected: @autoclosure () -> String) throws(JSONFailure) -> JSONInteger? {
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        tokenStart = position
        let c = input[position]
        if c == UInt8(ascii: "-") || isDigit(c) {
            let range = try scanNumber()
            return Self.integer(UnsafeRawBufferPointer(rebasing: input[range]))
        }
        if c == UInt8(ascii: "\"") {
            let text = try readStringContent(expected())!
            let value = text.withBytes { bytes in Self.numberEnd(bytes, from: 0) == bytes.count ? Self.integer(bytes) : nil }
            guard let value else { throw JSONFailure("expected \(expected()), got \(quoted(text.string))") }
            return value
        }
        if try consumeNull() { return nil }
        throw typeMismatch(expected())
    }

    /// The text of the last value `readInteger` read (a string with its
    /// quotes), cut to a readable length.
    func lastToken() -> String {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: input[tokenStart..<position]), as: UTF8.self)
        return text.count > 42 ? String(text.prefix(41)) + "…" : text
    }

    mutating func readUInt64() throws(JSONFailure) -> UInt64 {
        let expected = "an unsigned 64-bit integer"
        guard let value = try readInteger(expected) else { return 0 }
        switch value {
        case .value(let negative, let magnitude) where !negative || magnitude == 0: return magnitude
        default: throw JSONFailure("expected \(expected), got \(lastToken())")
        }
    }

    mutating func readInt64() throws(JSONFailure) -> Int64 {
        let expected = "a signed 64-bit integer"
        guard let value = try readInteger(expected) else { return 0 }
        switch value {
        case .value(false, let magnitude) where magnitude <= UInt64(Int64.max): return Int64(magnitude)
        case .value(true, let magnitude) where magnitude <= UInt64(Int64.max) + 1: return Int64(bitPattern: 0 &- magnitude)
        default: throw JSONFailure("expected \(expected), got \(lastToken())")
        }
    }

    mutating func readUInt32() throws(JSONFailure) -> UInt32 {
        let expected = "an unsigned 32-bit integer"
        guard let value = try readInteger(expected) else { return 0 }
        switch value {
        case .value(let negative, let magnitude) where (!negative || magnitude == 0) && magnitude <= UInt64(UInt32.max):
            return UInt32(magnitude)
        default: throw JSONFailure("expected \(expected), got \(lastToken())")
        }
    }

    /// An enum field: its number, or (being liberal: OTLP/JSON requires
    /// numbers) one of the value names, in any letter case.
    mutating func readEnum(_ type: String, names: [(StaticString, Int32)]) throws(JSONFailure) -> Int32 {
        skipWhitespace()
        if position < input.count, input[position] == UInt8(ascii: "\"") {
            let text = try readString()
            let upper = text.uppercased()
            for (name, value) in names where name.description == upper { return value }
            var utf8 = Array(text.utf8)
            let number = utf8.withUnsafeMutableBytes { bytes -> JSONInteger? in
                Self.numberEnd(UnsafeRawBufferPointer(bytes), from: 0) == bytes.count ? Self.integer(UnsafeRawBufferPointer(bytes)) : nil
            }
            switch number {
            case .value(false, let magnitude)? where magnitude <= UInt64(Int32.max): return Int32(magnitude)
            case .value(true, let magnitude)? where magnitude <= UInt64(Int32.max) + 1: return Int32(truncatingIfNeeded: 0 &- Int64(magnitude))
            case nil: throw JSONFailure("unknown \(type) \(quoted(text))")
            default: throw JSONFailure("expected a \(type) number or name, got \(quoted(text))")
            }
        }
        guard let value = try readInteger("a \(type) number or name") else { return 0 }
        switch value {
        case .value(false, let magnitude) where magnitude <= UInt64(Int32.max): return Int32(magnitude)
        case .value(true, let magnitude) where magnitude <= UInt64(Int32.max) + 1: return Int32(truncatingIfNeeded: 0 &- Int64(magnitude))
        default: throw JSONFailure("expected a \(type) number or name, got \(lastToken())")
        }
    }

    /// A double: a number, or a string with a number, "NaN", "Infinity" or
    /// "-Infinity" (proto3 JSON).
    mutating func readDouble() throws(JSONFailure) -> Double {
        let expected = "a number"
        skipWhitespace()
        guard position < input.count else { throw endOfInput() }
        let c = input[position]
        if c == UInt8(ascii: "-") || isDigit(c) {
            let range = try scanNumber()
            return Self.double(UnsafeRawBufferPointer(rebasing: input[range]))
        }
        guard let text = try readStringContent(expected) else { return 0 }
        if let value = text.withBytes({ bytes in Self.numberEnd(bytes, from: 0) == bytes.count ? Self.double(bytes) : nil }) {
            return value
        }
        switch text.string {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        case let other: throw JSONFailure("expected \(expected), got \(quoted(other))")
        }
    }

    /// Correctly rounded (strtod) value of a valid number literal.
    private static func double(_ bytes: UnsafeRawBufferPointer) -> Double {
        // Literals up to 15 bytes make a String without allocating.
        Double(String(decoding: bytes, as: UTF8.self)) ?? .nan
    }

    /// A bytes field: base64, standard or URL-safe alphabet, padding optional.
    mutating func readBase64() throws(JSONFailure) -> [UInt8] {
        guard let text = try readStringContent("a base64 string") else { return [] }
        guard let decoded = text.withBytes(base64Decode) else {
            throw JSONFailure("expected a base64 string, got \(quoted(text.string))")
        }
        return decoded
    }
}

// MARK: - Helpers

@inline(__always)
func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

@inline(__always)
func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// A value for an error message, quoted and cut to a readable length.
func quoted(_ text: String) -> String {
    let limit = 40
    var out = "\""
    for (n, character) in text.enumerated() {
        if n == limit {
            out += "…"
            break
        }
        if character == "\\" || character == "\"" { out.append("\\") }
        out.append(character)
    }
    return out + "\""
}

/// Decodes base64 (RFC 4648 §4 or the URL-safe §5 alphabet, '=' padding
/// optional); nil when the text is not base64.
func base64Decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
    var end = text.count
    var padding = 0
    while end > 0, text[end - 1] == UInt8(ascii: "="), padding < 2 {
        end -= 1
        padding += 1
    }
    if end % 4 == 1 { return nil }
    if padding > 0, (end + padding) % 4 != 0 { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(end * 3 / 4)
    var accumulator: UInt32 = 0
    var bits = 0
    for i in 0..<end {
        let c = text[i]
        let v: UInt8
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): v = c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: "-"): v = 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): v = 63
        default: return nil
        }
        accumulator = accumulator << 6 | UInt32(v)
        bits += 6
        if bits >= 8 {
            bits -= 8
            out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
        }
    }
    return out
}
