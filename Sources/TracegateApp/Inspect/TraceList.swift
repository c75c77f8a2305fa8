/// One row of `traces` as `tracegate traces` reads it (see `TraceQueries`).
public struct TraceSummaryRow: Sendable, Equatable {
    /// 32 lowercase hex digits.
    public var traceID: String
    /// Nil while the root span has not arrived.
    public var rootName: String?
    public var rootService: String?
    public var services: [String]
    public var spanCount: Int64
    public var errorCount: Int64
    /// Microseconds since the Unix epoch: first span start, last span end.
    public var startMicros: Int64
    public var endMicros: Int64
    /// When the gateway concluded the trace; nil while it is open.
    public var concludedMicros: Int64?
    public var complete: Bool
    public var missingParentCount: Int64

    public init(
        traceID: String, rootName: String?, rootService: String?, services: [String], spanCount: Int64, errorCount: Int64,
        startMicros: Int64, endMicros: Int64, concludedMicros: Int64? = nil, complete: Bool = false, missingParentCount: Int64 = 0
    ) {
        self.traceID = traceID
        self.rootName = rootName
        self.rootService = rootService
        self.services = services
        self.spanCount = spanCount
        self.errorCount = errorCount
        self.startMicros = startMicros
        self.endMicros = endMicros
        self.concludedMicros = concludedMicros
        self.complete = complete
        self.missingParentCount = missingParentCount
    }

    public var durationNanos: Int64 { max(0, endMicros - startMicros) * 1_000 }

    /// `open`, `concluded`, or `concluded, incomplete` (a root or parent never came).
    public var state: String {
        concludedMicros == nil ? "open" : complete ? "concluded" : "concluded, incomplete"
    }
}

/// The table of `tracegate traces` and its `--json` document. Pure.
public enum TraceList {
    /// Column titles, then one line per trace in the given order.
    public static func render(_ rows: [TraceSummaryRow], style: TerminalStyle = .plain) -> [String] {
        let f = InspectFormat.self
        let roots = rows.map { f.truncated($0.rootName.map(f.sanitized) ?? "(no root)", to: 40) }
        let services = rows.map { f.truncated($0.rootService.map(f.sanitized) ?? "-", to: 24) }
        let durations = rows.map { f.duration(nanos: $0.durationNanos) }
        let rootWidth = max(4, roots.map(\.count).max() ?? 0)
        let serviceWidth = max(7, services.map(\.count).max() ?? 0)
        let spanWidth = max(5, rows.map { "\($0.spanCount)".count }.max() ?? 0)
        let errorWidth = max(6, rows.map { "\($0.errorCount)".count }.max() ?? 0)
        let durationWidth = max(8, durations.map(\.count).max() ?? 0)

        var lines = [style.paint(
            [f.padRight("TRACE ID", 32), f.padRight("STARTED", 20), f.padRight("ROOT", rootWidth),
             f.padRight("SERVICE", serviceWidth), f.padLeft("SPANS", spanWidth), f.padLeft("ERRORS", errorWidth),
             f.padLeft("DURATION", durationWidth), "STATE"].joined(separator: "  "), .dim)]
        for (i, row) in rows.enumerated() {
            let errors = f.padLeft("\(row.errorCount)", errorWidth)
            let line = [
                row.traceID, f.timestamp(micros: row.startMicros, fractionDigits: 0),
                row.rootName == nil ? style.paint(f.padRight(roots[i], rootWidth), .yellow) : f.padRight(roots[i], rootWidth),
                f.padRight(services[i], serviceWidth), f.padLeft("\(row.spanCount)", spanWidth),
                row.errorCount > 0 ? style.paint(errors, .red) : errors,
                f.padLeft(durations[i], durationWidth),
                row.concludedMicros == nil ? style.paint(row.state, .yellow) : row.state,
            ].joined(separator: "  ")
            lines.append(line)
        }
        return lines
    }

    /// `{"traces": [...]}`, one trace a line.
    public static func json(_ rows: [TraceSummaryRow]) -> String {
        let f = InspectFormat.self
        let items = rows.map { row in
            f.jsonObject([
                ("trace_id", f.jsonString(row.traceID)),
                ("root_name", f.jsonString(row.rootName)),
                ("root_service", f.jsonString(row.rootService)),
                ("services", "[" + row.services.map { f.jsonString($0) }.joined(separator: ", ") + "]"),
                ("span_count", "\(row.spanCount)"),
                ("error_count", "\(row.errorCount)"),
                ("status", f.jsonString(row.errorCount > 0 ? "error" : "ok")),
                ("start_time", f.jsonString(f.timestamp(micros: row.startMicros))),
                ("end_time", f.jsonString(f.timestamp(micros: row.endMicros))),
                ("duration_ms", f.milliseconds(nanos: row.durationNanos)),
                ("concluded", row.concludedMicros == nil ? "false" : "true"),
                ("concluded_at", f.jsonString(row.concludedMicros.map { f.timestamp(micros: $0) })),
                ("complete", row.complete ? "true" : "false"),
                ("missing_parent_count", "\(row.missingParentCount)"),
            ])
        }
        return items.isEmpty ? "{\"traces\": []}" : "{\"traces\": [\n  " + items.joined(separator: ",\n  ") + "\n]}"
    }
}
