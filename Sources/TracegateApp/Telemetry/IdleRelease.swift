import Logging
import ServiceLifecycle
import TracegateCore
import TracegateProcessors

/// Gives memory the gateway does not use back while it is idle: the
/// never-written pages of its program text and read-only data
/// (`ProcessMemory.releaseCleanFilePages`), and free heap (`malloc_trim`).
///
/// Why: the kernel maps program text in large pieces (fault-around, large
/// page-cache folios), so an idle process's resident set counts ~20 MiB of
/// code it ran once (configuration parsing, start-up checks) or not at all.
/// Released pages stay in the page cache; the next request maps what it
/// needs again with minor faults (about a millisecond in all, once).
///
/// When: once shortly after the start (start-up's code is not needed again),
/// then after each quiet period of `afterRequests` following requests (a
/// gateway that is busy now and then keeps its request path mapped in
/// between). Nothing happens while requests keep coming.
struct IdleRelease: Service {
    /// When the first release comes, counted from the start.
    var afterStart: Duration = .milliseconds(500)
    /// Time without requests before the next release.
    var afterRequests: Duration = .seconds(10)
    /// How often the request count is looked at.
    var interval: Duration = .seconds(1)
    let logger: Logger

    func run() async throws {
        var wait = afterStart
        var seen = RequestActivity.count
        var quietSince = ContinuousClock.now
        // Nothing is released until the first check, which releases once.
        var pending = true
        var first = true
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let pause = wait
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            wait = interval
            let count = RequestActivity.count
            if first {
                first = false
                release(reason: "start-up done")
                seen = count
                quietSince = .now
                pending = false
                continue
            }
            if count != seen {
                seen = count
                quietSince = .now
                pending = true
            } else if pending && ContinuousClock.now - quietSince >= afterRequests {
                release(reason: "idle")
                pending = false
            }
        }
    }

    private func release(reason: String) {
        let released = ProcessMemory.releaseCleanFilePages()
        ProcessMemory.trim()
        logger.debug(
            "released unused program pages", metadata: ["reason": "\(reason)", "kib": "\(released / 1024)"])
    }
}
