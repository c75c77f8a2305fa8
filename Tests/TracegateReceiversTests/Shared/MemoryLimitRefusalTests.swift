import Logging
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Synchronization
import Testing
import TracegateCore
import TracegateOTLP

@testable import TracegateReceivers

/// A refusal of kind `memoryLimit` (the memory_limiter processor's) is
/// answered with HTTP 429 / gRPC RESOURCE_EXHAUSTED and a retry hint, while a
/// full queue stays 503 / UNAVAILABLE.
@Suite struct MemoryLimitRefusalTests {
    /// An admission gate that refuses while `refusing` is set, as the memory
    /// limiter does above its soft limit.
    final class SwitchGate: AdmissionGate {
        let refusing = Mutex(true)
        let admittedBytes = Mutex(0)
        func refusal(forBytes bytes: Int) -> Admission? {
            refusing.withLock { $0 }
                ? .refused(retryAfter: .seconds(2), reason: "memory limit: 90 MiB of heap in use", kind: .memoryLimit) : nil
        }
        func admitted(bytes: Int) { admittedBytes.withLock { $0 += bytes } }
    }

    static func ingress(gate: SwitchGate, collector: OTLPGRPCHandlerTests.Collector) -> PipelineIngress {
        let queue = SendingQueue(
            exporter: OTLPGRPCHandlerTests.NeverExporter(), config: .init(numConsumers: 1, queueSize: 100), retry: RetryPolicy(),
            logger: Logger(label: "test"))
        return PipelineIngress(pipelines: [Pipeline(id: "traces", entry: collector, queues: [queue], gates: [gate])])
    }

    func httpExport(_ ingress: PipelineIngress, body: [UInt8]) throws -> (HTTPResponseHead, [UInt8]) {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            OTLPHTTPHandler(config: OTLPHTTPConfig(), ingress: ingress, logger: Logger(label: "test"), allocator: channel.allocator))
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/traces")
        head.headers.add(name: "Content-Type", value: "application/x-protobuf")
        head.headers.add(name: "Content-Length", value: "\(body.count)")
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.body(channel.allocator.buffer(bytes: body)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        var responseHead: HTTPResponseHead?
        var payload: [UInt8] = []
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head(let h): responseHead = h
            case .body(.byteBuffer(let b)): payload += Array(b.readableBytesView)
            default: break
            }
        }
        _ = try? channel.finish()
        return (try #require(responseHead), payload)
    }

    @Test func httpAnswers429WithRetryAfterAndResourceExhausted() throws {
        let gate = SwitchGate()
        let collector = OTLPGRPCHandlerTests.Collector()
        let ingress = Self.ingress(gate: gate, collector: collector)
        let request = OTLPGRPCHandlerTests.request(traceIDs: [OTLPGRPCHandlerTests.validTraceID])
        let (head, body) = try httpExport(ingress, body: request)
        #expect(head.status == .tooManyRequests)
        #expect(head.headers.first(name: "Retry-After") == "2")
        #expect(body == RPCStatus(code: .resourceExhausted, message: "memory limit: 90 MiB of heap in use").encoded())
        #expect(collector.spans.withLock { $0 } == 0)

        gate.refusing.withLock { $0 = false }
        let (accepted, _) = try httpExport(ingress, body: request)
        #expect(accepted.status == .ok)
        #expect(collector.spans.withLock { $0 } == 1)
        #expect(gate.admittedBytes.withLock { $0 } > 0, "admitted bytes are reported to the gate")
    }

    @Test func grpcAnswersResourceExhaustedWithRetryInfo() throws {
        let gate = SwitchGate()
        let collector = OTLPGRPCHandlerTests.Collector()
        let channel = EmbeddedChannel(
            handler: OTLPGRPCStreamHandler(
                maxMessageSize: 4 << 20, ingress: Self.ingress(gate: gate, collector: collector), logger: Logger(label: "test")))
        let head: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": OTLPGRPCStreamHandler.exportPath,
            "content-type": "application/grpc", "te": "trailers",
        ]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: head, endStream: false)))
        var frames: [HTTP2Frame.FramePayload] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { frames.append(frame) }
        _ = try? channel.finish()
        // Refused from the headers, before the message is read.
        guard case .headers(let answer)? = frames.first else {
            Issue.record("no answer: \(frames)")
            return
        }
        #expect(answer.endStream)
        #expect(answer.headers.first(name: "grpc-status") == "8")
        #expect(
            answer.headers.first(name: "google.rpc.retryinfo-bin")
                == GRPCHeaderEncoding.base64(GRPCStatusDetails.retryInfo(delay: .seconds(2))))
        #expect(frames.contains { if case .rstStream = $0 { true } else { false } }, "the client is told to stop sending")
    }
}
