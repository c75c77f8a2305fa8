import Logging
import NIOCore
import Synchronization

/// `read_timeout`: a request must arrive whole, head and body, within the
/// timeout counted from its first byte (and a new connection must deliver a
/// whole request within it too). Otherwise the connection is closed, so a
/// client that trickles a request in cannot hold a connection for long.
/// Idle keep-alive connections between requests are not timed.
///
/// The timer is armed by the handler at the head of the pipeline, which sees
/// raw bytes, and disarmed by `OTLPHTTPHandler` when a request has ended.
/// Both run on the connection's event loop.
final class HTTPReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let logger: Logger
    private let metrics: ReceiverMetrics?
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeout: Duration, logger: Logger, metrics: ReceiverMetrics? = nil) {
        self.timeout = .nanoseconds(timeout.nanoseconds)
        self.logger = logger
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer == nil { arm(context) }
        context.fireChannelRead(data)
    }

    /// Called when a request has been read completely.
    func requestRead() {
        disarm()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.logger.debug("closing connection: request not read within read_timeout")
            handler.metrics?.refused(encoding: "unknown", reason: .timeout)
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

/// `max_connections`: counts the connections served by one receiver.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let count = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a slot; false when the receiver is full (a limit of 0 never is).
    func tryAcquire() -> Bool {
        count.withLock { n in
            guard limit == 0 || n < limit else { return false }
            n += 1
            return true
        }
    }

    func release() { count.withLock { $0 -= 1 } }

    var current: Int { count.withLock { $0 } }
}
