import Logging
import NIOCore
import Synchronization

/// `read_timeout` and `idle_timeout`: a request must arrive whole, head and
/// body, within `read_timeout` counted from its first byte (and a new
/// connection must deliver a whole request within it too); a keep-alive
/// connection may then wait at most `idle_timeout` for its next request.
/// Otherwise the connection is closed, so a client that trickles a request
/// in, or connects and says nothing, cannot hold a connection for long.
///
/// The timer is armed by the handler at the head of the pipeline, which sees
/// raw bytes, and switched to the idle timeout by `OTLPHTTPHandler` when a
/// request has ended. Both run on the connection's event loop.
final class HTTPReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum Phase { case reading, idle }

    private let timeout: TimeAmount
    private let idleTimeout: TimeAmount?
    private let logger: Logger
    private let metrics: ReceiverMetrics?
    private var timer: Scheduled<Void>?
    private var phase = Phase.reading
    private var context: ChannelHandlerContext?

    init(timeout: Duration, idleTimeout: Duration = .zero, logger: Logger, metrics: ReceiverMetrics? = nil) {
        self.timeout = .nanoseconds(timeout.nanoseconds)
        self.idleTimeout = idleTimeout > .zero ? .nanoseconds(idleTimeout.nanoseconds) : nil
        self.logger = logger
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(context, .reading) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil { arm(context, .reading) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer == nil || phase == .idle { arm(context, .reading) }
        context.fireChannelRead(data)
    }

    /// Called when a request has been read completely: from now on the
    /// connection is idle until its next byte.
    func requestRead() {
        disarm()
        if let context { arm(context, .idle) }
    }

    private func arm(_ context: ChannelHandlerContext, _ phase: Phase) {
        disarm()
        self.phase = phase
        let delay: TimeAmount
        switch phase {
        case .reading: delay = timeout
        case .idle:
            guard let idleTimeout else { return }
            delay = idleTimeout
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            handler.timer = nil
            switch phase {
            case .reading:
                handler.logger.debug("closing connection: request not read within read_timeout")
                handler.metrics?.refused(encoding: "unknown", reason: .timeout)
            case .idle:
                // An ordinary end for a keep-alive connection: not a refusal.
                handler.logger.trace("closing connection: idle for idle_timeout")
            }
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
    /// (connections open, the limit); a reload may change the limit.
    private let state: Mutex<(count: Int, limit: Int)>

    init(limit: Int) { state = Mutex((0, limit)) }

    var limit: Int { state.withLock { $0.limit } }

    /// A new `max_connections`: connections above it stay, new ones wait for room.
    func setLimit(_ limit: Int) { state.withLock { $0.limit = limit } }

    /// Takes a slot; false when the receiver is full (a limit of 0 never is).
    func tryAcquire() -> Bool {
        state.withLock { s in
            guard s.limit == 0 || s.count < s.limit else { return false }
            s.count += 1
            return true
        }
    }

    func release() { state.withLock { $0.count -= 1 } }

    var current: Int { state.withLock { $0.count } }
}
