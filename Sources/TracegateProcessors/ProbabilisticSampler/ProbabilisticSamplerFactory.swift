import TracegateCore

/// `probabilistic_sampler`: keeps a share of traces by trace id.
public struct ProbabilisticSamplerFactory: ProcessorFactory {
    public let type = "probabilistic_sampler"

    public init() {}

    public func read(_ map: ConfigMap) -> ProbabilisticSamplerConfig { ProbabilisticSamplerConfig.read(map) }

    public func build(_ config: ProbabilisticSamplerConfig, _ context: ProcessorContext) -> BuiltProcessor {
        BuiltProcessor(consumer: ProbabilisticSampler(id: context.id, config: config, next: context.next))
    }
}

extension ProbabilisticSamplerConfig: ComponentConfig {}
