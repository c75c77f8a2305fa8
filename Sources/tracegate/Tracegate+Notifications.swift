import ArgumentParser
import TracegateApp
import TracegateExporters

extension Tracegate {
    /// `tracegate notifications retry-dead|status`: the dead letters and
    /// outbox of `conclusion` exporters.
    struct Notifications: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inspect and re-queue trace conclusion notifications.",
            subcommands: [RetryDead.self, Status.self])

        struct Selection: ParsableArguments {
            @Option(name: .shortAndLong, help: "The configuration file.") var config: String
            @Option(help: "Which conclusion exporter (default: every one).") var exporter: String?

            func exporters() throws -> [(String, ConclusionExporterConfig)] {
                let loaded = try ConfigOption.parse(["--config", config]).load()
                let found = loaded.exporters.compactMap { name, settings -> (String, ConclusionExporterConfig)? in
                    guard exporter == nil || exporter == name, let c = settings.config(as: ConclusionExporterConfig.self) else { return nil }
                    return (name, c)
                }.sorted { $0.0 < $1.0 }
                if found.isEmpty {
                    printError(exporter.map { "no conclusion exporter \($0) in \(config)" } ?? "no conclusion exporter in \(config)")
                    throw ExitCode(2)
                }
                return found
            }
        }

        struct RetryDead: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "retry-dead",
                abstract: "Re-queue dead letters: postgres store: back into the outbox, for the running gateways; memory store: POSTed now, those failing again stay in the file.")
            @OptionGroup var selection: Selection

            func run() throws {
                var failedAny = false
                for (name, c) in try selection.exporters() {
                    do {
                        switch c.store {
                        case .postgres:
                            let n = try NotificationDeadLetters.requeue(exporter: name, config: c)
                            print("\(name): re-queued \(n) dead letter\(n == 1 ? "" : "s")")
                        case .memory:
                            let (delivered, failed) = try NotificationDeadLetters.redeliver(exporter: name, config: c)
                            print("\(name): delivered \(delivered), failed again \(failed) (kept in \(c.deadLetterFile))")
                            if failed > 0 { failedAny = true }
                        }
                    } catch {
                        printError("\(name): retry-dead: \(error)")
                        failedAny = true
                    }
                }
                if failedAny { throw ExitCode(1) }
            }
        }

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Count pending, retrying and dead notifications.")
            @OptionGroup var selection: Selection

            func run() throws {
                for (name, c) in try selection.exporters() {
                    do {
                        switch c.store {
                        case .postgres:
                            let row = try NotificationDeadLetters.status(dsn: c.dsn).first { $0.exporter == name }
                            print("\(name): pending \(row?.pending ?? 0), retrying \(row?.retrying ?? 0), dead \(row?.dead ?? 0)")
                        case .memory:
                            print("\(name): dead \(try NotificationDeadLetters.deadLetterCount(exporter: name, config: c)) (in \(c.deadLetterFile))")
                        }
                    } catch {
                        printError("\(name): status: \(error)")
                        throw ExitCode(1)
                    }
                }
            }
        }
    }
}
