import Logging
import TracegateCore
import TracegateExporters
import TracegateOTLP
import TracegateProcessors

/// Where persistent sending queues change the shape of a pipeline.
///
/// A persistent queue promises that an acknowledged span survives a crash. A
/// `batch` processor in front of it would hold acknowledged spans in memory
/// for up to its timeout, where a `SIGKILL` loses them. So in a pipeline with a
/// persistent exporter the batch processor is moved behind the queues: the
/// receiver's batch goes straight into the write-ahead log (before the client
/// is answered), and the queue's consumers merge queued batches up to
/// `send_batch_max_size` (or `send_batch_size`) spans per export. In-memory
/// exporters of the same pipeline keep a batch processor of their own, in
/// front of their queues. Batching commutes with the per-span processors, so
/// the result is the same data in the same batches, only durable.
extension PipelineGraph {
    /// The batch settings of a pipeline that has a persistent exporter: its
    /// batch processor is applied behind the queues instead of in the chain.
    static func hoistedBatch(_ pipeline: PipelineConfig, _ config: TracegateConfig, _ exporters: [String: BuiltExporter]) -> BatchProcessorConfig? {
        guard pipeline.exporters.contains(where: { exporters[$0]!.sendingQueue.persistent }) else { return nil }
        for name in pipeline.processors {
            if let c = config.processors[name]?.config(as: BatchProcessorConfig.self) { return c }
        }
        return nil
    }

    /// How each persistent exporter's consumers batch what its log holds:
    /// up to the largest hoisted batch of the pipelines it is in, waiting for
    /// it at most the shortest of their `timeout`s (none: export batches as
    /// they came, at once).
    static func coalescing(_ config: TracegateConfig, _ exporters: [String: BuiltExporter]) -> [String: (spans: Int, timeout: Duration)] {
        var out: [String: (spans: Int, timeout: Duration)] = [:]
        for p in config.pipelines {
            guard let batch = hoistedBatch(p, config, exporters) else { continue }
            let size = batch.sendBatchMaxSize > 0 ? batch.sendBatchMaxSize : batch.sendBatchSize
            for name in p.exporters where exporters[name]!.sendingQueue.persistent {
                let known = out[name]
                out[name] = (max(known?.spans ?? 0, size), min(known?.timeout ?? batch.timeout, batch.timeout))
            }
        }
        return out
    }

    /// The end of a pipeline's processor chain: its queues, with the hoisted
    /// batch processor in front of the in-memory ones. A processor that chooses
    /// the exporters (`routing`) replaces this fan-out with its own
    /// (`exporterTargets`), so nothing is built for a routed pipeline.
    mutating func exporterEntry(
        _ pipeline: PipelineConfig, _ config: TracegateConfig, _ queues: [SendingQueue], hoisted: BatchProcessorConfig?
    ) -> any SpanConsumer {
        let routed = pipeline.processors.contains { config.processors[$0]?.factory.choosesExporters == true }
        guard let hoisted, !routed else { return FanOut(queues) }
        let persistent = queues.filter { $0.config.persistent }
        let memory = queues.filter { !$0.config.persistent }
        guard !memory.isEmpty else { return FanOut(persistent) }
        let batch = BatchProcessor(config: hoisted, next: FanOut(memory))
        processors.append(batch)
        return FanOut(persistent + [batch])
    }

    /// Opens the write-ahead log of a persistent exporter, in a subdirectory
    /// of `directory` named after the exporter (`otlphttp/up` → `otlphttp_up`).
    static func openPersistence(exporter name: String, _ queue: SendingQueueConfig, logger: Logger) throws -> QueuePersistence? {
        guard queue.persistent else { return nil }
        let directory = queue.directory + "/" + name.replacing("/", with: "_")
        let logger = logger.with("exporter", "\(name)")
        do {
            let log = try WriteAheadLog(directory: directory, maxSize: queue.maxSize, fsync: queue.fsync, logger: logger)
            return QueuePersistence(log: log, codec: OTLPBatchCodec())
        } catch {
            throw GraphError(description: "exporters.\(name).sending_queue: \(error)")
        }
    }
}

/// A configuration that validated but cannot start (a queue directory that
/// cannot be opened).
struct GraphError: Error, CustomStringConvertible {
    var description: String
}
