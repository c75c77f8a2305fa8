import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import TracegateCore
import TracegateReceivers

/// The `query` extension's HTTP/1.1 server: Jaeger's query API under
/// `/api/`, the web UI at Jaeger UI's paths, its assets under `/static/`.
/// Binds in `init` (so a port in use fails the start), serves until graceful
/// shutdown.
public final class QueryServer: Service {
    public let config: QueryConfig
    public let localAddress: SocketAddress?
    private let channel: any Channel
    private let database: QueryDatabase
    private let logger: Logger

    public init(config: QueryConfig, dsn: String, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
        async throws
    {
        self.config = config
        self.logger = logger
        let database = QueryDatabase(
            dsn: dsn, maxConnections: config.maxConnections, queryTimeout: config.queryTimeout, connectTimeout: config.connectTimeout)
        self.database = database
        let api = JaegerAPI(database: database, maxLimit: config.maxLimit, indexedAttributes: IndexedAttributes())
        let tlsContext = try config.tls?.makeServerContext(applicationProtocols: ["http/1.1"])
        let auth = config.auth
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let tlsContext { try sync.addHandler(NIOSSLServerHandler(context: tlsContext)) }
                        try sync.configureHTTPServerPipeline(withErrorHandling: true)
                        try sync.addHandler(QueryHTTPHandler(api: api, auth: auth))
                    }
                }
                .bind(host: config.host, port: config.port)
                .get()
        } catch {
            await database.shutdown()
            throw QueryServerError(message: "cannot listen on \(config.endpoint): \(error)")
        }
        localAddress = channel.localAddress
        logger.info(
            "query API and web UI listening",
            metadata: ["address": "\(localAddress.map { "\($0)" } ?? config.endpoint)", "tls": "\(config.tls != nil)"])
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
        await database.shutdown()
    }
}

public struct QueryServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// One connection's requests: GET and HEAD only; API answers come from the
/// database on the pool's threads, everything else from memory.
final class QueryHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let api: JaegerAPI
    private let auth: BearerAuth?
    private var head: HTTPRequestHead?

    init(api: JaegerAPI, auth: BearerAuth?) {
        self.api = api
        self.auth = auth
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break  // GET has none worth reading; not buffered
        case .end:
            guard let h = head else { return }
            head = nil
            serve(context, h)
        }
    }

    private func serve(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        guard head.method == .GET || head.method == .HEAD else {
            return write(context, head, QueryResponse.error(405, "use GET"), extra: [("Allow", "GET, HEAD")])
        }
        guard var request = QueryRequest(uri: head.uri, authorization: head.headers.first(name: "authorization")) else {
            return write(context, head, QueryResponse.error(400, "malformed request target"))
        }
        request.ifNoneMatch = head.headers.first(name: "if-none-match")
        if request.segments.first == "api" {
            if let auth, !auth.authorizes(header: request.authorization) {
                return write(
                    context, head, QueryResponse.error(401, "missing or wrong bearer token"),
                    extra: [("WWW-Authenticate", "Bearer realm=\"tracegate\"")])
            }
            let api = self.api
            let future = context.eventLoop.makeFutureWithTask { await api.handle(request) }
            future.assumeIsolated().whenSuccess { [self] response in
                write(context, head, response)
            }
            return
        }
        write(context, head, WebRoutes.answer(request))
    }

    private func write(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ response: QueryResponse, extra: [(String, String)] = []) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Referrer-Policy", value: "no-referrer")
        headers.add(
            name: "Content-Security-Policy",
            value: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in response.headers + extra { headers.replaceOrAdd(name: name, value: value) }
        if response.status == 304 { headers.remove(name: "Content-Length") }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

/// The UI's pages and assets.
enum WebRoutes {
    /// Jaeger UI's paths (so links made for Jaeger open here) serve the one page.
    static let pages: Set<String> = ["", "search", "trace", "compare", "dependencies"]

    static func answer(_ request: QueryRequest) -> QueryResponse {
        let s = request.segments
        if s.count == 2, s[0] == "static", let asset = WebAssets.asset(named: s[1]) {
            // Revalidated on every use (the modules import each other by
            // fixed names: a page of one version must not run another's),
            // answered 304 while unchanged.
            let tag = etag(asset.body)
            let headers = [("Cache-Control", "no-cache"), ("ETag", tag)]
            if request.ifNoneMatch == tag {
                return QueryResponse(status: 304, contentType: asset.contentType, body: [], headers: headers)
            }
            return QueryResponse(status: 200, contentType: asset.contentType, body: bytes(asset.body), headers: headers)
        }
        if s.isEmpty || (pages.contains(s[0]) && (s.count == 1 || (s[0] == "trace" && s.count == 2))) {
            return QueryResponse(status: 200, contentType: WebAssets.index.contentType, body: bytes(WebAssets.index.body))
        }
        return QueryResponse(status: 404, contentType: "text/plain; charset=utf-8", body: Array("not found\n".utf8))
    }

    /// A strong validator: the first 16 hex digits of the SHA-256 of the bytes.
    static func etag(_ s: StaticString) -> String {
        "\"" + String(Digests.hex(Digests.sha256(bytes(s))).prefix(16)) + "\""
    }

    static func bytes(_ s: StaticString) -> [UInt8] {
        s.withUTF8Buffer { Array($0) }
    }
}
