import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TracegateCore

/// The `memory_limiter` processor: a gate in front of the pipeline that
/// refuses new data while the heap in use is above the soft limit, so that
/// clients back off (HTTP 429 / gRPC RESOURCE_EXHAUSTED with a retry hint)
/// instead of the gateway growing until the kernel kills it.
///
/// The heap is measured every `check_interval` by `run()`; between two
/// measurements the estimated size of each admitted batch is added, so a burst
/// cannot overshoot the limit by more than one interval allows. Data already
/// admitted passes through unchanged.
///
/// Metrics: `tracegate_memory_limiter_heap_bytes`,
/// `tracegate_memory_limiter_soft_limit_bytes`,
/// `tracegate_memory_limiter_hard_limit_bytes`,
/// `tracegate_memory_limiter_refusing` (1 while refusing) and
/// `tracegate_memory_limiter_trims_total`, labelled by `processor`.
public final class MemoryLimiter: SpanConsumer, AdmissionGate, Service {
    public let id: String
    public let config: MemoryLimiterConfig
    private let next: any SpanConsumer
    private let state: Mutex<MemoryLimiterState>
    private let measure: @Sendable () -> Int
    private let trim: @Sendable () -> Void
    private let logger: Logger
    private let heapGauge: Gauge
    private let refusingGauge: Gauge
    private let trims: Counter

    /// `measure` and `trim` default to the process heap; tests inject their own.
    public init(
        id: String, config: MemoryLimiterConfig, next: any SpanConsumer, logger: Logger,
        measure: @escaping @Sendable () -> Int = ProcessMemory.heapInUse,
        trim: @escaping @Sendable () -> Void = ProcessMemory.trim
    ) {
        self.id = id
        self.config = config
        self.next = next
        self.measure = measure
        self.trim = trim
        self.logger = logger.with("processor", "\(id)")
        self.state = Mutex(MemoryLimiterState(softLimit: config.softLimitBytes, hardLimit: config.hardLimitBytes))
        let dimensions = [("processor", id)]
        heapGauge = Gauge(label: "tracegate_memory_limiter_heap_bytes", dimensions: dimensions)
        refusingGauge = Gauge(label: "tracegate_memory_limiter_refusing", dimensions: dimensions)
        trims = Counter(label: "tracegate_memory_limiter_trims_total", dimensions: dimensions)
        Gauge(label: "tracegate_memory_limiter_soft_limit_bytes", dimensions: dimensions).record(config.softLimitBytes)
        Gauge(label: "tracegate_memory_limiter_hard_limit_bytes", dimensions: dimensions).record(config.hardLimitBytes)
    }

    public func consume(_ batch: SpanBatch) { next.consume(batch) }

    public func discard(_ count: Int) { next.discard(count) }

    public func refusal(forBytes bytes: Int) -> Admission? {
        let (admits, inUse) = state.withLock { ($0.admits(bytes: bytes), $0.inUse) }
        guard !admits else { return nil }
        return .refused(
            retryAfter: retryHint,
            reason: "memory limit: \(inUse >> 20) MiB of heap in use, above the soft limit of \(config.softLimitBytes >> 20) MiB (\(id))",
            kind: .memoryLimit)
    }

    public func admitted(bytes: Int) {
        state.withLock { $0.admit(bytes: bytes) }
    }

    /// The delay clients are told to wait: at least one second, and no
    /// shorter than a check, which is when the answer can change.
    var retryHint: Duration { max(.seconds(1), config.checkInterval) }

    /// True while new data is refused.
    public var isRefusing: Bool { state.withLock { $0.refusing } }

    /// Measures the heap once and updates the decision (and the metrics).
    public func check() {
        let bytes = measure()
        let (overHard, wasRefusing, nowRefusing) = state.withLock { s in
            let was = s.refusing
            let over = s.record(measurement: bytes)
            return (over, was, s.refusing)
        }
        if overHard {
            // Nothing to collect, as a garbage collector would: what is held is
            // data in queues. Giving free pages back keeps RSS near the heap.
            trim()
            trims.increment()
        }
        heapGauge.record(bytes)
        refusingGauge.record(nowRefusing ? 1 : 0)
        if nowRefusing != wasRefusing {
            let metadata: Logger.Metadata = [
                "heap_mib": "\(bytes >> 20)", "soft_limit_mib": "\(config.softLimitBytes >> 20)",
                "limit_mib": "\(config.limitMiB)",
            ]
            if nowRefusing {
                logger.warning("memory limit reached: refusing new data until the heap shrinks", metadata: metadata)
            } else {
                logger.info("memory back under the soft limit: accepting data again", metadata: metadata)
            }
        }
    }

    public func run() async throws {
        check()
        // mallinfo2 walks the allocator's arenas: microseconds, fine on the
        // cooperative pool at this rate.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: self.config.checkInterval)
            }
            check()
        }
    }
}
