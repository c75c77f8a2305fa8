import Logging
import ServiceLifecycle
import TracegateCore
import TracegateExporters
import TracegateProcessors
import TracegateQuery

/// Starts a configuration and runs it until SIGTERM or SIGINT.
public enum Gateway {
    /// Process-wide settings for `tracegate run`, before anything allocates
    /// much: the metrics backend, and at most two malloc arenas. glibc's
    /// default, up to 8 per core, lets RSS drift above the heap in use (which
    /// is what the memory limiter measures) when many event-loop and consumer
    /// threads allocate and free in different arenas. On a 2-core machine the
    /// cap made no measurable difference (idle RSS 41 MiB either way); it is
    /// meant for large machines.
    public static func prepareProcess() {
        ProcessMemory.limitArenas(2)
        MetricsBootstrap.bootstrap()
    }

    /// Runs until SIGTERM or SIGINT. With `configFile`, SIGHUP (and, with
    /// `watch`, a change of the file) rereads it and applies it to the
    /// running gateway (`GatewayRuntime.reload`).
    public static func run(config: TracegateConfig, configFile: String? = nil, watch: Bool = false, logger: Logger) async throws {
        // Before any component exists: metrics made earlier would stay no-ops.
        let registry = MetricsBootstrap.bootstrap()
        // Check the database before opening any port: a schema newer than this
        // binary must stop the start. A database that is down only delays the
        // check to the first export; spans queue up meanwhile.
        let runtime = GatewayRuntime(config: config, logger: logger)
        let graph = try await runtime.prepare()
        let readiness = Readiness()
        let queueMetrics = QueueMetrics(queues: { runtime.current.withLock { $0.queues } })
        let telemetry = try await TelemetryServer(
            config: config.telemetry,
            metrics: {
                queueMetrics.refresh()
                return registry.emitToBuffer() + Array(RenderedMetrics.shared.render().utf8)
            },
            readiness: readiness, logger: logger)
        // Extensions listen before the receivers; like telemetry they keep
        // the settings they started with across reloads.
        var extensionServices: [any Service] = []
        for ext in config.extensions {
            extensionServices.append(
                try await QueryServer(config: ext.query, dsn: ext.query.dsn ?? "", logger: logger))
        }
        let (reloadRequests, requestReload) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        var triggers: [any Service] = [ReloadSignalService(configFile: configFile, requestReload: requestReload, logger: logger)]
        if watch, let configFile { triggers.append(ConfigFileWatch(path: configFile, requestReload: requestReload)) }
        // The telemetry server starts first and stops last; the readiness
        // marker is told first, so /ready turns 503 as soon as shutdown begins.
        let services: [any Service] =
            [telemetry] + extensionServices + triggers
            + [
                ReadinessProbe(sinks: { runtime.current.withLock { $0.sinks } }, readiness: readiness),
                GatewayService(runtime: runtime, reloadRequests: reloadRequests, configFile: configFile),
                ReadinessMarker(readiness: readiness),
                IdleRelease(logger: logger),
            ]
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info(
            "tracegate started",
            metadata: [
                "pipelines": "\(config.pipelines.map(\.id).joined(separator: ","))",
                "receivers": "\(graph.receivers.keys.sorted().flatMap { graph.receivers[$0]!.listeners.map(\.listeningDescription) }.joined(separator: ","))",
                "metrics": "\(telemetry.metricsAddress.map { "\($0)" } ?? "off")",
                "health": "\(telemetry.healthAddress.map { "\($0)" } ?? "off")",
            ])
        try await group.run()
        logger.info("tracegate stopped")
    }
}

extension Gateway {
    /// `tracegate query`: the query extension alone, until SIGTERM or SIGINT.
    public static func runQuery(_ config: QueryConfig, logger: Logger) async throws {
        let server = try await QueryServer(config: config, dsn: config.dsn ?? "", logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
