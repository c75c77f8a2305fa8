import ServiceLifecycle

/// Runs a conclusion exporter's loops from start to graceful shutdown (or
/// cancellation). It is listed before the sending queues, so it stops after
/// they drained.
public struct ConclusionService: Service {
    public let exporter: ConclusionExporter

    public init(exporter: ConclusionExporter) { self.exporter = exporter }

    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await exporter.run()
            } onGracefulShutdown: {
                exporter.stop()
            }
        } onCancel: {
            exporter.stop()
        }
    }
}
