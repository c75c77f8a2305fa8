import NIOCore
import TracegateCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// One h2c (HTTP/2 with prior knowledge) connection that makes unary OTLP
/// `Export` calls, one HTTP/2 stream per call, and reports each call's
/// `grpc-status`. Just enough gRPC for load: a 5-byte length prefix in front
/// of the message, the response message ignored, the status read from the
/// trailers (or from a Trailers-Only answer).
final class GRPCLoadConnection: Sendable {
    static let exportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

    private let channel: Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let authority: String

    static func connect(host: String, port: Int, group: EventLoopGroup) async throws -> GRPCLoadConnection {
        let (channel, multiplexer) = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    // Large enough that the server's answers are never throttled.
                    connection.initialSettings = [HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20)]
                    let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: connection, streamConfiguration: .init()
                    ) { stream in
                        // The server opens no streams; refuse any it would.
                        stream.close()
                    }
                    return (channel, multiplexer)
                }
            }
        return GRPCLoadConnection(channel: channel, multiplexer: multiplexer, authority: "\(host):\(port)")
    }

    private init(channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, authority: String) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.authority = authority
    }

    /// Makes one `Export` call with `message` (a serialized
    /// ExportTraceServiceRequest) and returns its `grpc-status`.
    func export(_ message: [UInt8]) async throws -> Int {
        let promise = channel.eventLoop.makePromise(of: Int.self)
        let authority = self.authority
        multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(
                    GRPCUnaryCall(message: message, authority: authority, promise: promise))
            }
        }.whenFailure { promise.fail($0) }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

/// One call on one stream: sends the request when the stream is active,
/// completes the promise with the `grpc-status` of the answer.
private final class GRPCUnaryCall: ChannelDuplexHandler, StartsWhenActive {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// `grpc-status` 2 (UNKNOWN), for an answer that ends without one.
    static let unknown = 2

    private let message: [UInt8]
    private let authority: String
    private let promise: EventLoopPromise<Int>
    private var sent = false
    private var done = false
    private var status: Int?

    init(message: [UInt8], authority: String, promise: EventLoopPromise<Int>) {
        self.message = message
        self.authority = authority
        self.promise = promise
    }

    func channelIsActive(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": GRPCLoadConnection.exportPath, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
        ]
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        var body = context.channel.allocator.buffer(capacity: 5 + message.count)
        body.writeInteger(UInt8(0))  // not compressed
        body.writeInteger(UInt32(message.count))
        body.writeBytes(message)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            if let text = frame.headers.first(name: "grpc-status"), let code = Int(text) { status = code }
            if frame.endStream { finish(context) }
        case .data(let frame):
            if frame.endStream { finish(context) }
        default:
            break
        }
    }

    private func finish(_ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.succeed(status ?? Self.unknown)
        // No close here: both sides have ended the stream, so HTTP/2 closes
        // it; closing it now would send RST_STREAM, and servers count those
        // (rapid-reset protection) and drop the connection.
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }
}
