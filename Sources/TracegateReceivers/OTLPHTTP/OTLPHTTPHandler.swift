import Logging
import NIOCore
import NIOHTTP1
import TracegateCore
import TracegateOTLP

/// Serves `POST /v1/traces` with OTLP/HTTP protobuf or JSON bodies, answering
/// with the status codes of the OTLP/HTTP specification, in the encoding of the
/// request. Runs on the connection's event loop: decoding and the pipeline
/// offer never block; the answer to an offer that a persistent queue writes
/// comes back to the loop when the write is done (HTTP/1.1 pipelining
/// assistance holds the connection's next request until then).
final class OTLPHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    typealias Encoding = OTLPIngest.Encoding

    private enum State {
        case idle
        /// Reading a body we mean to decode; `stamp` goes on its resources.
        case reading(HTTPRequestHead, gzip: Bool, encoding: Encoding, stamp: ResourceStamp)
        /// An answer was sent early (or will be at `.end`); the body is ignored.
        case discarding
    }

    private let config: OTLPHTTPConfig
    private let ingress: PipelineIngress
    private let ingest: OTLPIngest
    private let logger: Logger
    private let deadline: HTTPReadDeadline?
    private let metrics: ReceiverMetrics
    private var state = State.idle
    private var body: ByteBuffer

    init(
        config: OTLPHTTPConfig, ingress: PipelineIngress, logger: Logger, allocator: ByteBufferAllocator,
        deadline: HTTPReadDeadline? = nil, metrics: ReceiverMetrics = ReceiverMetrics(receiver: "otlp", transport: "http")
    ) {
        self.config = config
        self.ingress = ingress
        self.logger = logger
        self.deadline = deadline
        self.metrics = metrics
        self.ingest = OTLPIngest(ingress: ingress, metrics: metrics, limit: config.maxRequestBodySize)
        self.body = allocator.buffer(capacity: 0)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            body.clear()
            state = start(context: context, head: head)
        case .body(var chunk):
            guard case .reading(let head, _, let encoding, _) = state else { return }
            if body.readableBytes + chunk.readableBytes > config.maxRequestBodySize {
                state = .discarding
                body.clear()
                respond(
                    context, head: head, .payloadTooLarge, status: .init(code: .invalidArgument, message: tooLargeMessage),
                    encoding: encoding, close: true)
                return
            }
            body.writeBuffer(&chunk)
        case .end:
            // The whole request has arrived in time.
            deadline?.requestRead()
            if case .reading(let head, let gzip, let encoding, let stamp) = state {
                handle(context: context, head: head, gzip: gzip, encoding: encoding, stamp: stamp)
            }
            state = .idle
        }
    }

    private var tooLargeMessage: String {
        "request body exceeds max_request_body_size (\(config.maxRequestBodySize) bytes)"
    }

    /// Checks everything the head tells; answers at once when the request
    /// cannot succeed, so the client does not upload a body for nothing.
    private func start(context: ChannelHandlerContext, head: HTTPRequestHead) -> State {
        let contentType = head.headers.first(name: "content-type").map(OTLPIngest.mediaType) ?? ""
        let requestEncoding = Encoding(mediaType: contentType)
        // Answers before the body use the request's encoding when it has one.
        let answerEncoding = requestEncoding ?? .protobuf
        var tenant: String? = nil
        if let auth = config.auth {
            switch auth.verdict(header: head.headers.first(name: "authorization")) {
            case .allowed(let name): tenant = name
            case .denied:
                // Before anything else: an unauthenticated client learns
                // nothing and its body is never read into memory.
                let presented = head.headers.contains(name: "authorization")
                respond(
                    context, head: head, .unauthorized,
                    status: .init(code: .unauthenticated, message: presented ? "invalid bearer token" : "missing bearer token"),
                    encoding: answerEncoding,
                    extraHeaders: [("WWW-Authenticate", presented ? "Bearer error=\"invalid_token\"" : "Bearer")])
                return .discarding
            }
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == config.tracesURLPath else {
            respond(
                context, head: head, .notFound,
                status: .init(code: .unimplemented, message: "no OTLP endpoint at \(path); traces go to \(config.tracesURLPath)"),
                encoding: answerEncoding)
            return .discarding
        }
        guard head.method == .POST else {
            respond(
                context, head: head, .methodNotAllowed,
                status: .init(code: .unimplemented, message: "\(head.method) is not allowed on \(path); use POST"),
                encoding: answerEncoding, extraHeaders: [("Allow", "POST")])
            return .discarding
        }
        guard let encoding = requestEncoding else {
            let shown = contentType.isEmpty ? "no Content-Type" : "Content-Type \(contentType)"
            respond(
                context, head: head, .unsupportedMediaType,
                status: .init(code: .invalidArgument, message: "\(shown) is not supported; send application/x-protobuf or application/json"),
                encoding: .protobuf)
            return .discarding
        }
        let contentEncoding = head.headers.first(name: "content-encoding")?.lowercased() ?? "identity"
        guard contentEncoding == "gzip" || contentEncoding == "identity" || contentEncoding.isEmpty else {
            respond(
                context, head: head, .unsupportedMediaType,
                status: .init(code: .invalidArgument, message: "Content-Encoding \(contentEncoding) is not supported; use gzip or none"),
                encoding: encoding)
            return .discarding
        }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > config.maxRequestBodySize {
            respond(
                context, head: head, .payloadTooLarge, status: .init(code: .invalidArgument, message: tooLargeMessage),
                encoding: encoding, close: true)
            return .discarding
        }
        let declaredEmpty = head.headers.first(name: "content-length") == "0"
        if !declaredEmpty, let refusal = ingress.refusalBeforeDecoding() {
            // Full already: refuse before reading and decoding the body, so an
            // overloaded gateway spends nothing on data it cannot take. (An
            // empty request carries no spans and needs no room.)
            refuse(context, head: head, refusal, spans: 0, encoding: encoding)
            return .discarding
        }
        if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
            // The request passed every check the head allows: invite the body.
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        let stamp = config.metadata.stamp(
            header: { head.headers.first(name: $0) }, clientAddress: context.channel.remoteAddress?.ipAddress,
            tenant: tenant.map { (config.auth?.tenantAttribute ?? BearerAuth.defaultTenantAttribute, $0) })
        return .reading(head, gzip: contentEncoding == "gzip", encoding: encoding, stamp: stamp)
    }

    /// The metric reason of an error answer other than a pipeline refusal.
    static func refusalReason(_ code: HTTPResponseStatus) -> ReceiverMetrics.Reason {
        switch code {
        case .unauthorized: .auth
        case .payloadTooLarge: .tooLarge
        case .badRequest: .decode
        default: .unsupported
        }
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, gzip: Bool, encoding: Encoding, stamp: ResourceStamp) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ingest.ingest(body, gzip: gzip, encoding: encoding, stamp: stamp, on: context.eventLoop) { outcome in
            let (handler, context) = bound.value
            handler.answer(context, head: head, outcome, encoding: encoding)
        }
        body.clear()
    }

    private func answer(_ context: ChannelHandlerContext, head: HTTPRequestHead, _ outcome: OTLPIngest.Outcome, encoding: Encoding) {
        switch outcome {
        case .accepted(let rejected, let errorMessage):
            let payload =
                switch encoding {
                case .protobuf: ExportResponseEncoder.encode(rejectedSpans: rejected, errorMessage: errorMessage)
                case .json: OTLPJSONEncoder.encodeResponse(rejectedSpans: rejected, errorMessage: errorMessage)
                }
            respond(context, head: head, .ok, body: payload, encoding: encoding)
        case .refused(let retryAfter, let reason, let kind, let spans):
            refuse(context, head: head, .refused(retryAfter: retryAfter, reason: reason, kind: kind), spans: spans, encoding: encoding)
        case .failed(let failure):
            switch failure.kind {
            case .tooLarge:
                respond(
                    context, head: head, .payloadTooLarge, status: .init(code: .invalidArgument, message: "decompressed " + tooLargeMessage),
                    encoding: encoding)
            case .invalid:
                respond(context, head: head, .badRequest, status: .init(code: .invalidArgument, message: failure.message), encoding: encoding)
            }
        }
    }

    /// Answers a pipeline refusal: 503 + UNAVAILABLE when its queues are full,
    /// 429 + RESOURCE_EXHAUSTED over the memory limit; both with `Retry-After`,
    /// so OTLP clients back off and retry.
    private func refuse(_ context: ChannelHandlerContext, head: HTTPRequestHead, _ refusal: Admission, spans: Int, encoding: Encoding) {
        guard case .refused(let retryAfter, let reason, let kind) = refusal else { return }
        metrics.refused(encoding: encoding.label, reason: ReceiverMetrics.Reason(kind), spans: spans)
        let (code, rpc): (HTTPResponseStatus, RPCStatus.Code) =
            switch kind {
            case .pipelineFull, .queueWrite: (.serviceUnavailable, .unavailable)
            case .memoryLimit: (.tooManyRequests, .resourceExhausted)
            }
        respond(
            context, head: head, code, status: .init(code: rpc, message: reason), encoding: encoding,
            extraHeaders: [("Retry-After", "\(max(1, retryAfter.wholeSecondsRoundedUp))")])
    }

    private func respond(
        _ context: ChannelHandlerContext, head: HTTPRequestHead, _ code: HTTPResponseStatus, status: RPCStatus,
        encoding: Encoding, extraHeaders: [(String, String)] = [], close: Bool = false
    ) {
        if code != .serviceUnavailable && code != .tooManyRequests {
            logger.debug("refusing request", metadata: ["status": "\(code.code)", "reason": "\(status.message)"])
            metrics.refused(encoding: encoding.label, reason: Self.refusalReason(code))
        }
        let payload =
            switch encoding {
            case .protobuf: status.encoded()
            case .json: OTLPJSONEncoder.encodeStatus(status)
            }
        respond(context, head: head, code, body: payload, encoding: encoding, extraHeaders: extraHeaders, close: close)
    }

    private func respond(
        _ context: ChannelHandlerContext, head: HTTPRequestHead, _ code: HTTPResponseStatus, body payload: [UInt8],
        encoding: Encoding, extraHeaders: [(String, String)] = [], close: Bool = false
    ) {
        let keepAlive = head.isKeepAlive && !close
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: encoding.contentType)
        headers.add(name: "Content-Length", value: "\(payload.count)")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: code, headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if !payload.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: payload)))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBoundContext.value.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

extension OTLPIngest.Encoding {
    /// The encoding a Content-Type names; nil for any other media type.
    init?(mediaType: String) {
        switch mediaType {
        case "application/x-protobuf", "application/protobuf": self = .protobuf
        case "application/json": self = .json
        default: return nil
        }
    }

    var contentType: String {
        switch self {
        case .protobuf: "application/x-protobuf"
        case .json: "application/json"
        }
    }
}
