import TracegateCore
import ServiceLifecycle
import TracegateCore

/// Checks every sink outside the process (each postgres exporter's
/// database) for `/ready`, once at start and
/// then every `interval`. libpq blocks, so each probe runs on a thread of its
/// own, never on an event loop or the cooperative pool.
struct ReadinessProbe: Service {
    /// The sinks of the running configuration (a reload changes them).
    let sinks: @Sendable () -> [any ExternalSink]
    let readiness: Readiness
    var interval: Duration = .seconds(2)

    init(sinks: @escaping @Sendable () -> [any ExternalSink], readiness: Readiness, interval: Duration = .seconds(2)) {
        self.sinks = sinks
        self.readiness = readiness
        self.interval = interval
        for sink in sinks() { readiness.expect("exporter \(sink.id)") }
    }

    func run() async throws {
        var checked: Set<String> = Set(sinks().map(\.id))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let now = sinks()
            let ids = Set(now.map(\.id))
            for gone in checked.subtracting(ids) { readiness.forget("exporter \(gone)") }
            for new in ids.subtracting(checked) { readiness.expect("exporter \(new)") }
            checked = ids
            for sink in now {
                let problem = await onThread(name: "tg-ready-probe") { sink.probeReachability() }
                readiness.report("exporter \(sink.id)", problem: problem)
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
