import Foundation
import Testing
import TracegateCore
import TracegateExporters
import TracegateReceivers
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
        guard let otlp = config.receivers["otlp"]?.config(as: OTLPReceiverConfig.self), let http = otlp.http else {
            Issue.record("otlp receiver missing")
            return
        }
        #expect(http.host == "127.0.0.1" && http.port == 14318 && http.maxRequestBodySize == 1 << 20)
        guard let pg = config.exporters["postgres/main"]?.config(as: PostgresExporterConfig.self) else {
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

    @Test func readsTheConnectionLimitsOfBothProtocols() throws {
        let config = try TracegateConfig.parse(
            yaml: """
                receivers:
                  otlp:
                    protocols:
                      http: { endpoint: "127.0.0.1:0", idle_timeout: 5s, max_connections: 64 }
                      grpc:
                        endpoint: "127.0.0.1:0"
                        read_timeout: 2s
                        max_connections: 32
                        keepalive: { server_parameters: { max_connection_idle: 10s, max_connection_age: 1h } }
                exporters:
                  nop:
                service:
                  pipelines:
                    traces: { receivers: [otlp], exporters: [nop] }
                """, file: "gw.yaml", environment: [:])
        guard let otlp = config.receivers["otlp"]?.config(as: OTLPReceiverConfig.self), let http = otlp.http, let grpc = otlp.grpc else {
            Issue.record("otlp receiver missing")
            return
        }
        #expect(http.idleTimeout == .seconds(5) && http.maxConnections == 64)
        #expect(grpc.readTimeout == .seconds(2) && grpc.maxConnections == 32)
        #expect(grpc.maxConnectionIdle == .seconds(10) && grpc.maxConnectionAge == .seconds(3600))
        // Defaults: the collector's for keepalive (none), ours for the rest.
        let defaults = try TracegateConfig.parse(
            yaml: """
                receivers: { otlp: { protocols: { http: {}, grpc: {} } } }
                exporters: { nop: }
                service: { pipelines: { traces: { receivers: [otlp], exporters: [nop] } } }
                """, file: "gw.yaml", environment: [:])
        guard let plain = defaults.receivers["otlp"]?.config(as: OTLPReceiverConfig.self), let h = plain.http, let g = plain.grpc else {
            Issue.record("otlp receiver missing")
            return
        }
        #expect(h.idleTimeout == .seconds(60) && g.readTimeout == .seconds(30) && g.maxConnections == 0)
        #expect(g.maxConnectionIdle == nil && g.maxConnectionAge == nil)
    }

    @Test func connectionLimitProblemsCarryTheirLines() {
        let found = problems("""
            receivers:
              otlp:
                protocols:
                  http: { idle_timeout: -1s }
                  grpc:
                    read_timeout: 0s
                    keepalive:
                      server_parameters: { max_connection_idle: 0s, max_connection_time: 1s }
            exporters:
              nop:
            service:
              pipelines:
                traces: { receivers: [otlp], exporters: [nop] }
            """)
        #expect(found.contains { $0.contains("gw.yaml:4") && $0.contains("receivers.otlp.protocols.http.idle_timeout") })
        #expect(found.contains { $0.contains("gw.yaml:6") && $0.contains("receivers.otlp.protocols.grpc.read_timeout: must be greater than zero") })
        #expect(found.contains {
            $0.contains("gw.yaml:8") && $0.contains("receivers.otlp.protocols.grpc.keepalive.server_parameters.max_connection_idle: must be greater than zero")
        })
        #expect(found.contains {
            $0.contains("gw.yaml:8") && $0.contains("receivers.otlp.protocols.grpc.keepalive.server_parameters.max_connection_time: unknown key")
        })
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
            .deletingLastPathComponent()
        let config = try TracegateConfig.load(file: root.appendingPathComponent("deploy/examples/local.yaml").path, environment: [:])
        #expect(config.pipelines.count == 1)
    }
}
