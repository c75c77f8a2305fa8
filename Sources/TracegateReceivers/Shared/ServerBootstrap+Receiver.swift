import NIOCore
import NIOPosix

extension ServerBootstrap {
    /// The socket settings both OTLP receivers listen with: a deep accept
    /// backlog for bursts of new clients, quick rebinding after a restart,
    /// no Nagle delay on answers, and bounded reads per wake-up so one busy
    /// connection cannot starve the others on its event loop.
    static func otlpReceiver(group: any EventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
    }
}
