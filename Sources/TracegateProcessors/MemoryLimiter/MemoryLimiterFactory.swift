import TracegateCore

/// `memory_limiter`: refuses new data while the heap is above its limit.
public struct MemoryLimiterFactory: ProcessorFactory {
    public let type = "memory_limiter"

    public init() {}

    public func read(_ map: ConfigMap) -> MemoryLimiterConfig { MemoryLimiterConfig.read(map) }

    public func build(_ config: MemoryLimiterConfig, _ context: ProcessorContext) -> BuiltProcessor {
        let limiter = MemoryLimiter(id: context.id, config: config, next: context.next, logger: context.logger)
        return BuiltProcessor(consumer: limiter, service: limiter, gate: limiter)
    }
}

extension MemoryLimiterConfig: ComponentConfig {}
