/// The statements of the postgres store. Seconds are passed as float8
/// parameters; trace ids as a text[] of hex.
enum ConclusionSQL {
    static let ids = "ARRAY(SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)"

    /// The notification object of a `traces` row `t` (keys of `TraceConclusion`).
    static let payload = """
        jsonb_build_object(
            'trace_id', encode(t.trace_id, 'hex'), 'root_name', t.root_name, 'root_service', t.root_service,
            'services', to_jsonb(t.services), 'span_count', t.span_count, 'error_count', t.error_count,
            'start', to_char(t.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'end', to_char(t.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'duration_ms', round(extract(epoch FROM t.end_time - t.start_time) * 1000, 3),
            'status', t.status, 'complete', t.complete,
            'missing_parents', to_jsonb(ARRAY(SELECT encode(p, 'hex') FROM unnest(t.missing_parents) AS p ORDER BY 1)),
            'updated', due.previous IS NOT NULL)
        """

    /// Concludes the traces `due` selects, in one statement (one transaction):
    /// sets `concluded_at` and inserts their outbox rows. Rows another
    /// session holds (a postgres exporter writing spans of the trace right
    /// now, another replica concluding it) are skipped. Returns
    /// (hex trace id, complete, updated) per concluded trace.
    static func conclude(due: String) -> String {
        """
        WITH due AS (\(due)),
        done AS (
            UPDATE traces t SET concluded_at = now() FROM due WHERE t.trace_id = due.trace_id
            RETURNING t.trace_id, t.last_activity_at, due.previous IS NOT NULL AS updated, \(payload) AS payload
        )
        INSERT INTO notification_outbox (exporter, trace_id, updated, payload, last_activity_at)
        SELECT $4, trace_id, updated, payload, last_activity_at FROM done
        RETURNING encode(trace_id, 'hex'), payload->>'complete', updated
        """
    }

    /// $1 ids, $2 inactivity s, $3 max_wait s, $4 exporter, $5 renotify, $6
    /// ids whose root arrived `conclude_after_root` ago: due now if complete.
    static let concludeIDs = conclude(
        due: """
            SELECT trace_id, concluded_at AS previous FROM traces
            WHERE trace_id = ANY(\(ids))
              AND (concluded_at IS NULL OR ($5::boolean AND last_activity_at > concluded_at))
              AND (last_activity_at <= now() - (CASE WHEN complete THEN $2::float8 ELSE $3::float8 END) * interval '1 second'
                   OR (complete AND trace_id = ANY(ARRAY(SELECT decode(x, 'hex') FROM unnest($6::text[]) AS x))))
            FOR UPDATE SKIP LOCKED
            """)

    /// The safety sweep over `traces_open_by_activity`: every open trace
    /// that is due, whoever received it. $1 limit, $2/$3/$4 as above.
    static let concludeSweep = conclude(
        due: """
            SELECT trace_id, concluded_at AS previous FROM traces
            WHERE concluded_at IS NULL AND last_activity_at <= now() - $2::float8 * interval '1 second'
              AND (complete OR last_activity_at <= now() - $3::float8 * interval '1 second')
              AND $1::integer > 0
            ORDER BY last_activity_at LIMIT $1::integer
            FOR UPDATE SKIP LOCKED
            """)

    /// For timers that fired without concluding: per trace, whether it is
    /// closed for good (concluded, nothing late to renotify), whether late
    /// spans arrived, and the seconds left until it is due.
    static let state = """
        SELECT encode(trace_id, 'hex'),
               concluded_at IS NOT NULL AND NOT ($4::boolean AND last_activity_at > concluded_at),
               concluded_at IS NOT NULL AND last_activity_at > concluded_at,
               extract(epoch FROM last_activity_at + (CASE WHEN complete THEN $2::float8 ELSE $3::float8 END) * interval '1 second' - clock_timestamp())::float8
        FROM traces WHERE trace_id = ANY(\(ids))
        """

    /// The fields of an outbox row `o`'s `payload` as text columns, in
    /// `TraceConclusion.fieldNames` order (`TraceConclusion(payloadColumns:)`):
    /// arrays as text arrays; NULL where a field is missing or an array is not one.
    static let payloadFields = TraceConclusion.fieldNames.map { name in
        TraceConclusion.arrayFieldNames.contains(name)
            ? "CASE jsonb_typeof(o.payload->'\(name)') WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(o.payload->'\(name)')) END"
            : "o.payload->>'\(name)'"
    }.joined(separator: ", ")

    /// Locks up to $2 due rows of exporter $1 for this transaction. Columns:
    /// id, attempts, last activity (epoch seconds), then `payloadFields`.
    static let claim = """
        SELECT id, attempts, extract(epoch FROM last_activity_at)::float8, \(payloadFields)
        FROM notification_outbox o
        WHERE exporter = $1 AND next_attempt_at <= now()
          AND NOT EXISTS (SELECT 1 FROM notification_delivered d WHERE d.id = o.id)
        ORDER BY next_attempt_at, id LIMIT $2::integer
        FOR UPDATE SKIP LOCKED
        """

    /// Seconds until the next retry of exporter $1 comes due (NULL: none
    /// waits). Rows due already are left out: another session holds them.
    static let nextAttempt = """
        SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM notification_outbox
        WHERE exporter = $1 AND next_attempt_at > now()
        """

    /// Where `payloadFields` start in a row of `claim`.
    static let claimPayloadColumns = 3...

    /// Marks rows delivered, committed at once (from a second connection).
    static let markDelivered = "INSERT INTO notification_delivered (id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING"

    /// Inside the claim's transaction: the delivered rows and their marks.
    /// Whether a span of the trace (or its resource) has the attribute with
    /// that text (`conclusion.when`'s `attribute`).
    static let traceHasAttribute = """
        SELECT EXISTS (SELECT 1 FROM trace_spans WHERE trace_id = decode($1, 'hex')
                       AND (attributes->>$2 = $3 OR resource_attributes->>$2 = $3))
        """

    static let deleteDelivered = """
        WITH gone AS (DELETE FROM notification_outbox WHERE id = ANY($1::bigint[]))
        DELETE FROM notification_delivered WHERE id = ANY($1::bigint[])
        """

    /// Rows delivered by a process that died before its claim committed.
    static let cleanDelivered = """
        WITH gone AS (
            SELECT o.id FROM notification_outbox o JOIN notification_delivered d ON d.id = o.id
            FOR UPDATE OF o SKIP LOCKED
        ), deleted AS (
            DELETE FROM notification_outbox o USING gone WHERE o.id = gone.id RETURNING o.id
        )
        DELETE FROM notification_delivered d
        WHERE d.id IN (SELECT id FROM deleted)
           OR NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.id = d.id)
        """


    /// $1 id, $2 seconds until the next attempt, $3 error.
    static let retry = """
        UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = now() + $2::float8 * interval '1 second', last_error = $3
        WHERE id = $1::bigint
        """

    /// $1 ids, $2 error.
    static let bury = """
        WITH moved AS (DELETE FROM notification_outbox WHERE id = ANY($1::bigint[]) RETURNING *)
        INSERT INTO notification_dead_letters (exporter, trace_id, updated, payload, last_activity_at, created_at, attempts, last_error)
        SELECT exporter, trace_id, updated, payload, last_activity_at, created_at, attempts + 1, $2 FROM moved
        """

    /// Moves the dead letters of exporter $1 (every exporter when NULL) back
    /// to the outbox with a fresh attempt count; returns how many.
    static let requeueDead = """
        WITH moved AS (DELETE FROM notification_dead_letters WHERE $1::text IS NULL OR exporter = $1 RETURNING *),
        queued AS (
            INSERT INTO notification_outbox (exporter, trace_id, updated, payload, last_activity_at, created_at, last_error)
            SELECT exporter, trace_id, updated, payload, last_activity_at, created_at, last_error FROM moved RETURNING 1)
        SELECT count(*) FROM queued
        """

    /// Per exporter: outbox rows (due now, waiting to retry) and dead letters.
    static let status = """
        SELECT e.exporter,
               (SELECT count(*) FROM notification_outbox o WHERE o.exporter = e.exporter AND o.attempts = 0),
               (SELECT count(*) FROM notification_outbox o WHERE o.exporter = e.exporter AND o.attempts > 0),
               (SELECT count(*) FROM notification_dead_letters d WHERE d.exporter = e.exporter)
        FROM (SELECT exporter FROM notification_outbox UNION SELECT exporter FROM notification_dead_letters) e
        ORDER BY 1
        """
}
