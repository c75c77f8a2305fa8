import TracegateCore

/// `batch`: groups spans into larger batches, by size or after a timeout.
public struct BatchProcessorFactory: ProcessorFactory {
    public let type = "batch"

    public init() {}

    public func read(_ map: ConfigMap) -> BatchProcessorConfig { BatchProcessorConfig.read(map) }

    public func build(_ config: BatchProcessorConfig, _ context: ProcessorContext) -> BuiltProcessor {
        .service(BatchProcessor(config: config, next: context.next))
    }
}

extension BatchProcessorConfig: ComponentConfig {}
