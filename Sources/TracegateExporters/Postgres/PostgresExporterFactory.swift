import TracegateCore

extension Exporters {
    /// `postgres`: spans into `trace_spans` and `traces`, with partition
    /// maintenance and retention running beside it.
    public static let postgres = ExporterType("postgres", read: PostgresExporterConfig.read) { config, context in
        let exporter = PostgresExporter(id: context.id, config: config, logger: context.logger)
        return BuiltExporter(
            exporter: exporter, sendingQueue: config.sendingQueue, retry: config.retry,
            services: [PostgresMaintenanceService(exporter: exporter, logger: context.logger)], sink: exporter)
    }
}

extension PostgresExporterConfig: ComponentConfig {}

extension PostgresExporter: ExternalSink {
    /// A schema newer than this binary stops the start; anything else (the
    /// database is down) only delays the first export, spans queue meanwhile.
    public func prepareForStart() throws -> String? {
        do {
            try prepare()
            return nil
        } catch where error.code == .schemaTooNew {
            throw error
        } catch {
            return "\(error)"
        }
    }
}
