import TracegateCore

/// Consistent hashing of trace ids onto endpoints: each endpoint owns
/// `virtualNodes` points on a 64-bit ring (hashes of its name), and a trace
/// goes to the owner of the first point at or after its hash. Adding or
/// removing one endpoint moves only the traces of its arcs; the ring depends on
/// the endpoint names alone, so every first-tier instance with the same list
/// routes a trace to the same place.
public struct HashRing: Sendable {
    private let points: [(hash: UInt64, endpoint: Int)]
    public let endpointCount: Int

    public init(endpoints: [String], virtualNodes: Int) {
        precondition(!endpoints.isEmpty && virtualNodes > 0)
        var points: [(UInt64, Int)] = []
        points.reserveCapacity(endpoints.count * virtualNodes)
        for (i, name) in endpoints.enumerated() {
            for v in 0..<virtualNodes { points.append((Self.mix(Self.fnv1a("\(name)#\(v)")), i)) }
        }
        // Ties (practically impossible) go to the lower index, deterministically.
        self.points = points.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        endpointCount = endpoints.count
    }

    /// The index of the endpoint that owns `traceID`.
    public func endpoint(for traceID: TraceID) -> Int {
        let h = Self.mix(traceID.high ^ (traceID.low &* 0x9e37_79b9_7f4a_7c15))
        var lo = 0
        var hi = points.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if points[mid].hash < h { lo = mid + 1 } else { hi = mid }
        }
        return points[lo == points.count ? 0 : lo].endpoint
    }

    static func fnv1a(_ text: String) -> UInt64 { Digests.fnv1a64(text) }

    /// SplitMix64's finalizer: spreads nearby inputs over the whole ring.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
