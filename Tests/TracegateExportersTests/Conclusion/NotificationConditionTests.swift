import Testing
import TracegateCore
@testable import TracegateExporters

@Suite struct NotificationConditionTests {
    static func trace(errors: Int = 0, durationMs: Double = 10, spans: Int = 3, root: String? = "GET /", complete: Bool = true) -> TraceConclusion {
        TraceConclusion(
            traceID: String(repeating: "a", count: 32), rootName: root, rootService: "web", services: ["db", "web"], spanCount: spans,
            errorCount: errors, start: "", end: "", durationMs: durationMs, status: errors > 0 ? "error" : "ok", complete: complete,
            missingParents: [], updated: false)
    }

    static func read(_ yaml: String) -> (NotificationCondition?, [String]) {
        let diagnostics = ConfigDiagnostics(file: "gw.yaml", environment: [:])
        let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics)!
        return (NotificationCondition.read(root.map("when")), diagnostics.problems.map(\.description))
    }

    @Test func readsTheConditionsAndTheirCombinations() {
        let (condition, problems) = Self.read(
            """
            when:
              any:
                - { errors: true }
                - { duration_over: 2s }
                - all: [ { root_service: web }, { not: { complete: true } } ]
                - { attribute: { key: http.status_code, value: 500 } }
                - { span_count_over: 100 }
                - { service: db }
                - { root_name: GET / }
            """)
        #expect(problems == [])
        #expect(
            condition
                == .any([
                    .errors(true), .durationOver(.seconds(2)), .all([.rootService("web"), .not(.complete(true))]),
                    .attribute(key: "http.status_code", value: "500"), .spanCountOver(100), .service("db"), .rootName("GET /"),
                ]))
        #expect(condition?.attributeTests == [AttributeTest(key: "http.status_code", value: "500")])
    }

    @Test func matchesOnTheConcludedTrace() {
        let slowOrFailed = NotificationCondition.any([.errors(true), .durationOver(.seconds(2))])
        #expect(slowOrFailed.matches(Self.trace(errors: 1), hasAttribute: { _ in false }))
        #expect(slowOrFailed.matches(Self.trace(durationMs: 2500), hasAttribute: { _ in false }))
        #expect(!slowOrFailed.matches(Self.trace(durationMs: 2000), hasAttribute: { _ in false }))
        #expect(NotificationCondition.all([.service("db"), .not(.complete(false))]).matches(Self.trace(), hasAttribute: { _ in false }))
        #expect(!NotificationCondition.rootName("GET /").matches(Self.trace(root: nil), hasAttribute: { _ in false }))
        let tenant = NotificationCondition.attribute(key: "tenant", value: "acme")
        #expect(tenant.matches(Self.trace(), hasAttribute: { $0 == AttributeTest(key: "tenant", value: "acme") }))
        #expect(!tenant.matches(Self.trace(), hasAttribute: { _ in false }))
    }

    @Test func attributesMatchByTheirText() {
        let test = AttributeTest(key: "code", value: "500")
        #expect(test.matches([Attribute("code", .int(500))]))
        #expect(test.matches([Attribute("code", .string("500"))]))
        #expect(!test.matches([Attribute("code", .int(404))]))
        #expect(!test.matches([]))
    }

    @Test func reportsUnknownAndAmbiguousConditionsWithTheirLines() {
        let (_, problems) = Self.read("when:\n  sometimes: true\n")
        #expect(problems.count == 1 && problems[0].hasPrefix("gw.yaml:2: when.sometimes: unknown condition"))
        let (_, two) = Self.read("when: { errors: true, complete: false }\n")
        #expect(two.count == 1 && two[0].contains("expected exactly one of"))
    }
}
