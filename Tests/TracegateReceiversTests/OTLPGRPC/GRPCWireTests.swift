import NIOCore
import NIOHPACK
import Testing
import TracegateOTLP

@testable import TracegateReceivers

@Suite struct GRPCFramingTests {
    @Test func writesTheFivebytePrefix() {
        var buffer = ByteBuffer()
        GRPCFraming.write([1, 2, 3], to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0, 3, 1, 2, 3])
        buffer.clear()
        GRPCFraming.write([], to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0, 0], "an empty response is a zero-length message")
        buffer.clear()
        GRPCFraming.write([UInt8](repeating: 7, count: 0x1_0203), to: &buffer)
        #expect(Array(buffer.readableBytesView.prefix(5)) == [0, 0, 1, 2, 3])
    }
}

@Suite struct GRPCUnaryMessageReaderTests {
    func frame(_ message: [UInt8], flag: UInt8 = 0) -> [UInt8] {
        [flag] + withUnsafeBytes(of: UInt32(message.count).bigEndian, Array.init) + message
    }

    func read(_ chunks: [[UInt8]], limit: Int = 100, gzip: Bool = false) -> Result<GRPCRequestMessage, GRPCFailure> {
        var reader = GRPCUnaryMessageReader(limit: limit, compressionAllowed: gzip)
        for chunk in chunks {
            var buffer = ByteBuffer(bytes: chunk)
            if let failure = reader.append(&buffer) { return .failure(failure) }
        }
        return reader.finish()
    }

    func message(_ result: Result<GRPCRequestMessage, GRPCFailure>) -> (Bool, [UInt8])? {
        guard case .success(let m) = result else { return nil }
        return (m.compressed, Array(m.bytes.readableBytesView))
    }

    func failure(_ result: Result<GRPCRequestMessage, GRPCFailure>) -> GRPCFailure? {
        guard case .failure(let f) = result else { return nil }
        return f
    }

    @Test func readsOneMessageInOneChunk() {
        let m = message(read([frame([9, 8, 7])]))
        #expect(m?.0 == false)
        #expect(m?.1 == [9, 8, 7])
    }

    @Test func readsAMessageSplitAnywhere() {
        let bytes = frame(Array(0..<50))
        for cut in 1..<bytes.count {
            #expect(message(read([Array(bytes[..<cut]), Array(bytes[cut...])]))?.1 == Array(0..<50), "cut at \(cut)")
        }
        #expect(message(read(bytes.map { [$0] }))?.1 == Array(0..<50), "one byte per frame")
    }

    @Test func zeroLengthMessageIsAnEmptyRequest() {
        #expect(message(read([frame([])]))?.1 == [])
    }

    @Test func messageOfExactlyTheLimitIsAccepted() {
        #expect(message(read([frame([UInt8](repeating: 1, count: 100))], limit: 100))?.1.count == 100)
    }

    @Test func oversizedMessageIsRefusedFromItsPrefix() {
        // Only the prefix has arrived: the answer does not wait for the body.
        var reader = GRPCUnaryMessageReader(limit: 100, compressionAllowed: false)
        var prefix = ByteBuffer(bytes: [0, 0, 0, 0, 101])
        let f = reader.append(&prefix)
        #expect(f?.code == .resourceExhausted)
        #expect(f?.message.contains("101 vs. 100") == true, "\(f?.message ?? "")")
        #expect(failure(read([[0, 0xFF, 0xFF, 0xFF, 0xFF]], limit: 4 << 20))?.code == .resourceExhausted)
    }

    @Test func compressedFlagNeedsAnEncoding() {
        #expect(failure(read([frame([1], flag: 1)], gzip: false))?.code == .internal)
        let m = message(read([frame([1], flag: 1)], gzip: true))
        #expect(m?.0 == true)
        // A gzip request may still send an uncompressed message.
        #expect(message(read([frame([1], flag: 0)], gzip: true))?.0 == false)
    }

    @Test func invalidFlagIsAnInternalError() {
        #expect(failure(read([frame([1], flag: 2)], gzip: true))?.code == .internal)
    }

    @Test func secondMessageIsAnInternalError() {
        let f = failure(read([frame([1]) + frame([2])]))
        #expect(f?.code == .internal)
        #expect(f?.message.contains("more than one") == true)
        #expect(failure(read([frame([1]) + [0]]))?.code == .internal, "a single byte after the message is too much")
    }

    @Test func streamEndingEarlyIsAnInternalError() {
        #expect(failure(read([]))?.message.contains("without a message") == true)
        #expect(failure(read([[0, 0, 0]]))?.code == .internal, "inside the prefix")
        let f = failure(read([Array(frame([1, 2, 3, 4]).dropLast())]))
        #expect(f?.code == .internal)
        #expect(f?.message.contains("3 of 4 bytes") == true)
    }
}

@Suite struct GRPCHeaderEncodingTests {
    @Test func percentEncodesGrpcMessage() {
        #expect(GRPCHeaderEncoding.percentEncoded("plain ASCII: ok!") == "plain ASCII: ok!")
        #expect(GRPCHeaderEncoding.percentEncoded("50% ✓\n") == "50%25 %E2%9C%93%0A")
        #expect(GRPCHeaderEncoding.percentEncoded("\u{7F}~") == "%7F~")
    }

    @Test func base64WithoutPadding() {
        // RFC 4648 §10 vectors, padding removed.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(GRPCHeaderEncoding.base64(Array(plain.utf8)) == encoded, "\(plain)")
        }
        #expect(GRPCHeaderEncoding.base64([0xFB, 0xFF, 0xBF]) == "+/+/")
    }
}

@Suite struct GRPCStatusDetailsTests {
    @Test func durationIsSecondsAndNanos() {
        #expect(GRPCStatusDetails.duration(.seconds(1)) == [0x08, 0x01])
        #expect(GRPCStatusDetails.duration(.milliseconds(1500)) == [0x08, 0x01, 0x10, 0x80, 0xCA, 0xB5, 0xEE, 0x01])
        #expect(GRPCStatusDetails.duration(.milliseconds(250)) == [0x10, 0x80, 0xE5, 0x9A, 0x77])
        #expect(GRPCStatusDetails.duration(.zero) == [])
        #expect(GRPCStatusDetails.duration(.seconds(-1)) == [])
    }

    @Test func retryInfoAndItsAny() {
        // RetryInfo { 1: Duration { 1: 2 } }
        #expect(GRPCStatusDetails.retryInfo(delay: .seconds(2)) == [0x0A, 0x02, 0x08, 0x02])
        let url = Array("type.googleapis.com/google.rpc.RetryInfo".utf8)
        // Any { 1: type_url, 2: RetryInfo }
        let expected: [UInt8] = [0x0A, UInt8(url.count)] + url + [0x12, 0x04, 0x0A, 0x02, 0x08, 0x02]
        #expect(GRPCStatusDetails.retryInfoAny(delay: .seconds(2)) == expected)
    }

    @Test func statusCarriesDetailsAsField3() {
        let detail = GRPCStatusDetails.retryInfoAny(delay: .seconds(1))
        let status = GRPCStatusDetails.status(code: .unavailable, message: "full", details: [detail])
        let head: [UInt8] = [0x08, 0x0E, 0x12, 0x04] + Array("full".utf8)
        #expect(status == head + [0x1A, UInt8(detail.count)] + detail)
        #expect(GRPCStatusDetails.status(code: .internal, message: "", details: []) == [0x08, 0x0D])
    }

    @Test func failureTrailers() {
        let plain = GRPCFailure(code: .invalidArgument, message: "bad ✓")
        #expect(plain.trailers.map(\.0) == ["grpc-status", "grpc-message"])
        #expect(plain.trailers.map(\.1) == ["3", "bad %E2%9C%93"])
        let refused = GRPCFailure(code: .unavailable, message: "full", retryDelay: .seconds(1))
        let details = GRPCStatusDetails.status(
            code: .unavailable, message: "full", details: [GRPCStatusDetails.retryInfoAny(delay: .seconds(1))])
        #expect(refused.trailers.map(\.0) == ["grpc-status", "grpc-message", "grpc-status-details-bin", "google.rpc.retryinfo-bin"])
        #expect(refused.trailers[2].1 == GRPCHeaderEncoding.base64(details))
        #expect(refused.trailers[3].1 == GRPCHeaderEncoding.base64([0x0A, 0x02, 0x08, 0x01]))
    }
}

@Suite struct GRPCRequestHeadTests {
    func headers(_ extra: [(String, String)] = [], without: Set<String> = []) -> HPACKHeaders {
        var base: [(String, String)] = [
            (":method", "POST"), (":scheme", "http"), (":path", OTLPGRPCStreamHandler.exportPath),
            (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
        ]
        base.removeAll { without.contains($0.0) || extra.map(\.0).contains($0.0) }
        return HPACKHeaders(base + extra)
    }

    func failure(_ h: HPACKHeaders) -> GRPCFailure? {
        guard case .failure(let f) = OTLPGRPCStreamHandler.check(h) else { return nil }
        return f
    }

    @Test func acceptsAnExportCall() throws {
        #expect(try OTLPGRPCStreamHandler.check(headers()).get() == false)
        #expect(try OTLPGRPCStreamHandler.check(headers([("content-type", "application/grpc+proto")])).get() == false)
        #expect(try OTLPGRPCStreamHandler.check(headers([("grpc-encoding", "gzip")])).get() == true)
        #expect(try OTLPGRPCStreamHandler.check(headers([("grpc-encoding", "identity")])).get() == false)
    }

    @Test func notGRPCIs415() {
        for type in ["application/json", "application/x-protobuf", "application/grpc-web"] {
            let f = failure(headers([("content-type", type)]))
            #expect(f?.httpStatus == 415, "\(type)")
            #expect(f?.code == .internal)
        }
        #expect(failure(headers(without: ["content-type"]))?.httpStatus == 415)
    }

    @Test func otherCodecIsInternal() {
        let f = failure(headers([("content-type", "application/grpc+json")]))
        #expect(f?.httpStatus == 200)
        #expect(f?.code == .internal)
    }

    @Test func otherMethodsAndEncodings() {
        let get = failure(headers([(":method", "GET")]))
        #expect(get?.httpStatus == 405)
        #expect(get?.extraHeaders.first?.0 == "allow")
        let unknown = failure(headers([(":path", "/opentelemetry.proto.collector.logs.v1.LogsService/Export")]))
        #expect(unknown?.code == .unimplemented)
        #expect(unknown?.httpStatus == 200)
        #expect(unknown?.message.contains("LogsService/Export") == true)
        let brotli = failure(headers([("grpc-encoding", "br")]))
        #expect(brotli?.code == .unimplemented)
        #expect(brotli?.message.contains("gzip") == true)
        #expect(OTLPGRPCStreamHandler.responseHeaders(status: 200).first(name: "grpc-accept-encoding") == "identity,gzip")
    }
}
