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
                \(traceSpansHexView)
                """,
            down: """
                DROP VIEW trace_spans_hex;
                DROP FUNCTION status_code_name(smallint);
                DROP FUNCTION span_kind_name(smallint);
                DROP TABLE trace_spans;
                """),
        Migration(
            version: 2, name: "partitioned_trace_spans_and_traces",
            up: """
                -- trace_spans becomes range-partitioned by start_time, one partition a
                -- day (UTC), so that retention drops whole partitions. Rows whose day
                -- has no partition go to trace_spans_default.
                DROP VIEW trace_spans_hex;
                ALTER TABLE trace_spans RENAME TO trace_spans_unpartitioned;
                ALTER TABLE trace_spans_unpartitioned RENAME CONSTRAINT trace_spans_pkey TO trace_spans_unpartitioned_pkey;
                ALTER INDEX trace_spans_service_start RENAME TO trace_spans_unpartitioned_service_start;
                CREATE TABLE trace_spans (
                    LIKE trace_spans_unpartitioned INCLUDING DEFAULTS INCLUDING COMMENTS,
                    -- The partition key must be part of the key; a re-delivered span
                    -- carries the same start_time, so duplicates still collide.
                    CONSTRAINT trace_spans_pkey PRIMARY KEY (trace_id, span_id, start_time)
                ) PARTITION BY RANGE (start_time);
                COMMENT ON TABLE trace_spans IS 'One row per span received by Tracegate, partitioned by day of start_time (UTC). Ids are bytea: query them as ''\\x<hex>''.';
                CREATE TABLE trace_spans_default PARTITION OF trace_spans DEFAULT;
                CREATE INDEX trace_spans_service_start ON trace_spans (service_name, start_time);
                CREATE INDEX trace_spans_errors_start ON trace_spans (start_time) WHERE status_code = 2;

                CREATE FUNCTION tracegate_partition_name(day date) RETURNS text
                    LANGUAGE sql IMMUTABLE PARALLEL SAFE
                    RETURN 'trace_spans_' || to_char(day, 'YYYYMMDD');

                -- Creates the partition of one UTC day if it does not exist, moving that
                -- day's rows out of the default partition first. Safe to call from
                -- several sessions at once.
                CREATE FUNCTION tracegate_ensure_partition(day date) RETURNS boolean
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    part text := tracegate_partition_name(day);
                    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
                    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
                BEGIN
                    IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;
                    PERFORM pg_advisory_xact_lock(7400410002);
                    IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;
                    -- Hold the default partition still: a row for this day written
                    -- between the move and the attach would make the attach fail.
                    LOCK TABLE trace_spans_default IN ACCESS EXCLUSIVE MODE;
                    EXECUTE format('CREATE TABLE %I (LIKE trace_spans INCLUDING DEFAULTS)', part);
                    EXECUTE format(
                        'WITH moved AS (DELETE FROM trace_spans_default WHERE start_time >= %L AND start_time < %L RETURNING *) '
                        'INSERT INTO %I SELECT * FROM moved', lo, hi, part);
                    EXECUTE format('ALTER TABLE trace_spans ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
                    RETURN true;
                END
                $fn$;

                INSERT INTO trace_spans SELECT * FROM trace_spans_unpartitioned;
                SELECT tracegate_ensure_partition(d)
                FROM (SELECT DISTINCT (start_time AT TIME ZONE 'UTC')::date AS d FROM trace_spans_default) AS days;
                DROP TABLE trace_spans_unpartitioned;

                -- One row per trace, maintained by the exporter in the same transaction
                -- as the trace's spans.
                CREATE TABLE traces (
                    trace_id             bytea       PRIMARY KEY,
                    first_seen_at        timestamptz NOT NULL,
                    last_activity_at     timestamptz NOT NULL,
                    start_time           timestamptz NOT NULL,
                    end_time             timestamptz NOT NULL,
                    root_span_id         bytea,
                    root_name            text,
                    root_service         text,
                    services             text[]      NOT NULL DEFAULT '{}',
                    span_count           bigint      NOT NULL DEFAULT 0,
                    error_count          bigint      NOT NULL DEFAULT 0,
                    status               text        GENERATED ALWAYS AS (CASE WHEN error_count > 0 THEN 'error' ELSE 'ok' END) STORED,
                    concluded_at         timestamptz,
                    complete             boolean     NOT NULL DEFAULT false,
                    missing_parent_count integer     NOT NULL DEFAULT 0,
                    -- parent span ids referenced by stored spans but not stored (yet)
                    missing_parents      bytea[]     NOT NULL DEFAULT '{}'
                );
                COMMENT ON TABLE traces IS 'One row per trace: first/last activity on the gateway clock, span time range, root span, services, counts, conclusion.';
                COMMENT ON COLUMN traces.last_activity_at IS 'gateway clock: when the newest span of this trace was stored';
                COMMENT ON COLUMN traces.complete IS 'the root span is present and every referenced parent span is present';
                COMMENT ON COLUMN traces.missing_parents IS 'parent span ids referenced by stored spans of the trace that are not stored';
                -- Spans stored before this migration get their summaries now.
                INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id,
                                    root_name, root_service, services, span_count, error_count)
                SELECT trace_id, min(ingested_at), max(ingested_at), min(start_time), max(end_time),
                       (array_agg(span_id ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1],
                       (array_agg(name ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1],
                       (array_agg(service_name ORDER BY start_time) FILTER (WHERE parent_span_id IS NULL))[1],
                       array_agg(DISTINCT service_name ORDER BY service_name), count(*),
                       count(*) FILTER (WHERE status_code = 2)
                FROM trace_spans GROUP BY trace_id;
                UPDATE traces t SET missing_parents = m.missing, missing_parent_count = cardinality(m.missing),
                                    complete = t.root_span_id IS NOT NULL AND cardinality(m.missing) = 0
                FROM (SELECT s.trace_id, array_agg(DISTINCT s.parent_span_id) FILTER (
                             WHERE s.parent_span_id IS NOT NULL AND NOT EXISTS (
                                 SELECT 1 FROM trace_spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)) AS missing
                      FROM trace_spans s GROUP BY s.trace_id) m
                WHERE t.trace_id = m.trace_id AND m.missing IS NOT NULL;
                UPDATE traces SET complete = root_span_id IS NOT NULL AND missing_parent_count = 0;
                CREATE INDEX traces_root_name_start ON traces (root_name, start_time);
                CREATE INDEX traces_start ON traces (start_time);
                CREATE INDEX traces_open_by_activity ON traces (last_activity_at) WHERE concluded_at IS NULL;

                \(traceSpansHexView)
                """,
            down: """
                DROP VIEW trace_spans_hex;
                DROP TABLE traces;
                ALTER TABLE trace_spans RENAME TO trace_spans_partitioned;
                ALTER TABLE trace_spans_partitioned RENAME CONSTRAINT trace_spans_pkey TO trace_spans_partitioned_pkey;
                ALTER INDEX trace_spans_service_start RENAME TO trace_spans_partitioned_service_start;
                CREATE TABLE trace_spans (
                    LIKE trace_spans_partitioned INCLUDING DEFAULTS INCLUDING COMMENTS,
                    CONSTRAINT trace_spans_pkey PRIMARY KEY (trace_id, span_id)
                );
                CREATE INDEX trace_spans_service_start ON trace_spans (service_name, start_time);
                COMMENT ON TABLE trace_spans IS 'One row per span received by Tracegate. Ids are bytea: query them as ''\\x<hex>''.';
                -- The old key has no start_time: of a span stored twice with different
                -- start times, the first stays.
                INSERT INTO trace_spans SELECT * FROM trace_spans_partitioned ON CONFLICT DO NOTHING;
                DROP TABLE trace_spans_partitioned;
                DROP FUNCTION tracegate_ensure_partition(date);
                DROP FUNCTION tracegate_partition_name(date);
                \(traceSpansHexView)
                """),
        sqlSurface,
        notifications,
        serviceGraph,
        queryAPI,
        traceIDHash,
    ]

    /// `trace_spans` with hex ids and enum names. Migrations 1 and 2 both
    /// create it (2 rebuilds the table under it). Frozen like the migrations
    /// that use it: a changed view goes into a new migration.
    static let traceSpansHexView = """
        CREATE VIEW trace_spans_hex AS
        SELECT encode(trace_id, 'hex') AS trace_id, encode(span_id, 'hex') AS span_id,
               encode(parent_span_id, 'hex') AS parent_span_id, name, span_kind_name(kind) AS kind,
               service_name, start_time, end_time, duration_ns / 1e6 AS duration_ms,
               status_code_name(status_code) AS status, status_message, attributes,
               resource_attributes, events, links, scope_name, scope_version, trace_state, flags,
               ingested_at
        FROM trace_spans;
        """

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
