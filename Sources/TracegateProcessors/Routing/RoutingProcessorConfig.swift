import TracegateCore

/// Settings of the `routing` processor (the collector's keys).
public struct RoutingProcessorConfig: Sendable, Equatable {
    /// Where `from_attribute` is looked up.
    public enum AttributeSource: String, Sendable, CaseIterable {
        /// The resource's attributes: whole resources are routed together.
        case resource
        /// Each span's attributes.
        case span
    }

    /// One `table` entry.
    public struct Route: Sendable, Equatable {
        /// `value`: the attribute value (its text form) this route takes.
        public var value: String
        /// `exporters`: where its spans go.
        public var exporters: [String]
        /// Line of each exporter name, for errors about the pipeline.
        public var exporterLines: [Int]

        public init(value: String, exporters: [String], exporterLines: [Int] = []) {
            self.value = value
            self.exporters = exporters
            self.exporterLines = exporterLines.isEmpty ? exporters.map { _ in 0 } : exporterLines
        }
    }

    /// `from_attribute`: the attribute whose value picks the route. Required.
    public var fromAttribute: String = ""
    /// `attribute_source`: `resource` (default) or `span`.
    public var attributeSource: AttributeSource = .resource
    /// `table`: routes by value. Required, not empty; values unique.
    public var table: [Route] = []
    /// `default_exporters`: where spans without a matching route go. Empty
    /// means they are dropped (and counted).
    public var defaultExporters: [String] = []
    /// Line of each default exporter name.
    public var defaultExporterLines: [Int] = []

    public init() {}

    /// Every exporter named, with the line it is named on.
    public var namedExporters: [(name: String, line: Int)] {
        table.flatMap { route in zip(route.exporters, route.exporterLines).map { ($0, $1) } }
            + zip(defaultExporters, defaultExporterLines).map { ($0, $1) }
    }

    public static func read(_ map: ConfigMap) -> RoutingProcessorConfig {
        var c = RoutingProcessorConfig()
        if let from = map.string("from_attribute"), !from.isEmpty {
            c.fromAttribute = from
        } else {
            map.report(map.has("from_attribute") ? "from_attribute" : nil, "from_attribute is required: the attribute that picks the route, e.g. service.name")
        }
        if let text = map.string("attribute_source") {
            if let source = AttributeSource(rawValue: text) { c.attributeSource = source } else {
                map.report("attribute_source", "expected resource or span; got '\(text)'")
            }
        }
        if let table = map.value("table") {
            var seen = Set<String>()
            for entry in table.mapList() ?? [] {
                let value = entry.value("value")?.string()
                let exporters = entry.stringList("exporters")
                entry.finish()
                if value == nil && !entry.has("value") { entry.report(nil, "value is required") }
                if exporters == nil && !entry.has("exporters") { entry.report(nil, "exporters is required") }
                if exporters?.isEmpty == true { entry.report("exporters", "must not be empty") }
                guard let value, let exporters, !exporters.isEmpty else { continue }
                if !seen.insert(value).inserted {
                    entry.report("value", "'\(value)' is routed twice")
                    continue
                }
                c.table.append(Route(value: value, exporters: exporters.map(\.0), exporterLines: exporters.map(\.1)))
            }
            if table.isList && c.table.isEmpty && (table.items()?.isEmpty ?? false) { map.report("table", "must not be empty") }
        } else {
            map.report(nil, "table is required: a list of {value, exporters}")
        }
        if let defaults = map.stringList("default_exporters") {
            c.defaultExporters = defaults.map(\.0)
            c.defaultExporterLines = defaults.map(\.1)
        }
        map.finish()
        return c
    }
}
