/// Migration 6: what the `query` extension reads (docs/query.md).
///
/// - `span_operations`: every (service, span name, kind) ever stored, so that
///   Jaeger's service and operation lists are a small table's scan instead of
///   a `DISTINCT` over every span. The postgres exporter adds the pairs it has
///   not written yet in the transaction that stores their spans.
/// - `tracegate_indexed_attributes`: the attribute keys the exporter indexes
///   (`indexed_attributes`), so that a reader knows which tag searches an
///   index serves.
/// - `jaeger_trace(trace_id)` and `otlp_trace(trace_id)`: one stored trace as
///   Jaeger's JSON model and as OTLP/JSON, built by the server in one pass
///   (and usable from `psql`).
extension Migrations {
    static let queryAPI = Migration(
        version: 6, name: "query_api",
        up: #"""
            CREATE TABLE span_operations (
                service_name text     NOT NULL,
                span_name    text     NOT NULL,
                kind         smallint NOT NULL,
                first_seen   timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (service_name, span_name, kind)
            );
            COMMENT ON TABLE span_operations IS 'Every (service, span name, kind) stored in trace_spans; Jaeger''s service and operation lists.';
            INSERT INTO span_operations (service_name, span_name, kind)
            SELECT DISTINCT service_name, name, kind FROM trace_spans;

            CREATE TABLE tracegate_indexed_attributes (
                key        text PRIMARY KEY,
                index_name text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE tracegate_indexed_attributes IS 'Attribute keys with an expression index on trace_spans (the postgres exporter''s indexed_attributes).';

            -- One Jaeger key-value from a jsonb attribute. jsonb does not keep
            -- int and double apart: a number with a fraction or exponent is
            -- float64, any other int64. Arrays and maps become their JSON text.
            CREATE FUNCTION tracegate_jaeger_tag(key text, v jsonb) RETURNS json
                LANGUAGE sql IMMUTABLE PARALLEL SAFE
                RETURN CASE jsonb_typeof(v)
                    WHEN 'string' THEN json_build_object('key', key, 'type', 'string', 'value', v #>> '{}')
                    WHEN 'boolean' THEN json_build_object('key', key, 'type', 'bool', 'value', v::text::boolean)
                    WHEN 'number' THEN json_build_object('key', key,
                        'type', CASE WHEN v::text ~ '[.eE]' THEN 'float64' ELSE 'int64' END, 'value', v::json)
                    WHEN 'null' THEN json_build_object('key', key, 'type', 'string', 'value', '')
                    ELSE json_build_object('key', key, 'type', 'string', 'value', v::text)
                END;

            CREATE FUNCTION tracegate_jaeger_tags(attrs jsonb) RETURNS json
                LANGUAGE sql IMMUTABLE PARALLEL SAFE
                RETURN coalesce((SELECT json_agg(tracegate_jaeger_tag(e.key, e.value) ORDER BY e.key) FROM jsonb_each(attrs) e), '[]'::json);

            -- One span in Jaeger's model; `process_id` names its entry in the
            -- trace's `processes`.
            CREATE FUNCTION tracegate_jaeger_span(s trace_spans, process_id text) RETURNS json
                LANGUAGE sql IMMUTABLE PARALLEL SAFE
                RETURN json_build_object(
                    'traceID', encode(s.trace_id, 'hex'),
                    'spanID', encode(s.span_id, 'hex'),
                    'operationName', s.name,
                    'references', (
                        SELECT coalesce(json_agg(r.ref ORDER BY r.o), '[]'::json) FROM (
                            SELECT 0 AS o, json_build_object('refType', 'CHILD_OF', 'traceID', encode(s.trace_id, 'hex'),
                                                             'spanID', encode(s.parent_span_id, 'hex')) AS ref
                            WHERE s.parent_span_id IS NOT NULL
                            UNION ALL
                            SELECT l.n, json_build_object('refType', 'FOLLOWS_FROM', 'traceID', l.v->>'trace_id', 'spanID', l.v->>'span_id')
                            FROM jsonb_array_elements(s.links) WITH ORDINALITY AS l(v, n)
                        ) r),
                    'startTime', (extract(epoch FROM s.start_time) * 1000000)::bigint,
                    'duration', s.duration_ns / 1000,
                    'tags', (
                        SELECT coalesce(json_agg(t), '[]'::json) FROM (
                            SELECT value AS t FROM json_array_elements(tracegate_jaeger_tags(s.attributes))
                            UNION ALL SELECT json_build_object('key', 'span.kind', 'type', 'string', 'value', span_kind_name(s.kind))
                                WHERE s.kind BETWEEN 1 AND 5
                            UNION ALL SELECT json_build_object('key', 'otel.status_code', 'type', 'string',
                                                               'value', CASE s.status_code WHEN 1 THEN 'OK' ELSE 'ERROR' END)
                                WHERE s.status_code IN (1, 2)
                            UNION ALL SELECT json_build_object('key', 'error', 'type', 'bool', 'value', true)
                                WHERE s.status_code = 2
                            UNION ALL SELECT json_build_object('key', 'otel.status_description', 'type', 'string', 'value', s.status_message)
                                WHERE s.status_message <> ''
                            UNION ALL SELECT json_build_object('key', 'otel.scope.name', 'type', 'string', 'value', s.scope_name)
                                WHERE s.scope_name <> ''
                            UNION ALL SELECT json_build_object('key', 'otel.scope.version', 'type', 'string', 'value', s.scope_version)
                                WHERE s.scope_version <> ''
                            UNION ALL SELECT json_build_object('key', 'w3c.tracestate', 'type', 'string', 'value', s.trace_state)
                                WHERE s.trace_state <> ''
                        ) x),
                    'logs', (
                        SELECT coalesce(json_agg(json_build_object(
                                   'timestamp', (e.v->>'time_unix_nano')::bigint / 1000,
                                   'fields', (SELECT json_agg(f) FROM (
                                       SELECT json_build_object('key', 'event', 'type', 'string', 'value', e.v->>'name') AS f
                                       UNION ALL SELECT value FROM json_array_elements(tracegate_jaeger_tags(e.v->'attributes'))) fs)
                               ) ORDER BY e.n), '[]'::json)
                        FROM jsonb_array_elements(s.events) WITH ORDINALITY AS e(v, n)),
                    'processID', process_id,
                    'warnings', NULL,
                    -- W3C trace flags (bit 0: sampled); OTLP's higher bits are not Jaeger's.
                    'flags', s.flags & 255);

            -- A stored trace in Jaeger's model, or NULL when no span of it is
            -- stored. One process per distinct (service, resource).
            CREATE FUNCTION jaeger_trace(id bytea) RETURNS json
                LANGUAGE sql STABLE PARALLEL SAFE
                BEGIN ATOMIC
                    WITH s AS (
                        SELECT t AS span, t.start_time, t.span_id, t.service_name, t.resource_attributes,
                               'p' || dense_rank() OVER (ORDER BY t.service_name, t.resource_attributes) AS pid
                        FROM trace_spans t WHERE t.trace_id = id
                    )
                    SELECT json_build_object(
                        'traceID', encode(id, 'hex'),
                        'spans', (SELECT json_agg(tracegate_jaeger_span(s.span, s.pid) ORDER BY s.start_time, s.span_id) FROM s),
                        'processes', (SELECT json_object_agg(p.pid, json_build_object('serviceName', p.service_name,
                                                                                      'tags', tracegate_jaeger_tags(p.resource_attributes)))
                                      FROM (SELECT DISTINCT pid, service_name, resource_attributes FROM s) p),
                        'warnings', NULL)
                    WHERE EXISTS (SELECT 1 FROM s);
                END;
            COMMENT ON FUNCTION jaeger_trace(bytea) IS 'One stored trace as Jaeger''s JSON model (GET /api/traces/{id} of the query extension).';

            -- OTLP/JSON AnyValue from a jsonb attribute value (the same int/double
            -- rule as above; bytes were stored as base64 text and come back as strings).
            CREATE FUNCTION tracegate_otlp_value(v jsonb) RETURNS json
                LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
                BEGIN
                    RETURN CASE jsonb_typeof(v)
                        WHEN 'string' THEN json_build_object('stringValue', v #>> '{}')
                        WHEN 'boolean' THEN json_build_object('boolValue', v::text::boolean)
                        WHEN 'number' THEN CASE WHEN v::text ~ '[.eE]' THEN json_build_object('doubleValue', v::json)
                                                ELSE json_build_object('intValue', v::text) END
                        WHEN 'array' THEN json_build_object('arrayValue', json_build_object('values',
                            coalesce((SELECT json_agg(tracegate_otlp_value(x) ORDER BY n)
                                      FROM jsonb_array_elements(v) WITH ORDINALITY AS a(x, n)), '[]'::json)))
                        WHEN 'object' THEN json_build_object('kvlistValue', json_build_object('values', tracegate_otlp_attributes(v)))
                        ELSE '{}'::json
                    END;
                END
                $fn$;

            CREATE FUNCTION tracegate_otlp_attributes(attrs jsonb) RETURNS json
                LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
                BEGIN
                    RETURN coalesce((SELECT json_agg(json_build_object('key', e.key, 'value', tracegate_otlp_value(e.value)) ORDER BY e.key)
                                     FROM jsonb_each(attrs) e), '[]'::json);
                END
                $fn$;

            -- A stored trace as OTLP/JSON TracesData, or NULL: spans grouped by
            -- resource, then by scope. Span times keep the microseconds stored.
            CREATE FUNCTION otlp_trace(id bytea) RETURNS json
                LANGUAGE sql STABLE PARALLEL SAFE
                BEGIN ATOMIC
                    WITH s AS (SELECT * FROM trace_spans WHERE trace_id = id),
                    scopes AS (
                        SELECT resource_attributes, scope_name, scope_version,
                               json_agg(json_strip_nulls(json_build_object(
                                   'traceId', encode(trace_id, 'hex'),
                                   'spanId', encode(span_id, 'hex'),
                                   'parentSpanId', encode(parent_span_id, 'hex'),
                                   'traceState', nullif(trace_state, ''),
                                   'flags', nullif(flags, 0),
                                   'name', name,
                                   'kind', kind,
                                   'startTimeUnixNano', ((extract(epoch FROM start_time) * 1000000)::bigint * 1000)::text,
                                   'endTimeUnixNano', ((extract(epoch FROM end_time) * 1000000)::bigint * 1000)::text,
                                   'attributes', tracegate_otlp_attributes(attributes),
                                   'droppedAttributesCount', nullif(dropped_attributes_count, 0),
                                   'events', (SELECT json_agg(json_strip_nulls(json_build_object(
                                                  'timeUnixNano', e->>'time_unix_nano', 'name', e->>'name',
                                                  'attributes', tracegate_otlp_attributes(e->'attributes'),
                                                  'droppedAttributesCount', (e->>'dropped_attributes_count')::int)) ORDER BY n)
                                              FROM jsonb_array_elements(events) WITH ORDINALITY AS ev(e, n)),
                                   'droppedEventsCount', nullif(dropped_events_count, 0),
                                   'links', (SELECT json_agg(json_strip_nulls(json_build_object(
                                                 'traceId', l->>'trace_id', 'spanId', l->>'span_id',
                                                 'traceState', nullif(l->>'trace_state', ''),
                                                 'flags', nullif((l->>'flags')::bigint, 0),
                                                 'attributes', tracegate_otlp_attributes(l->'attributes'),
                                                 'droppedAttributesCount', (l->>'dropped_attributes_count')::int)) ORDER BY n)
                                             FROM jsonb_array_elements(links) WITH ORDINALITY AS li(l, n)),
                                   'droppedLinksCount', nullif(dropped_links_count, 0),
                                   'status', json_strip_nulls(json_build_object('code', nullif(status_code, 0),
                                                                                'message', nullif(status_message, '')))
                               )) ORDER BY start_time, span_id) AS spans
                        FROM s GROUP BY resource_attributes, scope_name, scope_version
                    ),
                    resources AS (
                        SELECT resource_attributes,
                               json_agg(json_build_object(
                                   'scope', json_strip_nulls(json_build_object('name', nullif(scope_name, ''),
                                                                               'version', nullif(scope_version, ''))),
                                   'spans', spans) ORDER BY scope_name, scope_version) AS scope_spans
                        FROM scopes GROUP BY resource_attributes
                    )
                    SELECT json_build_object('resourceSpans', json_agg(json_build_object(
                               'resource', json_build_object('attributes', tracegate_otlp_attributes(resource_attributes)),
                               'scopeSpans', scope_spans) ORDER BY resource_attributes))
                    FROM resources
                    HAVING count(*) > 0;
                END;
            COMMENT ON FUNCTION otlp_trace(bytea) IS 'One stored trace as OTLP/JSON TracesData (GET /api/v3/traces/{id} of the query extension).';
            """#,
        down: """
            DROP FUNCTION otlp_trace(bytea);
            DROP FUNCTION tracegate_otlp_attributes(jsonb) CASCADE;
            DROP FUNCTION tracegate_otlp_value(jsonb) CASCADE;
            DROP FUNCTION jaeger_trace(bytea);
            DROP FUNCTION tracegate_jaeger_span(trace_spans, text);
            DROP FUNCTION tracegate_jaeger_tags(jsonb);
            DROP FUNCTION tracegate_jaeger_tag(text, jsonb);
            DROP TABLE tracegate_indexed_attributes;
            DROP TABLE span_operations;
            """)
}
