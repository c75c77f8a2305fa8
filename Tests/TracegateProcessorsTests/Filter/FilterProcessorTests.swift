import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct FilterProcessorTests {
    func filter(_ yaml: String) -> (FilterProcessor, CollectingConsumer) {
        let (config, problems) = parseSettings(yaml, FilterProcessorConfig.read)
        #expect(problems == [])
        let out = CollectingConsumer()
        return (FilterProcessor(id: "filter/test", config: config, next: out), out)
    }

    let mixed = SpanBatch(resourceSpans: [
        testResource("checkout", [
            testSpan(1, name: "GET /health", kind: .server),
            testSpan(2, name: "charge", kind: .client, status: .error, attributes: [Attribute("http.status_code", .int(502))]),
            testSpan(3, name: "compute", kind: .internal),
        ]),
        testResource("frontend", [
            testSpan(4, name: "GET /ready", kind: .server, attributes: [Attribute("http.route", .string("/ready"))]),
            testSpan(5, name: "render", kind: .internal, status: .ok),
        ], extra: [Attribute("deployment.environment", .string("test"))]),
    ])

    @Test func dropsSpansMatchingAnyOfSeveralConditions() {
        let (f, out) = filter("""
            drop:
              any:
                - name: GET /health
                - attribute: { key: http.route, value: /ready }
                - { kind: internal, service: checkout }
            """)
        f.consume(mixed)
        #expect(out.batches.withLock { $0.map(\.spanNames) } == [["charge", "render"]])
        #expect(out.discarded.withLock { $0 } == 3)
    }

    @Test func matchesKindStatusServiceRegexAndNestedConditions() {
        let cases: [(String, [String])] = [
            ("drop: { kind: server }", ["charge", "compute", "render"]),
            ("drop: { status: error }", ["GET /health", "compute", "GET /ready", "render"]),
            ("drop: { service: frontend }", ["GET /health", "charge", "compute"]),
            ("drop: { service_regex: ^check }", ["GET /ready", "render"]),
            ("drop: { name_regex: \"^GET /(health|ready)$\" }", ["charge", "compute", "render"]),
            ("drop: { not: { status: error } }", ["charge"]),
            ("drop: { and: [ { kind: server }, { or: [ { service: frontend }, { status: ok } ] } ] }", ["GET /health", "charge", "compute", "render"]),
            ("drop: { attribute: { key: http.status_code, value: 502 } }", ["GET /health", "compute", "GET /ready", "render"]),
            ("drop: { attribute: { key: http.status_code, value: \"502\" } }", ["GET /health", "charge", "compute", "GET /ready", "render"]),
            ("drop: { attribute: { key: http.route, value_regex: ^/re } }", ["GET /health", "charge", "compute", "render"]),
            ("drop: { attribute: { key: http.route, exists: false } }", ["GET /ready"]),
            ("drop: { resource_attribute: { key: deployment.environment, value: test } }", ["GET /health", "charge", "compute"]),
        ]
        for (yaml, kept) in cases {
            let (f, out) = filter(yaml)
            f.consume(mixed)
            #expect(out.batches.withLock { $0.flatMap(\.spanNames) } == kept, "\(yaml)")
            #expect(out.discarded.withLock { $0 } == 5 - kept.count, "\(yaml)")
        }
    }

    @Test func removesEmptiedScopesAndResourcesAndPassesTheRestUntouched() {
        let (f, out) = filter("drop: { service: checkout }")
        f.consume(mixed)
        let result = out.batches.withLock { $0 }
        #expect(result.count == 1)
        #expect(result[0] == SpanBatch(resourceSpans: [mixed.resourceSpans[1]]))
    }

    @Test func emitsNothingWhenEverySpanIsDroppedButStillDiscardsThem() {
        let (f, out) = filter("drop: { name_regex: . }")
        f.consume(mixed)
        #expect(out.batches.withLock { $0.count } == 0)
        #expect(out.discarded.withLock { $0 } == 5)
    }

    @Test func passesDiscardsFromUpstreamOn() {
        let (f, out) = filter("drop: { name: x }")
        f.discard(4)
        #expect(out.discarded.withLock { $0 } == 4)
    }

    @Test func reportsConfigurationProblemsAtTheirLines() {
        let (_, problems) = parseSettings("""
            drop:
              any:
                - kind: sideways
                - status: broken
                - name_regex: "(unclosed"
                - attribute: { key: a }
                - attribute: { value: 1, value_regex: x }
                - colour: red
                - all: []
                - {}
                - plain
            extra: 1
            """, FilterProcessorConfig.read)
        #expect(problems.count == 11)
        #expect(problems[0] == "p.yaml:3: drop.any[0].kind: unknown span kind 'sideways'; expected one of unspecified, internal, server, client, producer, consumer")
        #expect(problems[1] == "p.yaml:4: drop.any[1].status: unknown status 'broken'; expected one of unset, ok, error")
        #expect(problems[2].hasPrefix("p.yaml:5: drop.any[2].name_regex: invalid regular expression '(unclosed': "))
        #expect(Array(problems[3...]) == [
            "p.yaml:6: drop.any[3].attribute: give exactly one of value, value_regex, exists",
            "p.yaml:7: drop.any[4].attribute: key is required",
            "p.yaml:7: drop.any[4].attribute: give exactly one of value, value_regex, exists",
            "p.yaml:8: drop.any[5].colour: unknown condition; expected one of any, or, all, and, not, name, name_regex, kind, status, service, service_regex, attribute, resource_attribute",
            "p.yaml:9: drop.any[6].all: must list at least one condition",
            "p.yaml:10: drop.any[7]: empty condition; use one of any, or, all, and, not, name, name_regex, kind, status, service, service_regex, attribute, resource_attribute",
            "p.yaml:11: drop.any[8]: expected a condition mapping such as {name: …}, {any: [...]}; keys: any, or, all, and, not, name, name_regex, kind, status, service, service_regex, attribute, resource_attribute",
            "p.yaml:12: extra: unknown key",
        ])
        #expect(parseSettings("{}", FilterProcessorConfig.read).1 == [
            "p.yaml:1: drop is required: the condition of the spans to drop, e.g. drop: { name: \"GET /health\" }"
        ])
    }
}
