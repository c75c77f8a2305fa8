import Testing
import TracegateCore
@testable import TracegateProcessors

@Suite struct AttributesProcessorTests {
    func processor(_ yaml: String, resource: Bool = false) -> AttributesProcessor {
        let (config, problems) = parseSettings(yaml, resource ? AttributesProcessorConfig.readResource : AttributesProcessorConfig.read)
        #expect(problems == [])
        return AttributesProcessor(config: config, next: CollectingConsumer())
    }

    func run(_ p: AttributesProcessor, _ attributes: [Attribute]) -> [Attribute] {
        var a = attributes
        p.apply(to: &a)
        return a
    }

    @Test func insertAddsOnlyMissingKeysAndUpdateChangesOnlyPresentOnes() {
        let p = processor("""
            actions:
              - { key: env, action: insert, value: prod }
              - { key: region, action: insert, value: eu }
              - { key: retries, action: update, value: 3 }
              - { key: missing, action: update, value: x }
              - { key: ratio, action: upsert, value: 0.5 }
              - { key: flag, action: upsert, value: true }
              - { key: copy, action: upsert, from_attribute: env }
              - { key: quoted, action: insert, value: "42" }
            """)
        let out = run(p, [Attribute("env", .string("dev")), Attribute("retries", .int(1))])
        #expect(out == [
            Attribute("env", .string("dev")), Attribute("retries", .int(3)), Attribute("region", .string("eu")),
            Attribute("ratio", .double(0.5)), Attribute("flag", .bool(true)), Attribute("copy", .string("dev")),
            Attribute("quoted", .string("42")),
        ])
    }

    @Test func deleteHashAndRedactByKeyAndByPattern() {
        let p = processor("""
            actions:
              - { key: password, action: delete }
              - { pattern: "^http\\\\.request\\\\.header\\\\.", action: delete }
              - { key: user.email, action: hash }
              - { pattern: token$, action: redact }
              - { key: card, action: redact, redacted_value: "${env:SECRET_MASK}" }
            """)
        let out = run(p, [
            Attribute("password", .string("hunter2")), Attribute("http.request.header.authorization", .string("Bearer x")),
            Attribute("http.request.header.cookie", .string("a=b")), Attribute("http.route", .string("/x")),
            Attribute("user.email", .string("a@b.c")), Attribute("api_token", .string("t1")), Attribute("refresh_token", .int(9)),
            Attribute("card", .string("4111")),
        ])
        let emailHash = referenceSHA256("a@b.c")
        #expect(out == [
            Attribute("http.route", .string("/x")), Attribute("user.email", .string(emailHash)),
            Attribute("api_token", .string("[REDACTED]")), Attribute("refresh_token", .string("[REDACTED]")),
            Attribute("card", .string("***")),
        ])
    }

    @Test func hashOfANonStringHashesItsTextForm() {
        let p = processor("actions: [ { key: user.id, action: hash } ]")
        let out = run(p, [Attribute("user.id", .int(12345))])
        #expect(out == [Attribute("user.id", .string(referenceSHA256("12345")))])
    }

    @Test func truncateCutsAtACharacterBoundaryAndKeepsTheHashOfTheFullValue() {
        let p = processor("actions: [ { pattern: ^db\\., action: truncate, max_bytes: 6 } ]")
        let long = "abcdé€xyz"  // é is 2 bytes at 4..5, € 3 bytes at 6..8
        let out = run(p, [
            Attribute("db.statement", .string(long)), Attribute("db.short", .string("abc")), Attribute("db.cut", .string("abcd€")),
            Attribute("other", .string(long)),
        ])
        let full = referenceSHA256(long)
        #expect(out == [
            Attribute("db.statement", .string("abcdé")), Attribute("db.short", .string("abc")), Attribute("db.cut", .string("abcd")),
            Attribute("other", .string(long)),
            Attribute("db.statement.sha256", .string("sha256:" + full)), Attribute("db.statement.original_length", .int(12)),
            Attribute("db.cut.sha256", .string("sha256:" + referenceSHA256("abcd€"))),
            Attribute("db.cut.original_length", .int(7)),
        ])
    }

    @Test func appliesToSpansByDefaultAndToResourcesWhenAsked() {
        let batch = SpanBatch(resourceSpans: [
            testResource("api", [testSpan(1, attributes: [Attribute("secret", .string("s"))])], extra: [Attribute("secret", .string("r"))])
        ])
        for (applyTo, spanValue, resourceValue) in [("span", "x", "r"), ("resource", "s", "x"), ("both", "x", "x")] {
            let out = CollectingConsumer()
            let (config, problems) = parseSettings(
                "actions: [ { key: secret, action: redact, redacted_value: x } ]\napply_to: \(applyTo)\n", AttributesProcessorConfig.read)
            #expect(problems == [])
            AttributesProcessor(config: config, next: out).consume(batch)
            let result = out.batches.withLock { $0[0] }
            #expect(result.resourceSpans[0].scopeSpans[0].spans[0].attributes[key: "secret"] == .string(spanValue))
            #expect(result.resourceSpans[0].resource.attributes[key: "secret"] == .string(resourceValue))
        }
    }

    @Test func theResourceProcessorChangesResourceAttributes() {
        let out = CollectingConsumer()
        let (config, problems) = parseSettings(
            "attributes: [ { key: deployment.environment, action: upsert, value: staging }, { key: host.name, action: delete } ]",
            AttributesProcessorConfig.readResource)
        #expect(problems == [])
        #expect(config.applyTo == .resource)
        AttributesProcessor(config: config, next: out).consume(SpanBatch(resourceSpans: [
            testResource("api", [testSpan(1, attributes: [Attribute("host.name", .string("span-level"))])], extra: [Attribute("host.name", .string("h1"))])
        ]))
        let result = out.batches.withLock { $0[0] }
        #expect(result.resourceSpans[0].resource.attributes == [
            Attribute("service.name", .string("api")), Attribute("deployment.environment", .string("staging")),
        ])
        #expect(result.resourceSpans[0].scopeSpans[0].spans[0].attributes == [Attribute("host.name", .string("span-level"))])
    }

    @Test func reportsEveryConfigurationProblemAtItsLine() {
        let (_, problems) = parseSettings("""
            actions:
              - { key: a, action: explode }
              - { pattern: "([a-", action: delete }
              - { pattern: x, action: upsert, value: 1 }
              - { key: b, action: insert }
              - { key: c, action: delete, value: 1 }
              - { key: d, action: truncate }
              - { key: e, action: hash, max_bytes: 3, colour: red }
              - { action: redact }
              - { key: f, pattern: g, action: redact }
              - { key: h, action: upsert, value: 1, from_attribute: i }
            apply_to: everything
            """, AttributesProcessorConfig.read)
        #expect(problems.count == 13)
        #expect(problems[0] == "p.yaml:2: actions[0].action: unknown action 'explode'; expected one of insert, update, upsert, delete, hash, redact, truncate")
        #expect(problems[1].hasPrefix("p.yaml:3: actions[1].pattern: invalid regular expression '([a-': "))
        #expect(Array(problems[2...]) == [
            "p.yaml:4: actions[2].pattern: upsert needs an exact key; pattern is only for delete, hash, redact and truncate",
            "p.yaml:4: actions[2]: key is required by upsert",
            "p.yaml:5: actions[3]: insert needs value or from_attribute",
            "p.yaml:6: actions[4].value: is only used by insert, update and upsert",
            "p.yaml:7: actions[5]: max_bytes is required by truncate",
            "p.yaml:8: actions[6].colour: unknown key",
            "p.yaml:8: actions[6].max_bytes: is only used by truncate",
            "p.yaml:9: actions[7]: key or pattern is required by redact",
            "p.yaml:10: actions[8].pattern: give either key or pattern, not both",
            "p.yaml:11: actions[9].from_attribute: give either value or from_attribute, not both",
            "p.yaml:12: apply_to: expected span, resource or both; got 'everything'",
        ])
        let (_, more) = parseSettings("apply_to: everything\n", AttributesProcessorConfig.read)
        #expect(more == [
            "p.yaml:1: actions is required: a list of {key or pattern, action, …}",
            "p.yaml:1: apply_to: expected span, resource or both; got 'everything'",
        ])
    }
}
