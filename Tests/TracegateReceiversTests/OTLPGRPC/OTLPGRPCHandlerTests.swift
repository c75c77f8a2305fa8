import Logging
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Synchronization
import Testing
import TracegateCore
import TracegateOTLP

@testable import TracegateReceivers

/// One stream handler in an EmbeddedChannel: HTTP/2 frame payloads in,
/// the frames of the answer out.
@Suite struct OTLPGRPCHandlerTests {
    final class Collector: SpanConsumer {
        let spans = Mutex(0)
        func consume(_ batch: SpanBatch) { spans.withLock { $0 += batch.spanCount } }
        func discard(_ count: Int) {}
    }

    struct NeverExporter: SpanExporter {
        var id: String { "never" }
        func export(_ batch: SpanBatch) throws(ExportFailure) {}
        func close() {}
    }

    static let logger = Logger(label: "test")

    /// An ingress whose one pipeline has room for `room` spans.
    static func ingress(room: Int, collector: Collector) -> PipelineIngress {
        let queue = SendingQueue(
            exporter: NeverExporter(), config: .init(numConsumers: 1, queueSize: room), retry: RetryPolicy(), logger: logger)
        return PipelineIngress(pipelines: [Pipeline(id: "traces", entry: collector, queues: [queue], refusalHint: .seconds(3))])
    }

    /// `ExportTraceServiceRequest` with one resource and scope holding spans
    /// with these trace ids (valid ones are 16 non-zero bytes).
    static func request(traceIDs: [[UInt8]]) -> [UInt8] {
        var scope = ProtoWriter()
        for (i, traceID) in traceIDs.enumerated() {
            var span = ProtoWriter()
            span.bytes(1, traceID)
            span.bytes(2, [1, 2, 3, 4, 5, 6, 7, UInt8(i + 1)])
            span.bytes(5, Array("span-\(i)".utf8))
            scope.bytes(2, span.bytes)
        }
        var resource = ProtoWriter()
        resource.bytes(2, scope.bytes)
        var request = ProtoWriter()
        request.bytes(1, resource.bytes)
        return request.bytes
    }

    static let validTraceID = [UInt8](repeating: 0xAB, count: 16)

    func framed(_ message: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        GRPCFraming.write(message, to: &buffer)
        return buffer
    }

    func call(
        _ body: [ByteBuffer], headers: HPACKHeaders? = nil, room: Int = 1000, collector: Collector = Collector(),
        limit: Int = 4 << 20
    ) throws -> [HTTP2Frame.FramePayload] {
        let channel = EmbeddedChannel(
            handler: OTLPGRPCStreamHandler(maxMessageSize: limit, ingress: Self.ingress(room: room, collector: collector), logger: Self.logger))
        let head = headers ?? [
            ":method": "POST", ":scheme": "http", ":path": OTLPGRPCStreamHandler.exportPath,
            "content-type": "application/grpc", "te": "trailers",
        ]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: head, endStream: body.isEmpty)))
        for (i, chunk) in body.enumerated() {
            try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(chunk), endStream: i == body.count - 1)))
        }
        var out: [HTTP2Frame.FramePayload] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { out.append(frame) }
        _ = try channel.finish()
        return out
    }

    func headers(_ frame: HTTP2Frame.FramePayload?) -> (HPACKHeaders, Bool)? {
        guard case .headers(let h)? = frame else { return nil }
        return (h.headers, h.endStream)
    }

    /// The one HEADERS frame of a Trailers-Only answer.
    func trailersOnly(_ frames: [HTTP2Frame.FramePayload]) -> HPACKHeaders? {
        guard let (h, end) = headers(frames.first), end else { return nil }
        return h
    }

    @Test func acceptedCallAnswersMessageAndStatusZero() throws {
        let collector = Collector()
        let request = Self.request(traceIDs: [Self.validTraceID, Self.validTraceID])
        let frames = try call([framed(request)], collector: collector)
        #expect(frames.count == 3)
        let (head, headEnd) = try #require(headers(frames[0]))
        #expect(head.first(name: ":status") == "200")
        #expect(head.first(name: "content-type") == "application/grpc")
        #expect(!headEnd)
        guard case .data(let data) = frames[1], case .byteBuffer(let body) = data.data else {
            Issue.record("second frame is not DATA: \(frames[1])")
            return
        }
        #expect(Array(body.readableBytesView) == [0, 0, 0, 0, 0], "an empty ExportTraceServiceResponse")
        let (trailers, end) = try #require(headers(frames[2]))
        #expect(end)
        #expect(trailers.first(name: "grpc-status") == "0")
        #expect(collector.spans.withLock { $0 } == 2)
    }

    @Test func rejectedSpansAreAPartialSuccess() throws {
        let collector = Collector()
        let request = Self.request(traceIDs: [Self.validTraceID, [UInt8](repeating: 1, count: 15)])
        // Split across DATA frames, inside the prefix.
        var whole = framed(request)
        let first = whole.readSlice(length: 3)!
        let frames = try call([first, whole], collector: collector)
        guard frames.count == 3, case .data(let data) = frames[1], case .byteBuffer(var body) = data.data else {
            Issue.record("not a message answer: \(frames)")
            return
        }
        body.moveReaderIndex(forwardBy: 5)
        let expected = ExportResponseEncoder.encode(
            rejectedSpans: 1, errorMessage: "rejected 1 invalid span: resource_spans[0].scope_spans[0].spans[1]: trace_id must be 16 bytes, got 15")
        #expect(Array(body.readableBytesView) == expected)
        #expect(headers(frames[2])?.0.first(name: "grpc-status") == "0")
        #expect(collector.spans.withLock { $0 } == 1)
    }

    @Test func garbageIsInvalidArgument() throws {
        let frames = try call([framed([0xFF, 0xFF, 0xFF, 0xFF])])
        let h = try #require(trailersOnly(frames))
        #expect(frames.count == 1)
        #expect(h.first(name: ":status") == "200")
        #expect(h.first(name: "grpc-status") == "3")
        #expect(h.first(name: "grpc-message")?.isEmpty == false)
        #expect(h.first(name: "grpc-status-details-bin") == nil)
    }

    @Test func fullPipelineIsUnavailableWithRetryInfo() throws {
        let collector = Collector()
        let frames = try call([framed(Self.request(traceIDs: [Self.validTraceID]))], room: 0, collector: collector)
        let h = try #require(trailersOnly(frames))
        #expect(h.first(name: "grpc-status") == "14")
        let message = try #require(h.first(name: "grpc-message"))
        #expect(message.contains("capacity"))
        let details = GRPCStatusDetails.status(
            code: .unavailable, message: "pipeline traces is at capacity: its exporter queues are full",
            details: [GRPCStatusDetails.retryInfoAny(delay: .seconds(3))])
        #expect(h.first(name: "grpc-status-details-bin") == GRPCHeaderEncoding.base64(details))
        #expect(h.first(name: "google.rpc.retryinfo-bin") == GRPCHeaderEncoding.base64(GRPCStatusDetails.retryInfo(delay: .seconds(3))))
        #expect(collector.spans.withLock { $0 } == 0)
    }

    @Test func oversizedMessageIsRefusedAndTheStreamReset() throws {
        // Only the first 5 bytes of a 200-byte message have come, and the
        // request is still open: the answer is sent, then RST_STREAM(NO_ERROR).
        var prefix = ByteBuffer()
        prefix.writeBytes([0, 0, 0, 0, 200])
        let channel = EmbeddedChannel(
            handler: OTLPGRPCStreamHandler(maxMessageSize: 100, ingress: Self.ingress(room: 10, collector: Collector()), logger: Self.logger))
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: [
            ":method": "POST", ":path": OTLPGRPCStreamHandler.exportPath, "content-type": "application/grpc",
        ])))
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(prefix))))
        let answer = try channel.readOutbound(as: HTTP2Frame.FramePayload.self)
        #expect(headers(answer)?.0.first(name: "grpc-status") == "8")
        #expect(headers(answer)?.1 == true)
        guard case .rstStream(.noError)? = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("no RST_STREAM(NO_ERROR) after the early answer")
            return
        }
        // The rest of the body is ignored.
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: [1, 2, 3])), endStream: true)))
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil)
        _ = try channel.finish()
    }

    @Test func gzipMessageIsInflatedAndBoundedByTheLimit() throws {
        // gzip of an empty input (RFC 1952 member: header, empty deflate block, CRC32 0, ISIZE 0).
        let emptyGzip: [UInt8] = [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0x02, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        var body = ByteBuffer()
        body.writeInteger(UInt8(1))
        body.writeInteger(UInt32(emptyGzip.count))
        body.writeBytes(emptyGzip)
        let head: HPACKHeaders = [
            ":method": "POST", ":path": OTLPGRPCStreamHandler.exportPath, "content-type": "application/grpc",
            "grpc-encoding": "gzip",
        ]
        let frames = try call([body], headers: head)
        #expect(headers(frames.last)?.0.first(name: "grpc-status") == "0")

        let corrupt = try call([ByteBuffer(bytes: [1, 0, 0, 0, 3, 1, 2, 3])], headers: head)
        #expect(trailersOnly(corrupt)?.first(name: "grpc-status") == "3")

        // 10 KiB of zeros inflates past a 1 KiB limit.
        let bomb = ByteBuffer(bytes: Self.gzipOfZeros)
        guard case .failure(let f) = OTLPIngest.decode(bomb, gzip: true, encoding: .protobuf, limit: 1024) else {
            Issue.record("the bomb decoded")
            return
        }
        #expect(OTLPGRPCStreamHandler.failure(f, limit: 1024).code == .resourceExhausted)
    }

    /// `gzip.compress(b"\0" * 10240, mtime=0)`.
    static let gzipOfZeros: [UInt8] = [
        0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xED, 0xC1, 0x01, 0x0D, 0x00, 0x00,
        0x00, 0xC2, 0xA0, 0xF7, 0x4F, 0x6D, 0x0E, 0x37, 0xA0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x80, 0x37, 0x03, 0x9A, 0xDE, 0x1D, 0x27, 0x00, 0x28, 0x00, 0x00,
    ]

    @Test func unknownMethodIsUnimplemented() throws {
        let frames = try call([framed([])], headers: [
            ":method": "POST", ":path": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            "content-type": "application/grpc",
        ])
        let h = try #require(trailersOnly(frames))
        #expect(h.first(name: "grpc-status") == "12")
        guard frames.count == 2, case .rstStream(.noError) = frames[1] else {
            Issue.record("the unread request is reset: \(frames)")
            return
        }
    }

    @Test func wrongContentTypeIs415() throws {
        let frames = try call([], headers: [":method": "POST", ":path": OTLPGRPCStreamHandler.exportPath, "content-type": "application/json"])
        let h = try #require(trailersOnly(frames))
        #expect(h.first(name: ":status") == "415")
        #expect(h.first(name: "grpc-status") == "13")
        #expect(frames.count == 1, "the request had ended: no reset")
    }
}
