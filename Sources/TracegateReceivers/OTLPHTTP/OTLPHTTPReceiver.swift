import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import TracegateCore

/// The OTLP/HTTP receiver: a SwiftNIO HTTP/1.1 server with keep-alive and
/// pipelining, one handler per connection.
public final class OTLPHTTPReceiver: Service {
    public let id: String
    private let ingress: PipelineIngress
    let logger: Logger
    private let group: any EventLoopGroup
    private let boundChannel: Channel
    /// What each new connection is set up with, and the connection count.
    let current: ListenerSettings<OTLPHTTPConfig>
    static let protocolName = "OTLP/HTTP"
    static let alpn = ["http/1.1"]

    public var config: OTLPHTTPConfig { current.current.config }

    /// Binds the socket right away, so that a port in use is a start-up error and
    /// the listening address is known before `run()`.
    public init(id: String, config: OTLPHTTPConfig, ingress: PipelineIngress, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        self.id = id
        self.ingress = ingress
        self.logger = logger
        self.group = group
        // Built before binding: a broken certificate is a start-up error.
        let current = try ListenerSettings(config, alpn: Self.alpn)
        self.current = current
        let handlerLogger = logger
        let metrics = ReceiverMetrics(receiver: id, transport: "http", logger: logger)
        let tlsFailures = TLSHandshakeGuard.failureCounter(receiver: id, protocol: "http")
        self.boundChannel = try await ServerBootstrap.otlpReceiver(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let settings = current.current
                    let handlerConfig = settings.config
                    // Over max_connections: closed at once, before a byte is read.
                    try current.admit(channel, metrics: metrics, logger: handlerLogger)
                    let deadline = HTTPReadDeadline(
                        timeout: handlerConfig.readTimeout, idleTimeout: handlerConfig.idleTimeout, logger: handlerLogger, metrics: metrics)
                    let sync = channel.pipeline.syncOperations
                    // Before TLS, so that read_timeout bounds the handshake too.
                    try sync.addHandler(deadline)
                    if let tlsContext = settings.tlsContext {
                        try sync.addHandler(NIOSSLServerHandler(context: tlsContext))
                        try sync.addHandler(
                            TLSHandshakeGuard(timeout: handlerConfig.readTimeout, failures: tlsFailures, logger: handlerLogger))
                    }
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(
                        OTLPHTTPHandler(
                            config: handlerConfig, ingress: ingress, logger: handlerLogger, allocator: channel.allocator,
                            deadline: deadline, metrics: metrics))
                }
            }
            .bind(host: config.host, port: config.port)
            .get()
    }

    /// Closes the socket of a receiver that never ran.
    public func abandon() async {
        try? await boundChannel.close()
    }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { boundChannel.localAddress }

    public func run() async throws {
        logger.info("OTLP/HTTP receiver listening", metadata: ["receiver": "\(id)", "address": "\(localAddress.map { "\($0)" } ?? config.endpoint)", "tls": "\(config.tls != nil)"])
        try? await gracefulShutdown()
        // Stop accepting; requests already read are answered by their handlers.
        try? await boundChannel.close()
        logger.info("OTLP/HTTP receiver stopped", metadata: ["receiver": "\(id)"])
    }
}
