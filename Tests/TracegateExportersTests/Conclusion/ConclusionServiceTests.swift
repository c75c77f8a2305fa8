import Testing
import TracegateCore
@testable import TracegateExporters

/// The loops of both stores end when asked, without waiting out a timer.
@Suite struct ConclusionServiceTests {
    func config(_ store: ConclusionExporterConfig.Store) -> ConclusionExporterConfig {
        var c = ConclusionExporterConfig()
        c.endpoint = "http://127.0.0.1:1/notify"
        c.store = store
        // Nothing listens there: every round fails and waits to retry.
        if store == .postgres { c.dsn = "host=127.0.0.1 port=1 dbname=none connect_timeout=1" }
        return c
    }

    @Test(arguments: [ConclusionExporterConfig.Store.memory, .postgres])
    func runEndsSoonAfterStop(_ store: ConclusionExporterConfig.Store) async {
        let exporter = ConclusionExporter(id: "conclusion/test", config: config(store), logger: quietLogger)
        try? exporter.export(conclusionBatch([testSpan(1, 10)]))
        let running = Task { await exporter.run() }
        try? await Task.sleep(for: .milliseconds(100))
        let asked = ContinuousClock.now
        exporter.stop()
        await running.value
        #expect(ContinuousClock.now - asked < .seconds(3))
    }
}

extension ConclusionServiceTests {
    /// The memory store's loops on a manual clock: nothing sleeps for real,
    /// the test waits until a loop sleeps on the clock, then moves it.
    @Test func theMemoryStoreConcludesOnItsClockAndRetriesAFailedNotificationLater() async {
        let clock = ManualClock()
        var c = config(.memory)
        c.inactivity = .seconds(1)
        c.workers = 1
        let store = MemoryConclusionStore(
            id: "conclusion/test", config: c, logger: quietLogger, metrics: ConclusionMetrics(exporter: "conclusion/test", latePolicy: "ignore"),
            backlogs: BacklogWatch(), clock: clock)
        let running = Task { await store.run() }
        store.observe(conclusionBatch([testSpan(1, 10)]))
        // The tracking loop sleeps until the trace's deadline.
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .milliseconds(990))
        #expect(clock.sleeperCount == 1 && store.counts.open == 1)
        clock.advance(by: .milliseconds(10))
        // Concluded; the POST failed (nothing listens); the delivery loop sleeps until the retry.
        await clock.sleepers(atLeast: 1)
        #expect(store.counts.open == 0 && store.counts.queued == 1)
        store.stop()
        await running.value
    }
}
