/// One versioned schema change, with the SQL to apply and to revert it.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var up: String
    public var down: String
}

/// The schema history, oldest first. Never edit an applied migration; add one.
public enum Migrations {
    public static let all: [Migration] = [
        Migration(
            version: 1, name: "trace_spans",
            up: """
                CREATE TABLE trace_spans (
                    trace_id                 bytea       NOT NULL,
                    span_id                  bytea       NOT NULL,
                    parent_span_id           bytea,
                    trace_state              text        NOT NULL DEFAULT '',
                    name                     text        NOT NULL,
                    kind                     smallint    NOT NULL,
                    service_name             text        NOT NULL,
                    scope_name               text        NOT NULL DEFAULT '',
                    scope_version            text        NOT NULL DEFAULT '',
                    start_time               timestamptz NOT NULL,
                    end_time                 timestamptz NOT NULL,
                    duration_ns              bigint      NOT NULL,
                    status_code              smallint    NOT NULL DEFAULT 0,
                    status_message           text        NOT NULL DEFAULT '',
                    flags                    bigint      NOT NULL DEFAULT 0,
                    attributes               jsonb       NOT NULL DEFAULT '{}',
                    resource_attributes      jsonb       NOT NULL DEFAULT '{}',
                    events                   jsonb       NOT NULL DEFAULT '[]',
                    links                    jsonb       NOT NULL DEFAULT '[]',
                    dropped_attributes_count integer     NOT NULL DEFAULT 0,
                    dropped_events_count     integer     NOT NULL DEFAULT 0,
                    dropped_links_count      integer     NOT NULL DEFAULT 0,
                    ingested_at              timestamptz NOT NULL DEFAULT now(),
                    -- A client that retries a request must not duplicate rows.
                    CONSTRAINT trace_spans_pkey PRIMARY KEY (trace_id, span_id)
                );
                CREATE INDEX trace_spans_service_start ON trace_spans (service_name, start_time);
                COMMENT ON TABLE trace_spans IS 'One row per span received by Tracegate. Ids are bytea: query them as ''\\x<hex>''.';
                COMMENT ON COLUMN trace_spans.kind IS 'OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer';
                COMMENT ON COLUMN trace_spans.status_code IS 'OTLP StatusCode: 0 unset, 1 ok, 2 error';
                COMMENT ON COLUMN trace_spans.duration_ns IS 'end - start in nanoseconds (the timestamps keep microseconds)';

                CREATE FUNCTION span_kind_name(kind smallint) RETURNS text
                    LANGUAGE sql IMMUTABLE PARALLEL SAFE
                    RETURN (ARRAY['unspecified','internal','server','client','producer','consumer'])[kind + 1];
                CREATE FUNCTION status_code_name(code smallint) RETURNS text
                    LANGUAGE sql IMMUTABLE PARALLEL SAFE
                    RETURN (ARRAY['unset','ok','error'])[code + 1];

                -- The same rows with ids as the lowercase hex SDKs print and names for enums.
                CREATE VIEW trace_spans_hex AS
                SELECT encode(trace_id, 'hex') AS trace_id, encode(span_id, 'hex') AS span_id,
                       encode(parent_span_id, 'hex') AS parent_span_id, name, span_kind_name(kind) AS kind,
                       service_name, start_time, end_time, duration_ns / 1e6 AS duration_ms,
                       status_code_name(status_code) AS status, status_message, attributes,
                       resource_attributes, events, links, scope_name, scope_version, trace_state, flags,
                       ingested_at
                FROM trace_spans;
                """,
            down: """
                DROP VIEW trace_spans_hex;
                DROP FUNCTION status_code_name(smallint);
                DROP FUNCTION span_kind_name(smallint);
                DROP TABLE trace_spans;
                """),
    ]

    public static var latestVersion: Int { all.last?.version ?? 0 }
}

/// Applies and reverts migrations, one transaction each, under an advisory
/// lock so that replicas starting together do not race.
public struct Migrator {
    /// An arbitrary constant naming Tracegate's migration lock.
    static let lockKey = 7_400_410_001
    static let historyTable = "tracegate_schema_migrations"

    let connection: PGConnection

    public struct Status: Sendable, Equatable {
        public var applied: [Int]
        public var known: [Int]
        public var current: Int { applied.max() ?? 0 }
        public var pending: [Int] { known.filter { !applied.contains($0) } }
    }

    public init(dsn: String, connectTimeout: Duration = .seconds(5)) throws(PostgresError) {
        self.connection = try PGConnection(dsn: dsn, connectTimeout: connectTimeout)
    }

    init(connection: PGConnection) { self.connection = connection }

    private func ensureHistory() throws(PostgresError) {
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS \(Self.historyTable) (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, context: "creating \(Self.historyTable)")
    }

    public func status() throws(PostgresError) -> Status {
        let exists = try connection.execute("SELECT to_regclass('\(Self.historyTable)') IS NOT NULL", context: "reading schema version")
        var applied: [Int] = []
        if exists.first?.first == "t" {
            let rows = try connection.execute("SELECT version FROM \(Self.historyTable) ORDER BY version", context: "reading schema version")
            applied = rows.compactMap { row in row.first.flatMap { $0 }.flatMap { Int($0) } }
        }
        return Status(applied: applied, known: Migrations.all.map(\.version))
    }

    /// Fails when the database was migrated by a newer Tracegate: writing to a
    /// schema we do not know could corrupt it.
    public func checkNotNewer() throws(PostgresError) {
        let current = try status().current
        if current > Migrations.latestVersion {
            throw PostgresError(
                code: .schemaTooNew,
                message: "database schema is at version \(current), this tracegate knows up to \(Migrations.latestVersion); upgrade tracegate",
                context: "checking schema version")
        }
    }

    /// Applies every pending migration up to `target` (default: all); returns the applied ones.
    @discardableResult
    public func up(to target: Int? = nil) throws(PostgresError) -> [Migration] {
        try withLock { () throws(PostgresError) -> [Migration] in
            try ensureHistory()
            try checkNotNewer()
            let applied = Set(try status().applied)
            var done: [Migration] = []
            for m in Migrations.all where !applied.contains(m.version) && m.version <= (target ?? Int.max) {
                try transaction(context: "migration \(m.version) \(m.name) (up)") { () throws(PostgresError) in
                    try connection.execute(m.up, context: "migration \(m.version) \(m.name) (up)")
                    try connection.execute(
                        "INSERT INTO \(Self.historyTable) (version, name) VALUES ($1, $2)",
                        parameters: ["\(m.version)", m.name], context: "recording migration \(m.version)")
                }
                done.append(m)
            }
            return done
        }
    }

    /// Reverts the newest applied migration; nil when there is none.
    @discardableResult
    public func down() throws(PostgresError) -> Migration? {
        try withLock { () throws(PostgresError) -> Migration? in
            try ensureHistory()
            try checkNotNewer()
            guard let current = try status().applied.max(), let m = Migrations.all.first(where: { $0.version == current }) else {
                return nil
            }
            try transaction(context: "migration \(m.version) \(m.name) (down)") { () throws(PostgresError) in
                try connection.execute(m.down, context: "migration \(m.version) \(m.name) (down)")
                try connection.execute(
                    "DELETE FROM \(Self.historyTable) WHERE version = $1", parameters: ["\(m.version)"],
                    context: "recording migration \(m.version) reverted")
            }
            return m
        }
    }

    private func withLock<R>(_ body: () throws(PostgresError) -> R) throws(PostgresError) -> R {
        try connection.execute("SELECT pg_advisory_lock(\(Self.lockKey))", context: "taking the migration lock")
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))", context: "releasing the migration lock") }
        return try body()
    }

    private func transaction(context: String, _ body: () throws(PostgresError) -> Void) throws(PostgresError) {
        try connection.execute("BEGIN", context: context)
        do {
            try body()
            try connection.execute("COMMIT", context: context)
        } catch {
            _ = try? connection.execute("ROLLBACK", context: context)
            throw error
        }
    }
}
