import TracegateCore

extension Exporters {
    /// `nop`: accepts and discards everything; for benchmarks and pipeline tests.
    public static let nop = ExporterType("nop", read: NopExporterConfig.read) { config, context in
        BuiltExporter(exporter: NopExporter(id: context.id), sendingQueue: config.sendingQueue)
    }
}

/// `nop` settings: only its sending queue, so that a benchmark can measure
/// the queue (in memory or persistent) without a sink behind it.
public struct NopExporterConfig: ComponentConfig, Equatable {
    /// The queue in front of the exporter (`sending_queue`), as every exporter has.
    public var sendingQueue = SendingQueueConfig()

    static func read(_ map: ConfigMap) -> NopExporterConfig {
        var c = NopExporterConfig()
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        map.finish()
        return c
    }
}
