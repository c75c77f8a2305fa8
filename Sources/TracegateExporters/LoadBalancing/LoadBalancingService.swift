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
    public let timeout: Duration
    private let logger: Logger

    public init(exporter: LoadBalancingExporter, timeout: Duration, logger: Logger = Logger(label: "tracegate.loadbalancing")) {
        self.exporter = exporter
        self.timeout = timeout
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
        let deadline = ContinuousClock.now + timeout
        for queue in exporter.endpointQueues { await queue.shutdown(deadline: deadline) }
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
        let timeout = self.timeout
        for queue in removed {
            // What was already handed to a gone endpoint is still sent there.
            drains.addTask { await queue.shutdown(deadline: .now + timeout) }
        }
    }
}
