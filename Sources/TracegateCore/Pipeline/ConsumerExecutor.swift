/// Where the sending queues' consumer tasks run: one thread of its own for
/// the whole process, as a `TaskExecutor`.
///
/// Consumers only decide and wait (their exports block a thread of the
/// `ExportThreadPool`), so one thread serves them all. They do not run on
/// the cooperative pool because its threads are as many as cores (two on
/// the machines we test on) and CPU-bound work there (a tail-sampling
/// decision, or the parallel test suite, whose YAML tests take one core for
/// 14 s) would hold them back past a shutdown deadline, which is wall-clock
/// time: under the full test run queues drained nothing in 5 s.
public final class ConsumerExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is read and written only with `condition` locked.

    /// The executor of every sending queue in the process.
    public static let shared = ConsumerExecutor(name: "tg-queues")

    private let condition = ThreadCondition()
    private var jobs: [UnownedJob] = []

    private init(name: String) {
        startThread(name: name) { [self] in run() }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        if jobs.count == 1 { condition.signal() }
        condition.unlock()
    }

    private func run() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let ready = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in ready { job.runSynchronously(on: executor) }
        }
    }
}
