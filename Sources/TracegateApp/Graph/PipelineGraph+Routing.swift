import TracegateCore
import TracegateProcessors

extension PipelineGraph {
    /// The `routing` processor at the end of a pipeline, holding the
    /// pipeline's exporter queues by name. When a persistent exporter moved
    /// the pipeline's batch processor behind the queues (`hoisted`), each
    /// in-memory queue gets a batch processor of its own, since routing sends
    /// different spans to each.
    mutating func routingEntry(
        id: String, _ config: RoutingProcessorConfig, exporters: [String], hoisted: BatchProcessorConfig?
    ) -> RoutingProcessor {
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
        return RoutingProcessor(id: id, config: config, exporters: targets)
    }
}
