// libFuzzer target for OTLPJSONDecoder. Built by scripts/fuzz with
// `-sanitize=fuzzer,address -D FUZZING`; a plain `swift build` gets the
// fallback `main` below, which runs the given input files once (reproducer).
import Foundation
import TracegateCore
import TracegateOTLP

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("FuzzJSON invariant violated: \(message())\n".utf8))
        abort()
    }
}

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    guard let decoded = try? OTLPJSONDecoder.decode(bytes) else { return }
    let spans = decoded.batch.spanCount
    check(decoded.rejectedSpans >= 0, "negative rejectedSpans \(decoded.rejectedSpans)")
    check(spans >= 0, "negative span count")
    check(decoded.rejectedSpans == 0 || !decoded.errorMessage.isEmpty,
          "\(decoded.rejectedSpans) spans rejected without an error message")
    // Accepted spans are valid: through the protobuf encoder and decoder they
    // all survive, with nothing rejected.
    let encoded = OTLPProtobufEncoder.encode(decoded.batch)
    let again: DecodedRequest
    do {
        again = try OTLPProtobufDecoder.decode(encoded)
    } catch {
        check(false, "accepted JSON batch does not round-trip through protobuf: \(error)")
        return
    }
    check(again.rejectedSpans == 0, "protobuf re-decode rejected \(again.rejectedSpans) spans: \(again.errorMessage)")
    check(again.batch.spanCount == spans, "span count \(spans) -> \(again.batch.spanCount)")
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
#else
@main
struct FuzzJSONMain {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { fuzzOne($0) }
            print("\(path): ok")
        }
    }
}
#endif
