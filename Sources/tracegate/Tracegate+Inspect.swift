import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TracegateApp
import TracegateCore
import TracegateExporters

/// The DSN of `--dsn`, or of the postgres exporter of `--config` (`--exporter`
/// picks one when there are several). Prints the problem and exits 2 when
/// there is no single answer.
func resolvePostgresDSN(dsn: String?, config: String?, exporter: String?) throws -> String {
    if let dsn { return dsn }
    guard let config else {
        printError("give --dsn or --config")
        throw ExitCode(2)
    }
    let loaded = try ConfigOption.parse(["--config", config]).load()
    let candidates = loaded.exporters.compactMap { name, settings -> (String, String)? in
        guard exporter == nil || exporter == name, let c = settings.config(as: PostgresExporterConfig.self) else { return nil }
        return (name, c.dsn)
    }
    guard candidates.count == 1 else {
        printError(candidates.isEmpty ? "no postgres exporter in \(config)" : "several postgres exporters in \(config); pick one with --exporter")
        throw ExitCode(2)
    }
    return candidates[0].1
}

/// Where the spans are: `--dsn`, or `--config` (and `--exporter`), as for `migrate`.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "libpq connection string or URI.") var dsn: String?
    @Option(name: .shortAndLong, help: "A configuration file whose postgres exporter gives the DSN.") var config: String?
    @Option(help: "Which postgres exporter of the configuration (default: the only one).") var exporter: String?

    /// Connects; prints the error and exits 1 when PostgreSQL cannot be reached.
    func connect(for command: String) throws -> PostgresClient {
        let dsn = try resolvePostgresDSN(dsn: dsn, config: config, exporter: exporter)
        do {
            return try PostgresClient(dsn: dsn)
        } catch {
            printError("\(command): \(error)")
            throw ExitCode(1)
        }
    }
}

/// `--color`: ANSI colour on a terminal (`auto`, unless NO_COLOR is set), or forced.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never

    var style: TerminalStyle {
        switch self {
        case .always: return .ansi
        case .never: return .plain
        case .auto:
            let noColor = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
            let dumb = ProcessInfo.processInfo.environment["TERM"] == "dumb"
            return isatty(STDOUT_FILENO) == 1 && !noColor && !dumb ? .ansi : .plain
        }
    }
}

/// Runs a query for `command`; a failure is printed (with a hint when the
/// schema is missing) and exits 1.
private func inspecting<T>(_ command: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PostgresError {
        printError("\(command): \(error)")
        if error.sqlState == "42P01" { printError("the schema is missing or old: run `tracegate migrate up`") }
        throw ExitCode(1)
    } catch {
        printError("\(command): \(error)")
        throw ExitCode(1)
    }
}

/// `--since 1h`, `--min-duration 2s`: a duration as in the configuration, or exit 2.
private func parseDuration(_ text: String, option: String, command: String) throws -> Duration {
    guard let d = DurationParser.parse(text), d >= .zero else {
        printError("\(command): \(option) \"\(text)\" is not a duration (like 500ms, 2s, 15m, 1h, 7d)")
        throw ExitCode(2)
    }
    return d
}

extension Tracegate {
    struct Trace: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one stored trace as a waterfall.",
            discussion: """
                The span tree, children in start order, with a time bar per span scaled to the trace, \
                service, duration and status; error spans are marked ✗, spans whose parent is missing are \
                shown at the top level as orphans. The DSN comes from --dsn, or from the postgres exporter \
                of --config. Exits 1 when the trace is not stored.
                """)

        @Argument(help: "The trace id: 32 hexadecimal digits.") var traceID: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print a JSON document (every span with depth, offset_ms, duration_ms, …) instead.") var json = false
        @Option(help: "Colour: auto (on a terminal), always or never.") var color: ColorChoice = .auto

        func run() throws {
            guard let id = TraceQueries.normalizedTraceID(traceID) else {
                printError("trace: \"\(InspectFormat.sanitized(traceID))\" is not a trace id: expected 32 hexadecimal digits, got \(traceID.count) characters")
                throw ExitCode(2)
            }
            let client = try database.connect(for: "trace")
            let spans = try inspecting("trace") { try TraceQueries.fetchSpans(traceID: id, client: client) }
            guard !spans.isEmpty else {
                printError("trace: no trace \(id) in the database")
                throw ExitCode(1)
            }
            let waterfall = TraceWaterfall(traceID: id, spans: spans)
            if json {
                print(waterfall.json())
            } else {
                print(waterfall.render(style: color.style).joined(separator: "\n"))
            }
        }
    }

    struct Traces: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List recent stored traces, newest first.",
            discussion: """
                Lists traces that started within --since (default 1h) from the traces table: id, start, \
                root span and service, span and error counts, duration, and whether the gateway has \
                concluded the trace. The DSN comes from --dsn, or from the postgres exporter of --config.
                """)

        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only traces with this service (as root service or anywhere in the trace).") var service: String?
        @Option(help: "Only traces that started within this long (like 15m, 1h, 7d).") var since = "1h"
        @Flag(help: "Only traces with at least one error span.") var errors = false
        @Option(help: "Only traces at least this long, first span start to last span end (like 2s).") var minDuration: String?
        @Option(help: "At most this many traces.") var limit = 20
        @Flag(help: "Print a JSON document instead.") var json = false
        @Option(help: "Colour: auto (on a terminal), always or never.") var color: ColorChoice = .auto

        func run() throws {
            let sinceDuration = try parseDuration(since, option: "--since", command: "traces")
            guard sinceDuration > .zero else {
                printError("traces: --since must be longer than 0")
                throw ExitCode(2)
            }
            guard limit > 0 else {
                printError("traces: --limit must be at least 1")
                throw ExitCode(2)
            }
            let query = TraceListQuery(
                since: sinceDuration, service: service, errorsOnly: errors,
                minDuration: try minDuration.map { try parseDuration($0, option: "--min-duration", command: "traces") },
                limit: limit)
            let client = try database.connect(for: "traces")
            let rows = try inspecting("traces") { try TraceQueries.fetchList(query, client: client) }
            if json {
                print(TraceList.json(rows))
            } else if rows.isEmpty {
                let filtered = service != nil || errors || minDuration != nil
                print("no \(filtered ? "matching " : "")traces started in the last \(since)")
            } else {
                print(TraceList.render(rows, style: color.style).joined(separator: "\n"))
            }
        }
    }
}
