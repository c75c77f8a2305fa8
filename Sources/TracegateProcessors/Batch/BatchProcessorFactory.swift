import TracegateCore

extension Processors {
    /// `batch`: groups spans into larger batches, by size or after a timeout.
    public static let batch = ProcessorType("batch", read: BatchProcessorConfig.read) { config, context in
        .service(BatchProcessor(config: config, next: context.next))
    }
}

extension BatchProcessorConfig: ComponentConfig {}
