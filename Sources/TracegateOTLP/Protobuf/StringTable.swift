import CTracegateShims

#if canImport(Glibc)
import Glibc
#endif

/// Makes the strings of one request into Swift strings, once per distinct
/// value: attribute keys, service and span names and many attribute values
/// repeat across the spans of a request, and a hit costs a hash and a compare
/// instead of UTF-8 validation and, above 15 bytes, an allocation.
struct StringTable {
    private static let slotCount = 256
    /// Strings longer than this are not worth remembering.
    private static let maxLength = 128
    private var hashes = [UInt64](repeating: 0, count: slotCount)
    private var strings = [String](repeating: "", count: slotCount)

    mutating func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return string(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }

    /// The string of UTF-8 `bytes` (invalid sequences become U+FFFD).
    mutating func string(_ bytes: UnsafeRawBufferPointer) -> String {
        let length = bytes.count
        // Up to 15 bytes a String lives inline, without allocation: making it
        // is cheaper than looking it up.
        if length <= 15 || length > Self.maxLength { return String(decoding: bytes, as: UTF8.self) }
        let hash = tg_bytes_hash(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), length)
        let slot = Int(truncatingIfNeeded: hash) & (Self.slotCount - 1)
        if hashes[slot] == hash && Self.equal(strings[slot], bytes) { return strings[slot] }
        let s = String(decoding: bytes, as: UTF8.self)
        hashes[slot] = hash
        strings[slot] = s
        return s
    }

    private static func equal(_ s: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard s.utf8.count == bytes.count else { return false }
        var s = s  // withUTF8 reads small strings from a stack copy; no allocation
        return s.withUTF8 { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }
}
