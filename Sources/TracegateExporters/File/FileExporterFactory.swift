import TracegateCore

extension Exporters {
    /// `file`: OTLP/JSON lines in a file, rotated by size. One consumer:
    /// lines land in the order the batches were queued.
    public static let file = ExporterType("file", read: FileExporterConfig.read) { config, context in
        BuiltExporter(exporter: FileExporter(id: context.id, config: config, logger: context.logger), sendingQueue: SendingQueueConfig(numConsumers: 1))
    }
}

extension FileExporterConfig: ComponentConfig {}
