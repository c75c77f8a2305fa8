import NIOCore
import TracegateOTLP

// The few pieces of the gRPC wire protocol (gRPC's PROTOCOL-HTTP2.md) that a
// unary server needs, kept free of channels so that they are unit-tested alone.

/// A gRPC error as it goes into the trailers: `grpc-status`, `grpc-message`
/// and, when there is something to tell the client beyond the code,
/// `grpc-status-details-bin` with a serialized `google.rpc.Status`.
struct GRPCFailure: Error {
    var code: RPCStatus.Code
    var message: String
    /// A `google.rpc.RetryInfo` for the details: how long the client should back off.
    var retryDelay: Duration? = nil
    /// HTTP status of the answer: 200 for every gRPC error, except for
    /// requests that are not gRPC at all (415, 405).
    var httpStatus: Int = 200
    var extraHeaders: [(String, String)] = []

    /// The trailers of a Trailers-Only answer, after `:status` and `content-type`.
    ///
    /// A retry delay goes out twice: in `grpc-status-details-bin`, where the
    /// OTLP specification puts it (the collector's and the Go SDK's exporters
    /// read it there), and as a bare `RetryInfo` in `google.rpc.retryinfo-bin`,
    /// the trailer the Python SDK's gRPC exporter reads.
    var trailers: [(String, String)] {
        var out = [("grpc-status", "\(code.rawValue)"), ("grpc-message", GRPCHeaderEncoding.percentEncoded(message))]
        if let retryDelay {
            let details = GRPCStatusDetails.status(
                code: code, message: message, details: [GRPCStatusDetails.retryInfoAny(delay: retryDelay)])
            out.append(("grpc-status-details-bin", GRPCHeaderEncoding.base64(details)))
            out.append(("google.rpc.retryinfo-bin", GRPCHeaderEncoding.base64(GRPCStatusDetails.retryInfo(delay: retryDelay))))
        }
        return out + extraHeaders
    }
}

/// Length-prefixed messages: a compressed flag byte, a 4-byte big-endian
/// length, then the message.
enum GRPCFraming {
    static let prefixSize = 5

    /// Writes one uncompressed message.
    static func write(_ message: [UInt8], to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.count), endianness: .big)
        buffer.writeBytes(message)
    }
}

/// One request message of a unary call, found in the DATA of its stream.
struct GRPCRequestMessage {
    var compressed: Bool
    var bytes: ByteBuffer
}

/// Collects the DATA frames of a unary call and checks its framing as the
/// bytes come, so that an oversized message is refused from its prefix,
/// before its body is uploaded, and a stream never holds more than one
/// message's worth of bytes.
struct GRPCUnaryMessageReader {
    /// Largest message length accepted (bytes after the prefix, as sent).
    let limit: Int
    /// Whether the request declared an encoding (`grpc-encoding: gzip`).
    let compressionAllowed: Bool
    private var buffer: ByteBuffer

    init(limit: Int, compressionAllowed: Bool, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.limit = limit
        self.compressionAllowed = compressionAllowed
        self.buffer = allocator.buffer(capacity: 0)
    }

    /// Adds a DATA frame's bytes; a failure means the call can be answered now.
    mutating func append(_ chunk: inout ByteBuffer) -> GRPCFailure? {
        buffer.writeBuffer(&chunk)
        guard let (compressed, length) = prefix() else { return nil }
        if let failure = check(compressed: compressed) { return failure }
        if length > limit {
            return GRPCFailure(
                code: .resourceExhausted,
                message: "received message larger than max_recv_msg_size_mib (\(length) vs. \(limit) bytes)")
        }
        if buffer.readableBytes > GRPCFraming.prefixSize + length {
            return GRPCFailure(code: .internal, message: "more than one request message in a unary call")
        }
        return nil
    }

    /// At the end of the request stream: its one message.
    func finish() -> Result<GRPCRequestMessage, GRPCFailure> {
        guard let (compressed, length) = prefix() else {
            if buffer.readableBytes == 0 {
                return .failure(GRPCFailure(code: .internal, message: "request stream ended without a message"))
            }
            return .failure(GRPCFailure(code: .internal, message: "request stream ended inside a message prefix"))
        }
        if let failure = check(compressed: compressed) { return .failure(failure) }
        let available = buffer.readableBytes - GRPCFraming.prefixSize
        guard available >= length else {
            return .failure(GRPCFailure(
                code: .internal, message: "request stream ended inside a message (\(available) of \(length) bytes)"))
        }
        let bytes = buffer.getSlice(at: buffer.readerIndex + GRPCFraming.prefixSize, length: length)!
        return .success(GRPCRequestMessage(compressed: compressed == true, bytes: bytes))
    }

    private func prefix() -> (compressed: Bool?, length: Int)? {
        guard buffer.readableBytes >= GRPCFraming.prefixSize,
            let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .big, as: UInt32.self)
        else { return nil }
        return (flag == 0 ? false : flag == 1 ? true : nil, Int(length))
    }

    private func check(compressed: Bool?) -> GRPCFailure? {
        switch compressed {
        case nil:
            return GRPCFailure(code: .internal, message: "invalid compressed flag in the message prefix (must be 0 or 1)")
        case true? where !compressionAllowed:
            return GRPCFailure(code: .internal, message: "compressed flag set but the request has no grpc-encoding")
        default:
            return nil
        }
    }
}

/// Header value encodings of gRPC.
enum GRPCHeaderEncoding {
    /// `grpc-message`: UTF-8, with every byte outside printable ASCII and `%` as `%XX`.
    static func percentEncoded(_ text: String) -> String {
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

    /// `-bin` headers: base64 without padding (the spec asks senders to omit it).
    static func base64(_ bytes: [UInt8]) -> String {
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
}

/// The messages of `grpc-status-details-bin`, written by hand like
/// `RPCStatus`: they are a handful of fields and not part of the OTLP protos.
enum GRPCStatusDetails {
    static let retryInfoTypeURL = "type.googleapis.com/google.rpc.RetryInfo"

    /// `google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }`
    /// with `details` already serialized as `Any` messages.
    static func status(code: RPCStatus.Code, message: String, details: [[UInt8]]) -> [UInt8] {
        var writer = ProtoWriter(bytes: RPCStatus(code: code, message: message).encoded())
        for detail in details { writer.bytes(3, detail) }
        return writer.bytes
    }

    /// `google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }`.
    static func retryInfo(delay: Duration) -> [UInt8] {
        var retryInfo = ProtoWriter()
        retryInfo.bytes(1, duration(delay))
        return retryInfo.bytes
    }

    /// `google.protobuf.Any { string type_url = 1; bytes value = 2; }` holding a `RetryInfo`.
    static func retryInfoAny(delay: Duration) -> [UInt8] {
        var any = ProtoWriter()
        any.bytes(1, Array(retryInfoTypeURL.utf8))
        any.bytes(2, retryInfo(delay: delay))
        return any.bytes
    }

    /// `google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; }`, for a
    /// non-negative duration (negative ones are written as zero).
    static func duration(_ value: Duration) -> [UInt8] {
        let (seconds, attoseconds) = value.components
        var writer = ProtoWriter()
        guard seconds >= 0 && attoseconds >= 0 else { return writer.bytes }
        writer.varint(1, UInt64(seconds))
        writer.varint(2, UInt64(attoseconds / 1_000_000_000))
        return writer.bytes
    }
}

/// The smallest protobuf writer: varint and length-delimited fields, zero
/// values omitted as proto3 does.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        rawVarint(UInt64(field << 3))
        rawVarint(value)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
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
