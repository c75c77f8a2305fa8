"""The `query` extension's Jaeger HTTP API over a real PostgreSQL: a trace
built by hand goes in through OTLP/JSON, and the API's answers are compared
with the exact JSON Jaeger's model prescribes; then search, dependencies,
OTLP/JSON (`/api/v3`), the trace state, errors in Jaeger's shape, bearer
auth, and `tracegate query` alone over the same database."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from e2e_helpers import REPO_ROOT, gateway_config, wait_until

TRACE = "5b8aa5a2d2c872e8321cf37308d69df2"
ROOT, CLIENT, SERVER, DB = "0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004"
LINKED_TRACE, LINKED_SPAN = "11111111111111111111111111111111", "2222222222222222"
# Microsecond-aligned: PostgreSQL keeps microseconds.
T0 = (time.time_ns() // 1000 - 60_000_000) * 1000
MS = 1_000_000


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(span_id: str, parent: str, name: str, kind: int, start_ms: int, dur_ms: int, **extra: Any) -> dict[str, Any]:
    s = {"traceId": TRACE, "spanId": span_id, "name": name, "kind": kind,
         "startTimeUnixNano": str(T0 + start_ms * MS), "endTimeUnixNano": str(T0 + (start_ms + dur_ms) * MS)}
    if parent:
        s["parentSpanId"] = parent
    s.update(extra)
    return s


def export_body() -> dict[str, Any]:
    frontend = [
        span(ROOT, "", "GET /cart", 2, 0, 120, attributes=[kv("http.route", "/cart"), kv("http.response.status_code", 200)]),
        span(CLIENT, ROOT, "POST checkout", 3, 10, 100, attributes=[kv("peer.service", "checkout")],
             links=[{"traceId": LINKED_TRACE, "spanId": LINKED_SPAN, "attributes": [kv("why", "retry")]}]),
    ]
    checkout = [
        span(SERVER, CLIENT, "POST /checkout", 2, 15, 90, attributes=[kv("ratio", 0.25), kv("vip", True)],
             events=[{"timeUnixNano": str(T0 + 20 * MS), "name": "cart loaded", "attributes": [kv("items", 3)]}]),
        span(DB, SERVER, "<script>window.__xss=1</script>", 3, 30, 40,
             attributes=[kv("db.system", "postgresql")], status={"code": 2, "message": "deadlock"}),
    ]
    return {"resourceSpans": [
        {"resource": {"attributes": [kv("service.name", "frontend"), kv("host.name", "web-1")]},
         "scopeSpans": [{"scope": {"name": "shop.web", "version": "1.0"}, "spans": frontend}]},
        {"resource": {"attributes": [kv("service.name", "checkout")]},
         "scopeSpans": [{"scope": {"name": "shop.checkout"}, "spans": checkout}]},
    ]}


def jaeger_tag(key: str, type_: str, value: Any) -> dict[str, Any]:
    return {"key": key, "type": type_, "value": value}


def expected_trace() -> dict[str, Any]:
    us = T0 // 1000

    def jspan(span_id, parent, name, start_ms, dur_ms, tags, pid, refs_extra=(), logs=()):
        refs = ([{"refType": "CHILD_OF", "traceID": TRACE, "spanID": parent}] if parent else []) + list(refs_extra)
        return {"traceID": TRACE, "spanID": span_id, "operationName": name, "references": refs,
                "startTime": us + start_ms * 1000, "duration": dur_ms * 1000, "tags": tags, "logs": list(logs),
                "processID": pid, "warnings": None, "flags": 0}

    return {
        "traceID": TRACE,
        "spans": [
            jspan(ROOT, None, "GET /cart", 0, 120, [
                jaeger_tag("http.response.status_code", "int64", 200), jaeger_tag("http.route", "string", "/cart"),
                jaeger_tag("span.kind", "string", "server"), jaeger_tag("otel.scope.name", "string", "shop.web"),
                jaeger_tag("otel.scope.version", "string", "1.0")], "p2"),
            jspan(CLIENT, ROOT, "POST checkout", 10, 100, [
                jaeger_tag("peer.service", "string", "checkout"), jaeger_tag("span.kind", "string", "client"),
                jaeger_tag("otel.scope.name", "string", "shop.web"), jaeger_tag("otel.scope.version", "string", "1.0")],
                "p2", refs_extra=[{"refType": "FOLLOWS_FROM", "traceID": LINKED_TRACE, "spanID": LINKED_SPAN}]),
            jspan(SERVER, CLIENT, "POST /checkout", 15, 90, [
                jaeger_tag("ratio", "float64", 0.25), jaeger_tag("vip", "bool", True),
                jaeger_tag("span.kind", "string", "server"), jaeger_tag("otel.scope.name", "string", "shop.checkout")],
                "p1", logs=[{"timestamp": us + 20_000, "fields": [
                    jaeger_tag("event", "string", "cart loaded"), jaeger_tag("items", "int64", 3)]}]),
            jspan(DB, SERVER, "<script>window.__xss=1</script>", 30, 40, [
                jaeger_tag("db.system", "string", "postgresql"), jaeger_tag("span.kind", "string", "client"),
                jaeger_tag("otel.status_code", "string", "ERROR"), jaeger_tag("error", "bool", True),
                jaeger_tag("otel.status_description", "string", "deadlock"),
                jaeger_tag("otel.scope.name", "string", "shop.checkout")], "p1"),
        ],
        "processes": {
            "p1": {"serviceName": "checkout", "tags": [jaeger_tag("service.name", "string", "checkout")]},
            "p2": {"serviceName": "frontend", "tags": [
                jaeger_tag("host.name", "string", "web-1"), jaeger_tag("service.name", "string", "frontend")]},
        },
        "warnings": None,
    }


def envelope(data: Any, total: int) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": None}


def error_body(code: int, msg: str) -> dict[str, Any]:
    return {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]}


def query_config(db, **query: Any) -> dict[str, Any]:
    config = gateway_config(db.dsn)
    config["extensions"] = {"query": {"endpoint": "127.0.0.1:0", **query}}
    config["service"]["extensions"] = ["query"]
    return config


def store_trace(gw, db) -> None:
    r = requests.post(gw.traces_url, data=json.dumps(export_body()), headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    wait_until(lambda: db.scalar("SELECT count(*) FROM traces WHERE span_count = 4") == 1, 20, "the trace to be stored")


@pytest.fixture
def served(db, gateway):
    gw = gateway.start(query_config(db))
    store_trace(gw, db)
    return gw, gw.query_url


def get(base: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(base + path, timeout=10, **kwargs)


def test_a_trace_comes_back_in_jaegers_model_exactly(served) -> None:
    _, base = served
    r = get(base, f"/api/traces/{TRACE}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == envelope([expected_trace()], 1)
    # Upper-case and short (left-padded) ids name the same trace, as in Jaeger.
    assert get(base, f"/api/traces/{TRACE.upper()}").json()["data"][0]["traceID"] == TRACE


def test_services_operations_and_search(served) -> None:
    _, base = served
    assert get(base, "/api/services").json() == envelope(["checkout", "frontend"], 2)
    assert get(base, "/api/services/checkout/operations").json() == envelope(
        ["<script>window.__xss=1</script>", "POST /checkout"], 2)
    assert get(base, "/api/operations?service=frontend&spanKind=client").json() == envelope(
        [{"name": "POST checkout", "spanKind": "client"}], 1)

    def found(query: str) -> list[str]:
        r = get(base, "/api/traces?" + query)
        assert r.status_code == 200, r.text
        return [t["traceID"] for t in r.json()["data"]]

    assert found("service=frontend") == [TRACE]
    assert found("service=frontend&operation=GET%20%2Fcart&minDuration=100ms&maxDuration=1s") == [TRACE]
    assert found("service=frontend&operation=GET%20%2Fcart&minDuration=121ms") == []
    assert found("service=checkout&tags=" + requests.utils.quote('{"error":"true"}')) == [TRACE]
    assert found("service=frontend&tags=" + requests.utils.quote('{"error":"true"}')) == []
    # Span attributes, typed values as text, and resource attributes.
    assert found("service=frontend&tags=" + requests.utils.quote('{"http.route":"/cart","http.response.status_code":200}')) == [TRACE]
    assert found("service=frontend&tag=host.name:web-1&tag=span.kind:client") == [TRACE]
    assert found("service=frontend&tag=host.name:web-2") == []
    # Outside the window.
    end = T0 // 1000 - 3_600_000_000
    assert found(f"service=frontend&end={end}&lookback=1h") == []
    assert found(f"traceID={TRACE}&traceID=0f") == [TRACE]


def test_dependencies_otlp_json_and_trace_state(served) -> None:
    _, base = served
    end_ms = time.time_ns() // 1_000_000 + 60_000
    deps = get(base, f"/api/dependencies?endTs={end_ms}&lookback=3600000").json()
    assert deps == envelope([
        {"parent": "checkout", "child": "postgresql", "callCount": 1, "errorCount": 1},
        {"parent": "frontend", "child": "checkout", "callCount": 1, "errorCount": 0},
    ], 2)

    otlp = get(base, f"/api/v3/traces/{TRACE}").json()["result"]
    spans = {s["spanId"]: s for rs in otlp["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert set(spans) == {ROOT, CLIENT, SERVER, DB}
    assert spans[CLIENT]["links"] == [{"traceId": LINKED_TRACE, "spanId": LINKED_SPAN,
                                       "attributes": [{"key": "why", "value": {"stringValue": "retry"}}]}]
    assert spans[SERVER]["events"] == [{"timeUnixNano": str(T0 + 20 * MS), "name": "cart loaded",
                                        "attributes": [{"key": "items", "value": {"intValue": "3"}}]}]
    assert spans[DB]["status"] == {"code": 2, "message": "deadlock"}
    assert spans[ROOT]["startTimeUnixNano"] == str(T0) and spans[ROOT]["kind"] == 2 and "parentSpanId" not in spans[ROOT]

    state = get(base, f"/api/tracegate/traces/{TRACE}/state").json()["data"]
    assert {k: state[k] for k in ("traceID", "state", "concludedAt", "complete", "missingParentCount", "missingParents",
                                  "spanCount", "errorCount", "rootName", "rootService", "services")} == {
        "traceID": TRACE, "state": "open", "concludedAt": None, "complete": True, "missingParentCount": 0,
        "missingParents": [], "spanCount": 4, "errorCount": 1, "rootName": "GET /cart", "rootService": "frontend",
        "services": ["checkout", "frontend"]}


def test_malformed_requests_get_400_in_jaegers_shape(served) -> None:
    _, base = served
    cases = {
        "/api/traces/not-hex": (400, "malformed trace id 'not-hex': expected up to 32 hex digits"),
        "/api/traces/" + "a" * 33: (400, "malformed trace id '" + "a" * 33 + "': expected up to 32 hex digits"),
        "/api/traces/00000000000000000000000000000000": (400, "the all-zero trace id is invalid"),
        "/api/traces?operation=x": (400, "parameter 'service' is required"),
        "/api/traces?service=a&limit=x": (400, "limit must be a non-negative integer, got 'x'"),
        "/api/traces?service=a&tags=%7Bbroken": (400, "tags must be a JSON object of strings, numbers or booleans, got '{broken'"),
        "/api/traces?service=a%00": (400, "parameter 'service' contains a NUL character"),
        "/api/dependencies?endTs=yesterday": (400, "endTs must be milliseconds since the epoch, got 'yesterday'"),
        "/api/operations?service=a&spanKind=sideways": (
            400, "unknown spanKind 'sideways'; use one of internal, server, client, producer, consumer"),
        "/api/traces/abcdef0123": (404, "trace not found"),
        "/api/v3/traces/abcdef0123": (404, "trace not found"),
        "/api/nothing": (404, "no such API path: /api/nothing"),
    }
    for path, (status, msg) in cases.items():
        r = get(base, path)
        assert (r.status_code, r.json()) == (status, error_body(status, msg)), path
    r = requests.post(base + "/api/services", timeout=10)
    assert r.status_code == 405
    # The UI's paths serve its page, with a policy that runs only its own scripts.
    for path in ("/", "/search?service=frontend", f"/trace/{TRACE}", "/dependencies"):
        r = get(base, path)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), path
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert get(base, "/nowhere").status_code == 404


def test_bearer_tokens_guard_the_api(db, gateway) -> None:
    gw = gateway.start(query_config(db, auth={"bearer_tokens": ["s3cret"]}))
    base = gw.query_url
    r = get(base, "/api/services")
    assert r.status_code == 401 and r.json() == error_body(401, "missing or wrong bearer token")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(base, "/api/services", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = get(base, "/api/services", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["errors"] is None
    assert get(base, "/search").status_code == 200  # the page itself holds no data


def test_tracegate_query_serves_a_database_alone_and_read_only(db, gateway, tracegate_bin, tmp_path: Path) -> None:
    gw = gateway.start(gateway_config(db.dsn))
    store_trace(gw, db)
    log = (tmp_path / "query.log").open("w")
    proc = subprocess.Popen([tracegate_bin, "query", "--dsn", db.dsn, "--endpoint", "127.0.0.1:0"], cwd=REPO_ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def port() -> int | None:
            text = (tmp_path / "query.log").read_text()
            for line in text.splitlines():
                if "query API and web UI listening" in line:
                    return int(line.rsplit(":", 1)[1].split()[0])
            return None
        base = f"http://127.0.0.1:{wait_until(port, 20, 'tracegate query to listen')}"
        assert get(base, f"/api/traces/{TRACE}").json() == envelope([expected_trace()], 1)
        # Its sessions are read-only: a function that tries to write (as SQL
        # smuggled through a request would) is refused by the server.
        db.execute("DROP FUNCTION service_graph(timestamptz, timestamptz)")
        db.execute("CREATE FUNCTION service_graph(since timestamptz, until timestamptz) RETURNS TABLE (client text, "
                   "server text, connection_type text, requests bigint, failed bigint) LANGUAGE plpgsql AS "
                   "$$ BEGIN CREATE TABLE smuggled (x int); RETURN; END $$")
        r = get(base, "/api/dependencies")
        assert r.status_code == 503 and "read-only transaction" in r.json()["errors"][0]["msg"], r.text
        assert db.scalar("SELECT to_regclass('smuggled') IS NULL")
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        log.close()


def test_indexed_attributes_serve_tag_search_through_their_index(db, gateway) -> None:
    config = query_config(db)
    config["exporters"]["postgres"]["indexed_attributes"] = ["http.route", "host.name"]
    gw = gateway.start(config)
    store_trace(gw, db)
    listed = db.query("SELECT key, index_name FROM tracegate_indexed_attributes ORDER BY key")
    assert [k for k, _ in listed] == ["host.name", "http.route"]
    index = dict(listed)["http.route"]
    assert db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = %s", (index,)) == 1
    # The partitions carry it too; a search on the key goes through it.
    before = db.scalar("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname LIKE 'trace_spans_%%' "
                       "AND indexrelid IN (SELECT indexrelid FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
                       "WHERE i.inhparent = %s::regclass)", (index,))
    # Enough other spans of the same service that the planner prefers the
    # attribute index to walking the service's spans.
    db.execute("""INSERT INTO trace_spans (trace_id, span_id, name, kind, service_name, start_time, end_time, duration_ns,
                                           attributes, resource_attributes)
                  SELECT decode(lpad(to_hex(g), 32, '0'), 'hex'), decode(lpad(to_hex(g), 16, '0'), 'hex'), 'GET /other', 2,
                         'frontend', now() - interval '1 minute' * random(), now(), 1000000,
                         jsonb_build_object('http.route', '/other/' || (g % 50)), '{"service.name": "frontend"}'
                  FROM generate_series(1000, 30000) g""")
    db.execute("ANALYZE trace_spans")
    r = get(gw.query_url, "/api/traces?service=frontend&tags=" + requests.utils.quote('{"http.route":"/cart"}'))
    assert [t["traceID"] for t in r.json()["data"]] == [TRACE]
    assert get(gw.query_url, "/api/traces?service=frontend&tag=host.name:web-1").json()["data"][0]["traceID"] == TRACE

    def scans() -> int:
        return db.scalar("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelid IN "
                         "(SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = %s::regclass)", (index,))
    wait_until(lambda: scans() > (before or 0), 10, "the statistics to count a scan of the attribute index")
