import Testing
import TracegateCore
import TracegateQuery
@testable import TracegateApp

@Suite struct ExtensionsConfigTests {
    static let pipelines = """
        receivers: { otlp: { protocols: { http: {} } } }
        exporters:
          postgres: { dsn: "host=primary" }
          postgres/other: { dsn: "host=other" }
          nop:
        """

    func parse(_ yaml: String) throws(ConfigErrors) -> TracegateConfig {
        try TracegateConfig.parse(yaml: yaml, file: "gw.yaml", environment: [:])
    }

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try parse(yaml)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func queryReadsThePipelinesPostgresDatabase() throws {
        let config = try parse(
            """
            receivers: { otlp: { protocols: { http: {} } } }
            exporters: { postgres: { dsn: "host=primary" } }
            extensions:
              query: { endpoint: "0.0.0.0:26686", max_connections: 2, query_timeout: 3s }
            service:
              extensions: [query]
              pipelines: { traces: { receivers: [otlp], exporters: [postgres] } }
            """)
        #expect(config.extensions.count == 1)
        let q = config.extensions[0].query
        #expect(q.dsn == "host=primary")
        #expect(q.host == "0.0.0.0" && q.port == 26686)
        #expect(q.maxConnections == 2 && q.queryTimeout == .seconds(3))
    }

    @Test func theDefaultsAreJaegersPortAndAFewConnections() throws {
        let q = QueryConfig()
        #expect(q.endpoint == "127.0.0.1:16686")
        #expect(q.maxConnections == 4 && q.queryTimeout == .seconds(10) && q.maxLimit == 1500)
    }

    @Test func severalPostgresExportersNeedOneNamed() throws {
        let yaml = Self.pipelines + """

            extensions: { query: {} }
            service:
              extensions: [query]
              pipelines: { traces: { receivers: [otlp], exporters: [postgres, postgres/other, nop] } }
            """
        #expect(problems(yaml) == [
            "gw.yaml:6: extensions.query: several postgres exporters (postgres, postgres/other); name one with exporter, or set dsn"
        ])
        let named = try parse(yaml.replacing("query: {}", with: "query: { exporter: postgres/other }"))
        #expect(named.extensions[0].query.dsn == "host=other")
        let own = try parse(yaml.replacing("query: {}", with: "query: { dsn: \"host=replica\" }"))
        #expect(own.extensions[0].query.dsn == "host=replica")
    }

    @Test func mistakesNameTheirKeyAndLine() {
        let yaml = """
            receivers: { otlp: { protocols: { http: {} } } }
            exporters: { nop: }
            extensions:
              query: { endpoint: nowhere }
              query/unused: { dsn: "host=x" }
              zpages: {}
            service:
              extensions: [query, health_check]
              pipelines: { traces: { receivers: [otlp], exporters: [nop] } }
            """
        #expect(problems(yaml) == [
            "gw.yaml:4: extensions.query.endpoint: expected host:port, got 'nowhere'",
            "gw.yaml:6: extensions.zpages: unknown extension type 'zpages'; known: query",
            "gw.yaml:8: service.extensions[1]: health_check is not defined in the top-level extensions section",
            "gw.yaml:5: extensions.query/unused: defined but not listed in service.extensions",
            "gw.yaml:4: extensions.query: no postgres exporter in the pipelines to read from; set dsn",
        ])
    }
}
