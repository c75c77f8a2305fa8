#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore

/// Where a conclusion exporter keeps its traces and notifications: the
/// exporter feeds it every batch; it runs its own threads (timers, delivery)
/// between `start` and `stop`.
protocol ConclusionStore: Sendable {
    /// Records the spans of a batch (called on the sending queue's threads).
    func observe(_ batch: SpanBatch)
    /// Starts the store's threads.
    func start()
    /// Asks the threads to stop; returns true once all have ended.
    func requestStop() -> Bool
}

/// Wall clock now, in nanoseconds since the Unix epoch.
func wallClockUnixNano() -> UInt64 {
    UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
}
