import TracegateCore
import TracegateReceivers

/// Settings of the `query` extension (`extensions.query`) and of
/// `tracegate query`: Jaeger's HTTP query API and the web UI over the
/// PostgreSQL store.
public struct QueryConfig: Sendable, Equatable {
    /// `host:port` to listen on; Jaeger's query port by default.
    public var host: String = "127.0.0.1"
    public var port: Int = 16686
    /// libpq connection string of the database to read (a read replica, say).
    /// nil: the `postgres` exporter's (`exporter` names it when there are several).
    public var dsn: String? = nil
    /// The `postgres` exporter whose database is read when `dsn` is not set.
    public var exporter: String? = nil
    /// Connections (and threads running queries) at most.
    public var maxConnections: Int = 4
    /// `statement_timeout` of every query; a slower one answers 503.
    public var queryTimeout: Duration = .seconds(10)
    /// Largest `limit` a trace search may ask for.
    public var maxLimit: Int = 1500
    /// How long one connection attempt may take.
    public var connectTimeout: Duration = .seconds(5)
    /// Bearer tokens the API asks for (`auth.bearer_tokens`, as the receivers');
    /// nil: none. The UI's pages and assets hold no data and are served without.
    public var auth: BearerAuth? = nil
    /// `tls`: serve HTTPS with these files (the receivers' keys).
    public var tls: ReceiverTLSConfig? = nil

    public init() {}

    public var endpoint: String { "\(host):\(port)" }

    /// `host:port`, as the receivers take it.
    public static func parseEndpoint(_ text: String) -> (host: String, port: Int)? { OTLPHTTPConfig.parseEndpoint(text) }

    public static func read(_ map: ConfigMap) -> QueryConfig {
        var c = QueryConfig()
        if let (host, port) = OTLPHTTPConfig.readEndpoint(map) {
            c.host = host
            c.port = port
        }
        if let dsn = map.string("dsn") {
            c.dsn = dsn
            if dsn.isEmpty { map.report("dsn", "is empty (is the environment variable it names set?)") }
        }
        c.exporter = map.string("exporter")
        if c.dsn != nil && c.exporter != nil { map.report("exporter", "set dsn or exporter, not both") }
        c.maxConnections = map.int("max_connections", default: c.maxConnections, range: 1...256)
        c.queryTimeout = map.duration("query_timeout", default: c.queryTimeout)
        if c.queryTimeout < .milliseconds(1) { map.report("query_timeout", "must be at least 1ms") }
        c.maxLimit = map.int("max_limit", default: c.maxLimit, range: 1...100_000)
        c.connectTimeout = map.duration("connect_timeout", default: c.connectTimeout)
        if map.has("auth") { c.auth = BearerAuth.read(map.map("auth")) }
        if map.has("tls") { c.tls = ReceiverTLSConfig.read(map.map("tls")) }
        map.finish()
        return c
    }
}
