#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TracegateCore
import TracegateOTLP

/// The status a gRPC call ended with, read from its headers and trailers
/// (gRPC's PROTOCOL-HTTP2.md), and what the exporter makes of it. Free of
/// channels so that it is unit-tested alone.
struct GRPCCallStatus: Equatable {
    /// The gRPC status code (0 = OK).
    var code: Int
    /// `grpc-message`, percent-decoded (and cut, see `percentDecoded`).
    var message: String
    /// The server's `google.rpc.RetryInfo`, capped at `maxRetryDelay`.
    var retryDelay: Duration?

    /// A server may ask for any delay; longer than this and the consumer
    /// thread would sit out a shutdown or a server's mistake, so it is cut.
    static let maxRetryDelay: Duration = .seconds(300)

    static let ok = 0, unknown = 2, deadlineExceeded = 4, resourceExhausted = 8, aborted = 10, `internal` = 13, unavailable = 14

    /// The codes worth trying again: the server is down or overloaded, or the
    /// call ran out of time (OTLP's list, with RESOURCE_EXHAUSTED retried
    /// whether or not a RetryInfo comes with it).
    static let retryableCodes: Set<Int> = [deadlineExceeded, resourceExhausted, aborted, unavailable]

    var isRetryable: Bool { Self.retryableCodes.contains(code) }

    /// Reads the status from an answer's header fields (response headers and
    /// trailers together; the trailers come last and win). `httpStatus` is
    /// the response's `:status`: without a `grpc-status` the HTTP status is
    /// mapped to a code as the gRPC spec says, and a 200 without one is
    /// UNKNOWN (the server broke off the answer).
    static func read(httpStatus: Int?, fields: [(name: String, value: String)]) -> GRPCCallStatus {
        var grpcStatus: String?
        var message: String?
        var details: String?
        var retryInfo: String?
        for (name, value) in fields {
            switch name {
            case "grpc-status": grpcStatus = value
            case "grpc-message": message = value
            case "grpc-status-details-bin": details = value
            case "google.rpc.retryinfo-bin": retryInfo = value
            default: break
            }
        }
        var status: GRPCCallStatus
        if let grpcStatus {
            // Codes are 0–16; a server sending something else sent UNKNOWN.
            let code = Int(grpcStatus.trimmingBlanks()).flatMap { (0...16).contains($0) ? $0 : nil } ?? unknown
            status = GRPCCallStatus(code: code, message: message.map { GRPCHeaderEncoding.percentDecoded($0) } ?? "")
        } else if let httpStatus, httpStatus != 200 {
            status = GRPCCallStatus(code: code(forHTTPStatus: httpStatus), message: "HTTP status \(httpStatus) without grpc-status")
        } else {
            status = GRPCCallStatus(code: unknown, message: "the answer ended without grpc-status")
        }
        // RetryInfo as the OTLP spec puts it (in the Status details), else the
        // bare RetryInfo trailer some servers send instead.
        let delay = details.flatMap(GRPCHeaderEncoding.base64Decoded).flatMap(GRPCStatusDetails.retryDelay(inStatus:))
            ?? retryInfo.flatMap(GRPCHeaderEncoding.base64Decoded).flatMap(GRPCStatusDetails.retryDelay(inRetryInfo:))
        status.retryDelay = delay.map { min($0, maxRetryDelay) }
        return status
    }

    /// gRPC's "HTTP to gRPC Status Code Mapping", for answers that are not gRPC.
    static func code(forHTTPStatus status: Int) -> Int {
        switch status {
        case 400: 13  // INTERNAL
        case 401: 16  // UNAUTHENTICATED
        case 403: 7  // PERMISSION_DENIED
        case 404: 12  // UNIMPLEMENTED
        case 429, 502, 503, 504: unavailable
        default: unknown
        }
    }

    /// The code's name, for log lines and error messages.
    static func name(_ code: Int) -> String {
        let names = [
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
            "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
            "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
        ]
        return names.indices.contains(code) ? names[code] : "CODE_\(code)"
    }

    /// `grpc-timeout`: at most 8 digits and a unit; milliseconds while they
    /// fit, whole seconds (rounded up) beyond.
    static func timeoutHeader(_ timeout: Duration) -> String {
        let millis = max(1, (timeout.nanoseconds + 999_999) / 1_000_000)
        if millis <= 99_999_999 { return "\(millis)m" }
        return "\(min(99_999_999, (millis + 999) / 1000))S"
    }
}
