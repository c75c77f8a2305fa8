import Logging
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Synchronization
import Testing
@testable import TracegateExporters

/// The channel handlers of the `otlp` exporter's client on an embedded
/// channel, whose event loop's clock the test moves: keepalive PINGs and a
/// call's deadline without waiting for either.
@Suite struct GRPCClientChannelTests {
    final class Calls: Sendable {
        let count = Atomic<Int>(0)
    }

    private func keepaliveChannel(calls: Calls, goAways: Calls = Calls()) throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let handler = GRPCKeepaliveHandler(
            settings: GRPCKeepalive(), callsInFlight: { calls.count.load(ordering: .relaxed) },
            logger: Logger(label: "test"), goAway: { _ in goAways.count.add(1, ordering: .relaxed) })
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4317)).wait()
        return (channel, loop)
    }

    private func ping(_ channel: EmbeddedChannel) throws -> HTTP2PingData? {
        guard let frame = try channel.readOutbound(as: HTTP2Frame.self) else { return nil }
        guard case .ping(let data, ack: false) = frame.payload, frame.streamID == .rootStream else {
            Issue.record("expected a PING, got \(frame.payload)")
            return nil
        }
        return data
    }

    @Test func pingsWhileCallsAreInFlightAndClosesWhenOneIsNotAcknowledged() throws {
        let calls = Calls()
        calls.count.store(2, ordering: .relaxed)
        let (channel, loop) = try keepaliveChannel(calls: calls)
        loop.advanceTime(by: .seconds(29))
        #expect(try ping(channel) == nil)
        loop.advanceTime(by: .seconds(1))
        let first = try #require(try ping(channel))
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(first, ack: true)))
        _ = try channel.readInbound(as: HTTP2Frame.self)
        // Acknowledged: the connection stays.
        loop.advanceTime(by: .seconds(10))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(20))
        let second = try #require(try ping(channel))
        #expect(second != first)
        // An acknowledgement of another PING does not count.
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(first, ack: true)))
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func anIdleConnectionIsNotPingedUnlessPermitted() throws {
        let (channel, loop) = try keepaliveChannel(calls: Calls())
        loop.advanceTime(by: .seconds(300))
        #expect(try ping(channel) == nil)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func goAwayIsPassedOn() throws {
        let goAways = Calls()
        let (channel, _) = try keepaliveChannel(calls: Calls(), goAways: goAways)
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: 1, errorCode: .noError, opaqueData: nil)))
        #expect(goAways.count.load(ordering: .relaxed) == 1)
        _ = try? channel.finish()
    }

    private func callChannel(timeout: TimeAmount) throws -> (EmbeddedChannel, EmbeddedEventLoop, EventLoopFuture<GRPCCallAnswer>) {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let promise = loop.makePromise(of: GRPCCallAnswer.self)
        var body = ByteBuffer()
        body.writeBytes([0, 0, 0, 0, 2, 0x0A, 0x00])
        let headers: HPACKHeaders = [":method": "POST", ":path": OTLPGRPCExporter.exportPath]
        try channel.pipeline.syncOperations.addHandler(GRPCExportCall(headers: headers, body: body, timeout: timeout, promise: promise))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4317)).wait()
        return (channel, loop, promise.futureResult)
    }

    @Test func aCallSendsItsRequestAndReadsTheTrailers() throws {
        let (channel, _, answer) = try callChannel(timeout: .seconds(5))
        guard case .headers(let head) = try #require(try channel.readOutbound(as: HTTP2Frame.FramePayload.self)),
            case .data(let data) = try #require(try channel.readOutbound(as: HTTP2Frame.FramePayload.self))
        else {
            Issue.record("expected HEADERS then DATA")
            return
        }
        #expect(head.headers.first(name: ":path") == OTLPGRPCExporter.exportPath && !head.endStream)
        #expect(data.endStream)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: [":status": "200", "content-type": "application/grpc"])))
        var message = ByteBuffer()
        message.writeBytes([0, 0, 0, 0, 0])
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(message))))
        #expect(!answerIsDone(answer))
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(
            headers: ["grpc-status": "14", "grpc-message": "busy%21"], endStream: true)))
        let result = try answer.wait()
        let status = GRPCCallStatus.read(httpStatus: result.httpStatus, fields: result.fields)
        #expect(status == GRPCCallStatus(code: 14, message: "busy!") && result.data.readableBytes == 5)
    }

    @Test func aCallWithoutAnAnswerFailsAtItsDeadlineAndResetsTheStream() throws {
        let (channel, loop, answer) = try callChannel(timeout: .seconds(5))
        loop.advanceTime(by: .milliseconds(4999))
        #expect(!answerIsDone(answer))
        loop.advanceTime(by: .milliseconds(1))
        #expect(throws: GRPCTransportFailure.self) { try answer.wait() }
        do {
            _ = try answer.wait()
        } catch let failure as GRPCTransportFailure {
            #expect(failure.timedOut)
        }
        #expect(!channel.isActive)
    }

    @Test func aStreamClosedBeforeTheAnswerFailsTheCall() throws {
        let (channel, _, answer) = try callChannel(timeout: .seconds(5))
        channel.pipeline.fireErrorCaught(NIOHTTP2Errors.streamClosed(streamID: 1, errorCode: .refusedStream))
        #expect(throws: GRPCTransportFailure.self) { try answer.wait() }
        #expect(!channel.isActive)
    }

    private func answerIsDone(_ future: EventLoopFuture<GRPCCallAnswer>) -> Bool {
        let done = Calls()
        future.whenComplete { _ in done.count.store(1, ordering: .relaxed) }
        return done.count.load(ordering: .relaxed) == 1
    }
}
