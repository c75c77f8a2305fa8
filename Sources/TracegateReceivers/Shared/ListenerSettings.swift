import Logging
import NIOCore
import NIOSSL
import Synchronization

/// What an OTLP listener's settings say about its connections.
protocol ListenerConfig: Sendable {
    /// `max_connections` (0: no limit).
    var maxConnections: Int { get }
    var tls: ReceiverTLSConfig? { get }
}

/// A listener's settings for new connections, with the TLS context built
/// from them, and its connection count: shared by the listener and its
/// channel initializer (a `Mutex` cannot be captured by an escaping closure;
/// a reference to one can). A reload replaces the settings (`update`)
/// without touching the socket; connections already open keep what they
/// started with.
final class ListenerSettings<Config: ListenerConfig>: Sendable {
    struct Settings: Sendable {
        let config: Config
        let tlsContext: NIOSSLContext?
    }

    private let value: Mutex<Settings>
    private let connections: ConnectionCounter

    /// Builds the first settings (a broken certificate throws here, before
    /// the socket is bound).
    init(_ config: Config, alpn: [String]) throws {
        value = Mutex(try Self.settings(config, alpn: alpn))
        connections = ConnectionCounter(limit: config.maxConnections)
    }

    /// What new connections need from `config`; throws for a broken
    /// certificate, before anything changes.
    static func settings(_ config: Config, alpn: [String]) throws -> Settings {
        Settings(config: config, tlsContext: try config.tls?.makeServerContext(applicationProtocols: alpn))
    }

    var current: Settings { value.withLock { $0 } }

    /// New connections get `settings` (and its `max_connections`).
    func replace(with new: Settings) {
        connections.setLimit(new.config.maxConnections)
        value.withLock { $0 = new }
    }

    /// Takes a connection slot for `channel`, given back when it closes.
    /// Over `max_connections` the connection is counted and refused (the
    /// caller closes it before a byte is read).
    func admit(_ channel: any Channel, metrics: ReceiverMetrics, logger: Logger) throws {
        guard connections.tryAcquire() else {
            logger.debug("refusing connection: max_connections reached", metadata: ["max_connections": "\(connections.limit)"])
            metrics.refused(encoding: "unknown", reason: .connectionLimit)
            throw ChannelError.ioOnClosedChannel
        }
        let connections = self.connections
        channel.closeFuture.whenComplete { _ in connections.release() }
    }
}

extension OTLPHTTPConfig: ListenerConfig {}
extension OTLPGRPCConfig: ListenerConfig {}

/// An OTLP listener whose settings a reload can replace.
protocol OTLPListener: AnyObject {
    associatedtype Config: ListenerConfig
    /// `OTLP/HTTP`, for the log.
    static var protocolName: String { get }
    /// The TLS application protocols it offers.
    static var alpn: [String] { get }
    var id: String { get }
    var logger: Logger { get }
    var current: ListenerSettings<Config> { get }
}

extension OTLPListener {
    /// What new connections need from `config` (a broken certificate throws
    /// here, before anything changes).
    static func settings(_ config: Config) throws -> ListenerSettings<Config>.Settings {
        try ListenerSettings.settings(config, alpn: alpn)
    }

    /// New connections get `settings`; the address must stay the same.
    func update(_ settings: ListenerSettings<Config>.Settings) {
        current.replace(with: settings)
        logger.info("\(Self.protocolName) receiver settings replaced; new connections use them", metadata: ["receiver": "\(id)"])
    }
}

extension OTLPHTTPReceiver: OTLPListener {}
extension OTLPGRPCReceiver: OTLPListener {}
