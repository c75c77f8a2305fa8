/// The memory limiter's decisions, without clocks or measurements of its own:
/// the processor feeds it heap measurements and admitted bytes.
public struct MemoryLimiterState: Sendable, Equatable {
    public let softLimit: Int
    public let hardLimit: Int
    /// Heap in use at the last measurement.
    public private(set) var measured = 0
    /// Bytes of requests admitted since that measurement.
    public private(set) var admittedSinceCheck = 0

    public init(softLimit: Int, hardLimit: Int) {
        self.softLimit = softLimit
        self.hardLimit = hardLimit
    }

    /// The best estimate of the heap in use now.
    public var inUse: Int { measured + admittedSinceCheck }

    /// True when new data is refused.
    public var refusing: Bool { inUse >= softLimit }

    /// Whether a request of `bytes` more may come in: any request while
    /// under the soft limit (a single request over it must not be refused
    /// forever), none above it.
    public func admits(bytes: Int) -> Bool { !refusing }

    public mutating func admit(bytes: Int) { admittedSinceCheck += bytes }

    /// Records a measurement; true when it is over the hard limit, when free
    /// memory should be returned to the system.
    public mutating func record(measurement bytes: Int) -> Bool {
        measured = bytes
        admittedSinceCheck = 0
        return bytes >= hardLimit
    }
}
