import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Testing
import TracegateCore
@testable import TracegateApp

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite struct TelemetryServerTests {
    func config(metrics: String?, health: String?) -> TelemetryConfig {
        var c = TelemetryConfig()
        c.metrics = metrics.map { .init(address: $0, explicit: true) }
        c.health = health.map { .init(address: $0, explicit: true) }
        return c
    }

    func get(_ address: SocketAddress?, _ path: String) async throws -> (Int, String, String?) {
        let port = try #require(address?.port)
        let url = try #require(URL(string: "http://127.0.0.1:\(port)\(path)"))
        let (data, response) = try await URLSession.shared.data(from: url)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Content-Type"))
    }

    @Test func servesMetricsHealthAndReadinessOnTheirOwnPorts() async throws {
        let readiness = Readiness()
        readiness.expect("exporter postgres")
        let server = try await TelemetryServer(
            config: config(metrics: "127.0.0.1:0", health: "127.0.0.1:0"),
            metrics: { Array("# TYPE tracegate_test_total counter\ntracegate_test_total 3\n".utf8) },
            readiness: readiness, logger: Logger(label: "test"))
        // Same address string: one listener serves all three routes.
        #expect(server.listeners.count == 1)

        let (status, body, type) = try await get(server.metricsAddress, "/metrics")
        #expect(status == 200)
        #expect(body.contains("tracegate_test_total 3"))
        #expect(type?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(try await get(server.healthAddress, "/health").0 == 200)

        let starting = try await get(server.healthAddress, "/ready")
        #expect(starting.0 == 503 && starting.1.contains("starting"))
        readiness.markStarted()
        let unchecked = try await get(server.healthAddress, "/ready")
        #expect(unchecked.0 == 503 && unchecked.1.contains("exporter postgres: not checked yet"))
        readiness.report("exporter postgres", problem: nil)
        #expect(try await get(server.healthAddress, "/ready").0 == 200)
        readiness.report("exporter postgres", problem: "database not reachable: connection refused")
        #expect(try await get(server.healthAddress, "/ready").1.contains("connection refused"))
        readiness.report("exporter postgres", problem: nil)
        readiness.markStopping()
        let stopping = try await get(server.healthAddress, "/ready")
        #expect(stopping.0 == 503 && stopping.1.contains("shutting down"))
        #expect(try await get(server.healthAddress, "/nothing").0 == 404)
        for listener in server.listeners { try await listener.channel.close() }
    }

    @Test func separateAddressesServeSeparateRoutes() async throws {
        let server = try await TelemetryServer(
            config: config(metrics: "127.0.0.1:0", health: "localhost:0"), metrics: { [] }, readiness: Readiness(),
            logger: Logger(label: "test"))
        #expect(server.listeners.count == 2)
        #expect(try await get(server.metricsAddress, "/health").0 == 404)
        #expect(try await get(server.healthAddress, "/metrics").0 == 404)
        #expect(try await get(server.healthAddress, "/health").0 == 200)
        for listener in server.listeners { try await listener.channel.close() }
    }

    @Test func aConfiguredAddressInUseFailsButADefaultOneIsSkipped() async throws {
        let first = try await TelemetryServer(
            config: config(metrics: "127.0.0.1:0", health: nil), metrics: { [] }, readiness: Readiness(), logger: Logger(label: "test"))
        let taken = "127.0.0.1:\(try #require(first.metricsAddress?.port))"
        await #expect(throws: (any Error).self) {
            _ = try await TelemetryServer(
                config: config(metrics: taken, health: nil), metrics: { [] }, readiness: Readiness(), logger: Logger(label: "test"))
        }
        var defaulted = TelemetryConfig()
        defaulted.metrics = .init(address: taken, explicit: false)
        defaulted.health = nil
        let second = try await TelemetryServer(config: defaulted, metrics: { [] }, readiness: Readiness(), logger: Logger(label: "test"))
        #expect(second.listeners.isEmpty)
        for listener in first.listeners { try await listener.channel.close() }
    }

    @Test func prometheusRegistryExposesSwiftMetrics() {
        let registry = MetricsBootstrap.bootstrap()
        #expect(MetricsBootstrap.bootstrap() === registry, "a second bootstrap returns the same registry")
        Counter(label: "tracegate_telemetry_test_total", dimensions: [("receiver", "otlp")]).increment(by: 2)
        let text = registry.emitToString()
        #expect(text.contains(#"tracegate_telemetry_test_total{receiver="otlp"} 2"#))
    }
}
