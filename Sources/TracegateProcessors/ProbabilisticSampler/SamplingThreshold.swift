import TracegateCore

/// OpenTelemetry's consistent probability sampling: a 56-bit rejection
/// threshold `T` against 56 bits of randomness `R` (the trace id's least
/// significant 56 bits, or an explicit `rv` from `tracestate`). A span is kept
/// when `R >= T`, so every sampler that sees the same trace id and the same
/// probability takes the same decision, and a trace kept at probability p is
/// also kept at every probability above p.
public struct SamplingThreshold: Hashable, Sendable, Comparable {
    /// 2^56: the number of distinct randomness values.
    public static let maxAdjusted: UInt64 = 1 << 56
    /// Keeps everything (`th:0`).
    public static let always = SamplingThreshold(rejecting: 0)
    /// Rejects everything; never written to `tracestate`.
    public static let never = SamplingThreshold(rejecting: maxAdjusted)

    /// Randomness values below this are rejected (0 ... 2^56).
    public let rejecting: UInt64

    public init(rejecting: UInt64) { self.rejecting = min(rejecting, Self.maxAdjusted) }

    /// The threshold for keeping `percentage` (0...100) percent, rounded to
    /// `precision` hex digits (1...14) as the collector does so `th` stays short.
    /// A rounding that would reject everything falls back to full precision.
    public init(percentage: Double, precision: Int = 4) {
        let p = min(max(percentage, 0), 100) / 100
        if p <= 0 {
            self = .never
            return
        }
        if p >= 1 {
            self = .always
            return
        }
        // (1 - p) * 2^56, computed as 2^56 - p * 2^56 to keep precision for small p.
        let kept = (p * Double(Self.maxAdjusted)).rounded()
        let exact = Self.maxAdjusted - min(UInt64(kept), Self.maxAdjusted)
        let digits = min(max(precision, 1), 14)
        let unit = UInt64(1) << UInt64((14 - digits) * 4)
        let rounded = (exact + unit / 2) / unit * unit
        self.rejecting = rounded >= Self.maxAdjusted || rounded == 0 && exact != 0 ? exact : rounded
    }

    /// Parses a `th` value: 1 to 14 hex digits, trailing zeros omitted.
    public init?(tracestateValue text: Substring) {
        guard !text.isEmpty, text.utf8.count <= 14, let v = UInt64(text, radix: 16) else { return nil }
        self.rejecting = v << UInt64((14 - text.utf8.count) * 4)
    }

    /// The `th` value: 14 hex digits without trailing zeros (`0` for keep-all).
    public var tracestateValue: String {
        if rejecting == 0 { return "0" }
        var digits = String(rejecting, radix: 16)
        digits = String(repeating: "0", count: 14 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return digits
    }

    /// The fraction of traces this threshold keeps.
    public var probability: Double { Double(Self.maxAdjusted - rejecting) / Double(Self.maxAdjusted) }

    /// True when a trace with this randomness is kept.
    public func keeps(randomness: UInt64) -> Bool { randomness >= rejecting }

    /// The randomness of a trace id: its 56 least significant bits.
    public static func randomness(of traceID: TraceID) -> UInt64 { traceID.low & (maxAdjusted - 1) }

    public static func < (a: SamplingThreshold, b: SamplingThreshold) -> Bool { a.rejecting < b.rejecting }
}
