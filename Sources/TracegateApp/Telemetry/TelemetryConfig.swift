import Logging
import TracegateCore

/// `service.telemetry`: the gateway's own logs, metrics and health endpoints,
/// and how long a shutdown may take.
public struct TelemetryConfig: Sendable, Equatable {
    /// How log lines are written to stderr.
    public enum LogFormat: String, Sendable, Equatable {
        /// `timestamp level label : metadata message`, for people.
        case text
        /// One JSON object per line (timestamp, level, message, label, metadata), for log pipelines.
        case json
    }

    /// Where one of the telemetry HTTP endpoints listens.
    public struct Endpoint: Sendable, Equatable {
        /// `host:port`; port 0 lets the kernel pick (the bound address is logged).
        public var address: String
        /// False when the address came from the defaults: if the port is taken
        /// the gateway logs a warning and runs without the endpoint, rather
        /// than refusing to start over something nobody asked for.
        public var explicit: Bool

        public init(address: String, explicit: Bool) {
            self.address = address
            self.explicit = explicit
        }
    }

    public static let defaultMetricsAddress = "0.0.0.0:8888"
    public static let defaultHealthAddress = "0.0.0.0:13133"

    /// `logs.level`: `debug`, `info`, `warn`, `error` (default `info`).
    public var logLevel: Logger.Level = .info
    /// `logs.format`: `text` (default) or `json`.
    public var logFormat: LogFormat = .text
    /// `metrics.address`: Prometheus `/metrics` (default `0.0.0.0:8888`);
    /// nil with `metrics.enabled: false`.
    public var metrics: Endpoint? = Endpoint(address: defaultMetricsAddress, explicit: false)
    /// `health.address`: `/health` and `/ready` (default `0.0.0.0:13133`);
    /// nil with `health.enabled: false`. May equal the metrics address.
    public var health: Endpoint? = Endpoint(address: defaultHealthAddress, explicit: false)
    /// `shutdown_timeout`: how long SIGTERM/SIGINT waits for batches and queues to drain.
    public var shutdownTimeout: Duration = .seconds(10)

    public init() {}

    public static func read(_ map: ConfigMap) -> TelemetryConfig {
        var c = TelemetryConfig()
        let logs = map.map("logs")
        if let value = logs.value("level"), let text = value.string() {
            let levels: [String: Logger.Level] = [
                "debug": .debug, "info": .info, "warn": .warning, "warning": .warning, "error": .error, "trace": .trace,
            ]
            if let level = levels[text.lowercased()] {
                c.logLevel = level
            } else {
                logs.report("level", "expected one of debug, info, warn, error; got '\(text)'")
            }
        }
        if let text = logs.string("format") {
            if let format = LogFormat(rawValue: text.lowercased()) {
                c.logFormat = format
            } else {
                logs.report("format", "expected text or json; got '\(text)'")
            }
        }
        logs.finish()
        c.metrics = readEndpoint(map, "metrics", default: defaultMetricsAddress)
        c.health = readEndpoint(map, "health", default: defaultHealthAddress)
        c.shutdownTimeout = map.duration("shutdown_timeout", default: c.shutdownTimeout)
        if c.shutdownTimeout < .zero { map.report("shutdown_timeout", "must not be negative") }
        map.finish()
        return c
    }

    private static func readEndpoint(_ parent: ConfigMap, _ key: String, default address: String) -> Endpoint? {
        let map = parent.map(key)
        defer { map.finish() }
        let enabled = map.bool("enabled", default: true)
        guard let text = map.string("address") else { return enabled ? Endpoint(address: address, explicit: false) : nil }
        if HostPort(text) == nil { map.report("address", "expected host:port, got '\(text)'") }
        return enabled ? Endpoint(address: text, explicit: true) : nil
    }
}

/// `host:port` split, with `[v6]:port` accepted.
struct HostPort: Equatable {
    var host: String
    var port: Int
}

extension HostPort {
    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }
}
