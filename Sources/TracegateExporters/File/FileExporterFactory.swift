import TracegateCore

/// `file`: OTLP/JSON lines in a file, rotated by size.
public struct FileExporterFactory: ExporterFactory {
    public let type = "file"

    public init() {}

    public func read(_ map: ConfigMap) -> FileExporterConfig { FileExporterConfig.read(map) }

    public func build(_ config: FileExporterConfig, _ context: ExporterContext) throws -> BuiltExporter {
        // One consumer: lines land in the order the batches were queued.
        BuiltExporter(
            exporter: FileExporter(id: context.id, config: config, logger: context.logger),
            sendingQueue: SendingQueueConfig(numConsumers: 1))
    }
}

extension FileExporterConfig: ComponentConfig {}
