import TracegateCore

/// `conclusion`: notifies an endpoint of concluded traces.
public struct ConclusionExporterFactory: ExporterFactory {
    public let type = "conclusion"

    public init() {}

    public func read(_ map: ConfigMap) -> ConclusionExporterConfig { ConclusionExporterConfig.read(map) }

    public func build(_ config: ConclusionExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        let exporter = ConclusionExporter(id: context.id, config: config, logger: context.logger)
        let backlogs = exporter.backlogs
        // The postgres store reads what the postgres exporters of its
        // pipelines stored, so their backlog holds it back; the memory store
        // counts what it observed, so its own queue's.
        let source: BacklogNeed.Source =
            switch config.store {
            case .memory: .ownQueue
            case .postgres: .pipelineExporters(type: Exporters.postgres.type)
            }
        return BuiltExporter(
            exporter: exporter, sendingQueue: config.sendingQueue,
            // Observing cannot fail: nothing to retry.
            retry: RetryPolicy(maxElapsedTime: .zero),
            services: [ConclusionService(exporter: exporter)],
            backlog: BacklogNeed(source: source) { backlogs.watch($0) })
    }
}

extension ConclusionExporterConfig: ComponentConfig {}
