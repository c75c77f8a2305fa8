import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import TracegateCore
import TracegateOTLP

/// Serves one HTTP/2 stream: a unary `TraceService/Export` call. Runs on the
/// connection's event loop; decoding and the pipeline offer never block, as
/// in the HTTP receiver (the answer to an offer that a persistent queue
/// writes comes back to the loop when the write is done).
///
/// Answers: a response message and `grpc-status: 0` (with partial success
/// when spans were rejected), or a Trailers-Only error: INVALID_ARGUMENT for
/// a message that does not decode, RESOURCE_EXHAUSTED over
/// `max_recv_msg_size_mib`, UNAVAILABLE with a `google.rpc.RetryInfo` when the
/// pipeline is full, UNIMPLEMENTED for other methods and encodings, INTERNAL
/// for framing errors (with HTTP 415 when the request is not gRPC at all).
final class OTLPGRPCStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    static let exportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    static let acceptedEncodings = "identity,gzip"

    private enum State {
        case awaitingHeaders
        case reading(GRPCUnaryMessageReader)
        /// Answered; anything more the client sends is ignored.
        case done
    }

    private let maxMessageSize: Int
    private let ingress: PipelineIngress
    private let ingest: OTLPIngest
    private let logger: Logger
    private let auth: BearerAuth?
    private let metadata: RequestMetadataConfig
    /// Written on the resources of this call's spans (tenant, metadata).
    private var stamp = ResourceStamp.none
    private let metrics: ReceiverMetrics
    private let readTimeout: TimeAmount
    private var state = State.awaitingHeaders
    /// Ends a call whose request has not arrived whole within `read_timeout`.
    private var readDeadline: Scheduled<Void>?

    init(
        maxMessageSize: Int, ingress: PipelineIngress, logger: Logger, auth: BearerAuth? = nil,
        metadata: RequestMetadataConfig = RequestMetadataConfig(),
        metrics: ReceiverMetrics = ReceiverMetrics(receiver: "otlp", transport: "grpc"),
        readTimeout: Duration = .seconds(30)
    ) {
        self.maxMessageSize = maxMessageSize
        self.ingress = ingress
        self.logger = logger
        self.auth = auth
        self.metadata = metadata
        self.metrics = metrics
        self.ingest = OTLPIngest(ingress: ingress, metrics: metrics, limit: maxMessageSize)
        self.readTimeout = .nanoseconds(readTimeout.nanoseconds)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        readDeadline?.cancel()
        readDeadline = nil
    }

    /// A call that trickles its message in (or never ends it) is answered
    /// DEADLINE_EXCEEDED and reset, so it cannot hold a stream and its
    /// buffer for long.
    private func armReadDeadline(_ context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        readDeadline = context.eventLoop.scheduleTask(in: readTimeout) {
            let (handler, context) = bound.value
            handler.readDeadline = nil
            guard case .reading = handler.state else { return }
            handler.fail(
                context, GRPCFailure(code: .deadlineExceeded, message: "request message not received within read_timeout"),
                requestEnded: false)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers): received(context, headers)
        case .data(let frame): received(context, frame)
        default: break
        }
    }

    private func received(_ context: ChannelHandlerContext, _ headers: HTTP2Frame.FramePayload.Headers) {
        switch state {
        case .awaitingHeaders:
            var tenant: String? = nil
            if let auth {
                switch auth.verdict(header: headers.headers.first(name: "authorization")) {
                case .allowed(let name): tenant = name
                case .denied:
                    // Before anything else; no message is read or decoded.
                    let presented = headers.headers.contains(name: "authorization")
                    fail(
                        context, GRPCFailure(code: .unauthenticated, message: presented ? "invalid bearer token" : "missing bearer token"),
                        requestEnded: headers.endStream)
                    return
                }
            }
            stamp = metadata.stamp(
                header: { headers.headers.first(name: $0) }, clientAddress: context.channel.parent?.remoteAddress?.ipAddress,
                tenant: tenant.map { (auth?.tenantAttribute ?? BearerAuth.defaultTenantAttribute, $0) })
            switch Self.check(headers.headers) {
            case .failure(let failure):
                fail(context, failure, requestEnded: headers.endStream)
            case .success(let gzip):
                if case .refused(let retryAfter, let reason, .memoryLimit)? = ingress.refusalBeforeDecoding() {
                    // Over the memory limit: the message is not read at all.
                    refuse(context, retryAfter: retryAfter, reason: reason, kind: .memoryLimit, spans: 0, requestEnded: headers.endStream)
                    return
                }
                state = .reading(GRPCUnaryMessageReader(limit: maxMessageSize, compressionAllowed: gzip, allocator: context.channel.allocator))
                if headers.endStream { finish(context) } else { armReadDeadline(context) }
            }
        case .reading:
            // Clients may end the request with trailers.
            if headers.endStream {
                finish(context)
            } else {
                fail(context, GRPCFailure(code: .internal, message: "unexpected HEADERS in the middle of the request"), requestEnded: false)
            }
        case .done:
            break
        }
    }

    private func received(_ context: ChannelHandlerContext, _ frame: HTTP2Frame.FramePayload.Data) {
        guard case .reading(var reader) = state, case .byteBuffer(var chunk) = frame.data else { return }
        state = .done  // so that `reader` holds the only reference to its buffer while it appends
        if let failure = reader.append(&chunk) {
            fail(context, failure, requestEnded: frame.endStream)
            return
        }
        state = .reading(reader)
        if frame.endStream { finish(context) }
    }

    /// Checks what the request headers tell; returns whether the message is gzip-compressed.
    static func check(_ headers: HPACKHeaders) -> Result<Bool, GRPCFailure> {
        let contentType = OTLPIngest.mediaType(headers.first(name: "content-type") ?? "")
        if contentType != "application/grpc" && contentType != "application/grpc+proto" {
            let shown = contentType.isEmpty ? "no content-type" : "content-type \(contentType)"
            if contentType.hasPrefix("application/grpc+") {
                return .failure(GRPCFailure(code: .internal, message: "\(shown) is not supported; only the protobuf codec is (application/grpc)"))
            }
            return .failure(GRPCFailure(code: .internal, message: "\(shown) is not gRPC; send application/grpc", httpStatus: 415))
        }
        let method = headers.first(name: ":method") ?? ""
        guard method == "POST" else {
            return .failure(GRPCFailure(
                code: .internal, message: "method \(method) is not allowed; gRPC calls are POST", httpStatus: 405,
                extraHeaders: [("allow", "POST")]))
        }
        let path = headers.first(name: ":path") ?? ""
        guard path == exportPath else {
            return .failure(GRPCFailure(code: .unimplemented, message: "unknown method \(path); this server implements \(exportPath)"))
        }
        let encoding = (headers.first(name: "grpc-encoding") ?? "").lowercased()
        switch encoding {
        case "", "identity": return .success(false)
        case "gzip": return .success(true)
        default:
            // Every answer lists the encodings taken in grpc-accept-encoding.
            return .failure(GRPCFailure(code: .unimplemented, message: "grpc-encoding \(encoding) is not supported; use gzip or identity"))
        }
    }

    /// The metric reason of an error answer other than a pipeline refusal.
    static func refusalReason(_ code: RPCStatus.Code) -> ReceiverMetrics.Reason {
        switch code {
        case .unauthenticated: .auth
        case .resourceExhausted: .tooLarge
        case .invalidArgument: .decode
        case .unavailable: .pipelineFull
        case .deadlineExceeded: .timeout
        default: .unsupported
        }
    }

    /// The request stream has ended: decode its message, offer it, answer.
    private func finish(_ context: ChannelHandlerContext) {
        guard case .reading(let reader) = state else { return }
        state = .done
        readDeadline?.cancel()
        readDeadline = nil
        let message: GRPCRequestMessage
        switch reader.finish() {
        case .failure(let failure):
            fail(context, failure, requestEnded: true)
            return
        case .success(let m):
            message = m
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ingest.ingest(message.bytes, gzip: message.compressed, encoding: .protobuf, stamp: stamp, on: context.eventLoop) { outcome in
            let (handler, context) = bound.value
            switch outcome {
            case .accepted(let rejected, let errorMessage):
                let payload = ExportResponseEncoder.encode(rejectedSpans: rejected, errorMessage: errorMessage)
                var body = context.channel.allocator.buffer(capacity: GRPCFraming.prefixSize + payload.count)
                GRPCFraming.write(payload, to: &body)
                context.write(handler.wrapOutboundOut(.headers(.init(headers: Self.responseHeaders(status: 200)))), promise: nil)
                context.write(handler.wrapOutboundOut(.data(.init(data: .byteBuffer(body)))), promise: nil)
                context.writeAndFlush(handler.wrapOutboundOut(.headers(.init(headers: ["grpc-status": "0"], endStream: true))), promise: nil)
            case .refused(let retryAfter, let reason, let kind, let spans):
                handler.refuse(context, retryAfter: retryAfter, reason: reason, kind: kind, spans: spans, requestEnded: true)
            case .failed(let failure):
                handler.fail(context, Self.failure(failure, limit: handler.maxMessageSize), requestEnded: true)
            }
        }
    }

    /// A pipeline refusal: UNAVAILABLE when its queues are full,
    /// RESOURCE_EXHAUSTED over the memory limit; both carry a RetryInfo, which
    /// is what makes OTLP clients retry RESOURCE_EXHAUSTED.
    private func refuse(
        _ context: ChannelHandlerContext, retryAfter: Duration, reason: String, kind: RefusalKind, spans: Int, requestEnded: Bool
    ) {
        let code: RPCStatus.Code = kind == .memoryLimit ? .resourceExhausted : .unavailable
        metrics.refused(encoding: "protobuf", reason: ReceiverMetrics.Reason(kind), spans: spans)
        fail(context, GRPCFailure(code: code, message: reason, retryDelay: retryAfter), requestEnded: requestEnded, counted: true)
    }

    /// The status of a message that could not be offered.
    static func failure(_ failure: OTLPIngest.Failure, limit: Int) -> GRPCFailure {
        switch failure.kind {
        case .tooLarge:
            GRPCFailure(code: .resourceExhausted, message: "decompressed message larger than max_recv_msg_size_mib (\(limit) bytes)")
        case .invalid:
            GRPCFailure(code: .invalidArgument, message: failure.message)
        }
    }

    static func responseHeaders(status: Int) -> HPACKHeaders {
        [":status": "\(status)", "content-type": "application/grpc", "grpc-accept-encoding": acceptedEncodings]
    }

    /// Answers with a Trailers-Only response. When the client is still
    /// sending, RST_STREAM(NO_ERROR) then tells it to stop (RFC 9113 §8.1).
    private func fail(_ context: ChannelHandlerContext, _ failure: GRPCFailure, requestEnded: Bool, counted: Bool = false) {
        state = .done
        readDeadline?.cancel()
        readDeadline = nil
        if !counted {
            logger.debug("refusing gRPC call", metadata: ["grpc-status": "\(failure.code.rawValue)", "reason": "\(failure.message)"])
            metrics.refused(encoding: "protobuf", reason: Self.refusalReason(failure.code))
        }
        var headers = Self.responseHeaders(status: failure.httpStatus)
        for (name, value) in failure.trailers { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        if !requestEnded {
            context.write(wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("stream error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

/// Closes a connection on an error NIOHTTP2 reports (it has already sent
/// GOAWAY for protocol errors).
///
/// Errors that mean the peer broke or abused the protocol (rapid reset,
/// CONTINUATION and control-frame floods, oversized header lists, bad
/// frames: NIOHTTP2's own defences) are counted as `protocol` refusals, so
/// an attack shows in the metrics and the receiver's throttled warning.
final class GRPCConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    private let logger: Logger
    private let metrics: ReceiverMetrics?
    private var counted = false

    init(logger: Logger, metrics: ReceiverMetrics? = nil) {
        self.logger = logger
        self.metrics = metrics
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("gRPC connection error", metadata: ["error": "\(error)"])
        if !counted && !(error is NIOSSLError) && !(error is ChannelError) && !(error is IOError) {
            counted = true
            metrics?.refused(encoding: "unknown", reason: .protocolError, detail: "\(type(of: error))")
        }
        context.close(promise: nil)
    }
}

/// `read_timeout` for a new gRPC connection: the client's preface and first
/// SETTINGS frame must arrive within it, or the connection is closed. A
/// connection that says nothing (or trickles its preface) cannot hold a
/// slot; once the preface is in, calls have their own deadline and idle
/// connections `max_connection_idle`.
final class HTTP2PrefaceDeadline: ChannelInboundHandler, RemovableChannelHandler, StartsWhenActive {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    private let timeout: TimeAmount
    private let metrics: ReceiverMetrics?
    private var timer: Scheduled<Void>?

    init(timeout: Duration, metrics: ReceiverMetrics?) {
        self.timeout = .nanoseconds(timeout.nanoseconds)
        self.metrics = metrics
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // NIOHTTP2 passes a frame on only after the preface, and the first
        // frame a client must send is its SETTINGS.
        if timer != nil {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireChannelRead(data)
    }

    func channelIsActive(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.metrics?.refused(encoding: "unknown", reason: .timeout)
            context.close(promise: nil)
        }
    }
}
