// What the libFuzzer target checks of each input, per decoder, and its
// reproducer mode.
import Foundation
import TracegateCore
import TracegateOTLP

/// The decoder a fuzz target feeds.
enum FuzzedDecoder: String, Sendable {
    case protobuf = "FuzzProtobuf"
    case json = "FuzzJSON"

    /// The decoder `TRACEGATE_FUZZ_DECODER` names (`protobuf` or `json`);
    /// exits with a message when it names none.
    static func fromEnvironment() -> FuzzedDecoder {
        switch ProcessInfo.processInfo.environment["TRACEGATE_FUZZ_DECODER"] {
        case "protobuf": return .protobuf
        case "json": return .json
        default:
            FileHandle.standardError.write(Data("set TRACEGATE_FUZZ_DECODER to protobuf or json\n".utf8))
            exit(2)
        }
    }

    /// Decodes one input and checks the invariants of what came out; a
    /// violation is printed and aborts (libFuzzer keeps the input).
    func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .protobuf: fuzzProtobuf(bytes)
        case .json: fuzzJSON(bytes)
        }
    }

    /// Without libFuzzer: runs each file once (a reproducer).
    func replay(_ paths: some Sequence<String>) throws {
        for path in paths {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { fuzzOne($0) }
            print("\(path): ok")
        }
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            FileHandle.standardError.write(Data("\(rawValue) invariant violated: \(message())\n".utf8))
            abort()
        }
    }

    private func fuzzJSON(_ bytes: UnsafeRawBufferPointer) {
        guard let decoded = try? OTLPJSONDecoder.decode(bytes) else { return }
        let spans = decoded.batch.spanCount
        check(decoded.rejectedSpans >= 0, "negative rejectedSpans \(decoded.rejectedSpans)")
        check(spans >= 0, "negative span count")
        check(decoded.rejectedSpans == 0 || !decoded.errorMessage.isEmpty,
              "\(decoded.rejectedSpans) spans rejected without an error message")
        // Accepted spans are valid: through the protobuf encoder and decoder they
        // all survive, with nothing rejected.
        _ = roundTrip(decoded)
    }

    private func fuzzProtobuf(_ bytes: UnsafeRawBufferPointer) {
        // The mapping stops at the nesting limit without the walk; when it
        // refuses, the walk (which only says where) must not call the request
        // fine: it descends into everything the mapping unpacks.
        let decoded: DecodedRequest
        do {
            decoded = try OTLPProtobufDecoder.decode(bytes)
        } catch {
            if error.message.hasPrefix("messages nested deeper than") {
                check(ProtobufBaseline.nestingVerdict(bytes) != "ok", "refused as too deep, but the nesting walk finds it within the limit")
            }
            return
        }
        check(decoded.rejectedSpans >= 0, "negative rejectedSpans \(decoded.rejectedSpans)")
        // Round trip: what was accepted re-encodes to a message that decodes to the
        // same batch with nothing rejected.
        guard let (encoded, again) = roundTrip(decoded) else { return }
        check(again.repairedStrings == 0, "repaired strings need repair again (\(again.repairedStrings))")
        // A NaN double attribute is != itself, so fall back to comparing the bytes.
        check(again.batch == decoded.batch || OTLPProtobufEncoder.encode(again.batch) == encoded,
              "round trip changed the batch")
    }

    /// Re-encodes an accepted batch as protobuf and decodes it again: nothing
    /// may be rejected and every span must come back.
    private func roundTrip(_ decoded: DecodedRequest) -> (encoded: [UInt8], again: DecodedRequest)? {
        let encoded = OTLPProtobufEncoder.encode(decoded.batch)
        let again: DecodedRequest
        do {
            again = try OTLPProtobufDecoder.decode(encoded)
        } catch {
            check(false, "accepted batch does not decode again from protobuf: \(error)")
            return nil
        }
        check(again.rejectedSpans == 0, "re-decode rejected \(again.rejectedSpans) spans: \(again.errorMessage)")
        check(again.batch.spanCount == decoded.batch.spanCount, "span count \(decoded.batch.spanCount) -> \(again.batch.spanCount)")
        return (encoded, again)
    }
}
