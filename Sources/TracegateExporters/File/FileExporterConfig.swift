import TracegateCore

/// Settings of the `file` exporter: OTLP/JSON lines, one request per line.
public struct FileExporterConfig: Sendable, Equatable {
    public enum Compression: String, Sendable, CaseIterable {
        case none
        /// Each line a gzip member of its own: the file is always a valid
        /// gzip stream (`zcat` reads it), also after a crash mid-write.
        case gzip
    }

    /// `path`: the file written (created, appended to). Required.
    public var path: String = ""
    /// `rotation`: present to rotate; absent, the file grows without bound.
    public var rotation: Rotation?
    /// `compression`: `none` (default) or `gzip`.
    public var compression: Compression = .none

    /// `rotation` (the Collector's keys and defaults).
    public struct Rotation: Sendable, Equatable {
        /// `max_megabytes`: the size at which the file is renamed and a new one started.
        public var maxMegabytes: Int = 100
        /// `max_backups`: rotated files kept (the oldest are removed); 0 keeps all.
        public var maxBackups: Int = 100

        public init() {}
    }

    public init() {}

    public static func read(_ map: ConfigMap) -> FileExporterConfig {
        var c = FileExporterConfig()
        c.path = map.string("path", default: "")
        if c.path.isEmpty { map.report("path", "is required: the file to write") }
        if map.has("rotation") {
            let r = map.map("rotation")
            var rotation = Rotation()
            rotation.maxMegabytes = r.int("max_megabytes", default: rotation.maxMegabytes, range: 1...1_000_000)
            rotation.maxBackups = r.int("max_backups", default: rotation.maxBackups, range: 0...100_000)
            r.finish()
            c.rotation = rotation
        }
        if let s = map.string("compression") {
            if let compression = Compression(rawValue: s) {
                c.compression = compression
            } else {
                map.report("compression", "expected none or gzip, got '\(s)'")
            }
        }
        map.finish()
        return c
    }
}
