import COTLP
import CProtobufC

/// Encodes the success answer, `ExportTraceServiceResponse`, with protobuf-c.
/// An empty message (no rejected spans) encodes to zero bytes.
public enum ExportResponseEncoder {
    public static func encode(rejectedSpans: Int, errorMessage: String) -> [UInt8] {
        var response = CResponse()
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__init(&response)
        var partial = CPartialSuccess()
        opentelemetry__proto__collector__trace__v1__export_trace_partial_success__init(&partial)
        return errorMessage.withCString { message in
            if rejectedSpans > 0 || !errorMessage.isEmpty {
                partial.rejected_spans = Int64(rejectedSpans)
                partial.error_message = UnsafeMutablePointer(mutating: message)
                return withUnsafeMutablePointer(to: &partial) { partialPointer in
                    response.partial_success = partialPointer
                    return pack(&response)
                }
            }
            return pack(&response)
        }
    }

    private static func pack(_ response: inout CResponse) -> [UInt8] {
        let size = opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(&response)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&response, buffer.baseAddress)
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response. It is three
/// fields and not part of the OTLP protos, so it is written by hand here:
/// `int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3;`
public struct RPCStatus: Sendable, Equatable {
    /// gRPC status codes used by OTLP.
    public enum Code: Int32, Sendable {
        case invalidArgument = 3
        case deadlineExceeded = 4
        case resourceExhausted = 8
        case failedPrecondition = 9
        case `internal` = 13
        case unavailable = 14
        case unauthenticated = 16
        case unimplemented = 12
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.append(0x08)  // field 1, varint
        appendVarint(UInt64(UInt32(bitPattern: code.rawValue)), to: &out)
        let text = Array(message.utf8)
        if !text.isEmpty {
            out.append(0x12)  // field 2, length-delimited
            appendVarint(UInt64(text.count), to: &out)
            out.append(contentsOf: text)
        }
        return out
    }
}

func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}
