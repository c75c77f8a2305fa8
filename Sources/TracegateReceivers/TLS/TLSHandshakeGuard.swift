import Logging
import Metrics
import NIOCore
import TracegateCore
import NIOSSL
import NIOTLS

/// Sits right behind the `NIOSSLServerHandler` of a TLS receiver until the
/// handshake is done, then takes itself out of the pipeline.
///
/// A client that fails the handshake (a plain-text request to the TLS port,
/// no or an untrusted client certificate, no common protocol version) or does
/// not finish it within `timeout` has its connection closed and counted in
/// `tracegate_receiver_tls_handshake_failures_total`; the error goes no
/// further, so the protocol handlers behind only ever see TLS connections.
final class TLSHandshakeGuard: ChannelInboundHandler, RemovableChannelHandler, StartsWhenActive {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let failures: Counter
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var failed = false

    init(timeout: Duration, failures: Counter, logger: Logger) {
        self.timeout = .nanoseconds(timeout.nanoseconds)
        self.failures = failures
        self.logger = logger
    }

    /// The counter of one receiver's failed handshakes.
    static func failureCounter(receiver: String, protocol name: String) -> Counter {
        Counter(
            label: "tracegate_receiver_tls_handshake_failures_total",
            dimensions: [("receiver", receiver), ("protocol", name)])
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            timer = nil
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, reason: "\(error)")
    }

    private func fail(_ context: ChannelHandlerContext, reason: String) {
        guard !failed else { return }
        failed = true
        timer?.cancel()
        timer = nil
        failures.increment()
        logger.debug(
            "TLS handshake failed, closing connection",
            metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "error": "\(reason)"])
        context.close(promise: nil)
    }

    func channelIsActive(context: ChannelHandlerContext) {
        guard timer == nil, !failed else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.fail(context, reason: "handshake not completed within \(handler.timeout)")
        }
    }
}
