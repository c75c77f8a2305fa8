import Foundation
import Testing
import TracegateCore
@testable import TracegateApp

@Suite struct TracegateConfigTests {
    func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try TracegateConfig.parse(yaml: yaml, file: "gw.yaml", environment: env)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func readsACompleteConfiguration() throws {
        let config = try TracegateConfig.parse(
            yaml: """
                receivers:
                  otlp:
                    protocols:
                      http: { endpoint: "127.0.0.1:14318", max_request_body_size: 1MiB }
                processors:
                  batch/small: { send_batch_size: 10, timeout: 50ms }
                exporters:
                  postgres/main:
                    dsn: ${env:DSN}
                    sending_queue: { queue_size: 1000 }
                    retry_on_failure: { initial_interval: 100ms, max_elapsed_time: 1m }
                  nop:
                service:
                  pipelines:
                    traces:
                      receivers: [otlp]
                      processors: [batch/small]
                      exporters: [postgres/main, nop]
                  telemetry: { logs: { level: debug }, shutdown_timeout: 3s }
                """, file: "gw.yaml", environment: ["DSN": "host=db"])
        guard case .otlp(let otlp) = config.receivers["otlp"], let http = otlp.http else {
            Issue.record("otlp receiver missing")
            return
        }
        #expect(http.host == "127.0.0.1" && http.port == 14318 && http.maxRequestBodySize == 1 << 20)
        guard case .postgres(let pg) = config.exporters["postgres/main"] else {
            Issue.record("postgres exporter missing")
            return
        }
        #expect(pg.dsn == "host=db")
        #expect(pg.sendingQueue.queueSize == 1000)
        #expect(pg.retry.initialInterval == .milliseconds(100))
        #expect(pg.retry.maxElapsedTime == .seconds(60))
        #expect(config.pipelines == [PipelineConfig(id: "traces", receivers: ["otlp"], processors: ["batch/small"], exporters: ["postgres/main", "nop"])])
        #expect(config.telemetry.logLevel == .debug)
        #expect(config.telemetry.shutdownTimeout == .seconds(3))
    }

    @Test func reportsAllProblemsWithLinesAndPaths() {
        let found = problems("""
            receivers:
              otlp:
                protocols:
                  http:
                    endpont: 0.0.0.0:4318
            processors:
              batch:
                timeout: soon
              unused_thing:
            exporters:
              postgres:
                dsn: x
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [batch]
                  exporters: [postgres, clickhouse]
            """)
        #expect(found.contains("gw.yaml:5: receivers.otlp.protocols.http.endpont: unknown key"))
        #expect(found.contains { $0.hasPrefix("gw.yaml:8: processors.batch.timeout: expected a duration") })
        #expect(found.contains { $0.hasPrefix("gw.yaml:9: processors.unused_thing: unknown component type 'unused_thing'") })
        #expect(found.contains("gw.yaml:18: service.pipelines.traces.exporters[1]: clickhouse is not defined in the top-level exporters section"))
        #expect(found.count == 4)
    }

    @Test func reportsUnusedComponentsAndMissingSections() {
        let found = problems("""
            receivers:
              otlp: { protocols: { http: {} } }
            exporters:
              nop:
              postgres: { dsn: x }
            service:
              pipelines:
                traces: { receivers: [otlp], exporters: [nop] }
            """)
        #expect(found == ["gw.yaml:5: exporters.postgres: defined but not used in any pipeline"])
        #expect(problems("receivers: {}\n").contains("gw.yaml:1: service section is required (it lists the pipelines)"))
    }

    @Test func theExampleConfigurationIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = try TracegateConfig.load(file: root.appendingPathComponent("deploy/examples/local.yaml").path, environment: [:])
        #expect(config.pipelines.count == 1)
    }
}
