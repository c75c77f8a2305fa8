/// Migration 3: views and functions for people debugging traces with psql
/// (trace_waterfall, trace_spans_health, diagnose_trace, identify_root_cause,
/// find_similar_traces). docs/sql.md describes every object and its columns.
///
/// The SQL is in raw string literals: a backslash is the SQL's own.
extension Migrations {
    static let sqlSurface = Migration(
        version: 3, name: "sql_surface",
        up: #"""
            -- Migration 3: the SQL surface for debugging with psql. See docs/sql.md.

            -- Slow-span baselines read one (service, span name) over a day; this index
            -- finds just those spans, and INCLUDE (duration_ns) lets vacuumed partitions
            -- answer from the index alone.
            CREATE INDEX trace_spans_service_name_start ON trace_spans (service_name, name, start_time) INCLUDE (duration_ns);
            -- The view trace_waterfall filters traces by the hex form of the id.
            CREATE INDEX traces_trace_id_hex ON traces (encode(trace_id, 'hex'));

            -- '5B8E...', '\x5b8e...' and '0x5b8e...' all name the same trace.
            CREATE FUNCTION tracegate_trace_id(hex text) RETURNS bytea
                LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
                RETURN decode(regexp_replace(btrim(hex), '^(\\x|0x)', '', 'i'), 'hex');

            -- Milliseconds between two timestamps, exact to the microsecond.
            CREATE FUNCTION tracegate_ms(t1 timestamptz, t0 timestamptz) RETURNS numeric
                LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
                RETURN round(extract(epoch FROM t1 - t0) * 1000, 3);

            -- The spans of one trace as a tree, with what the views and functions below
            -- need: tree order, the time children cover, the largest uncovered interval.
            CREATE FUNCTION tracegate_span_tree(trace_id bytea)
            RETURNS TABLE (
                span_id bytea, parent_span_id bytea, name text, service_name text, kind smallint,
                start_time timestamptz, end_time timestamptz, duration_ns bigint,
                status_code smallint, status_message text, events jsonb,
                "position" bigint, depth integer, path integer[], orphan boolean,
                parent_start timestamptz, parent_end timestamptz, trace_start timestamptz,
                child_count bigint, covered interval, gap_start timestamptz, gap_end timestamptz)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            WITH RECURSIVE
            spans AS MATERIALIZED (
                -- The key is (trace_id, span_id, start_time): keep one row per span id.
                SELECT DISTINCT ON (s.span_id)
                       s.span_id, s.parent_span_id, s.name, s.service_name, s.kind, s.start_time, s.end_time,
                       s.duration_ns, s.status_code, s.status_message, s.events
                FROM trace_spans s
                WHERE s.trace_id = $1
                ORDER BY s.span_id, s.ingested_at DESC, s.start_time DESC
            ),
            linked AS MATERIALIZED (
                SELECT s.*,
                       s.parent_span_id IS NOT NULL AND p.span_id IS NULL AS orphan,
                       p.start_time AS parent_start, p.end_time AS parent_end,
                       -- Siblings in start order, longer first on a tie, as `tracegate trace` shows
                       -- them; roots and orphans are the siblings of the top level.
                       row_number() OVER (PARTITION BY p.span_id
                                          ORDER BY s.start_time, s.duration_ns DESC, s.name, s.span_id)::integer AS ordinal
                FROM spans s LEFT JOIN spans p ON p.span_id = s.parent_span_id
            ),
            tree AS (
                SELECT l.span_id, 0 AS depth, ARRAY[l.ordinal] AS path
                FROM linked l WHERE l.parent_start IS NULL
                UNION ALL
                SELECT c.span_id, t.depth + 1, t.path || c.ordinal
                FROM tree t JOIN linked c ON c.parent_span_id = t.span_id AND c.span_id <> t.span_id
            ),
            -- Children's intervals clipped to their parent, merged into disjoint islands.
            clipped AS (
                SELECT c.parent_span_id AS span_id,
                       greatest(c.start_time, c.parent_start) AS lo, least(c.end_time, c.parent_end) AS hi
                FROM linked c
                WHERE c.parent_start IS NOT NULL AND c.span_id <> c.parent_span_id
            ),
            runs AS (
                SELECT k.span_id, k.lo, k.hi,
                       max(k.hi) OVER (PARTITION BY k.span_id ORDER BY k.lo, k.hi
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
                FROM clipped k WHERE k.hi > k.lo
            ),
            numbered AS (
                SELECT r.span_id, r.lo, r.hi,
                       count(*) FILTER (WHERE r.prev_hi IS NULL OR r.lo > r.prev_hi)
                           OVER (PARTITION BY r.span_id ORDER BY r.lo, r.hi ROWS UNBOUNDED PRECEDING) AS island
                FROM runs r
            ),
            islands AS (
                SELECT n.span_id, min(n.lo) AS lo, max(n.hi) AS hi FROM numbered n GROUP BY n.span_id, n.island
            ),
            children AS (
                SELECT c.parent_span_id AS span_id, count(*) AS n
                FROM linked c WHERE c.parent_start IS NOT NULL AND c.span_id <> c.parent_span_id
                GROUP BY c.parent_span_id
            ),
            -- The uncovered intervals of a parent lie between consecutive islands, with
            -- empty islands standing for its start and end.
            edges AS (
                SELECT i.span_id, i.lo, i.hi FROM islands i
                UNION ALL
                SELECT l.span_id, l.start_time, l.start_time FROM linked l JOIN children USING (span_id)
                UNION ALL
                SELECT l.span_id, l.end_time, l.end_time FROM linked l JOIN children USING (span_id)
            ),
            gaps AS (
                SELECT DISTINCT ON (e.span_id) e.span_id, e.hi AS gap_start, e.next_lo AS gap_end
                FROM (SELECT e.span_id, e.hi, lead(e.lo) OVER (PARTITION BY e.span_id ORDER BY e.lo, e.hi) AS next_lo
                      FROM edges e) e
                WHERE e.next_lo IS NOT NULL
                ORDER BY e.span_id, e.next_lo - e.hi DESC, e.hi
            )
            SELECT l.span_id, l.parent_span_id, l.name, l.service_name, l.kind, l.start_time, l.end_time, l.duration_ns,
                   l.status_code, l.status_message, l.events,
                   row_number() OVER (ORDER BY t.path NULLS LAST, l.start_time, l.duration_ns DESC, l.name, l.span_id) AS "position",
                   t.depth, t.path, l.orphan, l.parent_start, l.parent_end,
                   min(l.start_time) OVER () AS trace_start,
                   coalesce(ch.n, 0) AS child_count,
                   coalesce((SELECT sum(i.hi - i.lo) FROM islands i WHERE i.span_id = l.span_id), interval '0') AS covered,
                   g.gap_start, g.gap_end
            FROM linked l
            LEFT JOIN tree t ON t.span_id = l.span_id
            LEFT JOIN children ch ON ch.span_id = l.span_id
            LEFT JOIN gaps g ON g.span_id = l.span_id
            ORDER BY 12
            $fn$;

            -- ---------------------------------------------------------------- waterfall
            CREATE FUNCTION trace_waterfall(trace_id bytea)
            RETURNS TABLE (
                trace_id text, "position" bigint, depth integer, path integer[], span_id text, parent_span_id text,
                name text, service_name text, kind text, start_time timestamptz, offset_ms numeric,
                duration_ms numeric, self_ms numeric, status text, status_message text, orphan boolean)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT encode($1, 'hex'), t."position", t.depth, t.path, encode(t.span_id, 'hex'), encode(t.parent_span_id, 'hex'),
                   t.name, t.service_name, span_kind_name(t.kind), t.start_time, tracegate_ms(t.start_time, t.trace_start),
                   round(t.duration_ns / 1e6, 3),
                   greatest(round(t.duration_ns / 1e6 - extract(epoch FROM t.covered) * 1000, 3), 0),
                   status_code_name(t.status_code), t.status_message, t.orphan
            FROM tracegate_span_tree($1) t
            ORDER BY t."position"
            $fn$;

            CREATE FUNCTION trace_waterfall(trace_id text)
            RETURNS TABLE (
                trace_id text, "position" bigint, depth integer, path integer[], span_id text, parent_span_id text,
                name text, service_name text, kind text, start_time timestamptz, offset_ms numeric,
                duration_ms numeric, self_ms numeric, status text, status_message text, orphan boolean)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT * FROM trace_waterfall(tracegate_trace_id($1))
            $fn$;

            -- Every trace of `traces`, one call of trace_waterfall(bytea) each. Filter it
            -- on trace_id: the filter goes to traces_trace_id_hex, so only that trace is
            -- walked.
            CREATE VIEW trace_waterfall AS
            SELECT encode(t.trace_id, 'hex') AS trace_id, w."position", w.depth, w.path, w.span_id, w.parent_span_id,
                   w.name, w.service_name, w.kind, w.start_time, w.offset_ms, w.duration_ms, w.self_ms,
                   w.status, w.status_message, w.orphan
            FROM traces t CROSS JOIN LATERAL trace_waterfall(t.trace_id) w;

            -- ---------------------------------------------------------------- health
            CREATE VIEW trace_spans_health AS
            SELECT s.service_name, s.name, count(*) AS span_count,
                   count(*) FILTER (WHERE s.status_code = 2) AS error_count,
                   round(count(*) FILTER (WHERE s.status_code = 2)::numeric / count(*), 4) AS error_rate,
                   round(percentile_cont(0.50) WITHIN GROUP (ORDER BY s.duration_ns)::numeric / 1e6, 3) AS p50_ms,
                   round(percentile_cont(0.95) WITHIN GROUP (ORDER BY s.duration_ns)::numeric / 1e6, 3) AS p95_ms,
                   round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s.duration_ns)::numeric / 1e6, 3) AS p99_ms,
                   round(max(s.duration_ns) / 1e6, 3) AS max_ms
            FROM trace_spans s
            WHERE s.start_time >= now() - interval '1 hour'
            GROUP BY s.service_name, s.name;

            -- ---------------------------------------------------------------- diagnose
            CREATE FUNCTION diagnose_trace(trace_id bytea)
            RETURNS TABLE (anomaly text, span_id text, name text, service_name text, detail text)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            WITH t AS MATERIALIZED (SELECT * FROM tracegate_span_tree($1)),
            -- The window of the slow-span baselines: the 24 hours before the trace ended.
            -- At least 20 spans (the span itself included) make a baseline.
            win AS MATERIALIZED (SELECT max(t.end_time) - interval '24 hours' AS lo, max(t.end_time) AS hi FROM t),
            baseline AS (
                SELECT k.service_name, k.name, b.n, b.p95_ns
                FROM (SELECT DISTINCT t.service_name, t.name FROM t) k
                CROSS JOIN LATERAL (
                    -- At most the 1000 latest of them: enough for a p95, and bounded work.
                    SELECT count(*) AS n, percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ns)::numeric AS p95_ns
                    FROM (SELECT s.duration_ns
                          FROM trace_spans s
                          WHERE s.service_name = k.service_name AND s.name = k.name
                            AND s.start_time > (SELECT w.lo FROM win w) AND s.start_time <= (SELECT w.hi FROM win w)
                          ORDER BY s.start_time DESC
                          LIMIT 1000) r
                ) b
            ),
            found AS (
                SELECT t."position", 1 AS rank, 'error' AS anomaly, t.span_id, t.name, t.service_name,
                       coalesce(nullif(concat_ws('; ',
                           nullif(t.status_message, ''),
                           (SELECT 'exception ' || concat_ws(': ', e->'attributes'->>'exception.type', e->'attributes'->>'exception.message')
                            FROM jsonb_array_elements(CASE jsonb_typeof(t.events) WHEN 'array' THEN t.events ELSE '[]' END) e
                            WHERE e->>'name' = 'exception' LIMIT 1)), ''), 'error status without a message') AS detail
                FROM t WHERE t.status_code = 2
                UNION ALL
                SELECT t."position", 2, 'slow', t.span_id, t.name, t.service_name,
                       format('took %s ms, %sx the p95 of %s ms over %s spans of this service and name in the 24 h before the trace ended',
                              round(t.duration_ns / 1e6, 3), round(t.duration_ns / b.p95_ns, 1), round(b.p95_ns / 1e6, 3), b.n)
                FROM t JOIN baseline b ON b.service_name = t.service_name AND b.name = t.name
                WHERE b.n >= 20 AND t.duration_ns > 3 * b.p95_ns
                UNION ALL
                SELECT t."position", 3, 'orphan', t.span_id, t.name, t.service_name,
                       format('parent span %s is not in the trace', encode(t.parent_span_id, 'hex'))
                FROM t WHERE t.orphan
                UNION ALL
                SELECT t."position", 4, 'clock_skew', t.span_id, t.name, t.service_name,
                       concat_ws(' and ',
                           CASE WHEN t.start_time < t.parent_start THEN format('starts %s ms before', tracegate_ms(t.parent_start, t.start_time)) END,
                           CASE WHEN t.end_time > t.parent_end THEN format('ends %s ms after', tracegate_ms(t.end_time, t.parent_end)) END)
                       || format(' its parent %s', encode(t.parent_span_id, 'hex'))
                FROM t
                WHERE t.parent_start IS NOT NULL AND t.span_id <> t.parent_span_id
                  AND (t.start_time < t.parent_start OR t.end_time > t.parent_end)
                UNION ALL
                SELECT t."position", 5, 'gap', t.span_id, t.name, t.service_name,
                       format('no child covers %s ms (%s%% of the span), from +%s ms to +%s ms into the span',
                              tracegate_ms(t.gap_end, t.gap_start),
                              round(100 * extract(epoch FROM t.gap_end - t.gap_start) * 1e9 / t.duration_ns, 1),
                              tracegate_ms(t.gap_start, t.start_time), tracegate_ms(t.gap_end, t.start_time))
                FROM t
                WHERE t.child_count > 0 AND t.gap_end - t.gap_start > interval '1 millisecond'
                  AND extract(epoch FROM t.gap_end - t.gap_start) * 1e9 > 0.1 * t.duration_ns
                UNION ALL
                SELECT t."position", 6, 'parent_cycle', t.span_id, t.name, t.service_name,
                       format('not reachable from a root: following parent %s loops', encode(t.parent_span_id, 'hex'))
                FROM t WHERE t.depth IS NULL
            )
            SELECT f.anomaly, encode(f.span_id, 'hex'), f.name, f.service_name, f.detail
            FROM found f
            ORDER BY f."position", f.rank
            $fn$;

            CREATE FUNCTION diagnose_trace(trace_id text)
            RETURNS TABLE (anomaly text, span_id text, name text, service_name text, detail text)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT * FROM diagnose_trace(tracegate_trace_id($1))
            $fn$;

            -- ---------------------------------------------------------------- root cause
            CREATE FUNCTION identify_root_cause(trace_id bytea)
            RETURNS TABLE (span_id text, name text, service_name text, depth integer, error_path text, status_message text,
                           exception_time timestamptz, exception_type text, exception_message text, exception_stacktrace text)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            WITH RECURSIVE
            errors AS MATERIALIZED (SELECT * FROM tracegate_span_tree($1) t WHERE t.status_code = 2 AND t.depth IS NOT NULL),
            chain AS (
                -- From the highest error spans down through error children only.
                SELECT e.span_id, e.depth, e."position", e.service_name || ': ' || e.name AS error_path
                FROM errors e WHERE e.depth = (SELECT min(x.depth) FROM errors x)
                UNION ALL
                SELECT e.span_id, e.depth, e."position", c.error_path || ' > ' || e.service_name || ': ' || e.name
                FROM chain c JOIN errors e ON e.parent_span_id = c.span_id AND e.span_id <> c.span_id
            ),
            cause AS (SELECT c.span_id, c.error_path FROM chain c ORDER BY c.depth DESC, c."position" LIMIT 1)
            SELECT encode(e.span_id, 'hex'), e.name, e.service_name, e.depth, c.error_path, e.status_message,
                   x.exception_time, x.exception_type, x.exception_message, x.exception_stacktrace
            FROM cause c
            JOIN errors e ON e.span_id = c.span_id
            LEFT JOIN LATERAL (
                SELECT timestamptz 'epoch' + ((v.ev->>'time_unix_nano')::bigint / 1000) * interval '1 microsecond' AS exception_time,
                       v.ev->'attributes'->>'exception.type' AS exception_type,
                       v.ev->'attributes'->>'exception.message' AS exception_message,
                       v.ev->'attributes'->>'exception.stacktrace' AS exception_stacktrace,
                       v.i
                FROM jsonb_array_elements(CASE jsonb_typeof(e.events) WHEN 'array' THEN e.events ELSE '[]' END)
                     WITH ORDINALITY AS v(ev, i)
                WHERE v.ev->>'name' = 'exception'
            ) x ON true
            ORDER BY x.exception_time, x.i
            $fn$;

            CREATE FUNCTION identify_root_cause(trace_id text)
            RETURNS TABLE (span_id text, name text, service_name text, depth integer, error_path text, status_message text,
                           exception_time timestamptz, exception_type text, exception_message text, exception_stacktrace text)
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT * FROM identify_root_cause(tracegate_trace_id($1))
            $fn$;

            -- ---------------------------------------------------------------- similar traces
            CREATE FUNCTION find_similar_traces(trace_id bytea, max_results integer DEFAULT 10,
                                                min_similarity numeric DEFAULT 0.5, candidates integer DEFAULT 100)
            RETURNS TABLE (trace_id text, similarity numeric, start_time timestamptz, duration_ms numeric,
                           span_count bigint, error_count bigint, status text, services text[])
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            WITH
            target AS MATERIALIZED (
                SELECT r.root_name, r.root_service
                FROM (SELECT tr.root_name, tr.root_service, 0 AS pref
                      FROM traces tr WHERE tr.trace_id = $1 AND tr.root_name IS NOT NULL
                      UNION ALL
                      (SELECT s.name, s.service_name, 1 FROM trace_spans s
                       WHERE s.trace_id = $1 AND s.parent_span_id IS NULL ORDER BY s.start_time LIMIT 1)) r
                ORDER BY r.pref LIMIT 1
            ),
            names AS MATERIALIZED (SELECT DISTINCT s.name FROM trace_spans s WHERE s.trace_id = $1),
            cand AS MATERIALIZED (
                -- The most recent traces with the same root, newest first (traces_root_name_start).
                SELECT c.trace_id, c.start_time, c.end_time, c.span_count, c.error_count, c.status, c.services
                FROM traces c
                WHERE c.root_name = (SELECT g.root_name FROM target g) AND c.root_service = (SELECT g.root_service FROM target g)
                  AND c.trace_id <> $1
                ORDER BY c.start_time DESC, c.trace_id
                LIMIT $4
            ),
            cand_names AS (
                -- A trace's spans start within its [start_time, end_time]: prunes partitions.
                SELECT DISTINCT c.trace_id, s.name
                FROM cand c JOIN trace_spans s
                  ON s.trace_id = c.trace_id AND s.start_time >= c.start_time AND s.start_time <= c.end_time
            ),
            scored AS (
                SELECT cn.trace_id, count(n.name) AS shared,
                       count(*) + (SELECT count(*) FROM names) - count(n.name) AS in_either
                FROM cand_names cn LEFT JOIN names n ON n.name = cn.name
                GROUP BY cn.trace_id
            )
            SELECT encode(c.trace_id, 'hex'), round(s.shared::numeric / s.in_either, 3), c.start_time,
                   tracegate_ms(c.end_time, c.start_time), c.span_count, c.error_count, c.status, c.services
            FROM scored s JOIN cand c ON c.trace_id = s.trace_id
            WHERE s.shared::numeric / s.in_either >= $3
            ORDER BY s.shared::numeric / s.in_either DESC, c.start_time DESC, c.trace_id
            LIMIT $2
            $fn$;

            CREATE FUNCTION find_similar_traces(trace_id text, max_results integer DEFAULT 10,
                                                min_similarity numeric DEFAULT 0.5, candidates integer DEFAULT 100)
            RETURNS TABLE (trace_id text, similarity numeric, start_time timestamptz, duration_ms numeric,
                           span_count bigint, error_count bigint, status text, services text[])
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT * FROM find_similar_traces(tracegate_trace_id($1), $2, $3, $4)
            $fn$;
            """#,
        down: #"""
            DROP FUNCTION find_similar_traces(text, integer, numeric, integer);
            DROP FUNCTION find_similar_traces(bytea, integer, numeric, integer);
            DROP FUNCTION identify_root_cause(text);
            DROP FUNCTION identify_root_cause(bytea);
            DROP FUNCTION diagnose_trace(text);
            DROP FUNCTION diagnose_trace(bytea);
            DROP VIEW trace_spans_health;
            DROP VIEW trace_waterfall;
            DROP FUNCTION trace_waterfall(text);
            DROP FUNCTION trace_waterfall(bytea);
            DROP FUNCTION tracegate_span_tree(bytea);
            DROP FUNCTION tracegate_ms(timestamptz, timestamptz);
            DROP FUNCTION tracegate_trace_id(text);
            DROP INDEX traces_trace_id_hex;
            DROP INDEX trace_spans_service_name_start;
            """#)
}
