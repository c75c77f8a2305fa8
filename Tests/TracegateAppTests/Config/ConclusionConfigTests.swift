import Testing
import TracegateCore
import TracegateExporters
@testable import TracegateApp

/// How a `conclusion` exporter with the postgres store is tied to the
/// postgres exporter of its pipeline.
@Suite struct ConclusionConfigTests {
    func parse(_ exporters: String, pipeline: String) throws(ConfigErrors) -> TracegateConfig {
        try TracegateConfig.parse(
            yaml: """
                receivers:
                  otlp: { protocols: { http: { endpoint: "127.0.0.1:0" } } }
                exporters:
                \(exporters)
                service:
                  pipelines:
                    traces: { receivers: [otlp], exporters: [\(pipeline)] }
                """, file: "gw.yaml", environment: [:])
    }

    func problems(_ exporters: String, pipeline: String) -> [String] {
        do {
            _ = try parse(exporters, pipeline: pipeline)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func takesTheDSNOfThePipelinesPostgresExporter() throws {
        let config = try parse(
            """
              postgres: { dsn: "host=db dbname=t" }
              conclusion/hook: { endpoint: "http://127.0.0.1:3000/hook" }
            """, pipeline: "postgres, conclusion/hook")
        guard let c = config.exporters["conclusion/hook"]?.config(as: ConclusionExporterConfig.self) else {
            Issue.record("conclusion exporter missing")
            return
        }
        #expect(c.dsn == "host=db dbname=t")
    }

    @Test func refusesThePostgresStoreWithoutAPostgresExporter() {
        #expect(
            problems("  conclusion/hook: { endpoint: \"http://127.0.0.1:3000/hook\" }", pipeline: "conclusion/hook") == [
                "gw.yaml:4: exporters.conclusion/hook: store: postgres needs a postgres exporter in pipeline traces: conclusion reads the traces table it writes (or use store: memory)"
            ])
        #expect(problems("  conclusion/hook: { endpoint: \"http://127.0.0.1:3000/hook\", store: memory }", pipeline: "conclusion/hook") == [])
    }

    @Test func refusesADSNNoPipelineExporterWritesTo() {
        let found = problems(
            """
              postgres: { dsn: "host=db dbname=t" }
              conclusion/hook: { endpoint: "http://127.0.0.1:3000/hook", dsn: "host=other" }
            """, pipeline: "postgres, conclusion/hook")
        #expect(found.count == 1 && found[0].contains("exporters.conclusion/hook.dsn: no postgres exporter of pipeline traces writes to this database"))
    }

    @Test func refusesTwoPostgresStoreConclusionExportersOnOneDatabase() {
        let found = problems(
            """
              postgres: { dsn: "host=db dbname=t" }
              conclusion/a: { endpoint: "http://127.0.0.1:3000/a" }
              conclusion/b: { endpoint: "http://127.0.0.1:3000/b" }
            """, pipeline: "postgres, conclusion/a, conclusion/b")
        #expect(found.count == 1 && found[0].contains("conclusion/a already concludes the traces of this database"))
    }
}
