import TracegateCore

/// Settings of a `conclusion/<name>` exporter: when a trace counts as
/// concluded, where its notification goes, and how delivery is retried.
public struct ConclusionExporterConfig: Sendable, Equatable {
    /// Where concluded traces are tracked.
    public enum Store: String, Sendable, Equatable {
        /// The `traces` table and an outbox in PostgreSQL: restart-safe, and
        /// replicas sharing the database notify each trace once.
        case postgres
        /// Per-trace summaries in this process only (a sidecar without a database).
        case memory
    }

    /// What a span of an already concluded trace does.
    public enum LateSpans: String, Sendable, Equatable {
        /// Nothing: the trace stays concluded (counted in a metric).
        case ignore
        /// The trace concludes again after `inactivity` and a second
        /// notification goes out with `updated: true`.
        case renotify
    }

    /// `signing`: an HMAC-SHA256 of the body, sent as `sha256=<hex>`.
    public struct Signing: Sendable, Equatable {
        /// The key; usually `${env:NAME}`. Must not be empty.
        public var secret: String
        /// The header that carries the signature.
        public var header: String = "X-Tracegate-Signature"
    }

    /// `endpoint`: the URL notifications are POSTed to (required, http or https).
    public var endpoint: String = ""
    /// `inactivity`: a trace concludes when no span of it arrived for this long (gateway clock).
    public var inactivity: Duration = .seconds(60)
    /// `max_wait`: an incomplete trace (root or a referenced parent missing)
    /// waits this long after its last span for the missing parts, then concludes
    /// with `complete: false`. At least `inactivity`.
    public var maxWait: Duration = .seconds(300)
    /// `store`: `postgres` (default) or `memory`.
    public var store: Store = .postgres
    /// `dsn`: the database of the postgres store. Empty in the file means the
    /// DSN of the postgres exporter of the same pipeline, which is required
    /// either way (it writes the `traces` rows conclusion reads); resolved when
    /// the whole configuration is read.
    public var dsn: String = ""
    /// `max_traces`: memory store: open traces held; when full, the trace whose
    /// conclusion is nearest concludes early (`tracegate_conclusion_evicted_total`).
    public var maxTraces: Int = 100_000
    /// `max_pending`: memory store: notifications waiting for delivery (or a
    /// retry); beyond it the oldest becomes a dead letter.
    public var maxPending: Int = 100_000
    /// `headers`: extra request headers, e.g. `Authorization`.
    public var headers: [Header] = []
    /// `signing`: sign each body with HMAC-SHA256; off when absent.
    public var signing: Signing?
    /// `body_template`: the body for one trace, with `{{field}}` replaced by
    /// the JSON value of that field (`{"trace_id": {{trace_id}}}`); absent: the
    /// whole notification object.
    public var bodyTemplate: BodyTemplate?
    /// `batch_size`: traces per POST. 1 sends one JSON object; more sends a JSON
    /// array of up to this many.
    public var batchSize: Int = 1
    /// `timeout`: the longest one POST may take, connection included.
    public var timeout: Duration = .seconds(10)
    /// `retry`: backoff between failed deliveries and when to give up.
    public var retry = DeliveryPolicy()
    /// `late_spans`: `ignore` (default) or `renotify`.
    public var lateSpans: LateSpans = .ignore
    /// `dead_letter_file`: memory store: where notifications that failed
    /// `retry.max_attempts` times are appended, one JSON object a line.
    public var deadLetterFile: String = "tracegate-dead-letters.jsonl"
    /// `workers`: loops that deliver notifications, each on its own pool thread with its own connections.
    public var workers: Int = 2
    /// `sweep_interval`: postgres store: how often open traces whose in-memory
    /// timer was lost (a restart, a replica gone) are looked for in `traces`.
    public var sweepInterval: Duration = .seconds(5)
    public var sendingQueue = SendingQueueConfig(numConsumers: 1, queueSize: 200_000)
    /// `when`: only concluded traces that match are notified; absent: all.
    public var when: NotificationCondition?
    /// `conclude_after_root`: a complete trace (root present, no parent
    /// missing) concludes this long after its root span arrived, without
    /// waiting out `inactivity`; zero: off.
    public var concludeAfterRoot: Duration = .zero
    /// `include`: what notifications carry beyond the summary: `spans` puts
    /// the trace's stored spans (OTLP/JSON) in each one (postgres store).
    public var includeSpans = false
    /// `max_body_size`: with `include: [spans]`, the most bytes of spans one
    /// request carries (split evenly among a batch's traces); spans past it
    /// are left out and `spans_truncated` is true.
    public var maxBodySize: Int = 4 << 20

    /// One configured request header.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public init() {}

    public static func read(_ map: ConfigMap) -> ConclusionExporterConfig {
        var c = ConclusionExporterConfig()
        if let endpoint = map.string("endpoint") {
            c.endpoint = endpoint
            let lower = endpoint.lowercased()
            if !(lower.hasPrefix("http://") || lower.hasPrefix("https://")) || endpoint.count < 10 {
                map.report("endpoint", "expected an http:// or https:// URL, got '\(endpoint)'")
            }
        } else {
            map.report(nil, "endpoint is required")
        }
        c.inactivity = map.duration("inactivity", default: c.inactivity)
        c.maxWait = map.duration("max_wait", default: c.maxWait)
        if c.inactivity < .milliseconds(100) { map.report("inactivity", "must be at least 100ms") }
        if c.maxWait < c.inactivity { map.report("max_wait", "must not be less than inactivity (\(c.inactivity))") }
        if let s = map.string("store") {
            if let store = Store(rawValue: s) { c.store = store } else { map.report("store", "expected postgres or memory, got '\(s)'") }
        }
        if let dsn = map.string("dsn") {
            c.dsn = dsn
            if dsn.isEmpty { map.report("dsn", "is empty (is the environment variable it names set?)") }
            if c.store == .memory { map.report("dsn", "only the postgres store uses a database") }
        }
        c.maxTraces = map.int("max_traces", default: c.maxTraces, range: 1...100_000_000)
        c.maxPending = map.int("max_pending", default: c.maxPending, range: 1...100_000_000)
        let headers = map.map("headers")
        for name in headers.keys {
            guard let value = headers.string(name) else { continue }
            if name.isEmpty || name.contains(where: { $0 == ":" || $0 == " " || $0 == "\n" || $0 == "\r" }) || value.contains(where: { $0 == "\n" || $0 == "\r" }) {
                headers.report(name, "is not a valid header")
            }
            c.headers.append(Header(name: name, value: value))
        }
        headers.finish()
        let signingPresent = map.has("signing")
        let s = map.map("signing")
        let secret = s.string("secret") ?? ""
        var signing = Signing(secret: secret)
        signing.header = s.string("header", default: signing.header)
        if signingPresent {
            if secret.isEmpty { s.report(s.has("secret") ? "secret" : nil, "secret is required and must not be empty (is the environment variable it names set?)") }
            if signing.header.isEmpty || signing.header.contains(":") { s.report("header", "is not a valid header name") }
            c.signing = signing
        }
        s.finish()
        if let text = map.string("body_template") {
            switch BodyTemplate.parse(text) {
            case .success(let t): c.bodyTemplate = t
            case .failure(let problem): map.report("body_template", problem.description)
            }
        }
        c.batchSize = map.int("batch_size", default: c.batchSize, range: 1...1000)
        c.timeout = map.duration("timeout", default: c.timeout)
        if c.timeout <= .zero { map.report("timeout", "must be greater than zero") }
        c.retry = DeliveryPolicy.read(map.map("retry"), defaults: c.retry)
        if let s = map.string("late_spans") {
            if let late = LateSpans(rawValue: s) { c.lateSpans = late } else { map.report("late_spans", "expected ignore or renotify, got '\(s)'") }
        }
        if let file = map.string("dead_letter_file") {
            c.deadLetterFile = file
            if file.isEmpty { map.report("dead_letter_file", "must not be empty") }
            if c.store == .postgres { map.report("dead_letter_file", "only the memory store uses a file; the postgres store keeps dead letters in notification_dead_letters") }
        }
        c.workers = map.int("workers", default: c.workers, range: 1...64)
        c.sweepInterval = map.duration("sweep_interval", default: c.sweepInterval)
        if c.sweepInterval < .milliseconds(100) { map.report("sweep_interval", "must be at least 100ms") }
        c.sendingQueue = SendingQueueConfig.read(map.map("sending_queue"), defaults: c.sendingQueue)
        if map.value("when") != nil { c.when = NotificationCondition.read(map.map("when")) }
        c.concludeAfterRoot = map.duration("conclude_after_root", default: c.concludeAfterRoot)
        if c.concludeAfterRoot < .zero { map.report("conclude_after_root", "must not be negative") }
        if c.concludeAfterRoot > c.inactivity { map.report("conclude_after_root", "must not be more than inactivity (\(c.inactivity)): it shortens the wait") }
        if let list = map.stringList("include") {
            for (i, (item, line)) in list.enumerated() {
                if item == "spans" {
                    c.includeSpans = true
                } else {
                    map.diagnostics.report(line: line, path: "\(map.path).include[\(i)]", "unknown item '\(item)'; known: spans")
                }
            }
            if c.includeSpans && c.store == .memory {
                map.report("include", "spans needs store: postgres (the memory store keeps summaries, not spans)")
            }
        }
        c.maxBodySize = map.byteSize("max_body_size", default: c.maxBodySize)
        if c.maxBodySize < 1024 { map.report("max_body_size", "must be at least 1KiB") }
        map.finish()
        return c
    }
}
