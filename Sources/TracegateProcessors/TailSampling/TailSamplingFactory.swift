import TracegateCore

extension Processors {
    /// `tail_sampling`: holds traces until they conclude and keeps them by policy.
    public static let tailSampling = ProcessorType("tail_sampling", read: TailSamplingConfig.read) { config, context in
        .service(TailSamplingProcessor(id: context.id, config: config, next: context.next))
    }
}

extension TailSamplingConfig: ComponentConfig {}
