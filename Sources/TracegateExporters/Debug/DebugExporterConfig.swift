import TracegateCore

/// Settings of the `debug` exporter (the Collector's keys and defaults).
public struct DebugExporterConfig: Sendable, Equatable {
    /// How much of each batch is written to the log.
    public enum Verbosity: String, Sendable, CaseIterable {
        /// One line per batch: how many resource spans and spans.
        case basic
        /// One line per span: name, ids, kind, status, duration, attributes.
        case normal
        /// Every field of every resource, scope, span, event and link.
        case detailed
    }

    /// `verbosity`: `basic` (default), `normal` or `detailed`.
    public var verbosity: Verbosity = .basic
    /// `sampling_initial`: batches written in full each second before sampling starts.
    public var samplingInitial: Int = 2
    /// `sampling_thereafter`: past `sampling_initial` in a second, every Nth batch is written (1: all).
    public var samplingThereafter: Int = 1

    public init() {}

    public static func read(_ map: ConfigMap) -> DebugExporterConfig {
        var c = DebugExporterConfig()
        if let s = map.string("verbosity") {
            if let v = Verbosity(rawValue: s) {
                c.verbosity = v
            } else {
                map.report("verbosity", "expected \(Verbosity.allCases.map(\.rawValue).joined(separator: ", ")), got '\(s)'")
            }
        }
        c.samplingInitial = map.int("sampling_initial", default: c.samplingInitial, range: 0...1_000_000)
        c.samplingThereafter = map.int("sampling_thereafter", default: c.samplingThereafter, range: 1...1_000_000)
        map.finish()
        return c
    }
}
