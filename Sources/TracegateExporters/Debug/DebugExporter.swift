import Logging
import Synchronization
import TracegateCore

/// `debug`: writes what flows through a pipeline to the log, as the
/// Collector's debug exporter does: a count per batch (`basic`), a line per
/// span (`normal`) or every field (`detailed`), sampled per second so a busy
/// pipeline cannot flood the log.
public final class DebugExporter: SpanExporter {
    public let id: String
    public let config: DebugExporterConfig
    private let logger: Logger
    private let sampler: Mutex<LogSampler>
    private let clock: @Sendable () -> UInt64

    /// `clock`: monotonic nanoseconds, for the per-second sampling.
    public init(
        id: String, config: DebugExporterConfig, logger: Logger,
        clock: @escaping @Sendable () -> UInt64 = DebugExporter.monotonicNanoseconds
    ) {
        self.id = id
        self.config = config
        self.logger = logger.with("exporter", "\(id)")
        self.sampler = Mutex(LogSampler(initial: config.samplingInitial, thereafter: config.samplingThereafter))
        self.clock = clock
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        let now = clock()
        let (write, skipped) = sampler.withLock { $0.admit(atNanoseconds: now) }
        guard write else { return }
        var metadata: Logger.Metadata = [
            "resource_spans": "\(batch.resourceSpans.count)", "spans": "\(batch.spanCount)",
        ]
        if skipped > 0 { metadata["batches_not_shown"] = "\(skipped)" }
        switch config.verbosity {
        case .basic: logger.info("Traces", metadata: metadata)
        case .normal: logger.info("Traces\n\(DebugFormat.normal(batch).dropLast())", metadata: metadata)
        case .detailed: logger.info("Traces\n\(DebugFormat.detailed(batch).dropLast())", metadata: metadata)
        }
    }

    public func close() {}
}

extension DebugExporter {
    private static let origin = ContinuousClock.now

    /// Nanoseconds since the first call (any fixed origin will do: the
    /// sampler only compares whole seconds).
    public static func monotonicNanoseconds() -> UInt64 {
        let elapsed = ContinuousClock.now - origin
        return UInt64(clamping: elapsed.components.seconds) &* 1_000_000_000 &+ UInt64(clamping: elapsed.components.attoseconds / 1_000_000_000)
    }
}
