#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateOTLP

/// Reads the two small messages an OTLP/HTTP server answers with: the
/// `ExportTraceServiceResponse` of a success (for `partial_success`) and the
/// `google.rpc.Status` of a failure (for its message). Two fields each, so a
/// hand-written protobuf reader is enough; JSON answers go through JSONDecoder.
enum OTLPResponseReader {
    struct PartialSuccess: Equatable {
        var rejectedSpans: Int64
        var errorMessage: String
    }

    /// `partial_success` of a 2xx answer; nil when absent or unreadable.
    static func partialSuccess(_ body: [UInt8], json: Bool) -> PartialSuccess? {
        guard !body.isEmpty else { return nil }
        if json {
            guard let answer = try? JSONDecoder().decode(JSONExportAnswer.self, from: Data(body)),
                let partial = answer.partialSuccess
            else { return nil }
            return PartialSuccess(rejectedSpans: partial.rejectedSpans, errorMessage: partial.errorMessage)
        }
        guard let inner = fields(body)[1]?.bytes else { return nil }
        let f = fields(inner)
        return PartialSuccess(rejectedSpans: Int64(bitPattern: f[1]?.varint ?? 0), errorMessage: f[2]?.bytes.map { String(decoding: $0, as: UTF8.self) } ?? "")
    }

    /// A readable reason from an error answer: the `google.rpc.Status` message
    /// when there is one, else the start of the body as text.
    static func errorMessage(_ body: [UInt8], contentType: String?) -> String {
        guard !body.isEmpty else { return "" }
        if contentType?.contains("json") == true {
            if let status = try? JSONDecoder().decode(JSONStatus.self, from: Data(body)), let message = status.message {
                return message
            }
        } else if contentType?.contains("protobuf") == true, let message = fields(body)[2]?.bytes {
            return String(decoding: message, as: UTF8.self)
        }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    /// `{"partialSuccess": {...}}`; any other member is ignored. A
    /// `partialSuccess` that is present but not an object makes the answer unreadable.
    private struct JSONExportAnswer: Decodable {
        var partialSuccess: JSONPartialSuccess?
    }

    /// Lenient as the OTLP/JSON mapping needs: `rejectedSpans` is an int64,
    /// which proto3 JSON writes as a string but some servers as a number; a
    /// member of another type reads as absent (0 / "").
    private struct JSONPartialSuccess: Decodable {
        var rejectedSpans: Int64 = 0
        var errorMessage = ""

        enum CodingKeys: String, CodingKey { case rejectedSpans, errorMessage }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let s = try? c.decode(String.self, forKey: .rejectedSpans) {
                rejectedSpans = Int64(s) ?? 0
            } else if let n = try? c.decode(Int64.self, forKey: .rejectedSpans) {
                rejectedSpans = n
            } else if let d = try? c.decode(Double.self, forKey: .rejectedSpans), let n = Int64(exactly: d.rounded(.towardZero)) {
                rejectedSpans = n
            }
            errorMessage = (try? c.decode(String.self, forKey: .errorMessage)) ?? ""
        }
    }

    /// The `message` of a `google.rpc.Status` in JSON, when it is a string.
    private struct JSONStatus: Decodable {
        var message: String?

        enum CodingKeys: String, CodingKey { case message }

        init(from decoder: any Decoder) throws {
            message = try? decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .message)
        }
    }

    private struct Field {
        var varint: UInt64?
        var bytes: [UInt8]?
    }

    /// The last occurrence of each field number (varint and length-delimited
    /// fields; fixed-width ones are skipped). Stops at the first malformed byte.
    private static func fields(_ data: [UInt8]) -> [Int: Field] {
        var out: [Int: Field] = [:]
        for field in ProtoReader.leadingFields(data) {
            switch field.value {
            case .varint(let v): out[field.number] = Field(varint: v)
            case .bytes(let b): out[field.number] = Field(bytes: b)
            case .fixed: break
            }
        }
        return out
    }
}
