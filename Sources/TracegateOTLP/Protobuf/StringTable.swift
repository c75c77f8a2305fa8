import CProtobufC
import CTracegateShims

/// Makes the strings of one request into Swift strings, once per distinct
/// value: attribute keys, service and span names and many attribute values
/// repeat across the spans of a request, and a hit costs a hash and a compare
/// instead of UTF-8 validation and, above 15 bytes, an allocation.
///
/// Two tables, because the two kinds cost differently. Short strings (under
/// 16 bytes, which Swift keeps inline) are keyed by their bytes as two words:
/// a hit is two integer compares and skips strlen, validation and building.
/// Longer ones (up to `maxLength` bytes) are keyed by a hash and checked
/// against a copy of their bytes kept here, so a hit costs no reference
/// counting beyond the returned string's own.
///
/// Strings are repaired, never cut: a NUL (which PostgreSQL cannot store and
/// C strings end at) and invalid UTF-8 become U+FFFD with everything after
/// them kept, and `repaired` counts the strings that needed it. Such strings
/// are not cached.
///
/// One table serves one request on one thread; it is not shared.
final class StringTable {
    /// Strings that held a NUL or invalid UTF-8, for
    /// `tracegate_receiver_strings_repaired_total`.
    private(set) var repaired = 0

    /// What the decoder needs besides strings while it maps one request: the
    /// allocator nested values are unpacked with (the request's arena; nil:
    /// protobuf-c's default, freed after mapping), and what went wrong below
    /// the top level, where protobuf-c no longer looks (AnyValue's array and
    /// kvlist values are declared bytes, see common.proto).
    var allocator: UnsafeMutablePointer<ProtobufCAllocator>?
    /// A value nested past `NestingLimit.levels` was found.
    var nestingPassed = false
    /// A nested value's bytes are not a valid message.
    var nestedMalformed = false

    private static let shortSlotCount = 512
    private static let slotCount = 256
    /// Strings longer than this are not worth remembering.
    private static let maxLength = 128

    /// Two words per slot: the bytes, zero-padded. All zeros marks an empty
    /// slot (the empty string is never stored). Every property is a `let`:
    /// a class's `var` costs a runtime exclusivity check per access.
    private let shortWords: UnsafeMutablePointer<UInt64>
    /// Initialized only where the slot is occupied: a table made for a small
    /// request costs a memset, not hundreds of string stores and releases.
    private let shortStrings: UnsafeMutablePointer<String>
    /// Hash 0 marks an empty slot (tg_bytes_flags_hash never gives 0);
    /// `lengths`, `bytes` and `strings` are initialized only where it is not 0.
    private let hashes: UnsafeMutablePointer<UInt64>
    private let lengths: UnsafeMutablePointer<Int>
    private let bytes: UnsafeMutableRawPointer
    private let strings: UnsafeMutablePointer<String>

    init() {
        shortWords = .allocate(capacity: 2 * Self.shortSlotCount)
        shortWords.initialize(repeating: 0, count: 2 * Self.shortSlotCount)
        shortStrings = .allocate(capacity: Self.shortSlotCount)
        hashes = .allocate(capacity: Self.slotCount)
        hashes.initialize(repeating: 0, count: Self.slotCount)
        lengths = .allocate(capacity: Self.slotCount)
        bytes = .allocate(byteCount: Self.slotCount * Self.maxLength, alignment: 16)
        strings = .allocate(capacity: Self.slotCount)
    }

    deinit {
        for slot in 0..<Self.slotCount where hashes[slot] != 0 { (strings + slot).deinitialize(count: 1) }
        for slot in 0..<Self.shortSlotCount where shortWords[2 * slot] != 0 { (shortStrings + slot).deinitialize(count: 1) }
        hashes.deallocate()
        lengths.deallocate()
        bytes.deallocate()
        strings.deallocate()
        shortStrings.deallocate()
        shortWords.deallocate()
    }

    /// The string at a NUL-terminated C string from protobuf-c.
    func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        var low: UInt64 = 0
        var high: UInt64 = 0
        let length = tg_cstr_scan(pointer, &low, &high)
        if length == 0 { return "" }
        // low is 0 only where the scan does not fill the words (big-endian).
        if length < 16 && low != 0 { return short(low, high, pointer, length) }
        return string(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// The string of a protobuf `bytes` field (every string field of our
    /// protos is declared `bytes`, which has the same wire format and keeps
    /// the length that protobuf-c's NUL-terminated `string` loses).
    @inline(__always)
    func string(_ data: ProtobufCBinaryData) -> String {
        // Empty fields (trace state, most status messages) cost no call.
        guard data.len > 0, let pointer = data.data else { return "" }
        return nonEmpty(pointer, data.len)
    }

    private func nonEmpty(_ pointer: UnsafeMutablePointer<UInt8>, _ length: Int) -> String {
        if length < 16 {
            var low: UInt64 = 0
            var high: UInt64 = 0
            let flags = tg_short_words(pointer, length, &low, &high)
            if flags == 0 { return short(low, high, UnsafeRawPointer(pointer), length) }
            return repairing(UnsafeRawBufferPointer(start: pointer, count: length), flags: flags)
        }
        return string(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// A string with a NUL or a byte above 0x7F (`tg_bytes_flags`): valid
    /// UTF-8 without NUL as it is; otherwise repaired and counted.
    @inline(never)
    private func repairing(_ bytes: UnsafeRawBufferPointer, flags: UInt32) -> String {
        if flags & 1 == 0 {
            if let valid = String(validating: bytes, as: UTF8.self) { return valid }
            repaired += 1
            return String(decoding: bytes, as: UTF8.self)
        }
        repaired += 1
        var copy: [UInt8] = []
        copy.reserveCapacity(bytes.count + 8)
        for byte in bytes {
            if byte == 0 {
                copy.append(contentsOf: [0xEF, 0xBF, 0xBD])
            } else {
                copy.append(byte)
            }
        }
        return String(decoding: copy, as: UTF8.self)
    }

    private func short(_ low: UInt64, _ high: UInt64, _ pointer: UnsafeRawPointer, _ length: Int) -> String {
        let words = shortWords, strings = shortStrings
        var h = (low ^ (high &* 0x9E37_79B9_7F4A_7C15)) &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 29
        let slot = Int(truncatingIfNeeded: h) & (Self.shortSlotCount - 1)
        if words[2 &* slot] == low && words[2 &* slot &+ 1] == high { return strings[slot] }
        let s = String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
        if words[2 &* slot] == 0 { (strings + slot).initialize(to: s) } else { strings[slot] = s }
        words[2 &* slot] = low
        words[2 &* slot &+ 1] = high
        return s
    }

    /// The string of UTF-8 `bytes`, repaired where it must be.
    func string(_ bytes: UnsafeRawBufferPointer) -> String {
        let length = bytes.count
        if length == 0 { return "" }
        // Up to 15 bytes a String lives inline, without allocation: making it
        // is cheaper than hashing it.
        if length <= 15 || length > Self.maxLength {
            let flags = tg_bytes_flags(bytes.baseAddress, length)
            if flags != 0 { return repairing(bytes, flags: flags) }
            return String(decoding: bytes, as: UTF8.self)
        }
        let base = bytes.baseAddress!
        var hash: UInt64 = 0
        let flags = tg_bytes_flags_hash(base, length, &hash)
        if flags != 0 { return repairing(bytes, flags: flags) }
        let slot = Int(truncatingIfNeeded: hash) & (Self.slotCount - 1)
        let kept = self.bytes + slot * Self.maxLength
        // The hash mixes in the length, and equal hashes are checked byte by
        // byte against the copy: a hit is always the same bytes.
        if hashes[slot] == hash && lengths[slot] == length && tg_bytes_equal(kept, base, length) != 0 {
            return strings[slot]
        }
        let s = String(decoding: bytes, as: UTF8.self)
        if hashes[slot] == 0 { (strings + slot).initialize(to: s) } else { strings[slot] = s }
        hashes[slot] = hash
        lengths[slot] = length
        kept.copyMemory(from: base, byteCount: length)
        return s
    }
}
