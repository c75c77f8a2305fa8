import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The gateway's own HTTP/1.1 server: Prometheus `/metrics` on the metrics
/// address, `/health` and `/ready` on the health address (one listener
/// serves all three when the addresses are the same). It starts first and
/// stops last, so health stays observable while the pipelines drain.
public final class TelemetryServer: Service {
    /// One bound listener and the routes it serves.
    public struct Listener: Sendable {
        public let address: SocketAddress?
        let routes: Set<TelemetryRoute>
        let channel: any Channel

        /// `metrics`, `health,ready` or both, for the start-up log.
        public var servesMetrics: Bool { routes.contains(.metrics) }
        public var servesHealth: Bool { routes.contains(.health) }
    }

    public let listeners: [Listener]
    private let logger: Logger

    /// Binds every configured endpoint. An endpoint that came from the
    /// defaults and cannot be bound (port in use) is skipped with a warning;
    /// a configured one fails the start.
    public init(
        config: TelemetryConfig, metrics: @escaping @Sendable () -> [UInt8], readiness: Readiness, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        self.logger = logger
        var wanted: [(TelemetryConfig.Endpoint, Set<TelemetryRoute>)] = []
        if let m = config.metrics { wanted.append((m, [.metrics])) }
        if let h = config.health {
            if let i = wanted.firstIndex(where: { $0.0.address == h.address }) {
                wanted[i].1.formUnion([.health, .ready])
                wanted[i].0.explicit = wanted[i].0.explicit || h.explicit
            } else {
                wanted.append((h, [.health, .ready]))
            }
        }
        let sources = TelemetryHTTPHandler.Sources(metrics: metrics, readiness: readiness)
        var listeners: [Listener] = []
        for (endpoint, routes) in wanted {
            guard let hostPort = HostPort(endpoint.address) else { continue }
            do {
                let channel = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let sync = channel.pipeline.syncOperations
                            try sync.configureHTTPServerPipeline(withErrorHandling: true)
                            try sync.addHandler(TelemetryHTTPHandler(routes: routes, sources: sources))
                        }
                    }
                    .bind(host: hostPort.host, port: hostPort.port)
                    .get()
                listeners.append(Listener(address: channel.localAddress, routes: routes, channel: channel))
            } catch where !endpoint.explicit {
                logger.warning(
                    "telemetry endpoint not started: its default address cannot be bound; set service.telemetry.\(routes.contains(.metrics) ? "metrics" : "health").address to choose another",
                    metadata: ["address": "\(endpoint.address)", "error": "\(error)"])
            }
        }
        self.listeners = listeners
    }

    /// The bound address of the listener serving `/metrics`, if any.
    public var metricsAddress: SocketAddress? { listeners.first(where: \.servesMetrics)?.address }
    /// The bound address of the listener serving `/health` and `/ready`, if any.
    public var healthAddress: SocketAddress? { listeners.first(where: \.servesHealth)?.address }

    public func run() async throws {
        try? await gracefulShutdown()
        for listener in listeners { try? await listener.channel.close() }
    }
}
