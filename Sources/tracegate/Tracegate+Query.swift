import ArgumentParser
import Logging
import TracegateApp
import TracegateCore
import TracegateQuery

extension Tracegate {
    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the Jaeger query API and the web UI alone, with no receivers.",
            discussion: """
                Reads the database given by --dsn, or by --config: its query extension's settings when it has one \
                (endpoint, dsn, auth, tls), else its postgres exporter's database with the defaults. Only reads, \
                in read-only transactions: point it at a read replica if you have one.
                """)

        @Option(help: "libpq connection string or URI of the database to read.") var dsn: String?
        @Option(name: .shortAndLong, help: "A configuration file (its query extension, or its postgres exporter).") var config: String?
        @Option(help: "Which postgres exporter of the configuration (default: the only one).") var exporter: String?
        @Option(help: "host:port to listen on (default 127.0.0.1:16686, or the extension's).") var endpoint: String?
        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

        func run() async throws {
            var query = QueryConfig()
            if let config {
                let loaded = try ConfigOption.parse(["--config", config]).load()
                if let ext = loaded.extensions.first { query = ext.query }
            }
            if dsn != nil || query.dsn == nil {
                query.dsn = try resolvePostgresDSN(dsn: dsn, config: config, exporter: exporter)
            }
            if let endpoint {
                guard let (host, port) = QueryConfig.parseEndpoint(endpoint) else {
                    printError("--endpoint: expected host:port, got '\(endpoint)'")
                    throw ExitCode(2)
                }
                query.host = host
                query.port = port
            }
            let logger = makeLogger(level: Logger.Level(rawValue: logLevel) ?? .info)
            do {
                try await Gateway.runQuery(query, logger: logger)
            } catch {
                logger.critical("tracegate query cannot start", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
        }
    }
}
