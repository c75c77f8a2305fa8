import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import TracegateCore
import TracegateOTLP

@testable import TracegateReceivers

/// The ingest path both receivers share: decode → validate → offer → outcome,
/// on a real pipeline and sending queue, answered on the request's loop.
@Suite struct OTLPIngestTests {
    typealias Handler = OTLPGRPCHandlerTests

    static func ingest(room: Int, collector: Handler.Collector) -> OTLPIngest {
        OTLPIngest(
            ingress: Handler.ingress(room: room, collector: collector),
            metrics: ReceiverMetrics(receiver: "otlp", transport: "test"), limit: 1 << 20)
    }

    static func outcome(_ ingest: OTLPIngest, _ body: [UInt8], gzip: Bool = false, encoding: OTLPIngest.Encoding = .protobuf) -> OTLPIngest.Outcome? {
        let loop = EmbeddedEventLoop()
        let result = Mutex<OTLPIngest.Outcome?>(nil)
        ingest.ingest(ByteBuffer(bytes: body), gzip: gzip, encoding: encoding, stamp: .none, on: loop) { outcome in
            result.withLock { $0 = outcome }
        }
        loop.run()
        return result.withLock { $0 }
    }

    @Test func protobufAndJSONTakeTheSamePath() {
        let collector = Handler.Collector()
        let ingest = Self.ingest(room: 100, collector: collector)
        let protobuf = Handler.request(traceIDs: [Handler.validTraceID, [UInt8](repeating: 0, count: 16)])
        guard case .accepted(let rejected, let message)? = Self.outcome(ingest, protobuf) else {
            Issue.record("protobuf request not accepted")
            return
        }
        #expect(rejected == 1 && message.contains("trace_id"))
        let json = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abababababababababababababababab","spanId":"0102030405060708","name":"j"}]}]}]}"#
        guard case .accepted(0, _)? = Self.outcome(ingest, Array(json.utf8), encoding: .json) else {
            Issue.record("JSON request not accepted")
            return
        }
        #expect(collector.spans.withLock { $0 } == 2)
    }

    @Test func bodiesThatCannotBeOfferedFailWithTheirKind() {
        let collector = Handler.Collector()
        let ingest = Self.ingest(room: 100, collector: collector)
        guard case .failed(let invalid)? = Self.outcome(ingest, [0xFF, 0xFF, 0xFF]) else {
            Issue.record("garbage was not refused")
            return
        }
        #expect(invalid.kind == .invalid && !invalid.message.isEmpty)
        guard case .failed(let corrupt)? = Self.outcome(ingest, [1, 2, 3], gzip: true) else {
            Issue.record("corrupt gzip was not refused")
            return
        }
        #expect(corrupt.kind == .invalid)
        // 10 KiB of zeros inflates past a 1 KiB limit.
        guard case .failure(let bomb) = OTLPIngest.decode(ByteBuffer(bytes: Handler.gzipOfZeros), gzip: true, encoding: .protobuf, limit: 1024) else {
            Issue.record("the bomb decoded")
            return
        }
        #expect(bomb.kind == .tooLarge)
        #expect(collector.spans.withLock { $0 } == 0)
    }

    @Test func aFullPipelineRefusesWithItsKindAndSpanCount() {
        let collector = Handler.Collector()
        let ingest = Self.ingest(room: 1, collector: collector)
        let body = Handler.request(traceIDs: [Handler.validTraceID, Handler.validTraceID])
        guard case .refused(_, let reason, .pipelineFull, 2)? = Self.outcome(ingest, body) else {
            Issue.record("two spans fit in room for one")
            return
        }
        #expect(reason.contains("at capacity"))
        #expect(collector.spans.withLock { $0 } == 0)
    }

    @Test(arguments: [
        ("application/json", "application/json"), (" Application/X-Protobuf ; charset=utf-8", "application/x-protobuf"),
        ("application/grpc+proto", "application/grpc+proto"), ("\tapplication/grpc;", "application/grpc"), ("", ""),
    ])
    func mediaTypes(header: String, expected: String) {
        #expect(OTLPIngest.mediaType(header) == expected)
    }
}
