import Logging
import ServiceLifecycle
import TracegateCore
import UnixSignals

/// SIGHUP: configuration reload is not supported yet. Without a handler the
/// signal's default action would kill the process and lose what the queues
/// hold; this logs a warning instead and keeps running.
struct ReloadSignalService: Service {
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.warning("SIGHUP received: configuration reload is not supported; restart to apply changes (nothing was changed)")
        }
    }
}

/// Placed last in the service group, so it runs once every other service has
/// been started and is the first told to shut down: marks the gateway ready,
/// then not ready as soon as the shutdown begins.
struct ReadinessMarker: Service {
    let readiness: Readiness

    func run() async throws {
        readiness.markStarted()
        try? await gracefulShutdown()
        readiness.markStopping()
    }
}

/// Placed between the processors and the receivers in the service group: once
/// the receivers have stopped, closes every pipeline (new offers get 503 /
/// UNAVAILABLE, offers in progress finish) before the batch processors flush
/// for the last time.
struct PipelineCloser: Service {
    let pipelines: [Pipeline]

    func run() async throws {
        try? await gracefulShutdown()
        for pipeline in pipelines { await pipeline.close() }
    }
}
