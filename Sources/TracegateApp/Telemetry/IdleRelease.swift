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
/// When: see `IdleReleaseSchedule`. Nothing happens while requests keep
/// coming.
struct IdleRelease: Service {
    /// When the first release comes, counted from the start.
    var afterStart: Duration = .milliseconds(500)
    /// Time without requests before the next release.
    var afterRequests: Duration = .seconds(10)
    /// How often the request count is looked at.
    var interval: Duration = .seconds(1)
    let logger: Logger

    func run() async throws {
        let clock = ContinuousClock()
        var schedule = IdleReleaseSchedule(afterRequests: afterRequests)
        var pause = afterStart
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let wait = pause
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            pause = interval
            if let reason = schedule.check(requests: RequestActivity.count, now: clock.now) { release(reason: reason) }
        }
    }

    private func release(reason: IdleReleaseSchedule.Reason) {
        let released = ProcessMemory.releaseCleanFilePages()
        ProcessMemory.trim()
        logger.debug("released unused program pages", metadata: ["reason": "\(reason.rawValue)", "kib": "\(released / 1024)"])
    }
}

/// When `IdleRelease` releases, as a value without a clock: once at its
/// first check (shortly after the start: start-up's code is not needed
/// again, whatever traffic has begun), then once after each quiet period of
/// `afterRequests` that follows requests (a gateway busy now and then keeps
/// its request path mapped in between).
struct IdleReleaseSchedule {
    enum Reason: String { case startUp = "start-up done", idle }

    let afterRequests: Duration
    private var started = false
    private var seen = 0
    private var quietSince: ContinuousClock.Instant?
    /// Requests came after the last release.
    private var owed = false

    init(afterRequests: Duration) {
        self.afterRequests = afterRequests
    }

    /// A check at `now`, when receivers have taken `requests` requests in
    /// all: the reason to release now, or nil.
    mutating func check(requests: Int, now: ContinuousClock.Instant) -> Reason? {
        guard started else {
            started = true
            seen = requests
            quietSince = now
            return .startUp
        }
        if requests != seen {
            seen = requests
            quietSince = now
            owed = true
            return nil
        }
        guard owed, let quietSince, now - quietSince >= afterRequests else { return nil }
        owed = false
        return .idle
    }
}
