/// Migration 6: what the `query` extension reads (docs/query.md).
///
/// - `span_operations`: every (service, span name, kind) ever stored, so that
///   Jaeger's service and operation lists are a small table's scan instead of
///   a `DISTINCT` over every span. The postgres exporter adds the pairs it has
///   not written yet in the transaction that stores their spans.
/// - `tracegate_indexed_attributes`: the attribute keys the exporter indexes
///   (`indexed_attributes`), so that a reader knows which tag searches an
///   index serves.
/// - `otlp_trace(trace_id)`: one stored trace as OTLP/JSON, built by the
///   server (`GET /api/v3/traces/{id}`, and usable from `psql`). Jaeger's
///   model is written by the extension itself (`JaegerTraceWriter`): in SQL
///   it took ~0.4 ms a span.
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

            -- OTLP/JSON AnyValue from a jsonb attribute value (the same int/double
            -- rule as Jaeger's tags: a number with a fraction or exponent is a double;
            -- bytes were stored as base64 text and come back as strings).
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
            DROP TABLE tracegate_indexed_attributes;
            DROP TABLE span_operations;
            """)
}
