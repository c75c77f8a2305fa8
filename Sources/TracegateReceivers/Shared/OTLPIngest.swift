import NIOCore
import TracegateCore
import TracegateOTLP

/// The path every OTLP request takes between the edges of its transport:
/// inflate, decode (validating each span), stamp the resources, offer to the
/// pipelines, count what was accepted, and hand the outcome back on the
/// request's event loop. OTLP/HTTP and OTLP/gRPC both go through it; what
/// differs stays at their edges: reading the request (head checks, framing,
/// deadlines) and writing the answer in their protocol's status codes.
struct OTLPIngest: Sendable {
    /// The encodings of an OTLP request body; answers use the request's.
    enum Encoding: Sendable {
        case protobuf
        case json

        /// The `encoding` metric label.
        var label: String {
            switch self {
            case .protobuf: "protobuf"
            case .json: "json"
            }
        }
    }

    /// Why a request's body was not offered.
    struct Failure: Error, Sendable {
        enum Kind: Sendable {
            /// Larger than the receiver's limit once inflated.
            case tooLarge
            /// Corrupt compression or not a valid OTLP message.
            case invalid
        }

        var kind: Kind
        var message: String
    }

    /// What became of a request the pipelines were offered.
    enum Outcome: Sendable {
        /// Taken (all of it but `rejected` invalid spans): answer success,
        /// with partial success when `rejected > 0`.
        case accepted(rejected: Int, errorMessage: String)
        /// Not taken; the client is to retry after `retryAfter`.
        case refused(retryAfter: Duration, reason: String, kind: RefusalKind, spans: Int)
        /// The body could not be offered at all.
        case failed(Failure)
    }

    let ingress: PipelineIngress
    let metrics: ReceiverMetrics
    /// The largest body, inflated, in bytes.
    let limit: Int

    /// Takes one request body and calls `answer` on `loop` once its fate is
    /// known: at once for a body that cannot be offered or an offer answered
    /// straight away, later when a persistent queue writes the batch first.
    func ingest(
        _ body: ByteBuffer, gzip: Bool, encoding: Encoding, stamp: ResourceStamp, on loop: any EventLoop,
        answer: @escaping (Outcome) -> Void
    ) {
        RequestActivity.noteRequest()
        var decoded: DecodedRequest
        // The body as it came can be a persistent queue's record when it
        // decodes into exactly the batch offered (nil: the queue encodes it).
        var request: [UInt8]? = nil
        switch Self.decode(body, gzip: gzip, encoding: encoding, limit: limit) {
        case .failure(let failure):
            answer(.failed(failure))
            return
        case .success(let (result, bytes)):
            decoded = result
            if encoding == .protobuf && stamp.isEmpty && decoded.rejectedSpans == 0 && decoded.repairedStrings == 0 && writesLog {
                request = bytes ?? body.getBytes(at: body.readerIndex, length: body.readableBytes)
            }
        }
        stamp.apply(to: &decoded.batch)
        let (spans, rejected, errorMessage, repaired) =
            (decoded.batch.spanCount, decoded.rejectedSpans, decoded.errorMessage, decoded.repairedStrings)
        let metrics = self.metrics
        let bound = NIOLoopBound(answer, eventLoop: loop)
        ingress.offer(decoded.batch, request: request) { admission in
            let reply: @Sendable () -> Void = {
                switch admission {
                case .accepted:
                    metrics.accepted(encoding: encoding.label, spans: spans, rejected: rejected, repairedStrings: repaired)
                    bound.value(.accepted(rejected: rejected, errorMessage: errorMessage))
                case .refused(let retryAfter, let reason, let kind):
                    bound.value(.refused(retryAfter: retryAfter, reason: reason, kind: kind, spans: spans))
                }
            }
            // A persistent queue answers from its writer thread.
            if loop.inEventLoop { reply() } else { loop.execute(reply) }
        }
    }

    /// Some pipeline of this receiver has a persistent queue, which can keep
    /// a protobuf body as it came instead of encoding the batch again.
    private var writesLog: Bool { ingress.pipelines.contains(where: \.writesLog) }

    /// Inflates (when `gzip`) and decodes a body; with the inflated bytes
    /// when there are any (nil: the body itself is the message).
    static func decode(
        _ body: ByteBuffer, gzip: Bool, encoding: Encoding, limit: Int
    ) -> Result<(DecodedRequest, [UInt8]?), Failure> {
        guard gzip else { return body.withUnsafeReadableBytes { decode($0, encoding: encoding).map { ($0, nil) } } }
        let inflated: [UInt8]
        do throws(GzipInflater.Failure) {
            inflated = try GzipInflater.inflate(body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? [], limit: limit)
        } catch {
            switch error {
            case .tooLarge: return .failure(Failure(kind: .tooLarge, message: ""))
            case .corrupt(let reason): return .failure(Failure(kind: .invalid, message: reason))
            }
        }
        return inflated.withUnsafeBytes { decode($0, encoding: encoding).map { ($0, inflated) } }
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, encoding: Encoding) -> Result<DecodedRequest, Failure> {
        do throws(OTLPDecodeError) {
            switch encoding {
            case .protobuf: return .success(try OTLPProtobufDecoder.decode(bytes))
            case .json: return .success(try OTLPJSONDecoder.decode(bytes))
            }
        } catch {
            return .failure(Failure(kind: .invalid, message: error.message))
        }
    }

    /// The media type of a `Content-Type` header: before any parameters,
    /// without surrounding blanks, lower-cased.
    static func mediaType(_ header: String) -> String {
        let type = header.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return String(type.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()).lowercased()
    }
}
