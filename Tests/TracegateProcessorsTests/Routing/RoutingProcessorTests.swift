import Logging
import Synchronization
import Testing
import TracegateCore
@testable import TracegateProcessors

/// A sink of our own exporter interface that keeps what it was given: the
/// routing and the real sending queues in front of it are under test.
final class KeepingExporter: SpanExporter {
    let id: String
    let kept = Mutex<[SpanBatch]>([])
    init(id: String) { self.id = id }
    func export(_ batch: SpanBatch) throws(ExportFailure) { kept.withLock { $0.append(batch) } }
    func close() {}
    var spanNames: [String] { kept.withLock { $0.flatMap(\.spanNames) }.sorted() }
}

@Suite struct RoutingProcessorTests {
    func routing(_ yaml: String, exporters: [String]) -> (RoutingProcessor, [String: CollectingConsumer]) {
        let (config, problems) = parseSettings(yaml, RoutingProcessorConfig.read)
        #expect(problems == [])
        let outs = Dictionary(uniqueKeysWithValues: exporters.map { ($0, CollectingConsumer()) })
        return (RoutingProcessor(id: "routing", config: config, exporters: exporters.map { ($0, outs[$0]! as any SpanConsumer) }), outs)
    }

    let tenants = SpanBatch(resourceSpans: [
        testResource("checkout", [testSpan(1, name: "a1"), testSpan(2, name: "a2")], extra: [Attribute("tenant", .string("acme"))]),
        testResource("search", [testSpan(3, name: "b1")], extra: [Attribute("tenant", .string("globex"))]),
        testResource("mail", [testSpan(4, name: "c1")]),
    ])

    @Test func routesWholeResourcesByAResourceAttributeWithADefault() {
        let (r, outs) = routing("""
            from_attribute: tenant
            table:
              - { value: acme, exporters: [pg/acme] }
              - { value: globex, exporters: [pg/globex, archive] }
            default_exporters: [archive]
            """, exporters: ["pg/acme", "pg/globex", "archive"])
        r.consume(tenants)
        #expect(outs["pg/acme"]!.batches.withLock { $0.map(\.spanNames) } == [["a1", "a2"]])
        #expect(outs["pg/globex"]!.batches.withLock { $0.map(\.spanNames) } == [["b1"]])
        #expect(outs["archive"]!.batches.withLock { $0.map(\.spanNames) } == [["b1", "c1"]])
        #expect(outs["pg/acme"]!.discarded.withLock { $0 } == 2)
        #expect(outs["pg/globex"]!.discarded.withLock { $0 } == 3)
        #expect(outs["archive"]!.discarded.withLock { $0 } == 2)
        // The resource and scope travel with the spans.
        #expect(outs["pg/acme"]!.batches.withLock { $0[0].resourceSpans } == [tenants.resourceSpans[0]])
    }

    @Test func routesSingleSpansByASpanAttributeKeepingResourceAndScope() {
        let (r, outs) = routing("""
            from_attribute: customer.id
            attribute_source: span
            table: [ { value: 7, exporters: [seven] } ]
            """, exporters: ["seven", "other"])
        r.consume(SpanBatch(resourceSpans: [
            testResource("api", [
                testSpan(1, name: "x", attributes: [Attribute("customer.id", .int(7))]),
                testSpan(2, name: "y", attributes: [Attribute("customer.id", .int(8))]),
                testSpan(3, name: "z", attributes: [Attribute("customer.id", .int(7))]),
            ])
        ]))
        let seven = outs["seven"]!.batches.withLock { $0 }
        #expect(seven.map(\.spanNames) == [["x", "z"]])
        #expect(seven[0].resourceSpans[0].resource.serviceName == "api")
        #expect(seven[0].resourceSpans[0].scopeSpans[0].scope.name == "lib")
        #expect(outs["seven"]!.discarded.withLock { $0 } == 1)
        // No default: the unrouted span is discarded everywhere, "other" gets nothing.
        #expect(outs["other"]!.batches.withLock { $0.count } == 0)
        #expect(outs["other"]!.discarded.withLock { $0 } == 3)
    }

    @Test func everyQueueReservationReturnsToZeroAfterFilteringAndRouting() async throws {
        let logger = Logger(label: "test")
        let names = ["postgres/acme", "postgres/globex", "postgres/rest"]
        let exporters = names.map(KeepingExporter.init)
        let queues = exporters.map { SendingQueue(exporter: $0, config: SendingQueueConfig(numConsumers: 1, queueSize: 100), retry: RetryPolicy(), logger: logger) }
        let (routingConfig, p1) = parseSettings("""
            from_attribute: tenant
            table: [ { value: acme, exporters: [postgres/acme] }, { value: globex, exporters: [postgres/globex] } ]
            default_exporters: [postgres/rest]
            """, RoutingProcessorConfig.read)
        let (filterConfig, p2) = parseSettings("drop: { name: a2 }", FilterProcessorConfig.read)
        #expect(p1 + p2 == [])
        let router = RoutingProcessor(id: "routing", config: routingConfig, exporters: zip(names, queues).map { ($0, $1 as any SpanConsumer) })
        let pipeline = Pipeline(id: "traces", entry: FilterProcessor(id: "filter", config: filterConfig, next: router), queues: queues)
        let ingress = PipelineIngress(pipelines: [pipeline])

        #expect(ingress.offerAndWait(tenants) == .accepted)
        for queue in queues { #expect(queue.currentStats.reservedSpans <= 4) }
        for queue in queues { queue.start() }
        // The drain returns once every exported span gave its room back: no
        // waiting on the consumer threads here.
        for queue in queues { await queue.shutdown(deadline: .now + .seconds(5)) }
        #expect(exporters.map(\.spanNames) == [["a1"], ["b1"], ["c1"]])
        #expect(queues.map { $0.currentStats.reservedSpans } == [0, 0, 0])
    }

    @Test func reportsConfigurationProblems() {
        let (_, problems) = parseSettings("""
            attribute_source: context
            table:
              - { value: a, exporters: [x] }
              - { value: a, exporters: [y] }
              - { exporters: [] }
              - { value: b, exporter: [z] }
            default_exporters: none
            """, RoutingProcessorConfig.read)
        #expect(problems == [
            "p.yaml:1: from_attribute is required: the attribute that picks the route, e.g. service.name",
            "p.yaml:1: attribute_source: expected resource or span; got 'context'",
            "p.yaml:4: table[1].value: 'a' is routed twice",
            "p.yaml:5: table[2]: value is required",
            "p.yaml:5: table[2].exporters: must not be empty",
            "p.yaml:6: table[3].exporter: unknown key",
            "p.yaml:6: table[3]: exporters is required",
            "p.yaml:7: default_exporters: expected a list",
        ])
    }
}
