// libFuzzer target for OTLPProtobufDecoder. Built by scripts/fuzz with
// `-sanitize=fuzzer,address -D FUZZING`; a plain `swift build` gets the
// fallback `main` below, which runs the given input files once (reproducer).
import Foundation
import TracegateCore
import TracegateOTLP

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("FuzzProtobuf invariant violated: \(message())\n".utf8))
        abort()
    }
}

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
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
    let encoded = OTLPProtobufEncoder.encode(decoded.batch)
    let again: DecodedRequest
    do {
        again = try OTLPProtobufDecoder.decode(encoded)
    } catch {
        check(false, "re-encoded batch does not decode: \(error)")
        return
    }
    check(again.repairedStrings == 0, "repaired strings need repair again (\(again.repairedStrings))")
    check(again.rejectedSpans == 0, "re-decode rejected \(again.rejectedSpans) spans: \(again.errorMessage)")
    check(again.batch.spanCount == decoded.batch.spanCount,
          "span count \(decoded.batch.spanCount) -> \(again.batch.spanCount)")
    // A NaN double attribute is != itself, so fall back to comparing the bytes.
    check(again.batch == decoded.batch || OTLPProtobufEncoder.encode(again.batch) == encoded,
          "round trip changed the batch")
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
#else
@main
struct FuzzProtobufMain {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes { fuzzOne($0) }
            print("\(path): ok")
        }
    }
}
#endif
