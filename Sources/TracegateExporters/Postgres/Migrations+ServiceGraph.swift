/// Migration 5: `service_graph(since, until)`, the edges of the service graph
/// from stored spans, as the `servicegraph` processor computes them live
/// (docs/sql.md).
extension Migrations {
    static let serviceGraph = Migration(
        version: 5, name: "service_graph",
        up: #"""
            -- A client (3) or producer (4) span and the server (2) or consumer (5)
            -- span whose parent it is make one request client service -> server
            -- service. A client span without such a child that names what it
            -- called (peer.service, a database, server.address) is an edge to that
            -- virtual node. Spans are taken by start_time: the client's in
            -- [since, until), its server's up to five minutes later.
            CREATE FUNCTION service_graph(since timestamptz, until timestamptz DEFAULT now())
            RETURNS TABLE (
                client          text,
                server          text,
                connection_type text,
                requests        bigint,
                failed          bigint,
                server_p50_ms   double precision,
                server_p95_ms   double precision,
                client_p95_ms   double precision
            )
            LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
                WITH c AS (
                    SELECT trace_id, span_id, service_name, duration_ns, status_code, attributes
                    FROM trace_spans
                    WHERE start_time >= since AND start_time < until AND kind IN (3, 4)
                ), s AS (
                    SELECT trace_id, parent_span_id, service_name, duration_ns, status_code
                    FROM trace_spans
                    WHERE start_time >= since AND start_time < until + interval '5 minutes' AND kind IN (2, 5)
                      AND parent_span_id IS NOT NULL
                ), edges AS (
                    SELECT c.service_name AS client, s.service_name AS server, ''::text AS connection_type,
                           (c.status_code = 2 OR s.status_code = 2) AS failed,
                           s.duration_ns AS server_ns, c.duration_ns AS client_ns
                    FROM c JOIN s ON s.trace_id = c.trace_id AND s.parent_span_id = c.span_id
                    UNION ALL
                    SELECT c.service_name,
                           coalesce(c.attributes->>'peer.service', c.attributes->>'db.name', c.attributes->>'db.system',
                                    c.attributes->>'server.address'),
                           CASE WHEN c.attributes ? 'peer.service' THEN 'virtual_node'
                                WHEN c.attributes ? 'db.name' OR c.attributes ? 'db.system' THEN 'database'
                                ELSE 'virtual_node' END,
                           c.status_code = 2, c.duration_ns, c.duration_ns
                    FROM c
                    WHERE coalesce(c.attributes->>'peer.service', c.attributes->>'db.name', c.attributes->>'db.system',
                                   c.attributes->>'server.address') IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM s WHERE s.trace_id = c.trace_id AND s.parent_span_id = c.span_id)
                )
                SELECT client, server, connection_type, count(*), count(*) FILTER (WHERE failed),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY server_ns) / 1e6,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY server_ns) / 1e6,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY client_ns) / 1e6
                FROM edges
                GROUP BY client, server, connection_type
                ORDER BY count(*) DESC, client, server
            $fn$;
            COMMENT ON FUNCTION service_graph(timestamptz, timestamptz) IS 'Requests, failures and latency per client -> server edge, from the spans started in [since, until).';
            """#,
        down: """
            DROP FUNCTION service_graph(timestamptz, timestamptz);
            """)
}
