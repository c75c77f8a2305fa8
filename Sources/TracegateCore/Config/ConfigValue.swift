/// A node of the YAML configuration together with where it is and what it is
/// called, so that every reading method can report a problem with
/// `file:line: path`. Reading a mapping records which keys were used;
/// `finish()` reports the rest as unknown.
public final class ConfigMap {
    public let path: String
    /// Line of the key that holds this mapping (or of the mapping itself).
    public let line: Int
    public let diagnostics: ConfigDiagnostics
    private let entries: [(key: String, keyLine: Int, value: YAMLNode)]
    private var used: Set<String> = []

    init(path: String, node: YAMLNode?, keyLine: Int = 0, diagnostics: ConfigDiagnostics) {
        self.path = path
        self.diagnostics = diagnostics
        self.line = keyLine > 0 ? keyLine : (node?.mark.line ?? 0)
        var entries: [(String, Int, YAMLNode)] = []
        switch node {
        case .mapping(let mapping, _, _)?:
            for (k, v) in mapping {
                guard let key = k.scalar?.string else {
                    diagnostics.report(line: k.mark.line, path: path, "keys must be plain strings")
                    continue
                }
                entries.append((key, k.mark.line, v))
            }
        case nil:
            break
        case .scalar(let s)? where s.string.isEmpty || s.tag == "tag:yaml.org,2002:null" || s.string == "~" || s.string == "null":
            break  // `key:` with nothing after it means an empty section, as in the collector
        default:
            diagnostics.report(line: node?.mark.line ?? 0, path: path, "expected a mapping")
        }
        self.entries = entries
    }

    /// Parses YAML text into the root mapping.
    public static func parse(yaml: String, diagnostics: ConfigDiagnostics) -> ConfigMap? {
        do {
            let node = try YAMLComposer.compose(yaml)
            return ConfigMap(path: "", node: node, diagnostics: diagnostics)
        } catch {
            switch error {
            case .syntax(let context, let problem, let line):
                let prefix = context.map { "\($0) " } ?? ""
                diagnostics.report(line: line, path: "", "invalid YAML: \(prefix)\(problem)")
            case .duplicateKeys(let duplicates):
                // The composer names the keys, not where they repeat: find the repeated key's line.
                for key in duplicates.sorted() {
                    diagnostics.report(line: secondOccurrence(of: key, in: yaml), path: key, "duplicate key")
                }
            case .other(let message):
                diagnostics.report(line: 0, path: "", "invalid YAML: \(message)")
            }
        }
        return nil
    }

    /// The line where `key:` appears for the second time (0 when not found).
    private static func secondOccurrence(of key: String, in yaml: String) -> Int {
        var seen = 0
        for (i, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "-" }
            if trimmed.hasPrefix("\(key):") || trimmed.hasPrefix("\"\(key)\":") || trimmed.hasPrefix("'\(key)':") {
                seen += 1
                if seen == 2 { return i + 1 }
            }
        }
        return 0
    }

    static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : "\(a).\(b)" }

    /// Keys present in this mapping, in file order.
    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }

    public func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The raw value for a key, marking it used.
    public func value(_ key: String) -> ConfigValue? {
        diagnostics.asked(Self.join(path, key))
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        used.insert(key)
        return ConfigValue(path: Self.join(path, key), node: entry.value, keyLine: entry.keyLine, diagnostics: diagnostics)
    }

    /// A nested mapping; an absent key gives an empty mapping so defaults apply.
    public func map(_ key: String) -> ConfigMap {
        let v = value(key)
        return ConfigMap(path: Self.join(path, key), node: v?.node, keyLine: v?.keyLine ?? line, diagnostics: diagnostics)
    }

    /// The line of `key` inside the mapping held by `section` (0 if absent).
    public func line(ofKey key: String, in section: String) -> Int {
        guard let entry = entries.first(where: { $0.key == section }), case .mapping(let m, _, _) = entry.value else { return 0 }
        for (k, _) in m where k.scalar?.string == key { return k.mark.line }
        return 0
    }

    public func string(_ key: String, default def: String) -> String {
        diagnostics.asked(Self.join(path, key), default: .string(def))
        return value(key)?.string() ?? def
    }
    public func string(_ key: String) -> String? { value(key)?.string() }
    public func bool(_ key: String, default def: Bool) -> Bool {
        diagnostics.asked(Self.join(path, key), default: .bool(def))
        return value(key)?.bool() ?? def
    }
    public func int(_ key: String, default def: Int, range: ClosedRange<Int> = Int.min...Int.max) -> Int {
        diagnostics.asked(Self.join(path, key), default: .int(def))
        return value(key)?.int(range: range) ?? def
    }
    public func duration(_ key: String, default def: Duration) -> Duration {
        diagnostics.asked(Self.join(path, key), default: .duration(def))
        return value(key)?.duration() ?? def
    }
    public func byteSize(_ key: String, default def: Int) -> Int {
        diagnostics.asked(Self.join(path, key), default: .byteSize(def))
        return value(key)?.byteSize() ?? def
    }
    public func stringList(_ key: String) -> [(String, Int)]? { value(key)?.stringList() }

    /// Reports a problem about this mapping or one of its keys.
    public func report(_ key: String?, _ message: String) {
        if let key, let entry = entries.first(where: { $0.key == key }) {
            diagnostics.report(line: entry.keyLine, path: Self.join(path, key), message)
        } else {
            diagnostics.report(line: line, path: key.map { Self.join(path, $0) } ?? path, message)
        }
    }

    /// Reports every key that no reader asked for.
    public func finish() {
        for entry in entries where !used.contains(entry.key) {
            diagnostics.report(line: entry.keyLine, path: Self.join(path, entry.key), "unknown key")
        }
    }
}

/// One value of the configuration, with typed readers that report problems.
public struct ConfigValue {
    public let path: String
    let node: YAMLNode
    public let keyLine: Int
    let diagnostics: ConfigDiagnostics

    public var line: Int { node.mark.line }

    func report(_ message: String) { diagnostics.report(line: line, path: path, message) }

    /// The scalar text after `${env:VAR}` / `${env:VAR:-default}` substitution.
    public func string() -> String? {
        guard case .scalar(let scalar) = node else {
            report("expected a single value")
            return nil
        }
        do {
            return try EnvSubstitution.apply(scalar.string, environment: diagnostics.environment)
        } catch {
            report("\(error)")
            return nil
        }
    }

    public func bool() -> Bool? {
        guard let s = string() else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            report("expected true or false, got '\(s)'")
            return nil
        }
    }

    public func int(range: ClosedRange<Int> = Int.min...Int.max) -> Int? {
        guard let s = string() else { return nil }
        guard let v = Int(s.replacingUnderscores) else {
            report("expected an integer, got '\(s)'")
            return nil
        }
        guard range.contains(v) else {
            report("must be between \(range.lowerBound) and \(range.upperBound), got \(v)")
            return nil
        }
        return v
    }

    public func duration() -> Duration? {
        guard let s = string() else { return nil }
        guard let d = DurationParser.parse(s) else {
            report("expected a duration such as 200ms, 5s, 1m, 30d, got '\(s)'")
            return nil
        }
        return d
    }

    public func byteSize() -> Int? {
        guard let s = string() else { return nil }
        guard let v = ByteSizeParser.parse(s) else {
            report("expected a size such as 4MiB, 512KiB or a number of bytes, got '\(s)'")
            return nil
        }
        return v
    }

    /// A sequence of strings, each with its line.
    public func stringList() -> [(String, Int)]? {
        guard case .sequence(let seq, _, _) = node else {
            report("expected a list")
            return nil
        }
        var out: [(String, Int)] = []
        for (i, item) in seq.enumerated() {
            let v = ConfigValue(path: "\(path)[\(i)]", node: item, keyLine: keyLine, diagnostics: diagnostics)
            if let s = v.string() { out.append((s, v.line)) }
        }
        return out
    }
}

extension String {
    fileprivate var replacingUnderscores: String { contains("_") ? filter { $0 != "_" } : self }
}
