import ArgumentParser
import Dispatch
import NIOCore
import Synchronization

/// The wire `tracegate-bench load` speaks.
enum LoadProtocol: String, ExpressibleByArgument, Sendable, CaseIterable {
    case httpProtobuf = "http-protobuf"
    case httpJSON = "http-json"
    case grpc

    var defaultEndpoint: String {
        self == .grpc ? "http://127.0.0.1:4317" : "http://127.0.0.1:4318/v1/traces"
    }

    /// A connection for one load thread (`send` blocks).
    func connect(host: String, port: Int, path: String, group: EventLoopGroup) throws -> any LoadConnection {
        switch self {
        case .httpProtobuf:
            HTTPLoad(connection: try BlockingHTTPConnection(host: host, port: port, path: path, contentType: "application/x-protobuf"))
        case .httpJSON:
            HTTPLoad(connection: try BlockingHTTPConnection(host: host, port: port, path: path, contentType: "application/json"))
        case .grpc:
            GRPCLoad(connection: try blockingAwait { try await GRPCLoadConnection.connect(host: host, port: port, group: group) })
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

/// One connection of the load generator, one request at a time, used from
/// one thread.
protocol LoadConnection {
    func send(_ body: [UInt8]) throws -> LoadOutcome
    func close()
}

struct HTTPLoad: LoadConnection {
    let connection: BlockingHTTPConnection

    func send(_ body: [UInt8]) throws -> LoadOutcome {
        let status = try connection.post(body)
        return LoadOutcome(label: "\(status)", accepted: status == 200, refused: status == 429 || status == 503)
    }

    func close() {}
}

/// gRPC goes through SwiftNIO's HTTP/2; the load thread waits for each call.
struct GRPCLoad: LoadConnection {
    let connection: GRPCLoadConnection

    func send(_ body: [UInt8]) throws -> LoadOutcome {
        let connection = self.connection
        let code = try blockingAwait { try await connection.export(body) }
        // 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED.
        return LoadOutcome(label: "grpc \(code)", accepted: code == 0, refused: code == 14 || code == 8)
    }

    func close() {
        let connection = self.connection
        _ = try? blockingAwait { await connection.close() }
    }
}

/// Runs async work from a plain thread and waits for it.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let r: Result<T, any Error>
        do { r = .success(try await body()) } catch { r = .failure(error) }
        result.withLock { $0 = r }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
