#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore

/// Where a conclusion exporter keeps its traces and notifications: the
/// exporter feeds it every batch; `ConclusionService` runs its loops (timers,
/// delivery) from start to graceful shutdown.
protocol ConclusionStore: Sendable {
    /// Records the spans of a batch (called on the sending queue's consumers).
    func observe(_ batch: SpanBatch)
    /// Runs the store's loops until `stop`.
    func run() async
    /// Ends `run`: each loop finishes the round it is in (a POST in flight
    /// ends and is recorded) and returns.
    func stop()
}

/// Wall clock now, in nanoseconds since the Unix epoch.
func wallClockUnixNano() -> UInt64 {
    UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
}
