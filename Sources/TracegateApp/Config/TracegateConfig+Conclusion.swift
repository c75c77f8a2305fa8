import TracegateCore
import TracegateExporters

extension TracegateConfig {
    /// A `conclusion` exporter with the postgres store decides from the
    /// `traces` rows that a postgres exporter of the same pipeline writes: that
    /// exporter is required, and gives the DSN when `dsn` is not set. Two such
    /// conclusion exporters on one database would take each other's traces
    /// (`traces.concluded_at` is shared), so that is an error too.
    mutating func resolveConclusionExporters(_ root: ConfigMap) {
        var byDatabase: [String: String] = [:]
        for name in exporters.keys.sorted() {
            guard let settings = exporters[name], var c = settings.config(as: ConclusionExporterConfig.self), c.store == .postgres else { continue }
            let line = root.line(ofKey: name, in: "exporters")
            let path = "exporters.\(name)"
            let using = pipelines.filter { $0.exporters.contains(name) }
            guard !using.isEmpty else { continue }  // reported as unused
            var dsns: Set<String> = []
            for pipeline in using {
                let here = pipeline.exporters.compactMap { e -> String? in
                    exporters[e]?.config(as: PostgresExporterConfig.self)?.dsn
                }
                if here.isEmpty {
                    root.diagnostics.report(
                        line: line, path: path,
                        "store: postgres needs a postgres exporter in pipeline \(pipeline.id): conclusion reads the traces table it writes (or use store: memory)")
                } else if !c.dsn.isEmpty && !here.contains(c.dsn) {
                    root.diagnostics.report(
                        line: line, path: "\(path).dsn", "no postgres exporter of pipeline \(pipeline.id) writes to this database; leave dsn out to use theirs")
                }
                dsns.formUnion(here)
            }
            if c.dsn.isEmpty {
                if dsns.count > 1 {
                    root.diagnostics.report(line: line, path: path, "the pipelines have postgres exporters on several databases; set dsn to choose one")
                } else if let only = dsns.first {
                    c.dsn = only
                    exporters[name] = ExporterSettings(factory: settings.factory, config: c)
                }
            }
            if !c.dsn.isEmpty {
                if let other = byDatabase[c.dsn] {
                    root.diagnostics.report(
                        line: line, path: path, "\(other) already concludes the traces of this database; one conclusion exporter with store: postgres per database")
                }
                byDatabase[c.dsn] = name
            }
        }
    }
}
