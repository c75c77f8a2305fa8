/// A 16-byte W3C trace id, held as two big-endian halves so it is a plain value
/// (no heap allocation, cheap to hash and compare).
public struct TraceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first 8 bytes, big-endian.
    public var high: UInt64
    /// The last 8 bytes, big-endian.
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads 16 bytes; returns nil for any other length.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        self.high = UInt64(bigEndianBytes: bytes, at: 0)
        self.low = UInt64(bigEndianBytes: bytes, at: 8)
    }

    /// Parses 32 hex digits, upper or lower case.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 32, let high = UInt64(hexDigits: hex.utf8.prefix(16)),
            let low = UInt64(hexDigits: hex.utf8.dropFirst(16))
        else { return nil }
        self.init(high: high, low: low)
    }

    /// The W3C rule: an all-zero trace id is invalid.
    public var isValid: Bool { high != 0 || low != 0 }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        high.appendBigEndian(to: &out)
        low.appendBigEndian(to: &out)
        return out
    }

    /// Lowercase hex, as SDKs print it.
    public var hex: String { high.hex16 + low.hex16 }
    public var description: String { hex }

    public static func < (a: TraceID, b: TraceID) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }
}

/// An 8-byte span id.
public struct SpanID: Hashable, Sendable, CustomStringConvertible {
    /// The 8 bytes, big-endian.
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// Reads 8 bytes; returns nil for any other length.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 8 else { return nil }
        self.value = UInt64(bigEndianBytes: bytes, at: 0)
    }

    /// Parses 16 hex digits, upper or lower case.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 16, let value = UInt64(hexDigits: hex.utf8) else { return nil }
        self.value = value
    }

    /// An all-zero span id is invalid (and means "no parent" in parent_span_id).
    public var isValid: Bool { value != 0 }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(8)
        value.appendBigEndian(to: &out)
        return out
    }

    public var hex: String { value.hex16 }
    public var description: String { hex }
}

extension UInt64 {
    @inlinable
    init(bigEndianBytes bytes: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + 8 <= bytes.count)
        self = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable
    func appendBigEndian(to out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: self >> UInt64(shift))) }
    }

    init?(hexDigits: some Collection<UInt8>) {
        var v: UInt64 = 0
        for c in hexDigits {
            guard let d = hexValue(c) else { return nil }
            v = v << 4 | UInt64(d)
        }
        self = v
    }

    /// Sixteen lowercase hex digits, zero-padded.
    var hex16: String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for i in 0..<16 {
                buffer[i] = hexDigit(UInt8(truncatingIfNeeded: self >> UInt64((15 - i) * 4)) & 0xF)
            }
            return 16
        }
    }
}

@inlinable
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

@inlinable
func hexDigit(_ v: UInt8) -> UInt8 {
    v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10
}
