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
