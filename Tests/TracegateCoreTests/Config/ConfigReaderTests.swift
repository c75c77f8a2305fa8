import Testing
@testable import TracegateCore

@Suite struct ConfigReaderTests {
    func read(_ yaml: String, env: [String: String] = [:], _ body: (ConfigMap) -> Void) -> [String] {
        let diagnostics = ConfigDiagnostics(file: "t.yaml", environment: env)
        if let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) { body(root) }
        return diagnostics.problems.map(\.description)
    }

    @Test func reportsUnknownKeysWithFileLineAndPath() {
        let problems = read("""
            a:
              known: 1
              typo: 2
            """) { root in
            let a = root.map("a")
            _ = a.int("known", default: 0)
            a.finish()
            root.finish()
        }
        #expect(problems == ["t.yaml:3: a.typo: unknown key"])
    }

    @Test func reportsEveryTypeErrorAtOnce() {
        let problems = read("""
            n: many
            d: soon
            s: lots
            b: maybe
            """) { root in
            _ = root.int("n", default: 0)
            _ = root.duration("d", default: .zero)
            _ = root.byteSize("s", default: 0)
            _ = root.bool("b", default: false)
            root.finish()
        }
        #expect(problems.count == 4)
        #expect(problems[0] == "t.yaml:1: n: expected an integer, got 'many'")
        #expect(problems[1].hasPrefix("t.yaml:2: d: expected a duration"))
        #expect(problems[2].hasPrefix("t.yaml:3: s: expected a size"))
        #expect(problems[3] == "t.yaml:4: b: expected true or false, got 'maybe'")
    }

    @Test func substitutesEnvironmentVariablesWithDefaults() {
        var values: [String?] = []
        let problems = read("""
            a: ${env:HOST}:${env:PORT:-4318}
            b: ${env:MISSING:-fallback}
            c: $${env:NOT_SUBSTITUTED}
            """, env: ["HOST": "example"]) { root in
            values = [root.string("a"), root.string("b"), root.string("c")]
            root.finish()
        }
        #expect(problems.isEmpty)
        #expect(values == ["example:4318", "fallback", "${env:NOT_SUBSTITUTED}"])
    }

    @Test func reportsInvalidYAMLWithItsLine() {
        let problems = read("a: [1, 2\nb: 3\n") { _ in }
        #expect(problems.count == 1)
        #expect(problems[0].hasPrefix("t.yaml:"))
        #expect(problems[0].contains("invalid YAML"))
    }

    @Test func parsesDurationsAndSizes() {
        #expect(DurationParser.parse("200ms") == .milliseconds(200))
        #expect(DurationParser.parse("1m30s") == .seconds(90))
        #expect(DurationParser.parse("30d") == .seconds(30 * 86400))
        #expect(DurationParser.parse("0") == .zero)
        #expect(DurationParser.parse("5") == nil)
        #expect(DurationParser.parse("5 parsecs") == nil)
        #expect(ByteSizeParser.parse("4MiB") == 4 << 20)
        #expect(ByteSizeParser.parse("512KiB") == 512 << 10)
        #expect(ByteSizeParser.parse("1000") == 1000)
        #expect(ByteSizeParser.parse("3MB") == 3_000_000)
        #expect(ByteSizeParser.parse("big") == nil)
    }
}
