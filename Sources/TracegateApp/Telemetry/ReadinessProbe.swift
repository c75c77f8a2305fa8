import TracegateCore
import ServiceLifecycle
import TracegateExporters

/// Checks every postgres exporter's database for `/ready`, once at start and
/// then every `interval`. libpq blocks, so each probe runs on a thread of its
/// own, never on an event loop or the cooperative pool.
struct ReadinessProbe: Service {
    let exporters: [PostgresExporter]
    let readiness: Readiness
    var interval: Duration = .seconds(2)

    init(exporters: [PostgresExporter], readiness: Readiness, interval: Duration = .seconds(2)) {
        self.exporters = exporters
        self.readiness = readiness
        self.interval = interval
        for exporter in exporters { readiness.expect("exporter \(exporter.id)") }
    }

    func run() async throws {
        guard !exporters.isEmpty else {
            // A service that returns early would end the whole group.
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            for exporter in exporters {
                let problem = await Self.onThread { exporter.probeReachability() }
                readiness.report("exporter \(exporter.id)", problem: problem)
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    private static func onThread(_ body: @escaping @Sendable () -> String?) async -> String? {
        await withCheckedContinuation { continuation in
            startThread(name: "tg-ready-probe") { continuation.resume(returning: body()) }
        }
    }
}
