import NIOCore
import NIOHTTP1

/// The paths of the telemetry server.
enum TelemetryRoute: String, Sendable, CaseIterable {
    case metrics = "/metrics"
    case health = "/health"
    case ready = "/ready"
}

/// Answers `GET` (and `HEAD`) on the telemetry routes a listener serves. Every
/// answer is computed on the event loop from in-memory state: a metrics
/// snapshot or a readiness flag, never a blocking call.
final class TelemetryHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What the server needs from the rest of the gateway.
    struct Sources: Sendable {
        /// The Prometheus text exposition of every registered metric.
        var metrics: @Sendable () -> [UInt8]
        var readiness: Readiness
    }

    private let routes: Set<TelemetryRoute>
    private let sources: Sources
    private var request: HTTPRequestHead?

    init(routes: Set<TelemetryRoute>, sources: Sources) {
        self.routes = routes
        self.sources = sources
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            answer(context, head)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard let route = TelemetryRoute(rawValue: path), routes.contains(route) else {
            let known = routes.map(\.rawValue).sorted().joined(separator: ", ")
            return respond(context, head, .notFound, "not found; this address serves \(known)\n")
        }
        guard head.method == .GET || head.method == .HEAD else {
            return respond(context, head, .methodNotAllowed, "use GET\n", extraHeaders: [("Allow", "GET, HEAD")])
        }
        switch route {
        case .metrics:
            respond(context, head, .ok, sources.metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case .health:
            respond(context, head, .ok, "ok\n")
        case .ready:
            if let reason = sources.readiness.notReadyReason {
                respond(context, head, .serviceUnavailable, "not ready: \(reason)\n")
            } else {
                respond(context, head, .ok, "ready\n")
            }
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ text: String,
        extraHeaders: [(String, String)] = []
    ) {
        respond(context, head, status, Array(text.utf8), contentType: "text/plain; charset=utf-8", extraHeaders: extraHeaders)
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: [UInt8],
        contentType: String, extraHeaders: [(String, String)] = []
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD && !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
