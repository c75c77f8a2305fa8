import TracegateCore

extension Processors {
    /// `probabilistic_sampler`: keeps a share of traces by trace id.
    public static let probabilisticSampler = ProcessorType("probabilistic_sampler", read: ProbabilisticSamplerConfig.read) { config, context in
        BuiltProcessor(consumer: ProbabilisticSampler(id: context.id, config: config, next: context.next))
    }
}

extension ProbabilisticSamplerConfig: ComponentConfig {}
