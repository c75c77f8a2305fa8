import NIOPosix
import Synchronization

/// The threads that sending queues' exports block on (libpq, libcurl
/// block; they must not run on an event loop or in the cooperative pool):
/// one `NIOThreadPool` for the gateway instead of threads each queue starts.
///
/// `GatewayRuntime` starts it once its first graph is built, with a thread
/// per consumer of that graph's queues, so no consumer waits for another's
/// export to get a thread. A queue made without one (tests, tools) gets a
/// pool of its own, sized to its consumers and shut down with it.
public final class ExportThreadPool: Sendable {
    private let pool = Mutex<(threads: NIOThreadPool, count: Int)?>(nil)

    public init() {}

    /// Threads of the running pool (0 before `start`).
    public var threadCount: Int { pool.withLock { $0?.count ?? 0 } }

    /// Starts the pool with `threads` threads; later calls change nothing.
    public func start(threads: Int) {
        pool.withLock { pool in
            guard pool == nil else { return }
            let started = NIOThreadPool(numberOfThreads: max(1, threads))
            started.start()
            pool = (started, max(1, threads))
        }
    }

    /// Runs `body` on a pool thread and returns its result. Throws
    /// `CancellationError` when this task is cancelled before a thread
    /// took `body` (it then never runs), and what `body` throws.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard let pool = pool.withLock({ $0?.threads }) else {
            preconditionFailure("ExportThreadPool.run before start")
        }
        return try await pool.runIfActive(body)
    }

    /// Stops the threads once the work they hold is done; later work fails.
    public func shutdown() async {
        let stopping = pool.withLock { pool in
            defer { pool = nil }
            return pool
        }
        try? await stopping?.threads.shutdownGracefully()
    }
}
