import Logging
import ServiceLifecycle
import TracegateCore
import TracegateExporters

/// Starts a configuration and runs it until SIGTERM or SIGINT.
public enum Gateway {
    public static func run(config: TracegateConfig, logger: Logger) async throws {
        // Check the database before opening any port: a schema newer than this
        // binary must stop the start. A database that is down only delays the
        // check to the first export; spans queue up meanwhile.
        var graph = try await PipelineGraph.build(config, logger: logger)
        for exporter in graph.postgresExporters {
            do {
                try exporter.prepare()
            } catch let error where error.code == .schemaTooNew {
                throw error
            } catch {
                logger.warning("PostgreSQL is not reachable yet; spans will queue until it is", metadata: ["exporter": "\(exporter.id)", "error": "\(error)"])
            }
        }
        let group = ServiceGroup(
            configuration: .init(services: graph.services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info(
            "tracegate started",
            metadata: [
                "pipelines": "\(config.pipelines.map(\.id).joined(separator: ","))",
                "receivers": "\((graph.receivers.map { "\($0.id)/http@\($0.localAddress.map { "\($0)" } ?? "?")" } + graph.grpcReceivers.map { "\($0.id)/grpc@\($0.localAddress.map { "\($0)" } ?? "?")" }).joined(separator: ","))",
            ])
        try await group.run()
        graph.receivers.removeAll()
        graph.grpcReceivers.removeAll()
        logger.info("tracegate stopped")
    }
}
