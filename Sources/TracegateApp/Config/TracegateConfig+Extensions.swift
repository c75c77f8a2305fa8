import TracegateCore
import TracegateExporters
import TracegateQuery

/// The top-level `extensions` section and `service.extensions`, as in the
/// OpenTelemetry Collector. One type exists: `query` (the Jaeger query API
/// and web UI over the PostgreSQL store).
extension TracegateConfig {
    static let extensionTypes = ["query"]

    mutating func readExtensions(_ root: ConfigMap, service: ConfigMap) {
        let section = root.map("extensions")
        var defined: [String: QueryConfig] = [:]
        for name in section.keys {
            guard let id = ComponentID(name) else {
                section.report(name, "invalid extension id; use type or type/name")
                _ = section.value(name)
                continue
            }
            guard id.type == "query" else {
                section.report(name, "unknown extension type '\(id.type)'; known: \(Self.extensionTypes.joined(separator: ", "))")
                _ = section.value(name)
                continue
            }
            defined[name] = QueryConfig.read(section.map(name))
        }
        section.finish()
        var enabled: [String] = []
        if let list = service.stringList("extensions") {
            for (i, (name, line)) in list.enumerated() {
                let path = "service.extensions[\(i)]"
                if defined[name] == nil {
                    if !section.keys.contains(name) {
                        service.diagnostics.report(line: line, path: path, "\(name) is not defined in the top-level extensions section")
                    }
                } else if enabled.contains(name) {
                    service.diagnostics.report(line: line, path: path, "\(name) is listed twice")
                } else {
                    enabled.append(name)
                }
            }
        }
        for name in defined.keys.sorted() where !enabled.contains(name) {
            root.diagnostics.report(
                line: root.line(ofKey: name, in: "extensions"), path: "extensions.\(name)", "defined but not listed in service.extensions")
        }
        for name in enabled {
            guard var query = defined[name] else { continue }
            let path = "extensions.\(name)"
            if query.dsn == nil {
                switch resolveQueryDSN(exporter: query.exporter) {
                case .success(let dsn): query.dsn = dsn
                case .failure(let problem):
                    root.diagnostics.report(line: root.line(ofKey: name, in: "extensions"), path: path, problem.message)
                    continue
                }
            }
            extensions.append(ExtensionSettings(name: name, query: query))
        }
    }

    struct DSNProblem: Error { var message: String }

    /// The database of the pipelines' `postgres` exporter (the one `exporter`
    /// names when there are several).
    private func resolveQueryDSN(exporter: String?) -> Result<String, DSNProblem> {
        let used = Set(pipelines.flatMap(\.exporters))
        let postgres = exporters.keys.sorted().filter { used.contains($0) && exporters[$0]?.config(as: PostgresExporterConfig.self) != nil }
        if let exporter {
            guard let config = exporters[exporter]?.config(as: PostgresExporterConfig.self) else {
                return .failure(DSNProblem(message: "exporter \(exporter) is not a postgres exporter of this file"))
            }
            return .success(config.dsn)
        }
        switch postgres.count {
        case 1: return .success(exporters[postgres[0]]!.config(as: PostgresExporterConfig.self)!.dsn)
        case 0: return .failure(DSNProblem(message: "no postgres exporter in the pipelines to read from; set dsn"))
        default:
            return .failure(DSNProblem(message: "several postgres exporters (\(postgres.joined(separator: ", "))); name one with exporter, or set dsn"))
        }
    }
}

/// One extension listed in `service.extensions`, ready to start.
public struct ExtensionSettings: Sendable, Equatable {
    public var name: String
    /// The `query` extension's settings, with `dsn` resolved.
    public var query: QueryConfig
}
