/// One thing wrong with a configuration file, located precisely enough to fix it.
public struct ConfigProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based line, or 0 when the problem is not tied to a line (a missing section).
    public var line: Int
    /// Dotted path to the key at fault, e.g. `exporters.postgres.dsn`.
    public var path: String
    public var message: String

    public init(file: String, line: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    /// `file:line: path: message`, the form `tracegate validate` prints.
    public var description: String {
        let location = line > 0 ? "\(file):\(line)" : file
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// All problems found in one configuration, reported together.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    public init(_ problems: [ConfigProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Collects problems while a configuration is read, so that every problem is
/// reported at once rather than the first one only.
public final class ConfigDiagnostics {
    public let file: String
    public let environment: [String: String]
    public private(set) var problems: [ConfigProblem] = []
    /// Every key path the readers asked for, present in the file or not: the
    /// set of keys the code knows, which a test compares with the reference
    /// in docs/configuration.md so the two cannot drift apart.
    public private(set) var askedPaths: Set<String> = []
    /// The default each typed read (`duration(_:default:)`, …) fell back to,
    /// by key path: the same test compares them with the reference's
    /// default column.
    public private(set) var askedDefaults: [String: ConfigDefault] = [:]

    public init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    public func report(line: Int, path: String, _ message: String) {
        problems.append(ConfigProblem(file: file, line: line, path: path, message: message))
    }

    func asked(_ path: String) { askedPaths.insert(path) }

    func asked(_ path: String, default value: ConfigDefault) { askedDefaults[path] = value }
}

/// A default a reader passed, typed as the key is.
public enum ConfigDefault: Sendable, Equatable {
    case string(String)
    case bool(Bool)
    case int(Int)
    case duration(Duration)
    case byteSize(Int)

    /// Whether the reference's text for the default (`30s`, `4MiB`, `true`,
    /// `200000`, `info`) reads as this value under the key's own parser.
    public func matches(_ text: String) -> Bool {
        switch self {
        case .string(let s): return text == s
        case .bool(let b): return text == (b ? "true" : "false")
        case .int(let i): return Int(text.filter { $0 != "_" }) == i
        case .duration(let d): return DurationParser.parse(text) == d || (d == .zero && text == "0")
        case .byteSize(let n): return ByteSizeParser.parse(text) == n
        }
    }
}
