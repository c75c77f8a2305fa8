// The OTLP/gRPC receiver is written on swift-nio-http2 directly, not on
// grpc-swift-2 with a raw-bytes serializer:
//
// - Build cost. swift-nio-http2 adds two modules (NIOHTTP2, NIOHPACK) on top
//   of the swift-nio the HTTP receiver already uses. grpc-swift-2 needs its
//   HTTP/2 transport package, grpc-swift-nio-transport, which brings
//   swift-nio-ssl (BoringSSL, hundreds of C files), swift-certificates,
//   swift-asn1, swift-nio-extras and swift-nio-transport-services: minutes
//   more on two cores for one unary method over h2c.
// - Size and clarity. A unary gRPC call is a HEADERS frame, DATA frames
//   holding one length-prefixed message, and an answer of HEADERS, DATA and
//   trailers (or trailers alone for an error). That is one small stream
//   handler (OTLPGRPCHandler.swift) plus pure framing and status encoders
//   (GRPCWire.swift), in the same event-loop style as the HTTP receiver, with
//   every status the OTLP specification asks for spelled out there. With
//   grpc-swift the same control (RetryInfo in grpc-status-details-bin,
//   RESOURCE_EXHAUSTED wording, Trailers-Only answers) would go through its
//   async service layer and a serializer that only copies bytes.
// - What grpc-swift would have given for free is connection management; NIOHTTP2
//   ships it too: NIOHTTP2ServerConnectionManagementHandler does the graceful
//   GOAWAY + PING shutdown used below.

import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import TracegateCore

/// The OTLP/gRPC receiver: an h2c (HTTP/2 without TLS, prior knowledge)
/// server with many concurrent streams per connection, one
/// `OTLPGRPCStreamHandler` per stream.
public final class OTLPGRPCReceiver: Service {
    public let id: String
    let logger: Logger
    private let boundChannel: Channel
    private let connections: ConnectionSet
    /// What each new connection is set up with, and the connection count.
    let current: ListenerSettings<OTLPGRPCConfig>
    static let protocolName = "OTLP/gRPC"
    static let alpn = ["h2"]

    /// How long connections get, once shutdown starts, to finish the calls
    /// they have in flight.
    static let shutdownGrace = TimeAmount.seconds(5)

    /// How long a TLS client has to complete its handshake.
    static let handshakeTimeout = Duration.seconds(10)

    public var config: OTLPGRPCConfig { current.current.config }

    /// Binds the socket right away, so that a port in use is a start-up error and
    /// the listening address is known before `run()`.
    public init(id: String, config: OTLPGRPCConfig, ingress: PipelineIngress, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        self.id = id
        self.logger = logger
        let connections = ConnectionSet()
        self.connections = connections
        // Built before binding: a broken certificate is a start-up error.
        let current = try ListenerSettings(config, alpn: Self.alpn)
        self.current = current
        let metrics = ReceiverMetrics(receiver: id, transport: "grpc", logger: logger)
        let tlsFailures = TLSHandshakeGuard.failureCounter(receiver: id, protocol: "grpc")

        self.boundChannel = try await ServerBootstrap.otlpReceiver(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let settings = current.current
                    let config = settings.config
                    // A connection accepted while the receiver stops is not served.
                    guard connections.insert(channel) else { throw ChannelError.ioOnClosedChannel }
                    // Over max_connections: closed at once, before a byte is read.
                    try current.admit(channel, metrics: metrics, logger: logger)
                    let (connectionConfiguration, streamConfiguration) = Self.http2Configuration(config)
                    let managerConfiguration = NIOHTTP2ServerConnectionManagementHandler.Configuration(
                        maxIdleTime: config.maxConnectionIdle.map { .nanoseconds($0.nanoseconds) },
                        maxAge: config.maxConnectionAge.map { .nanoseconds($0.nanoseconds) },
                        maxGraceTime: Self.shutdownGrace, keepalive: nil)
                    let manager = NIOHTTP2ServerConnectionManagementHandler(
                        eventLoop: channel.eventLoop, configuration: managerConfiguration)
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext = settings.tlsContext {
                        try sync.addHandler(NIOSSLServerHandler(context: tlsContext))
                        try sync.addHandler(
                            TLSHandshakeGuard(timeout: Self.handshakeTimeout, failures: tlsFailures, logger: logger))
                    }
                    _ = try sync.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: connectionConfiguration,
                        streamConfiguration: streamConfiguration, streamDelegate: manager.http2StreamDelegate
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(
                                OTLPGRPCStreamHandler(
                                    maxMessageSize: config.maxRecvMsgSize, ingress: ingress, logger: logger, auth: config.auth,
                                    metadata: config.metadata, metrics: metrics, readTimeout: config.readTimeout))
                        }
                    }
                    try sync.addHandler(manager)
                    try sync.addHandler(HTTP2PrefaceDeadline(timeout: config.readTimeout, metrics: metrics))
                    try sync.addHandler(GRPCConnectionErrorHandler(logger: logger, metrics: metrics))
                }
            }
            .bind(host: config.host, port: config.port)
            .get()
    }

    static func http2Configuration(_ config: OTLPGRPCConfig)
        -> (NIOHTTP2Handler.ConnectionConfiguration, NIOHTTP2Handler.StreamConfiguration)
    {
        // Windows large enough that a 4 MiB export is not throttled by
        // WINDOW_UPDATE round trips; what a stream may hold is bounded by
        // max_recv_msg_size_mib anyway.
        let streamWindow = 1 << 20
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: config.maxConcurrentStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 << 10),
        ]
        connection.targetWindowSize = 4 * streamWindow
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = streamWindow
        return (connection, stream)
    }

    /// Closes the socket of a receiver that never ran.
    public func abandon() async {
        try? await boundChannel.close()
    }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { boundChannel.localAddress }

    public func run() async throws {
        logger.info("OTLP/gRPC receiver listening", metadata: ["receiver": "\(id)", "address": "\(localAddress.map { "\($0)" } ?? config.endpoint)", "tls": "\(config.tls != nil)"])
        try? await gracefulShutdown()
        // Stop accepting, then close every connection gracefully: GOAWAY so
        // clients open no more streams here (and retry elsewhere those the
        // server never saw), calls in flight answered, then the close.
        try? await boundChannel.close()
        let open = connections.closeAll()
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            // The manager's own grace timer starts only once the client acks
            // its PING; this bounds a client that never does.
            let deadline = channel.eventLoop.scheduleTask(in: Self.shutdownGrace) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in deadline.cancel() }
        }
        for channel in open { try? await channel.closeFuture.get() }
        logger.info("OTLP/gRPC receiver stopped", metadata: ["receiver": "\(id)"])
    }
}

/// The open connections of a receiver, for a graceful shutdown.
final class ConnectionSet: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }

    private let state = Mutex(State())

    /// Registers a new connection until it closes; false once shutdown began.
    func insert(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let inserted = state.withLock { state in
            guard !state.closing else { return false }
            state.channels[id] = channel
            return true
        }
        if inserted {
            channel.closeFuture.whenComplete { [self] _ in
                _ = self.state.withLock { $0.channels.removeValue(forKey: id) }
            }
        }
        return inserted
    }

    /// Refuses further connections and returns those open now.
    func closeAll() -> [any Channel] {
        state.withLock { state in
            state.closing = true
            return Array(state.channels.values)
        }
    }
}
