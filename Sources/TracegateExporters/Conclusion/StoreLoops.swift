import NIOPosix
import Synchronization
import TracegateCore

/// The loops of a conclusion store, run by `ConclusionService`: one that
/// decides conclusions and `workers` that deliver notifications, as child
/// tasks that live until `stop`. Each sleeps on its own `WakeSignal` until
/// the deadline its state machine names or a signal. The one periodic look
/// left is the postgres store's idle delivery loops' (at most every
/// `PostgresConclusionStore.longestIdleDeliveryWait`), for rows other
/// replicas concluded: nothing in this process knows of those.
///
/// Blocking calls (libpq, libcurl, the dead-letter file) run on `pool`, a
/// `NIOThreadPool` of one thread per loop, never on the cooperative pool or an
/// event loop. One thread per loop, because a loop awaits each blocking call
/// before the next: a loop never waits for a thread another loop holds
/// through a POST of up to `timeout`.
final class StoreLoops: Sendable {
    private let pool: NIOThreadPool
    private let stopping = Atomic<Bool>(false)
    /// What the loops read the time from and sleep on.
    let clock: any WaitClock
    /// The queues whose backlog holds conclusions back; they wake `tracker`.
    private let backlogs: BacklogWatch
    private let metrics: ConclusionMetrics
    private let started: ContinuousClock.Instant
    /// Wakes the loop that decides conclusions.
    let tracker: WakeSignal
    /// Wakes the delivery loops, one signal each.
    let deliverers: [WakeSignal]

    init(workers: Int, clock: any WaitClock, backlogs: BacklogWatch, metrics: ConclusionMetrics) {
        self.clock = clock
        self.backlogs = backlogs
        self.metrics = metrics
        started = clock.now
        tracker = WakeSignal(clock: clock)
        deliverers = (0..<workers).map { _ in WakeSignal(clock: clock) }
        pool = NIOThreadPool(numberOfThreads: workers + 1)
    }

    /// True once `stop` was called; loops check it between rounds, blocking
    /// work between requests.
    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Ends the loops: each finishes the round it is in (a POST in flight
    /// ends, its outcome is recorded) and returns.
    func stop() {
        stopping.store(true, ordering: .releasing)
        tracker.signal()
        wakeDeliverers()
    }

    func wakeDeliverers() {
        for d in deliverers { d.signal() }
    }

    /// Runs `track` and `deliver(i)` for each worker until `stop`, on a pool
    /// started here and shut down once every loop returned.
    func run(track: @escaping @Sendable () async -> Void, deliver: @escaping @Sendable (Int) async -> Void) async {
        backlogs.onMoved { [tracker] in tracker.signal() }
        pool.start()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await track() }
            for i in deliverers.indices { group.addTask { await deliver(i) } }
        }
        try? await pool.shutdownGracefully()
    }

    /// Now, and the horizon conclusions are held to (`ConclusionHorizon`),
    /// whose lag is recorded as `tracegate_conclusion_hold_seconds` (since
    /// the start while spans of unknown age wait).
    func horizon() -> (now: ContinuousClock.Instant, horizon: ConclusionHorizon) {
        let now = clock.now
        let horizon = backlogs.horizon(now: now)
        metrics.recordHold(lag: horizon.lag(now: now) ?? (now - started))
        return (now, horizon)
    }

    /// Runs `body` on a pool thread; nil when the pool is not running.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        try? await pool.runIfActive(body)
    }
}
