import Testing
import TracegateCore
import TracegateProcessors
@testable import TracegateApp

/// The attributes, resource, filter and routing processors as read from a
/// whole configuration file, and the checks that span pipelines.
@Suite struct ProcessorConfigTests {
    func problems(_ yaml: String) -> [String] {
        do {
            _ = try TracegateConfig.parse(yaml: yaml, file: "gw.yaml", environment: [:])
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let header = """
        receivers:
          otlp: { protocols: { http: {} } }
        exporters:
          nop/a:
          nop/b:
          nop/c:

        """

    @Test func readsEveryProcessorType() throws {
        let config = try TracegateConfig.parse(
            yaml: Self.header + """
                processors:
                  attributes/redact:
                    actions: [ { key: user.email, action: hash } ]
                  resource:
                    attributes: [ { key: env, action: upsert, value: prod } ]
                  filter/health:
                    drop: { name: GET /health }
                  batch:
                    metadata_keys: [service.name]
                  routing:
                    from_attribute: service.name
                    table: [ { value: api, exporters: [nop/a] } ]
                    default_exporters: [nop/b]
                service:
                  pipelines:
                    traces:
                      receivers: [otlp]
                      processors: [attributes/redact, resource, filter/health, batch, routing]
                      exporters: [nop/a, nop/b]
                    traces/all:
                      receivers: [otlp]
                      exporters: [nop/c]
                """, file: "gw.yaml", environment: [:])
        guard let attrs = config.processors["attributes/redact"]?.config(as: AttributesProcessorConfig.self), let resource = config.processors["resource"]?.config(as: AttributesProcessorConfig.self),
            let filter = config.processors["filter/health"]?.config(as: FilterProcessorConfig.self), let routing = config.processors["routing"]?.config(as: RoutingProcessorConfig.self),
            let batch = config.processors["batch"]?.config(as: BatchProcessorConfig.self)
        else {
            Issue.record("processors missing: \(config.processors.keys.sorted())")
            return
        }
        #expect(attrs.applyTo == .span && attrs.actions == [AttributeAction(kind: .hash, key: "user.email")])
        #expect(resource.applyTo == .resource && resource.actions == [AttributeAction(kind: .upsert, key: "env", source: .value(.string("prod")))])
        #expect(filter.drop == .name("GET /health"))
        #expect(routing.fromAttribute == "service.name" && routing.table.map(\.exporters) == [["nop/a"]] && routing.defaultExporters == ["nop/b"])
        #expect(batch.metadataKeys == ["service.name"])
    }

    @Test func routingMustBeLastAndNameOnlyExportersOfItsPipeline() {
        let found = problems(Self.header + """
            processors:
              batch:
              routing:
                from_attribute: tenant
                table:
                  - value: acme
                    exporters: [nop/a, nop/c]
                default_exporters: [nop/b, nop/c]
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [routing, batch]
                  exporters: [nop/a, nop/b]
                traces/c:
                  receivers: [otlp]
                  exporters: [nop/c]
            """)
        #expect(found == [
            "gw.yaml:19: service.pipelines.traces.processors[0]: routing must be the last processor of the pipeline (it chooses the exporters)",
            "gw.yaml:13: processors.routing.table[0].exporters[1]: nop/c is not an exporter of pipeline traces (its exporters: nop/a, nop/b)",
            "gw.yaml:14: processors.routing.default_exporters[1]: nop/c is not an exporter of pipeline traces (its exporters: nop/a, nop/b)",
        ])
    }

    @Test func processorProblemsCarryTheirFullPath() {
        let found = problems(Self.header + """
            processors:
              attributes:
                actions: [ { key: a, action: shred } ]
              filter:
                drop: { kind: sideways }
            service:
              pipelines:
                traces: { receivers: [otlp], processors: [attributes, filter], exporters: [nop/a, nop/b, nop/c] }
            """)
        #expect(found == [
            "gw.yaml:9: processors.attributes.actions[0].action: unknown action 'shred'; expected one of insert, update, upsert, delete, hash, redact, truncate",
            "gw.yaml:11: processors.filter.drop.kind: unknown span kind 'sideways'; expected one of unspecified, internal, server, client, producer, consumer",
        ])
    }
}
