import Testing
import TracegateCore
import TracegateProcessors
@testable import TracegateApp

@Suite struct TelemetryConfigTests {
    func read(_ yaml: String) -> (TelemetryConfig, [String]) {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        let config = TelemetryConfig.read(root.map("telemetry"))
        return (config, diagnostics.problems.map(\.description))
    }

    @Test func defaultsServeMetricsOn8888AndHealthOn13133() {
        let (config, problems) = read("telemetry: {}")
        #expect(problems.isEmpty)
        #expect(config.metrics == .init(address: "0.0.0.0:8888", explicit: false))
        #expect(config.health == .init(address: "0.0.0.0:13133", explicit: false))
        #expect(config.logFormat == .text)
        #expect(config.logLevel == .info)
        #expect(config.shutdownTimeout == .seconds(10))
    }

    @Test func readsAddressesFormatAndDisabledEndpoints() {
        let (config, problems) = read("""
            telemetry:
              logs: { level: warn, format: JSON }
              metrics: { address: "127.0.0.1:9464" }
              health: { enabled: false }
              shutdown_timeout: 3s
            """)
        #expect(problems.isEmpty)
        #expect(config.logLevel == .warning)
        #expect(config.logFormat == .json)
        #expect(config.metrics == .init(address: "127.0.0.1:9464", explicit: true))
        #expect(config.health == nil)
        #expect(config.shutdownTimeout == .seconds(3))
    }

    @Test func reportsBadFormatAddressAndUnknownKeys() {
        let (_, problems) = read("""
            telemetry:
              logs: { format: xml }
              metrics: { address: "localhost", port: 1 }
              health: { address: "[::1]:13133" }
            """)
        #expect(problems == [
            "gw.yaml:2: telemetry.logs.format: expected text or json; got 'xml'",
            "gw.yaml:3: telemetry.metrics.address: expected host:port, got 'localhost'",
            "gw.yaml:3: telemetry.metrics.port: unknown key",
        ])
    }

    @Test func hostPortAcceptsBracketedIPv6() {
        #expect(HostPort("[::1]:8888") == HostPort(host: "::1", port: 8888))
        #expect(HostPort("0.0.0.0:0")?.port == 0)
        #expect(HostPort(":80") == nil)
        #expect(HostPort("host:70000") == nil)
    }
}

@Suite struct MemoryLimiterRegistrationTests {
    @Test func memoryLimiterIsAProcessorTypeOfTheConfiguration() throws {
        let config = try TracegateConfig.parse(
            yaml: """
                receivers:
                  otlp: { protocols: { http: { endpoint: "127.0.0.1:0" } } }
                processors:
                  memory_limiter: { limit_mib: 256, check_interval: 50ms }
                  batch: {}
                exporters:
                  nop:
                service:
                  pipelines:
                    traces: { receivers: [otlp], processors: [memory_limiter, batch], exporters: [nop] }
                  telemetry: { logs: { format: json }, metrics: { enabled: false } }
                """, file: "gw.yaml", environment: [:])
        guard let limiter = config.processors["memory_limiter"]?.config(as: MemoryLimiterConfig.self) else {
            Issue.record("memory_limiter missing")
            return
        }
        #expect(limiter.limitMiB == 256 && limiter.spikeLimitMiB == 51 && limiter.checkInterval == .milliseconds(50))
        #expect(config.telemetry.logFormat == .json)
        #expect(config.telemetry.metrics == nil)
    }
}
