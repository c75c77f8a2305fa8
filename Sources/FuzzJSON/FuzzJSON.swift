// libFuzzer target for OTLPJSONDecoder (the checks are FuzzSupport's). Built by
// scripts/fuzz with `-sanitize=fuzzer,address -D FUZZING`; a plain `swift
// build` gets the fallback `main` below, which runs the given input files
// once (reproducer).
import FuzzSupport

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzedDecoder.json.fuzzOne(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
#else
@main struct FuzzJSONMain {
    static func main() throws { try FuzzedDecoder.json.replay(CommandLine.arguments.dropFirst()) }
}
#endif
