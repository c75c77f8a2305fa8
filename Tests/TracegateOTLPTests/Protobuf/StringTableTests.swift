import CProtobufC
import Testing
@testable import TracegateOTLP

#if canImport(Glibc)
import Glibc
#endif

/// The decoder's string cache must give exactly what `String(decoding:)` gives
/// for the same bytes, whatever the length, the position in memory, and
/// whatever was cached before.
@Suite struct StringTableTests {
    /// A NUL-terminated copy of `bytes` placed so that it ends `gap` bytes
    /// before the end of a page (the next page is made inaccessible), then
    /// `body` runs with it: reads past the page would crash.
    private func atPageEnd(_ bytes: [UInt8], gap: Int, _ body: (UnsafeMutablePointer<CChar>) -> Void) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let base = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            Issue.record("mmap failed")
            return
        }
        defer { munmap(base, 2 * page) }
        #expect(mprotect(base + page, page, PROT_NONE) == 0)
        let start = base + page - gap - bytes.count - 1
        bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        start.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
        body(start.assumingMemoryBound(to: CChar.self))
    }

    @Test func givesTheSameStringsAsDecodingForEveryLengthAndPageOffset() {
        let table = StringTable()
        for length in 0...40 {
            let bytes = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            for gap in 0..<20 {
                atPageEnd(bytes, gap: gap) { pointer in
                    #expect(table.string(pointer) == String(decoding: bytes, as: UTF8.self), "length \(length), gap \(gap)")
                }
            }
        }
    }

    /// The `bytes` path for short strings reads two words where a page
    /// allows and masks what lies past the string: a NUL or a non-ASCII byte
    /// at any position, and whatever follows the string in memory, must give
    /// what repairing the bytes gives.
    @Test func shortBytesWithANulOrNonASCIIAtEveryPositionAndPageOffset() {
        for length in 1...15 {
            for position in -1..<length {
                for odd: UInt8 in [0x00, 0xC3, 0xFF] where position >= 0 || odd == 0x00 {
                    var bytes = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                    if position >= 0 { bytes[position] = odd }
                    let expected = String(decoding: bytes.map { $0 == 0 ? [0xEF, 0xBF, 0xBD] : [$0] }.joined(), as: UTF8.self)
                    for gap in [0, 1, 7, 15, 40] {
                        // Garbage after the string: it must not leak into it.
                        atPageEnd(bytes + [UInt8](repeating: 0x41, count: gap), gap: 0) { pointer in
                            let table = StringTable()
                            let data = ProtobufCBinaryData(len: bytes.count, data: UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt8.self))
                            #expect(table.string(data) == expected, "length \(length), \(odd) at \(position), gap \(gap)")
                            #expect(table.repaired == (position >= 0 ? 1 : 0))
                        }
                    }
                }
            }
        }
    }

    /// Strings of 16 to 128 bytes are hashed, checked for NUL and non-ASCII
    /// bytes, and compared with the cached copy a word at a time, the last
    /// word overlapping the one before: strings that differ in one byte,
    /// wherever it is, stay apart, and an odd byte anywhere is repaired.
    @Test func longBytesThatDifferInOneByteOrHoldAnOddByteAnywhere() {
        func string(_ table: StringTable, _ bytes: [UInt8]) -> String {
            var copy = bytes
            return copy.withUnsafeMutableBufferPointer { table.string(ProtobufCBinaryData(len: $0.count, data: $0.baseAddress)) }
        }
        for length in [16, 17, 23, 24, 25, 31, 40, 127, 128, 129] {
            let plain = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let table = StringTable()
            for round in 0..<2 {
                #expect(string(table, plain) == String(decoding: plain, as: UTF8.self))
                for position in 0..<length {
                    var bytes = plain
                    bytes[position] = UInt8(ascii: "Z")
                    #expect(string(table, bytes) == String(decoding: bytes, as: UTF8.self), "length \(length), round \(round), at \(position)")
                }
            }
            #expect(table.repaired == 0)
            for position in 0..<length {
                for odd: UInt8 in [0x00, 0xC3] {
                    var bytes = plain
                    bytes[position] = odd
                    let expected = String(decoding: bytes.map { $0 == 0 ? [0xEF, 0xBF, 0xBD] : [$0] }.joined(), as: UTF8.self)
                    let repairedBefore = table.repaired
                    #expect(string(table, bytes) == expected, "length \(length), \(odd) at \(position)")
                    #expect(table.repaired == repairedBefore + 1)
                }
            }
        }
    }

    @Test func repeatedStringsAreServedFromTheCacheUnchanged() {
        let table = StringTable()
        let words = ["http.method", "http.request.method", "GET", "user-00042", "/api/orders/{order_id}/items", "é", "日本語のキー"]
        for _ in 0..<3 {
            for word in words {
                var copy = Array(word.utf8CString)
                let s = copy.withUnsafeMutableBufferPointer { table.string($0.baseAddress!) }
                #expect(s == word)
            }
        }
    }

    @Test func stringsThatShareASlotDoNotMixUp() {
        // More distinct strings than slots: every slot is overwritten many times.
        let table = StringTable()
        for round in 0..<2 {
            for i in 0..<3000 {
                for word in ["k\(i)", "a-rather-long-value-\(i)"] {
                    var copy = Array(word.utf8CString)
                    let s = copy.withUnsafeMutableBufferPointer { table.string($0.baseAddress!) }
                    #expect(s == word, "round \(round)")
                }
            }
        }
    }

    @Test func invalidUTF8IsRepairedTheSameWayEveryTime() {
        let table = StringTable()
        for bytes: [UInt8] in [[0xff], [0x61, 0xc3], Array(repeating: 0xfe, count: 20)] {
            for _ in 0..<2 {
                var copy = bytes.map { CChar(bitPattern: $0) } + [0]
                let s = copy.withUnsafeMutableBufferPointer { table.string($0.baseAddress!) }
                #expect(s == String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    @Test func nullPointerIsTheEmptyString() {
        #expect(StringTable().string(nil as UnsafeMutablePointer<CChar>?) == "")
    }
}
