#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import TracegateCore
import UnixSignals

/// SIGHUP: reread the configuration file and apply it (`GatewayRuntime.reload`).
/// Without a handler the signal's default action would kill the process and
/// lose what the queues hold; without a file to reread (a gateway started
/// from a configuration in memory) it only logs that.
struct ReloadSignalService: Service {
    let configFile: String?
    let requestReload: AsyncStream<Void>.Continuation
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            guard configFile != nil else {
                logger.warning("SIGHUP received, but there is no configuration file to reread")
                continue
            }
            logger.info("SIGHUP received: rereading the configuration")
            requestReload.yield()
        }
    }
}

/// `tracegate run --watch`: rereads the configuration when its file changes
/// (size, modification time or inode: editors that write a new file and
/// rename it over the old one count too). Polls once a second; a reload of
/// a half-written file fails validation and is tried again at the next change.
struct ConfigFileWatch: Service {
    let path: String
    let requestReload: AsyncStream<Void>.Continuation
    var interval: Duration = .seconds(1)

    func run() async throws {
        var last = Self.identity(path)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            let now = Self.identity(path)
            if now != last, now != nil {
                last = now
                requestReload.yield()
            }
        }
    }

    private struct Identity: Equatable {
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanos: Int
    }

    private static func identity(_ path: String) -> Identity? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return Identity(inode: UInt64(s.st_ino), size: Int64(s.st_size), modified: Int64(s.st_mtim.tv_sec), modifiedNanos: Int(s.st_mtim.tv_nsec))
    }
}

/// Runs the gateway's components (`GatewayRuntime`): starts them, applies
/// each reload request, and at graceful shutdown stops them in the order
/// that loses nothing.
struct GatewayService: Service {
    let runtime: GatewayRuntime
    let reloadRequests: AsyncStream<Void>
    let configFile: String?

    func run() async throws {
        await runtime.start()
        for await _ in reloadRequests.cancelOnGracefulShutdown() {
            guard let configFile else { continue }
            await runtime.reload(file: configFile, environment: ProcessInfo.processInfo.environment)
        }
        await runtime.stop()
    }
}

/// Placed last in the service group, so it runs once every other service has
/// been started and is the first told to shut down: marks the gateway ready,
/// then not ready as soon as the shutdown begins.
struct ReadinessMarker: Service {
    let readiness: Readiness

    func run() async throws {
        readiness.markStarted()
        try? await gracefulShutdown()
        readiness.markStopping()
    }
}
