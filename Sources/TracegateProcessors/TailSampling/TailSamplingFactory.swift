import TracegateCore

/// `tail_sampling`: holds traces until they conclude and keeps them by policy.
public struct TailSamplingFactory: ProcessorFactory {
    public let type = "tail_sampling"

    public init() {}

    public func read(_ map: ConfigMap) -> TailSamplingConfig { TailSamplingConfig.read(map) }

    public func build(_ config: TailSamplingConfig, _ context: ProcessorContext) -> BuiltProcessor {
        .service(TailSamplingProcessor(id: context.id, config: config, next: context.next))
    }
}

extension TailSamplingConfig: ComponentConfig {}
