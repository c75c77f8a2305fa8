import Synchronization
import TracegateCore

/// The sending queues whose acknowledged-but-unstored spans hold a
/// conclusion exporter's conclusions back (see `ConclusionHorizon`): for the
/// postgres store, the postgres exporters of its pipelines; for the memory
/// store, its own queue. The graph fills it before the services start.
public final class BacklogWatch: Sendable {
    private let queues = Mutex<[SendingQueue]>([])
    private let moved = Mutex<[@Sendable () -> Void]>([])

    public init() {}

    /// Adds a queue; the store is woken each time that queue's watermark moves.
    public func watch(_ queue: SendingQueue) {
        queues.withLock { $0.append(queue) }
        queue.onWatermarkMoved { [self] in
            for f in moved.withLock({ $0 }) { f() }
        }
    }

    /// Called by the store before it starts.
    func onMoved(_ f: @escaping @Sendable () -> Void) { moved.withLock { $0.append(f) } }

    func horizon(now: ContinuousClock.Instant) -> ConclusionHorizon {
        ConclusionHorizon(now: now, watermarks: queues.withLock { $0 }.map(\.watermark))
    }
}
