import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct ConclusionExporterConfigTests {
    func read(_ yaml: String, env: [String: String] = [:]) -> (ConclusionExporterConfig, [String]) {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: env)
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        let c = ConclusionExporterConfig.read(root.map("conclusion/x"))
        return (c, diagnostics.problems.map(\.description))
    }

    @Test func readsEveryKey() {
        let (c, problems) = read(
            """
            conclusion/x:
              endpoint: https://hooks.example/analyze
              inactivity: 2s
              max_wait: 1m
              store: memory
              max_traces: 500
              max_pending: 1000
              headers: { Authorization: "Bearer ${env:TOKEN}" }
              signing: { secret: "${env:SECRET}", header: X-Sig }
              body_template: '{"trace_id": {{trace_id}}}'
              batch_size: 20
              timeout: 3s
              retry: { initial_interval: 200ms, max_interval: 5s, max_attempts: 4 }
              late_spans: renotify
              dead_letter_file: /tmp/dead.jsonl
              workers: 3
            """, env: ["TOKEN": "t", "SECRET": "s"])
        #expect(problems == [])
        #expect(c.endpoint == "https://hooks.example/analyze" && c.inactivity == .seconds(2) && c.maxWait == .seconds(60))
        #expect(c.store == .memory && c.maxTraces == 500 && c.maxPending == 1000)
        #expect(c.headers == [.init(name: "Authorization", value: "Bearer t")])
        #expect(c.signing == .init(secret: "s", header: "X-Sig"))
        #expect(c.bodyTemplate != nil && c.batchSize == 20 && c.timeout == .seconds(3))
        #expect(c.retry == DeliveryPolicy(initialInterval: .milliseconds(200), maxInterval: .seconds(5), maxAttempts: 4))
        #expect(c.lateSpans == .renotify && c.deadLetterFile == "/tmp/dead.jsonl" && c.workers == 3)
    }

    @Test func hasTheDocumentedDefaults() {
        let (c, problems) = read("conclusion/x: { endpoint: http://127.0.0.1:3000/hook }")
        #expect(problems == [])
        #expect(c.inactivity == .seconds(60) && c.maxWait == .seconds(300) && c.store == .postgres)
        #expect(c.batchSize == 1 && c.timeout == .seconds(10) && c.lateSpans == .ignore && c.signing == nil)
        #expect(c.retry == DeliveryPolicy(initialInterval: .seconds(1), maxInterval: .seconds(60), maxAttempts: 10))
    }

    @Test func reportsEveryProblemWithItsLine() {
        let (_, problems) = read(
            """
            conclusion/x:
              endpoint: ftp://nowhere
              inactivity: 2s
              max_wait: 1s
              store: redis
              signing: { secret: "${env:MISSING}" }
              body_template: '{{span}}'
              late_spans: maybe
              dead_letter_file: x.jsonl
              colour: blue
            """)
        #expect(problems.contains("gw.yaml:2: conclusion/x.endpoint: expected an http:// or https:// URL, got 'ftp://nowhere'"))
        #expect(problems.contains("gw.yaml:4: conclusion/x.max_wait: must not be less than inactivity (2.0 seconds)"))
        #expect(problems.contains("gw.yaml:5: conclusion/x.store: expected postgres or memory, got 'redis'"))
        #expect(problems.contains { $0.hasPrefix("gw.yaml:6: conclusion/x.signing.secret: secret is required") })
        #expect(problems.contains { $0.hasPrefix("gw.yaml:7: conclusion/x.body_template: unknown field 'span'") })
        #expect(problems.contains("gw.yaml:8: conclusion/x.late_spans: expected ignore or renotify, got 'maybe'"))
        #expect(problems.contains { $0.hasPrefix("gw.yaml:9: conclusion/x.dead_letter_file: only the memory store uses a file") })
        #expect(problems.contains("gw.yaml:10: conclusion/x.colour: unknown key"))
    }

    @Test func requiresAnEndpoint() {
        let (_, problems) = read("conclusion/x: { inactivity: 5s }")
        #expect(problems == ["gw.yaml:1: conclusion/x: endpoint is required"])
    }
}
