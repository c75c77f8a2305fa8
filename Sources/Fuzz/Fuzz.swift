// libFuzzer target for the two OTLP decoders, one per run:
// TRACEGATE_FUZZ_DECODER=protobuf or json. Built by scripts/fuzz with
// `-sanitize=fuzzer,address -D FUZZING`; a plain `swift build` gets the
// fallback `main` below, which runs the given input files once (reproducer).

let decoder = FuzzedDecoder.fromEnvironment()

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    decoder.fuzzOne(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}
#else
@main struct FuzzMain {
    static func main() throws { try decoder.replay(CommandLine.arguments.dropFirst()) }
}
#endif
