import ServiceLifecycle

/// Runs a conclusion exporter's threads from start to graceful shutdown. It
/// is listed before the sending queues, so it stops after they drained.
public struct ConclusionService: Service {
    public let exporter: ConclusionExporter

    public init(exporter: ConclusionExporter) { self.exporter = exporter }

    public func run() async throws {
        exporter.start()
        try? await gracefulShutdown()
        await exporter.stop()
    }
}
