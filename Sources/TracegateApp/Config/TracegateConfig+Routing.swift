import TracegateCore
import TracegateProcessors

extension TracegateConfig {
    /// A processor that chooses the exporters (`routing`) replaces its
    /// pipeline's fan-out, so it must be the last processor, and it can only
    /// send to exporters of that pipeline (their queues are the ones that
    /// reserved room for the spans).
    func checkRouting(_ pipeline: PipelineConfig, _ map: ConfigMap) {
        let routers = pipeline.processors.filter { processors[$0]?.factory.choosesExporters == true }
        guard !routers.isEmpty else { return }
        let lines = map.stringList("processors") ?? []
        for name in routers {
            if name != pipeline.processors.last {
                let i = lines.firstIndex { $0.0 == name } ?? 0
                map.diagnostics.report(
                    line: i < lines.count ? lines[i].1 : map.line, path: "\(map.path).processors[\(i)]",
                    "\(name) must be the last processor of the pipeline (it chooses the exporters)")
            }
            guard let c = processors[name]?.config(as: RoutingProcessorConfig.self) else { continue }
            let exporters = Set(pipeline.exporters)
            for (routeIndex, route) in c.table.enumerated() {
                for (j, (exporter, line)) in zip(route.exporters, route.exporterLines).enumerated() where !exporters.contains(exporter) {
                    map.diagnostics.report(
                        line: line, path: "processors.\(name).table[\(routeIndex)].exporters[\(j)]",
                        notInPipeline(exporter, pipeline))
                }
            }
            for (j, (exporter, line)) in zip(c.defaultExporters, c.defaultExporterLines).enumerated() where !exporters.contains(exporter) {
                map.diagnostics.report(line: line, path: "processors.\(name).default_exporters[\(j)]", notInPipeline(exporter, pipeline))
            }
        }
    }

    private func notInPipeline(_ exporter: String, _ pipeline: PipelineConfig) -> String {
        "\(exporter) is not an exporter of pipeline \(pipeline.id) (its exporters: \(pipeline.exporters.joined(separator: ", ")))"
    }
}
