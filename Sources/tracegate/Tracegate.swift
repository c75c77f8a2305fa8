import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TracegateApp
import TracegateCore
import TracegateExporters

@main
struct Tracegate: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "tracegate",
        abstract: "An OpenTelemetry (OTLP) trace gateway.",
        version: version,
        subcommands: [Run.self, Validate.self, Migrate.self, Retention.self, Trace.self, Traces.self, Notifications.self, Replay.self, Query.self, Version.self],
        defaultSubcommand: Run.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String = "tracegate.yaml"

    /// Loads the file; prints every problem as `file:line: key: message` and
    /// exits 1 when there are any.
    func load() throws -> TracegateConfig {
        do {
            return try TracegateConfig.load(file: config)
        } catch let errors as ConfigErrors {
            for problem in errors.problems { printError(problem.description) }
            printError("\(errors.problems.count) problem\(errors.problems.count == 1 ? "" : "s") in \(config)")
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    // One write(2) loop on fd 2: the C `stderr` FILE is shared mutable state to Swift 6.
    var bytes = Array((text + "\n").utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

func makeLogger(level: Logger.Level, format: TelemetryConfig.LogFormat = .text) -> Logger {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
    return Logger(label: "tracegate")
}

extension Tracegate {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the gateway with a configuration file.")
        @OptionGroup var options: ConfigOption
        @Flag(help: "Reread the configuration when its file changes (as on SIGHUP).") var watch = false

        func run() async throws {
            let config = try options.load()
            let logger = makeLogger(level: config.telemetry.logLevel, format: config.telemetry.logFormat)
            Gateway.prepareProcess()
            do {
                try await Gateway.run(config: config, configFile: options.config, watch: watch, logger: logger)
            } catch {
                logger.critical("tracegate cannot start", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a configuration file as a start would, without starting.")
        @OptionGroup var options: ConfigOption

        func run() async throws {
            let config = try options.load()
            print("\(options.config): OK (\(config.pipelines.count) pipeline\(config.pipelines.count == 1 ? "" : "s"): \(config.pipelines.map(\.id).joined(separator: ", ")))")
        }
    }

    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() { print("tracegate \(Tracegate.version) (schema version \(Migrations.latestVersion))") }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply, revert or show PostgreSQL schema migrations.",
            discussion: "The DSN comes from --dsn, or from the postgres exporter of --config.")

        enum Action: String, ExpressibleByArgument, CaseIterable {
            case up, down, status
        }

        @Argument(help: "up | down | status") var action: Action
        @Option(help: "libpq connection string or URI.") var dsn: String?
        @Option(name: .shortAndLong, help: "A configuration file whose postgres exporter gives the DSN.") var config: String?
        @Option(help: "Which postgres exporter of the configuration (default: the only one).") var exporter: String?
        @Option(help: "With up: stop at this version.") var to: Int?

        func resolveDSN() throws -> String { try resolvePostgresDSN(dsn: dsn, config: config, exporter: exporter) }

        func run() throws {
            let dsn = try resolveDSN()
            do {
                let migrator = try Migrator(dsn: dsn)
                switch action {
                case .up:
                    let applied = try migrator.up(to: to)
                    if applied.isEmpty { print("schema is up to date (version \(Migrations.latestVersion))") }
                    for m in applied { print("applied \(m.version) \(m.name)") }
                case .down:
                    if let m = try migrator.down() { print("reverted \(m.version) \(m.name)") } else { print("nothing to revert") }
                case .status:
                    let status = try migrator.status()
                    for m in Migrations.all {
                        print("\(status.applied.contains(m.version) ? "applied" : "pending") \(m.version) \(m.name)")
                    }
                    for v in status.applied where v > Migrations.latestVersion { print("unknown \(v) (applied by a newer tracegate)") }
                }
            } catch {
                printError("migrate \(action.rawValue): \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Retention: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create partitions ahead and apply the retention of a postgres exporter now.",
            subcommands: [RunNow.self])

        struct RunNow: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "run", abstract: "Run partition maintenance and retention once; --dry-run only shows what it would do.")
            @Option(name: .shortAndLong, help: "The configuration file.") var config: String
            @Option(help: "Which postgres exporter (default: the only one).") var exporter: String?
            @Flag(help: "Show what would be created, dropped and deleted, and change nothing.") var dryRun = false

            func run() throws {
                let loaded = try ConfigOption.parse(["--config", config]).load()
                let candidates = loaded.exporters.compactMap { name, settings -> PostgresExporterConfig? in
                    exporter == nil || exporter == name ? settings.config(as: PostgresExporterConfig.self) : nil
                }
                guard candidates.count == 1 else {
                    printError(candidates.isEmpty ? "no postgres exporter in \(config)" : "several postgres exporters in \(config); pick one with --exporter")
                    throw ExitCode(2)
                }
                do {
                    print(try PostgresMaintenance(config: candidates[0]).run(dryRun: dryRun))
                } catch {
                    printError("retention run: \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}
