import Logging
import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization
import TracegateCore

/// What a call got back before it ended: the response's header fields
/// (headers, then trailers) and its message, still framed.
struct GRPCCallAnswer: Sendable {
    var httpStatus: Int?
    var fields: [(name: String, value: String)] = []
    /// DATA of the response: a 5-byte prefix and the message, cut at the limit.
    var data: ByteBuffer
    /// More DATA came than `GRPCClientConnection.responseLimit`; the message is unusable.
    var truncated = false
}

/// Why a call has no answer: the connection could not be made or broke, the
/// stream was reset, or the call ran out of time. Always retryable.
struct GRPCTransportFailure: Error, CustomStringConvertible {
    var description: String
    /// True when the call's own `timeout` ran out (DEADLINE_EXCEEDED).
    var timedOut = false
}

/// One HTTP/2 connection to the server, shared by every consumer thread of
/// the exporter: each call is a stream on it, so several are in flight at
/// once without a connection each. When the connection dies (closed, reset,
/// GOAWAY, a PING left unanswered) the next call opens a new one.
///
/// `call` blocks its thread until the answer: the sending queue's consumer
/// threads are not event loops and exist to wait. Everything on the channel
/// happens on its event loop; the threads only wait on futures, and the
/// lock below is held for a few field updates, never across a wait.
final class GRPCClientConnection: Sendable {
    /// Largest response DATA kept: an `ExportTraceServiceResponse` is a few
    /// bytes; a server sending more is not answering the call we made.
    static let responseLimit = 1 << 20

    private struct Live: Sendable {
        let channel: any Channel
        let multiplexer: NIOHTTP2Handler.StreamMultiplexer
        let fault: ConnectionFault
    }

    private struct State {
        var live: Live?
        var connecting: EventLoopFuture<Live>?
        var closed = false
    }

    private let config: OTLPGRPCExporterConfig
    private let tls: NIOSSLContext?
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())
    /// Calls waiting for an answer, read by the keepalive handler.
    let inFlight = Atomic<Int>(0)
    private let connections: Counter

    init(config: OTLPGRPCExporterConfig, tls: NIOSSLContext?, group: any EventLoopGroup, logger: Logger, connections: Counter) {
        self.config = config
        self.tls = tls
        self.group = group
        self.logger = logger
        self.connections = connections
    }

    /// Makes one unary call: `headers` (the request's, complete) and `body`
    /// (the framed message); returns what the server answered.
    func call(headers: HPACKHeaders, body: ByteBuffer) throws(GRPCTransportFailure) -> GRPCCallAnswer {
        let live: Live
        do {
            live = try connection().wait()
        } catch let failure as GRPCTransportFailure {
            throw failure
        } catch {
            throw GRPCTransportFailure(description: "cannot connect to \(config.scheme)://\(config.authority): \(error)")
        }
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        let promise = live.channel.eventLoop.makePromise(of: GRPCCallAnswer.self)
        let timeout = TimeAmount.nanoseconds(config.timeout.nanoseconds)
        live.multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(
                    GRPCExportCall(headers: headers, body: body, timeout: timeout, promise: promise))
            }
        }.whenFailure { error in
            // A connection that cannot open a stream (its stream ids are used
            // up, it is closing) is no use to the next call either.
            self.retire(live.channel)
            promise.fail(error)
        }
        do {
            return try promise.futureResult.wait()
        } catch {
            // A stream only sees that it closed; why (a TLS handshake that
            // failed, a protocol error) was reported on the connection.
            var failure = error as? GRPCTransportFailure ?? GRPCTransportFailure(description: "the call broke off: \(error)")
            if let fault = live.fault.text { failure.description += " (connection: \(fault))" }
            throw failure
        }
    }

    /// Closes the connection; calls after this fail.
    func close() {
        let live = state.withLock { s -> Live? in
            s.closed = true
            defer { s.live = nil }
            return s.live
        }
        live?.channel.close(promise: nil)
    }

    /// The live connection, or the one being made (made now if there is none).
    private func connection() -> EventLoopFuture<Live> {
        enum Next {
            case use(EventLoopFuture<Live>)
            case make(EventLoopPromise<Live>)
        }
        let loop = group.next()
        let next = state.withLock { s -> Next in
            if s.closed { return .use(loop.makeFailedFuture(GRPCTransportFailure(description: "the exporter is shut down"))) }
            if let live = s.live, live.channel.isActive { return .use(loop.makeSucceededFuture(live)) }
            if let connecting = s.connecting { return .use(connecting) }
            let promise = loop.makePromise(of: Live.self)
            s.connecting = promise.futureResult
            return .make(promise)
        }
        switch next {
        case .use(let future):
            return future
        case .make(let promise):
            // Started outside the lock: a future that completes at once runs
            // its callbacks on this thread, and they take the lock.
            connect(on: loop).whenComplete { result in
                let closed = self.state.withLock { s -> Bool in
                    s.connecting = nil
                    if case .success(let live) = result, !s.closed { s.live = live }
                    return s.closed
                }
                switch result {
                case .success(let live):
                    if closed { live.channel.close(promise: nil) }
                    self.connections.increment()
                    self.logger.debug("connected", metadata: ["endpoint": "\(self.config.scheme)://\(self.config.authority)"])
                    live.channel.closeFuture.whenComplete { _ in self.forget(live.channel) }
                    promise.succeed(live)
                case .failure(let error):
                    promise.fail(GRPCTransportFailure(description: "cannot connect to \(self.config.scheme)://\(self.config.authority): \(error)"))
                }
            }
            return promise.futureResult
        }
    }

    /// Stops handing out `channel` to new calls (it closed, or the server
    /// sent GOAWAY); the next call connects again.
    private func forget(_ channel: any Channel) {
        state.withLock { s in
            if let live = s.live, live.channel === channel { s.live = nil }
        }
    }

    /// Forgets a connection that takes no new calls, and closes it once the
    /// calls in flight on it had their time (the server usually closes it first).
    private func retire(_ channel: any Channel) {
        forget(channel)
        channel.eventLoop.scheduleTask(in: .nanoseconds(config.timeout.nanoseconds) + .seconds(1)) { channel.close(promise: nil) }
    }

    private func connect(on loop: any EventLoop) -> EventLoopFuture<Live> {
        let multiplexer = loop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
        let fault = ConnectionFault()
        let tls = self.tls
        let host = config.host
        let keepalive = config.keepalive
        let connectTimeout = TimeAmount.nanoseconds(config.timeout.nanoseconds)
        // IP addresses are not sent as SNI (RFC 6066) and BoringSSL refuses them there.
        let serverName = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
        let logger = logger
        // Calls in flight finish on it; new ones go to a new connection.
        let goAway: @Sendable (any Channel) -> Void = { [weak self] channel in self?.retire(channel) }
        // Weak: a connection's channel must not keep the exporter alive.
        let callsInFlight: @Sendable () -> Int = { [weak self] in self?.inFlight.load(ordering: .relaxed) ?? 0 }
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    // Answers are small; the default window is plenty. Servers
                    // open no streams towards a client, so none are accepted.
                    connection.initialSettings = [
                        HTTP2Setting(parameter: .maxConcurrentStreams, value: 0),
                        HTTP2Setting(parameter: .maxHeaderListSize, value: 64 << 10),
                    ]
                    let mux = try sync.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: connection, streamConfiguration: .init()
                    ) { stream in
                        stream.close()
                    }
                    try sync.addHandler(
                        GRPCKeepaliveHandler(
                            settings: keepalive, callsInFlight: callsInFlight, logger: logger, goAway: goAway, fault: fault))
                    multiplexer.succeed(mux)
                }
            }
            .connect(host: host, port: config.port)
        connected.whenFailure { multiplexer.fail($0) }
        return connected.and(multiplexer.futureResult).map { pair in Live(channel: pair.0, multiplexer: pair.1, fault: fault) }
    }
}

/// The first error a connection's pipeline reported, kept for the messages
/// of the calls it breaks. Written on the event loop, read by the waiting
/// consumer thread after its call failed, hence the lock.
final class ConnectionFault: Sendable {
    private let first = Mutex<String?>(nil)

    func record(_ error: any Error) {
        first.withLock { text in
            if text == nil { text = "\(error)" }
        }
    }

    var text: String? { first.withLock { $0 } }
}

/// Sends HTTP/2 PINGs every `keepalive.time` while calls are in flight (or
/// always, with `permit_without_stream`), and closes the connection when one
/// is not acknowledged within `keepalive.timeout`: a peer that vanished
/// without a FIN or RST is found even while calls wait. Also passes GOAWAY
/// on, so that new calls go to a new connection, and records the first error
/// of the connection (`ConnectionFault`). Sits behind the HTTP/2 handler,
/// which hands it the frames of stream 0.
final class GRPCKeepaliveHandler: ChannelDuplexHandler, StartsWhenActive {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let settings: GRPCKeepalive
    private let callsInFlight: @Sendable () -> Int
    private let logger: Logger
    private let goAway: @Sendable (any Channel) -> Void
    private let fault: ConnectionFault
    private var timer: RepeatedTask?
    private var unanswered: (data: HTTP2PingData, deadline: Scheduled<Void>)?
    private var pings: UInt64 = 0

    init(
        settings: GRPCKeepalive, callsInFlight: @escaping @Sendable () -> Int, logger: Logger,
        goAway: @escaping @Sendable (any Channel) -> Void, fault: ConnectionFault = ConnectionFault()
    ) {
        self.fault = fault
        self.settings = settings
        self.callsInFlight = callsInFlight
        self.logger = logger
        self.goAway = goAway
    }

    func channelIsActive(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let interval = TimeAmount.nanoseconds(settings.time.nanoseconds)
        // The task runs on this channel's event loop, where the handler and its context live.
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = bound.value
            handler.tick(context)
        }
    }

    private func tick(_ context: ChannelHandlerContext) {
        guard unanswered == nil, settings.permitWithoutStream || callsInFlight() > 0 else { return }
        pings += 1
        let data = HTTP2PingData(withInteger: pings)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: .nanoseconds(settings.timeout.nanoseconds)) {
            let (handler, context) = bound.value
            handler.logger.warning("keepalive PING not acknowledged in time; closing the connection")
            handler.unanswered = nil
            context.close(promise: nil)
        }
        unanswered = (data, deadline)
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(data, ack: false))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .ping(let pingData, ack: true):
            if let unanswered, unanswered.data == pingData {
                unanswered.deadline.cancel()
                self.unanswered = nil
            }
        case .goAway(_, let errorCode, _):
            logger.info("server sent GOAWAY; new calls go to a new connection", metadata: ["error_code": "\(errorCode)"])
            goAway(context.channel)
        default:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fault.record(error)
        context.fireErrorCaught(error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func stop() {
        timer?.cancel()
        timer = nil
        unanswered?.deadline.cancel()
        unanswered = nil
    }
}

/// One `Export` call on its own stream: sends the request when the stream
/// is active and completes the promise with the answer, or fails it when
/// the stream is reset or closed first or the call runs out of time.
final class GRPCExportCall: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let headers: HPACKHeaders
    private let body: ByteBuffer
    private let timeout: TimeAmount
    private let promise: EventLoopPromise<GRPCCallAnswer>
    private var answer: GRPCCallAnswer
    private var sent = false
    private var done = false
    private var deadline: Scheduled<Void>?

    init(headers: HPACKHeaders, body: ByteBuffer, timeout: TimeAmount, promise: EventLoopPromise<GRPCCallAnswer>) {
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.promise = promise
        self.answer = GRPCCallAnswer(data: ByteBuffer())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The clock starts when the stream exists, whether or not the server
        // lets it open yet (SETTINGS_MAX_CONCURRENT_STREAMS).
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.fail(GRPCTransportFailure(description: "no answer within the timeout", timedOut: true))
            // Resets the stream (RST_STREAM CANCEL): the server can stop working on it.
            context.close(promise: nil)
        }
        if context.channel.isActive { send(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    private func send(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            for (name, value, _) in frame.headers {
                if name == ":status" {
                    answer.httpStatus = Int(value)
                } else if answer.fields.count < 64 {
                    // The server chooses how many fields it sends; the status needs a few.
                    answer.fields.append((name, value))
                }
            }
            if frame.endStream { finish() }
        case .data(let frame):
            if case .byteBuffer(var bytes) = frame.data {
                if answer.data.readableBytes + bytes.readableBytes <= GRPCClientConnection.responseLimit {
                    answer.data.writeBuffer(&bytes)
                } else {
                    answer.truncated = true
                }
            }
            // An answer that ends on DATA has no trailers: the status reader makes that UNKNOWN.
            if frame.endStream { finish() }
        default:
            break
        }
    }

    private func finish() {
        guard !done else { return }
        done = true
        deadline?.cancel()
        promise.succeed(answer)
        // No close: both sides ended the stream, so HTTP/2 closes it. A
        // close now would send RST_STREAM, which servers count against
        // clients (rapid-reset protection).
    }

    private func fail(_ failure: GRPCTransportFailure) {
        guard !done else { return }
        done = true
        deadline?.cancel()
        promise.fail(failure)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(GRPCTransportFailure(description: "stream failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(GRPCTransportFailure(description: "the stream closed before the answer ended (connection lost?)"))
        context.fireChannelInactive()
    }
}
