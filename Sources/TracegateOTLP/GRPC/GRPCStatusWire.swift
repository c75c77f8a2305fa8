// The parts of gRPC's status wire format that both ends of the gateway use:
// the gRPC receiver writes them into its trailers, the `otlp` exporter reads
// them from the trailers of its downstream. Kept here, free of NIO, because
// TracegateOTLP is the one module both depend on; only what both sides use
// lives here (framing stays with each side's channel code).

/// Header value encodings of gRPC (PROTOCOL-HTTP2.md).
public enum GRPCHeaderEncoding {
    /// `grpc-message`: UTF-8, with every byte outside printable ASCII and `%` as `%XX`.
    public static func percentEncoded(_ text: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The text of a received `grpc-message`. The spec asks receivers not to
    /// fail on a bad encoding, so a `%` not followed by two hex digits is kept
    /// as it is, and bytes that are not UTF-8 become U+FFFD. The server
    /// chooses this text, so it is cut at `limit` bytes (decoded) before it
    /// reaches a log line.
    public static func percentDecoded(_ text: String, limit: Int = 1024) -> String {
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(min(bytes.count, limit))
        var i = 0
        while i < bytes.count && out.count < limit {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
                let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2])
            {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `-bin` headers: base64 without padding (the spec asks senders to omit it).
    public static func base64(_ bytes: [UInt8]) -> String {
        let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var chunk = UInt32(bytes[i]) << 16
            if n > 1 { chunk |= UInt32(bytes[i + 1]) << 8 }
            if n > 2 { chunk |= UInt32(bytes[i + 2]) }
            for j in 0...n { out.append(alphabet[Int((chunk >> (18 - 6 * UInt32(j))) & 0x3F)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A received `-bin` header value: base64 with or without padding (the
    /// spec asks receivers to take both). nil when it is not base64.
    public static func base64Decoded(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text.utf8 {
            let value: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            // Data after padding is not base64.
            guard padding == 0 else { return nil }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // One leftover character (6 bits) cannot be a byte.
        guard bits < 6, padding <= 2 else { return nil }
        return out
    }
}

/// The messages of `grpc-status-details-bin`, written and read by hand: they
/// are a handful of fields and not part of the OTLP protos.
public enum GRPCStatusDetails {
    public static let retryInfoTypeURL = "type.googleapis.com/google.rpc.RetryInfo"

    /// `google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }`
    /// with `details` already serialized as `Any` messages.
    public static func status(code: RPCStatus.Code, message: String, details: [[UInt8]]) -> [UInt8] {
        var writer = ProtoWriter(bytes: RPCStatus(code: code, message: message).encoded())
        for detail in details { writer.bytes(3, detail) }
        return writer.bytes
    }

    /// `google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }`.
    public static func retryInfo(delay: Duration) -> [UInt8] {
        var retryInfo = ProtoWriter()
        retryInfo.bytes(1, duration(delay))
        return retryInfo.bytes
    }

    /// `google.protobuf.Any { string type_url = 1; bytes value = 2; }` holding a `RetryInfo`.
    public static func retryInfoAny(delay: Duration) -> [UInt8] {
        var any = ProtoWriter()
        any.bytes(1, Array(retryInfoTypeURL.utf8))
        any.bytes(2, retryInfo(delay: delay))
        return any.bytes
    }

    /// `google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; }`, for a
    /// non-negative duration (negative ones are written as zero).
    public static func duration(_ value: Duration) -> [UInt8] {
        let (seconds, attoseconds) = value.components
        var writer = ProtoWriter()
        guard seconds >= 0 && attoseconds >= 0 else { return writer.bytes }
        writer.varint(1, UInt64(seconds))
        writer.varint(2, UInt64(attoseconds / 1_000_000_000))
        return writer.bytes
    }

    /// The `retry_delay` of the first `RetryInfo` among the details of a
    /// serialized `google.rpc.Status`; nil when there is none or the bytes
    /// do not parse.
    public static func retryDelay(inStatus status: [UInt8]) -> Duration? {
        guard let fields = ProtoReader.fields(status) else { return nil }
        for field in fields where field.number == 3 {
            guard case .bytes(let any) = field.value, let anyFields = ProtoReader.fields(any) else { continue }
            var typeURL: [UInt8]?
            var value: [UInt8] = []
            for f in anyFields {
                switch (f.number, f.value) {
                case (1, .bytes(let b)): typeURL = b
                case (2, .bytes(let b)): value = b
                default: break
                }
            }
            // The type URL's host part is free-form; the message name after
            // the last `/` is what identifies it.
            guard let typeURL, String(decoding: typeURL, as: UTF8.self).hasSuffix("/google.rpc.RetryInfo") else { continue }
            if let delay = retryDelay(inRetryInfo: value) { return delay }
        }
        return nil
    }

    /// The `retry_delay` of a serialized `google.rpc.RetryInfo`. Negative
    /// fields count as zero (a server cannot ask for less than no wait).
    public static func retryDelay(inRetryInfo retryInfo: [UInt8]) -> Duration? {
        guard let fields = ProtoReader.fields(retryInfo) else { return nil }
        var found: Duration?
        for field in fields where field.number == 1 {
            guard case .bytes(let duration) = field.value, let parts = ProtoReader.fields(duration) else { return nil }
            var seconds: Int64 = 0
            var nanos: Int64 = 0
            for part in parts {
                // int64 and int32 are varints; a negative one is its 64-bit two's complement.
                switch (part.number, part.value) {
                case (1, .varint(let v)): seconds = Int64(bitPattern: v)
                case (2, .varint(let v)): nanos = Int64(Int32(truncatingIfNeeded: v))
                default: break
                }
            }
            found = .seconds(max(0, seconds)) + .nanoseconds(max(0, min(nanos, 999_999_999)))
        }
        return found
    }
}

/// The smallest protobuf writer: varint and length-delimited fields, zero
/// values omitted as proto3 does.
public struct ProtoWriter {
    public var bytes: [UInt8] = []

    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    public mutating func varint(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        rawVarint(UInt64(field << 3))
        rawVarint(value)
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        guard !value.isEmpty else { return }
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(value.count))
        bytes += value
    }

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}

/// The smallest protobuf reader: every field of one message level, in order
/// (repeated fields appear once per occurrence). The bytes come from another
/// process, so every length is checked against what is left; nil on the
/// first malformed field.
public enum ProtoReader {
    public enum Value: Equatable {
        case varint(UInt64)
        case bytes([UInt8])
        /// fixed32 and fixed64 fields, kept only so that they can be skipped.
        case fixed
    }

    public struct Field: Equatable {
        public var number: Int
        public var value: Value
    }

    public static func fields(_ data: [UInt8]) -> [Field]? {
        let (fields, complete) = scan(data)
        return complete ? fields : nil
    }

    /// The fields before the first malformed byte, for readers that take
    /// what they can (a response whose tail is damaged).
    public static func leadingFields(_ data: [UInt8]) -> [Field] { scan(data).fields }

    private static func scan(_ data: [UInt8]) -> (fields: [Field], complete: Bool) {
        var out: [Field] = []
        var i = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while i < data.count, shift < 64 {
                let b = data[i]
                i += 1
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while i < data.count {
            guard let key = varint(), key >> 3 > 0, key >> 3 <= 536_870_911 else { return (out, false) }
            let number = Int(key >> 3)
            switch key & 7 {
            case 0:
                guard let v = varint() else { return (out, false) }
                out.append(Field(number: number, value: .varint(v)))
            case 2:
                guard let n = varint(), n <= UInt64(data.count - i) else { return (out, false) }
                out.append(Field(number: number, value: .bytes(Array(data[i..<(i + Int(n))]))))
                i += Int(n)
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard data.count - i >= width else { return (out, false) }
                out.append(Field(number: number, value: .fixed))
                i += width
            default:
                return (out, false)
            }
        }
        return (out, true)
    }
}
