import Foundation
import Testing
@testable import TracegateApp

/// docs/configuration.md is the reference of every key. This suite reads it
/// and compares each component's key table with the keys the code asks for,
/// both ways, so that neither can change without the other.
@Suite struct ConfigReferenceTests {
    /// YAML bodies that reach a component's optional nested sections (an
    /// absent optional section is not read, so its keys would not be seen).
    static let samples: [String: String] = [
        "otlp": "{ protocols: { http: { tls: {} }, grpc: { tls: {} } }, auth: { bearer_tokens: [t] } }",
        "file": "{ rotation: {} }",
        "servicegraph": "{ store: {} }",
        "query": "{ auth: { bearer_tokens: [t] }, tls: {} }",
        "spanmetrics": "{ histogram: { explicit: {} }, dimensions: [ { name: a } ] }",
        // One policy of every type, and/composite with one sub-policy each.
        "tail_sampling": "{ policies: [ { name: a, type: always_sample }, { name: b, type: status_code }, { name: c, type: latency }, "
            + "{ name: d, type: string_attribute }, { name: e, type: numeric_attribute }, { name: f, type: boolean_attribute }, "
            + "{ name: g, type: span_count }, { name: h, type: probabilistic }, { name: i, type: rate_limiting }, "
            + "{ name: j, type: and, and: { and_sub_policy: [ { name: j1, type: always_sample } ] } }, "
            + "{ name: k, type: composite, composite: { policy_order: [k1], rate_allocation: [ { policy: k1, percent: 10 } ], "
            + "composite_sub_policy: [ { name: k1, type: always_sample } ] } } ] }",
    ]

    static let docsPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/configuration.md").path

    /// `section → component type → keys` from the tables of the reference.
    static func documentedKeys() throws -> [String: [String: Set<String>]] {
        try documentedDefaults().mapValues { $0.mapValues { Set($0.keys) } }
    }

    /// `section → component type → key → default cell` from the tables of the reference.
    static func documentedDefaults() throws -> [String: [String: [String: String]]] {
        let text = try String(contentsOfFile: docsPath, encoding: .utf8)
        var out: [String: [String: [String: String]]] = [:]
        var section = "", component = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                section = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
                component = ""
            } else if line.hasPrefix("### "), let open = line.firstIndex(of: "`") {
                let rest = line[line.index(after: open)...]
                component = String(rest.prefix { $0 != "`" })
            } else if line.hasPrefix("| `"), let key = line.dropFirst(3).split(separator: "`").first {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false)
                let cell = cells.count > 2 ? cells[2].trimmingCharacters(in: .whitespaces) : ""
                out[section, default: [:]][component, default: [:]][String(key)] = cell
            }
        }
        return out
    }

    /// Leaf keys only: a path that is the prefix of another is a section.
    static func leaves(_ keys: Set<String>) -> Set<String> {
        keys.filter { key in !keys.contains { $0.hasPrefix(key + ".") || $0.hasPrefix(key + "[]") } }
    }

    static func codeKeys(section: String, type: String) -> Set<String> {
        let body = samples[type] ?? "{}"
        let yaml = "\(section):\n  \(type): \(body)\n"
        let prefix = "\(section).\(type)."
        let asked = TracegateConfig.askedKeyPaths(yaml: yaml)
            .filter { $0.hasPrefix(prefix) }
            .map { String($0.dropFirst(prefix.count)).replacing(/\[\d+\]/, with: "[]") }
        return leaves(Set(asked))
    }

    static let components: [(section: String, type: String)] =
        ComponentRegistry.receivers.map { ("receivers", $0.type) } + ComponentRegistry.processors.map { ("processors", $0.type) }
        + ComponentRegistry.exporters.map { ("exporters", $0.type) }

    @Test(arguments: components.map { "\($0.section)/\($0.type)" })
    func componentKeysMatchTheReference(_ name: String) throws {
        let (section, type) = (String(name.split(separator: "/")[0]), String(name.split(separator: "/")[1]))
        let documented = Self.leaves(try Self.documentedKeys()[section]?[type] ?? [])
        let code = Self.codeKeys(section: section, type: type)
        #expect(code.subtracting(documented).sorted() == [], "keys read by the code but missing from docs/configuration.md (## \(section), ### `\(type)`)")
        #expect(documented.subtracting(code).sorted() == [], "keys in docs/configuration.md (## \(section), ### `\(type)`) that the code does not read")
    }

    /// The `values` of a default cell (`` `30s` (off) `` → `30s`; a default
    /// that depends on another key names each: `` `4317` with `otlp`, `4318` … ``).
    static func defaultTokens(_ cell: String) -> [String] {
        let parts = cell.split(separator: "`", omittingEmptySubsequences: false)
        return stride(from: 1, to: parts.count, by: 2).map { parts[$0] == "\"\"" ? "" : String(parts[$0]) }
    }

    /// Every default a reader falls back to is the one docs/configuration.md
    /// names, read with the key's own parser (`1m` and `60s` are the same).
    @Test(arguments: components.map { "\($0.section)/\($0.type)" } + ["extensions/query"])
    func componentDefaultsMatchTheReference(_ name: String) throws {
        let (section, type) = (String(name.split(separator: "/")[0]), String(name.split(separator: "/")[1]))
        let documented = try Self.documentedDefaults()[section]?[type] ?? [:]
        let yaml = "\(section):\n  \(type): \(Self.samples[type] ?? "{}")\n"
        let prefix = "\(section).\(type)."
        var wrong: [String] = []
        for (path, value) in TracegateConfig.askedDefaults(yaml: yaml) where path.hasPrefix(prefix) {
            let key = String(path.dropFirst(prefix.count)).replacing(/\[\d+\]/, with: "[]")
            guard let cell = documented[key] else { continue }  // a missing key is the other test's finding
            // A required key's reader falls back to a placeholder it then refuses.
            if cell.hasPrefix("required") { continue }
            if !Self.defaultTokens(cell).contains(where: { value.matches($0) }) {
                wrong.append("\(key): code \(value), docs \(cell)")
            }
        }
        #expect(wrong.sorted() == [], "defaults in docs/configuration.md (## \(section), ### `\(type)`) that differ from the code")
    }

    @Test func extensionKeysMatchTheReference() throws {
        let documented = Self.leaves(try Self.documentedKeys()["extensions"]?["query"] ?? [])
        let code = Self.codeKeys(section: "extensions", type: "query")
        #expect(!code.isEmpty)
        #expect(code.subtracting(documented).sorted() == [], "query keys read by the code but missing from docs/configuration.md")
        #expect(documented.subtracting(code).sorted() == [], "query keys in docs/configuration.md that the code does not read")
    }

    @Test func serviceKeysMatchTheReference() throws {
        let yaml = "service:\n  pipelines:\n    traces: {}\n"
        let asked = TracegateConfig.askedKeyPaths(yaml: yaml)
            .filter { $0.hasPrefix("service.") }
            .map { String($0.dropFirst("service.".count)) }
        let code = Set(Self.leaves(Set(asked)).map { $0.replacing("pipelines.traces.", with: "pipelines.traces[/name].") })
        let documented = Self.leaves(try Self.documentedKeys()["service"]?[""] ?? [])
        #expect(code.subtracting(documented).sorted() == [], "service keys read by the code but missing from docs/configuration.md")
        #expect(documented.subtracting(code).sorted() == [], "service keys in docs/configuration.md that the code does not read")

        let cells = try Self.documentedDefaults()["service"]?[""] ?? [:]
        var wrong: [String] = []
        for (path, value) in TracegateConfig.askedDefaults(yaml: yaml) where path.hasPrefix("service.") {
            let key = String(path.dropFirst("service.".count))
            guard let cell = cells[key], !cell.hasPrefix("required") else { continue }
            if !Self.defaultTokens(cell).contains(where: { value.matches($0) }) { wrong.append("\(key): code \(value), docs \(cell)") }
        }
        #expect(wrong.sorted() == [], "service defaults in docs/configuration.md that differ from the code")
    }
}
