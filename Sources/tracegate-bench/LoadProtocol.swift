import ArgumentParser
import NIOCore

/// The wire `tracegate-bench load` speaks.
enum LoadProtocol: String, ExpressibleByArgument, Sendable, CaseIterable {
    case httpProtobuf = "http-protobuf"
    case httpJSON = "http-json"
    case grpc

    var defaultEndpoint: String {
        self == .grpc ? "http://127.0.0.1:4317" : "http://127.0.0.1:4318/v1/traces"
    }

    func connect(host: String, port: Int, path: String, group: EventLoopGroup) async throws -> any LoadConnection {
        switch self {
        case .httpProtobuf:
            HTTPLoad(connection: try await .connect(host: host, port: port, path: path, group: group), contentType: "application/x-protobuf")
        case .httpJSON:
            HTTPLoad(connection: try await .connect(host: host, port: port, path: path, group: group), contentType: "application/json")
        case .grpc:
            GRPCLoad(connection: try await .connect(host: host, port: port, group: group))
        }
    }
}

/// What became of one request.
struct LoadOutcome: Sendable {
    /// The key it is counted under in the report: the HTTP status (`200`,
    /// `503`, …) or `grpc <code>`.
    var label: String
    /// The gateway acknowledged every span.
    var accepted: Bool
    /// The gateway pushed back (HTTP 429/503, gRPC UNAVAILABLE or RESOURCE_EXHAUSTED).
    var refused: Bool
}

/// One connection of the load generator, one request at a time.
protocol LoadConnection: Sendable {
    func send(_ body: [UInt8]) async throws -> LoadOutcome
    func close() async
}

struct HTTPLoad: LoadConnection {
    let connection: HTTPLoadConnection
    let contentType: String

    func send(_ body: [UInt8]) async throws -> LoadOutcome {
        let status = try await connection.post(body, contentType: contentType)
        return LoadOutcome(label: "\(status)", accepted: status == 200, refused: status == 429 || status == 503)
    }

    func close() async { await connection.close() }
}

struct GRPCLoad: LoadConnection {
    let connection: GRPCLoadConnection

    func send(_ body: [UInt8]) async throws -> LoadOutcome {
        let code = try await connection.export(body)
        // 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED.
        return LoadOutcome(label: "grpc \(code)", accepted: code == 0, refused: code == 14 || code == 8)
    }

    func close() async { await connection.close() }
}
