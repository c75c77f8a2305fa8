#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import TracegateCore

/// `service.telemetry.logs.format: json`: one JSON object per line on stderr,
/// `{"timestamp":…,"level":…,"message":…,"label":…,"metadata":{…}}`, with
/// the timestamp in UTC (RFC 3339, microseconds) and metadata values as JSON
/// strings, arrays and objects.
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let write: @Sendable (String) -> Void

    /// `write` receives each line, newline included; the default writes it
    /// to stderr in one `write(2)`, so concurrent lines never interleave.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStderr) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(line(level: event.level, message: event.message, metadata: event.metadata, error: event.error))
    }

    /// The JSON line of one event, newline included.
    func line(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, error: (any Error)? = nil) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit { merged.merge(explicit) { _, new in new } }
        var out = "{\"timestamp\":"
        Self.appendString(Self.timestamp(), to: &out)
        out += ",\"level\":"
        Self.appendString(level.rawValue, to: &out)
        out += ",\"message\":"
        Self.appendString(message.description, to: &out)
        out += ",\"label\":"
        Self.appendString(label, to: &out)
        if let error { merged["error"] = .string("\(error)") }
        if !merged.isEmpty {
            out += ",\"metadata\":"
            Self.append(.dictionary(merged), to: &out)
        }
        out += "}\n"
        return out
    }

    @Sendable public static func writeToStderr(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                #if canImport(Glibc)
                let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                #else
                let n = Darwin.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                #endif
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func append(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let s): appendString(s, to: &out)
        case .stringConvertible(let c): appendString(c.description, to: &out)
        case .array(let values):
            out += "["
            for (i, v) in values.enumerated() {
                if i > 0 { out += "," }
                append(v, to: &out)
            }
            out += "]"
        case .dictionary(let dict):
            out += "{"
            for (i, key) in dict.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                append(dict[key]!, to: &out)
            }
            out += "}"
        }
    }

    static func appendString(_ s: String, to out: inout String) { JSONString.append(s, to: &out) }

    /// Now, as `2026-11-23T05:46:06.123456Z`.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UTCTime(seconds: Int64(ts.tv_sec), nanoseconds: Int64(ts.tv_nsec)).formatted()
    }
}
