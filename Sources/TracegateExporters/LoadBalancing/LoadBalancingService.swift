import Logging
import ServiceLifecycle
import TracegateCore

/// Runs the endpoint queues of a `loadbalancing` exporter, and with
/// `resolver.dns` resolves the name every `interval`, starting queues for new
/// addresses and draining those of addresses that are gone. Listed with the
/// services that start before and stop after the exporter queues, so the
/// exporter's own queue drains into the endpoint queues before they drain in
/// turn.
public struct LoadBalancingService: Service {
    public let exporter: LoadBalancingExporter
    /// The gateway's drain: the endpoint queues drain until its deadline,
    /// the one the exporter's own queue drained until, not a new one after it.
    public let drainDeadline: DrainDeadline
    private let logger: Logger

    public init(exporter: LoadBalancingExporter, drainDeadline: DrainDeadline, logger: Logger = Logger(label: "tracegate.loadbalancing")) {
        self.exporter = exporter
        self.drainDeadline = drainDeadline
        var logger = logger
        logger[metadataKey: "exporter"] = "\(exporter.id)"
        self.logger = logger
    }

    public func run() async throws {
        for queue in exporter.endpointQueues { queue.start() }
        if let dns = exporter.config.dns {
            await withTaskGroup(of: Void.self) { drains in
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    await refresh(dns, drains: &drains)
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: dns.interval) }
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        let deadline = drainDeadline.current().instant
        await withTaskGroup(of: Void.self) { drains in
            for queue in exporter.endpointQueues { drains.addTask { await queue.shutdown(deadline: deadline) } }
        }
    }

    private func refresh(_ dns: DNSResolverConfig, drains: inout TaskGroup<Void>) async {
        guard let endpoints = await DNSLookup.endpoints(dns.hostname, port: dns.port, timeout: dns.timeout) else {
            logger.warning("cannot resolve the load-balancing name; keeping the current endpoints", metadata: ["hostname": "\(dns.hostname)"])
            return
        }
        let (added, removed) = exporter.update(endpoints: endpoints)
        guard !added.isEmpty || !removed.isEmpty else { return }
        logger.info("load-balancing endpoints changed", metadata: ["endpoints": "\(endpoints.joined(separator: ", "))"])
        for queue in added { queue.start() }
        let timeout = drainDeadline.timeout
        for queue in removed {
            // What was already handed to a gone endpoint is still sent there.
            drains.addTask { await queue.shutdown(deadline: .now + timeout) }
        }
    }
}
