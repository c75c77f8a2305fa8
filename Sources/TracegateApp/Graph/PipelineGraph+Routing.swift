import TracegateCore
import TracegateProcessors

extension PipelineGraph {
    /// The exporters of a pipeline by name, for a processor that chooses
    /// among them (`routing`): their queues. When a persistent exporter moved
    /// the pipeline's batch processor behind the queues (`hoisted`), each
    /// in-memory queue gets a batch processor of its own, since such a
    /// processor sends different spans to each.
    mutating func exporterTargets(_ exporters: [String], hoisted: BatchProcessorConfig?) -> [(name: String, consumer: any SpanConsumer)] {
        var targets: [(name: String, consumer: any SpanConsumer)] = []
        for name in exporters {
            let queue = queues[name]!
            if let hoisted, !queue.config.persistent {
                let batch = BatchProcessor(config: hoisted, next: queue)
                processors.append(batch)
                targets.append((name, batch))
            } else {
                targets.append((name, queue))
            }
        }
        return targets
    }
}
