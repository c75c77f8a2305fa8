import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection that sends one request at a time and
/// reports the status code of each response.
final class HTTPLoadConnection: Sendable {
    private let channel: Channel
    private let collector: ResponseCollector
    let host: String
    let path: String

    static func connect(host: String, port: Int, path: String, group: EventLoopGroup) async throws -> HTTPLoadConnection {
        let box = CollectorBox()
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let handler = ResponseCollector()
                    try channel.pipeline.syncOperations.addHandler(handler)
                    box.set(handler)
                }
            }
            .connect(host: host, port: port).get()
        return HTTPLoadConnection(channel: channel, collector: box.get()!, host: host, path: path)
    }

    private init(channel: Channel, collector: ResponseCollector, host: String, path: String) {
        self.channel = channel
        self.collector = collector
        self.host = host
        self.path = path
    }

    /// Sends a POST and returns the response status code.
    func post(_ body: [UInt8], contentType: String) async throws -> Int {
        let promise = channel.eventLoop.makePromise(of: Int.self)
        let collector = self.collector
        let path = self.path
        let host = self.host
        channel.eventLoop.execute { [channel] in
            // A connection the server has closed would never answer.
            guard channel.isActive else { return promise.fail(ChannelError.ioOnClosedChannel) }
            collector.expect(promise)
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: host)
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(body.count)")
            let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

/// Hands the handler created in the channel initializer back to the caller.
private final class CollectorBox: Sendable {
    private let value = NIOLockedValueBox<ResponseCollector?>(nil)
    func set(_ c: ResponseCollector) { value.withLockedValue { $0 = c } }
    func get() -> ResponseCollector? { value.withLockedValue { $0 } }
}

/// Completes the oldest waiting promise with each response's status.
/// @unchecked Sendable: its state is touched only on its channel's event loop
/// (`expect` is called from `eventLoop.execute`, the rest from the pipeline).
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private var waiting: [EventLoopPromise<Int>] = []
    private var status = 0

    func expect(_ promise: EventLoopPromise<Int>) { waiting.append(promise) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body:
            break
        case .end:
            if status >= 200, !waiting.isEmpty { waiting.removeFirst().succeed(status) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for p in waiting { p.fail(ChannelError.ioOnClosedChannel) }
        waiting.removeAll()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        for p in waiting { p.fail(error) }
        waiting.removeAll()
        context.close(promise: nil)
    }
}
