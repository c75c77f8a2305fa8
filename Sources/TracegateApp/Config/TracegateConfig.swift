#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TracegateCore
import TracegateExporters
import TracegateProcessors
import TracegateReceivers

/// A component id: `type` or `type/name`.
public struct ComponentID: Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var name: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let type = parts.first, !type.isEmpty, type.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        self.type = String(type)
        self.name = parts.count > 1 ? String(parts[1]) : ""
        if parts.count > 1 && name.isEmpty { return nil }
    }

    public var description: String { name.isEmpty ? type : "\(type)/\(name)" }
}

/// One `service.pipelines` entry.
public struct PipelineConfig: Sendable, Equatable {
    public var id: String
    public var receivers: [String]
    public var processors: [String]
    public var exporters: [String]
}

/// The whole configuration file, validated.
public struct TracegateConfig: Sendable {
    public var receivers: [String: ReceiverSettings] = [:]
    public var processors: [String: ProcessorSettings] = [:]
    public var exporters: [String: ExporterSettings] = [:]
    public var pipelines: [PipelineConfig] = []
    public var telemetry = TelemetryConfig()
    /// `service.extensions`, in the order listed.
    public var extensions: [ExtensionSettings] = []

    /// The file's text; a `cannot read file: <reason>` problem when it cannot
    /// be opened or read (the system's words: "No such file or directory",
    /// "Is a directory", "Permission denied") or is not UTF-8.
    static func readText(_ file: String) throws(ConfigErrors) -> String {
        func failure(_ reason: String) -> ConfigErrors {
            ConfigErrors([ConfigProblem(file: file, line: 0, path: "", message: "cannot read file: \(reason)")])
        }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(String(cString: strerror(errno)))
            }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw failure("not UTF-8 text") }
        return text
    }

    /// Reads and validates a file; throws `ConfigErrors` listing every problem.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TracegateConfig {
        return try parse(yaml: try readText(file), file: file, environment: environment)
    }

    public static func parse(yaml: String, file: String, environment: [String: String]) throws(ConfigErrors) -> TracegateConfig {
        let diagnostics = ConfigDiagnostics(file: file, environment: environment)
        var config = TracegateConfig()
        if let root = ConfigMap.parse(yaml: yaml, diagnostics: diagnostics) {
            config.read(root)
        }
        if !diagnostics.problems.isEmpty { throw ConfigErrors(diagnostics.problems) }
        return config
    }

    mutating func read(_ root: ConfigMap) {
        receivers = readSection(root, "receivers", ComponentRegistry.readReceiver)
        processors = readSection(root, "processors", ComponentRegistry.readProcessor)
        exporters = readSection(root, "exporters", ComponentRegistry.readExporter)
        let service = root.map("service")
        if !root.has("service") { root.report(nil, "service section is required (it lists the pipelines)") }
        readPipelines(service.map("pipelines"))
        resolveConclusionExporters(root)
        readExtensions(root, service: service)
        readTelemetry(service.map("telemetry"))
        service.finish()
        root.finish()
        reportUnused(root)
    }

    private func readSection<S>(_ root: ConfigMap, _ key: String, _ reader: (ComponentID, ConfigMap) -> S?) -> [String: S] {
        let section = root.map(key)
        var out: [String: S] = [:]
        for name in section.keys {
            guard let id = ComponentID(name) else {
                section.report(name, "invalid component id; use type or type/name")
                _ = section.value(name)
                continue
            }
            let map = section.map(name)
            if let settings = reader(id, map) { out[name] = settings }
        }
        section.finish()
        return out
    }

    private mutating func readPipelines(_ map: ConfigMap) {
        if map.isEmpty { map.report(nil, "at least one pipeline is required") }
        for name in map.keys {
            let p = map.map(name)
            guard let id = ComponentID(name), id.type == "traces" else {
                map.report(name, "only traces pipelines are supported (traces or traces/name)")
                _ = p.value("receivers"); _ = p.value("processors"); _ = p.value("exporters")
                continue
            }
            var pipeline = PipelineConfig(id: name, receivers: [], processors: [], exporters: [])
            pipeline.receivers = references(p, "receivers", known: Set(receivers.keys), required: true)
            pipeline.processors = references(p, "processors", known: Set(processors.keys), required: false)
            pipeline.exporters = references(p, "exporters", known: Set(exporters.keys), required: true)
            checkRouting(pipeline, p)
            p.finish()
            pipelines.append(pipeline)
        }
        map.finish()
    }

    private func references(_ p: ConfigMap, _ key: String, known: Set<String>, required: Bool) -> [String] {
        guard let list = p.stringList(key) else {
            if required && !p.has(key) { p.report(nil, "\(key) is required and must not be empty") }
            return []
        }
        if required && list.isEmpty { p.report(key, "must not be empty") }
        var seen = Set<String>()
        var out: [String] = []
        for (i, (name, line)) in list.enumerated() {
            let path = "\(p.path).\(key)[\(i)]"
            if !known.contains(name) {
                p.diagnostics.report(line: line, path: path, "\(name) is not defined in the top-level \(key) section")
            } else if !seen.insert(name).inserted {
                p.diagnostics.report(line: line, path: path, "\(name) is listed twice")
            } else {
                out.append(name)
            }
        }
        return out
    }

    private mutating func readTelemetry(_ map: ConfigMap) {
        telemetry = TelemetryConfig.read(map)
    }

    /// Components defined but in no pipeline are almost always a mistake (a
    /// typo in a pipeline list, or a forgotten exporter): report them.
    private func reportUnused(_ root: ConfigMap) {
        let used = (
            receivers: Set(pipelines.flatMap(\.receivers)), processors: Set(pipelines.flatMap(\.processors)),
            exporters: Set(pipelines.flatMap(\.exporters))
        )
        for (section, names, usedNames) in [
            ("receivers", Array(receivers.keys), used.receivers), ("processors", Array(processors.keys), used.processors),
            ("exporters", Array(exporters.keys), used.exporters),
        ] {
            for name in names.sorted() where !usedNames.contains(name) {
                root.diagnostics.report(line: lineOf(root, section, name), path: "\(section).\(name)", "defined but not used in any pipeline")
            }
        }
    }

    private func lineOf(_ root: ConfigMap, _ section: String, _ name: String) -> Int {
        root.line(ofKey: name, in: section)
    }
}
