import TracegateCore

extension Processors {
    /// `memory_limiter`: refuses new data while the heap is above its limit.
    public static let memoryLimiter = ProcessorType("memory_limiter", read: MemoryLimiterConfig.read) { config, context in
        let limiter = MemoryLimiter(id: context.id, config: config, next: context.next, logger: context.logger)
        return BuiltProcessor(consumer: limiter, service: limiter, gate: limiter)
    }
}

extension MemoryLimiterConfig: ComponentConfig {}
