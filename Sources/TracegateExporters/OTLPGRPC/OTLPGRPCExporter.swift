import Logging
import Metrics
import NIOCore
import NIOHPACK
import NIOPosix
import NIOSSL
import TracegateCore
import TracegateOTLP

/// Forwards spans to an OTLP/gRPC receiver (`TraceService/Export`) over one
/// HTTP/2 connection shared by the sending queue's consumer threads, each
/// export a stream of its own (see `GRPCClientConnection`).
///
/// Answers are read as the OTLP specification says: OK is success (a
/// `partial_success` in the response is logged and its rejected spans
/// counted); UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED and DEADLINE_EXCEEDED
/// are retried, honouring the server's `google.rpc.RetryInfo`; every other
/// code is permanent, so the batch is dropped with the server's
/// `grpc-message` (logged by the queue, counted here). A call that gets no
/// answer (refused, reset, timed out, TLS failure) is retried.
public final class OTLPGRPCExporter: SpanExporter {
    static let exportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

    public let id: String
    public let config: OTLPGRPCExporterConfig
    private let connection: GRPCClientConnection
    private let headers: HPACKHeaders
    private let logger: Logger
    private let answers: DownstreamAnswers

    /// Throws when the TLS files cannot be loaded (they were checked when the
    /// configuration was read, but may have changed since).
    public init(id: String, config: OTLPGRPCExporterConfig, logger: Logger) throws {
        self.id = id
        self.config = config
        self.logger = logger.with("exporter", "\(id)")
        answers = .otlpGRPC(exporter: id)
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": config.scheme, ":path": Self.exportPath, ":authority": config.authority,
            "content-type": "application/grpc", "te": "trailers", "user-agent": "tracegate-otlp-grpc",
            "grpc-timeout": GRPCCallStatus.timeoutHeader(config.timeout),
        ]
        if config.gzip { headers.add(name: "grpc-encoding", value: "gzip") }
        // The answer is read compressed or not; saying so lets the server choose.
        headers.add(name: "grpc-accept-encoding", value: "identity,gzip")
        for (name, value) in config.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        self.headers = headers
        let tls: NIOSSLContext?
        if config.useTLS {
            do throws(GRPCClientTLSError) {
                tls = try config.tls.makeContext()
            } catch {
                throw ExportFailure(retryable: false, message: "tls.\(error.key): \(error.message)")
            }
        } else {
            tls = nil
        }
        connection = GRPCClientConnection(
            config: config, tls: tls, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            connections: Counter(label: "tracegate_otlpgrpc_connections_total", dimensions: [("exporter", id)]))
    }

    public func export(_ batch: SpanBatch) throws(ExportFailure) {
        let count = batch.spanCount
        var message = OTLPProtobufEncoder.encode(batch)
        if config.gzip {
            guard let compressed = GzipDeflater.deflate(message) else {
                throw ExportFailure(retryable: false, message: "gzip compression of the request failed")
            }
            message = compressed
        }
        // The 5-byte prefix: compressed flag, then the length, big-endian.
        var body = ByteBufferAllocator().buffer(capacity: 5 + message.count)
        body.writeInteger(UInt8(config.gzip ? 1 : 0))
        body.writeInteger(UInt32(message.count), endianness: .big)
        body.writeBytes(message)

        let target = "\(config.scheme)://\(config.authority)"
        let answer: GRPCCallAnswer
        do throws(GRPCTransportFailure) {
            answer = try connection.call(headers: headers, body: body)
        } catch {
            answers.retryable()
            throw ExportFailure(retryable: true, message: "\(target): \(error.timedOut ? "DEADLINE_EXCEEDED: " : "")\(error)")
        }
        let status = GRPCCallStatus.read(httpStatus: answer.httpStatus, fields: answer.fields)
        let reason = status.message.isEmpty ? "" : ": \(status.message)"
        if status.code == GRPCCallStatus.ok {
            answers.accepted(partialSuccess(answer), of: count, logger: logger)
        } else if status.isRetryable {
            answers.retryable()
            throw ExportFailure(
                retryable: true, message: "\(target) answered \(GRPCCallStatus.name(status.code))\(reason)", retryAfter: status.retryDelay)
        } else {
            let message = "\(target) answered \(GRPCCallStatus.name(status.code)) (\(status.code)), not retryable\(reason)"
            answers.rejected(count, status: ("grpc_status", GRPCCallStatus.name(status.code)), message: message, logger: logger)
            throw ExportFailure(retryable: false, message: message)
        }
    }

    public func close() {
        connection.close()
    }

    /// `partial_success` of an OK answer: the one response message, inflated
    /// when the server compressed it; nil when absent or unreadable.
    private func partialSuccess(_ answer: GRPCCallAnswer) -> OTLPResponseReader.PartialSuccess? {
        var data = answer.data
        guard !answer.truncated, let flag = data.readInteger(as: UInt8.self),
            let length = data.readInteger(endianness: .big, as: UInt32.self), Int(length) <= data.readableBytes,
            var bytes = data.readBytes(length: Int(length))
        else { return nil }
        if flag == 1 {
            let encoding = answer.fields.last { $0.name == "grpc-encoding" }?.value
            guard encoding == "gzip", let inflated = try? GzipInflater.inflate(bytes, limit: GRPCClientConnection.responseLimit) else {
                return nil
            }
            bytes = inflated
        }
        return OTLPResponseReader.partialSuccess(bytes, json: false)
    }
}
