/// One row of `trace_spans` as `tracegate trace` reads it (see `TraceQueries`).
public struct TraceSpanRow: Sendable, Equatable {
    /// 16 lowercase hex digits.
    public var spanID: String
    /// Nil for a root span.
    public var parentSpanID: String?
    public var name: String
    public var service: String
    /// OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    public var kind: Int
    /// Microseconds since the Unix epoch: `timestamptz` keeps no more.
    public var startMicros: Int64
    /// Exact, from `duration_ns`.
    public var durationNanos: Int64
    /// OTLP StatusCode: 0 unset, 1 ok, 2 error.
    public var statusCode: Int
    public var statusMessage: String
    /// The jsonb text of `attributes` and `events`, passed through to `--json`.
    public var attributesJSON: String
    public var eventsJSON: String

    public init(
        spanID: String, parentSpanID: String? = nil, name: String, service: String, kind: Int = 1,
        startMicros: Int64, durationNanos: Int64, statusCode: Int = 0, statusMessage: String = "",
        attributesJSON: String = "{}", eventsJSON: String = "[]"
    ) {
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.service = service
        self.kind = kind
        self.startMicros = startMicros
        self.durationNanos = durationNanos
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.attributesJSON = attributesJSON
        self.eventsJSON = eventsJSON
    }

    public var isError: Bool { statusCode == 2 }

    public var kindName: String {
        let names = ["unspecified", "internal", "server", "client", "producer", "consumer"]
        return names.indices.contains(kind) ? names[kind] : "\(kind)"
    }

    public var statusName: String {
        let names = ["unset", "ok", "error"]
        return names.indices.contains(statusCode) ? names[statusCode] : "\(statusCode)"
    }
}

/// One trace laid out as a span tree in time order: the model behind the
/// waterfall of `tracegate trace` and its `--json` document. Pure: rows in,
/// lines out.
///
/// Roots (no parent) and orphans (a parent that is not in the trace) are the
/// top level; children follow their parent, ordered by start time. Spans that
/// no top-level span reaches (a parent cycle, which only hand-written rows
/// can make) are shown at the top level as orphans, so no span is lost.
public struct TraceWaterfall: Sendable {
    public struct Entry: Sendable, Equatable {
        public var span: TraceSpanRow
        /// 0 for the top level.
        public var depth: Int
        /// The tree drawing before the name: `├─ `, `│  └─ `, …
        public var treePrefix: String
        public var isOrphan: Bool
        /// From the start of the trace.
        public var offsetNanos: Int64
    }

    public let traceID: String
    /// Display order: depth first, children by start time.
    public let entries: [Entry]
    /// The earliest root span, if the trace has one.
    public let root: TraceSpanRow?
    public let startMicros: Int64
    /// From the first start to the last end.
    public let durationNanos: Int64

    public var spanCount: Int { entries.count }
    public var errorCount: Int { entries.count(where: { $0.span.isError }) }
    public var orphanCount: Int { entries.count(where: { $0.isOrphan }) }
    /// Distinct services, sorted.
    public var services: [String] { Array(Set(entries.map(\.span.service))).sorted() }

    public static let defaultBarWidth = 40

    public init(traceID: String, spans: [TraceSpanRow]) {
        self.traceID = traceID
        let start = spans.map(\.startMicros).min() ?? 0
        let startNanos = start * 1_000
        let end = spans.map { $0.startMicros * 1_000 + max(0, $0.durationNanos) }.max() ?? startNanos
        self.startMicros = start
        self.durationNanos = end - startNanos

        // Time order, longer first on a tie (a parent usually starts with its
        // first child), then by name and id so that the order is stable.
        let ordered = spans.sorted {
            ($0.startMicros, -$0.durationNanos) != ($1.startMicros, -$1.durationNanos)
                ? ($0.startMicros, -$0.durationNanos) < ($1.startMicros, -$1.durationNanos)
                : ($0.name, $0.spanID) < ($1.name, $1.spanID)
        }
        let ids = Set(ordered.map(\.spanID))
        var children: [String: [Int]] = [:]
        var topLevel: [Int] = []
        for (i, span) in ordered.enumerated() {
            if let parent = span.parentSpanID, ids.contains(parent), parent != span.spanID {
                children[parent, default: []].append(i)
            } else {
                topLevel.append(i)
            }
        }
        self.root = ordered.first { $0.parentSpanID == nil }

        var entries: [Entry] = []
        entries.reserveCapacity(ordered.count)
        var placed = [Bool](repeating: false, count: ordered.count)
        // Depth first without recursion: a chain of thousands of spans must not overflow the stack.
        func walk(from top: Int, orphan: Bool) {
            var stack: [(index: Int, depth: Int, prefix: String, childPrefix: String)] = [(top, 0, "", "")]
            while let (i, depth, prefix, childPrefix) = stack.popLast() {
                guard !placed[i] else { continue }
                placed[i] = true
                let span = ordered[i]
                entries.append(
                    Entry(
                        span: span, depth: depth, treePrefix: prefix, isOrphan: depth == 0 && orphan,
                        offsetNanos: span.startMicros * 1_000 - startNanos))
                // Each span id is expanded once, even when rows repeat it.
                let kids = (children.removeValue(forKey: span.spanID) ?? []).filter { !placed[$0] }
                for (n, child) in kids.enumerated().reversed() {
                    let last = n == kids.count - 1
                    stack.append((child, depth + 1, childPrefix + (last ? "└─ " : "├─ "), childPrefix + (last ? "   " : "│  ")))
                }
            }
        }
        for i in topLevel where !placed[i] { walk(from: i, orphan: ordered[i].parentSpanID != nil) }
        for i in ordered.indices where !placed[i] { walk(from: i, orphan: true) }
        self.entries = entries
    }

    // MARK: - Text

    /// The waterfall as lines without newlines: a header line, a blank line,
    /// column titles, then one line per span.
    public func render(style: TerminalStyle = .plain, barWidth: Int = defaultBarWidth) -> [String] {
        let nameWidth = min(48, max(4, entries.map { $0.treePrefix.count + Self.label($0.span.name).count }.max() ?? 0))
        let serviceWidth = min(24, max(7, entries.map { Self.label($0.span.service).count }.max() ?? 0))
        let durations = entries.map { InspectFormat.duration(nanos: $0.span.durationNanos) }
        let durationWidth = max(8, durations.map(\.count).max() ?? 0)
        var serviceColors: [String: TerminalStyle.Color] = [:]
        for entry in entries where serviceColors[entry.span.service] == nil {
            serviceColors[entry.span.service] = TerminalStyle.servicePalette[serviceColors.count % TerminalStyle.servicePalette.count]
        }

        let ids = Set(entries.map(\.span.spanID))
        var lines = [header(style: style), ""]
        let axisEnd = InspectFormat.duration(nanos: durationNanos)
        let axis = barWidth > axisEnd.count + 1
            ? "0" + String(repeating: " ", count: barWidth - 1 - axisEnd.count) + axisEnd
            : InspectFormat.padRight("", barWidth)
        lines.append(style.paint(
            [InspectFormat.padRight("SPAN", nameWidth), InspectFormat.padRight("SERVICE", serviceWidth), axis,
             InspectFormat.padLeft("DURATION", durationWidth), "STATUS"].joined(separator: "  "), .dim))

        for (entry, duration) in zip(entries, durations) {
            let span = entry.span
            let name = InspectFormat.truncated(entry.treePrefix + Self.label(span.name), to: nameWidth)
            let tree = String(name.prefix(entry.treePrefix.count))
            let bare = String(name.dropFirst(entry.treePrefix.count))
            let nameCell = style.paint(tree, .dim) + (span.isError ? style.paint(bare, .red) : bare)
                + String(repeating: " ", count: nameWidth - name.count)
            let serviceColor = serviceColors[span.service] ?? .cyan
            let service = InspectFormat.padRight(InspectFormat.truncated(Self.label(span.service), to: serviceWidth), serviceWidth)
            let bar = Self.bar(offsetNanos: entry.offsetNanos, durationNanos: span.durationNanos, totalNanos: durationNanos, width: barWidth)
            var notes: [String] = []
            switch span.statusCode {
            case 2: notes.append(style.paint("✗ " + (span.statusMessage.isEmpty ? "error" : Self.label(span.statusMessage)), .red))
            case 1: notes.append(style.paint("ok", .green))
            default: break
            }
            if entry.isOrphan, let parent = span.parentSpanID {
                let why = ids.contains(parent) ? "in a parent cycle" : "parent \(parent) missing"
                notes.append(style.paint("orphan: \(why)", .yellow))
            }
            let line = [nameCell, style.paint(service, serviceColor),
                        style.paint(bar, span.isError ? .red : serviceColor),
                        InspectFormat.padLeft(duration, durationWidth), notes.joined(separator: "  ")]
                .joined(separator: "  ")
            lines.append(Self.trimmingTrailingSpaces(line))
        }
        return lines
    }

    /// `trace <id> · <root> (<service>) · N spans · N errors[ · N orphans] · <duration> · <start>`
    func header(style: TerminalStyle) -> String {
        var parts = [style.paint("trace \(traceID)", .bold)]
        if let root {
            parts.append("\(Self.label(root.name)) (\(Self.label(root.service)))")
        } else {
            parts.append(style.paint("no root span", .yellow))
        }
        parts.append(Self.count(spanCount, "span"))
        let errors = Self.count(errorCount, "error")
        parts.append(errorCount > 0 ? style.paint(errors, .red) : errors)
        if orphanCount > 0 { parts.append(style.paint(Self.count(orphanCount, "orphan"), .yellow)) }
        parts.append(InspectFormat.duration(nanos: durationNanos))
        parts.append(InspectFormat.timestamp(micros: startMicros))
        return parts.joined(separator: " · ")
    }

    /// A time bar exactly `width` characters wide: full blocks over the cells
    /// the span covers (at least one), `▏` at the start of an instant span,
    /// spaces elsewhere. Cells are `totalNanos / width` long; a span's first
    /// cell is the one its start falls in, its last the one its end reaches
    /// into. A zero-length trace puts everything in the first cell.
    public static func bar(offsetNanos: Int64, durationNanos: Int64, totalNanos: Int64, width: Int) -> String {
        guard width > 0 else { return "" }
        let total = Int128(max(0, totalNanos))
        let offset = Int128(max(0, offsetNanos))
        let end = offset + Int128(max(0, durationNanos))
        let w = Int128(width)
        let first = total == 0 ? 0 : Int(min(w - 1, offset * w / total))
        var cells = [Character](repeating: " ", count: width)
        if durationNanos <= 0 {
            cells[first] = "▏"
        } else {
            let last = total == 0 ? width : Int(min(w, (end * w + total - 1) / total))
            for i in first..<max(first + 1, last) { cells[i] = "█" }
        }
        return String(cells)
    }

    static func label(_ text: String) -> String { InspectFormat.sanitized(text) }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    static func trimmingTrailingSpaces(_ line: String) -> String {
        var s = Substring(line)
        while s.last == " " { s.removeLast() }
        return String(s)
    }

    // MARK: - JSON

    /// The `--json` document: the trace summary and every span in display
    /// order with its depth and offset. Attributes and events are the stored jsonb.
    public func json() -> String {
        let f = InspectFormat.self
        var out = "{\n"
        let summary: [(String, String)] = [
            ("trace_id", f.jsonString(traceID)),
            ("root_span_id", f.jsonString(root?.spanID)),
            ("root_name", f.jsonString(root?.name)),
            ("root_service", f.jsonString(root?.service)),
            ("start_time", f.jsonString(f.timestamp(micros: startMicros))),
            ("duration_ms", f.milliseconds(nanos: durationNanos)),
            ("span_count", "\(spanCount)"),
            ("error_count", "\(errorCount)"),
            ("orphan_count", "\(orphanCount)"),
            ("services", "[" + services.map { f.jsonString($0) }.joined(separator: ", ") + "]"),
        ]
        for (key, value) in summary { out += "  \(f.jsonString(key)): \(value),\n" }
        out += "  \"spans\": ["
        for (n, entry) in entries.enumerated() {
            let span = entry.span
            out += n == 0 ? "\n    " : ",\n    "
            out += f.jsonObject([
                ("span_id", f.jsonString(span.spanID)),
                ("parent_span_id", f.jsonString(span.parentSpanID)),
                ("name", f.jsonString(span.name)),
                ("service", f.jsonString(span.service)),
                ("kind", f.jsonString(span.kindName)),
                ("depth", "\(entry.depth)"),
                ("orphan", entry.isOrphan ? "true" : "false"),
                ("start_time", f.jsonString(f.timestamp(micros: span.startMicros))),
                ("offset_ms", f.milliseconds(nanos: entry.offsetNanos)),
                ("duration_ms", f.milliseconds(nanos: span.durationNanos)),
                ("duration_ns", "\(span.durationNanos)"),
                ("status", f.jsonString(span.statusName)),
                ("status_message", f.jsonString(span.statusMessage)),
                ("attributes", span.attributesJSON),
                ("events", span.eventsJSON),
            ])
        }
        out += entries.isEmpty ? "]\n}" : "\n  ]\n}"
        return out
    }
}
