import NIOCore
import TracegateOTLP

// The few pieces of the gRPC wire protocol (gRPC's PROTOCOL-HTTP2.md) that a
// unary server needs, kept free of channels so that they are unit-tested alone.
// The header encodings and `grpc-status-details-bin` messages, which the
// `otlp` exporter reads as well, live in TracegateOTLP (GRPCStatusWire.swift).

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

