"""Trace conclusion notifications (`conclusion/<name>` exporters), end to end:
the real binary, a real PostgreSQL, and a real HTTP server on loopback that
records every POST it gets.

Windows are short (inactivity 1 s) so the suite stays fast; the 10 000-trace
test runs two gateways on one database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from e2e_helpers import (
    T0,
    Database,
    GatewayLauncher,
    gateway_config,
    make_request,
    make_span,
    make_spans,
    new_span_id,
    new_trace_id,
    run_tracegate,
    to_yaml,
    wait_until,
)

SECRET = "s3cret-for-tests"


# ------------------------------------------------------------------ the endpoint


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class NotificationSink:
    """A ThreadingHTTPServer that records POSTs and answers with `statuses`
    (consumed in order, then 200)."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> "NotificationSink":
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    status = sink.statuses.pop(0) if sink.statuses else 200
                    sink.received.append(Received(time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body, status))
                # One write: headers and body in separate segments would meet
                # the client's delayed ACK (40 ms a request).
                self.wfile.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200]

    def delivered_trace_ids(self) -> list[str]:
        """Trace ids of every 2xx-answered notification (batches flattened)."""
        out = []
        for r in self.delivered():
            body = r.json
            for item in body if isinstance(body, list) else [body]:
                out.append(item["trace_id"])
        return out


@pytest.fixture
def sink() -> Iterator[NotificationSink]:
    s = NotificationSink().start()
    yield s
    s.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------- configs


def conclusion_config(dsn: str | None, endpoint: str, **conclusion: Any) -> dict[str, Any]:
    """otlp -> batch -> [postgres,] conclusion/hook."""
    config = gateway_config(dsn, batch_timeout="50ms")
    hook: dict[str, Any] = {"endpoint": endpoint, "inactivity": "1s", "max_wait": "3s",
                            "retry": {"initial_interval": "100ms", "max_interval": "500ms", "max_attempts": 3}}
    hook.update(conclusion)
    exporters = dict(config["exporters"]) if dsn is not None else {}
    exporters["conclusion/hook"] = hook
    config["exporters"] = exporters
    config["service"]["pipelines"]["traces"]["exporters"] = list(exporters)
    return config


def post(gw: Any, spans: list, service: str = "checkout") -> None:
    r = gw.post(make_request(spans, service_name=service).SerializeToString())
    assert r.status_code == 200, r.text


def trace_with_children(children: int = 2, name: str = "GET /cart") -> tuple[str, list]:
    trace_id = new_trace_id()
    root = new_span_id()
    spans = [make_span(trace_id=trace_id, span_id=root, name=name, end_ns=None)]
    for i in range(children):
        spans.append(make_span(trace_id=trace_id, span_id=new_span_id(), parent_span_id=root, name=f"child-{i}"))
    return trace_id.hex(), spans


# --------------------------------------------------------------------- tests


def test_a_trace_is_notified_within_inactivity_plus_one_second(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    config = conclusion_config(db.dsn, sink.url, headers={"Authorization": "Bearer hook-token"},
                               signing={"secret": "${env:HOOK_SECRET}"})
    gw = gateway.start(config, env={"HOOK_SECRET": SECRET})
    trace_id, spans = trace_with_children(2)
    sent = time.monotonic()
    post(gw, spans)

    wait_until(lambda: sink.delivered(), 10, "the notification")
    r = sink.delivered()[0]
    assert 1.0 <= r.at - sent <= 2.0, f"notified {r.at - sent:.2f}s after the last span (inactivity 1s)"
    body = r.json
    assert body["trace_id"] == trace_id
    assert body["root_name"] == "GET /cart" and body["root_service"] == "checkout"
    assert body["services"] == ["checkout"]
    assert body["span_count"] == 3 and body["error_count"] == 0 and body["status"] == "ok"
    assert body["complete"] is True and body["missing_parents"] == [] and body["updated"] is False
    assert body["start"].endswith("Z") and body["end"] >= body["start"] and body["duration_ms"] >= 1
    assert r.headers["idempotency-key"] == trace_id
    assert r.headers["authorization"] == "Bearer hook-token"
    assert r.headers["content-type"] == "application/json"
    expected = hmac.new(SECRET.encode(), r.body, hashlib.sha256).hexdigest()
    assert r.headers["x-tracegate-signature"] == f"sha256={expected}"

    time.sleep(1.5)
    assert len(sink.received) == 1
    assert db.scalar("SELECT count(*) FROM traces WHERE concluded_at IS NOT NULL") == 1
    assert db.scalar("SELECT count(*) FROM notification_outbox") == 0


def test_an_incomplete_trace_waits_max_wait_then_names_its_missing_parents(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    gw = gateway.start(conclusion_config(db.dsn, sink.url, max_wait="3s"))
    orphan_trace, missing = new_trace_id(), new_span_id()
    sent = time.monotonic()
    post(gw, [make_span(trace_id=orphan_trace, span_id=new_span_id(), parent_span_id=missing, name="child")])
    # A trace whose root comes late, within max_wait, concludes complete.
    late_trace, root = new_trace_id(), new_span_id()
    post(gw, [make_span(trace_id=late_trace, span_id=new_span_id(), parent_span_id=root, name="child")])
    time.sleep(1.5)
    assert sink.delivered() == [], "an incomplete trace concluded after inactivity, before max_wait"
    rooted = time.monotonic()
    post(gw, [make_span(trace_id=late_trace, span_id=root, name="root")])

    wait_until(lambda: len(sink.delivered()) == 2, 10, "both notifications")
    by_id = {r.json["trace_id"]: r for r in sink.delivered()}
    orphan = by_id[orphan_trace.hex()]
    assert orphan.json["complete"] is False
    assert orphan.json["missing_parents"] == [missing.hex()]
    assert orphan.json["root_name"] is None
    assert 3.0 <= orphan.at - sent <= 4.5
    completed = by_id[late_trace.hex()]
    assert completed.json["complete"] is True and completed.json["missing_parents"] == []
    assert completed.json["root_name"] == "root"
    assert 1.0 <= completed.at - rooted <= 2.0


def test_two_gateways_on_one_database_notify_10000_traces_exactly_once(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    config = conclusion_config(db.dsn, sink.url, workers=4)
    gateways = [gateway.start(config), gateway.start(config)]
    sent: set[str] = set()
    for i in range(20):
        spans: list = []
        for _ in range(500):
            trace_id = new_trace_id()
            sent.add(trace_id.hex())
            spans.extend(make_spans(2, trace_id=trace_id))
        post(gateways[i % 2], spans)
    assert len(sent) == 10_000

    wait_until(lambda: len(sink.delivered_trace_ids()) >= 10_000, 60, "10 000 notifications")
    time.sleep(2.0)  # anything sent twice would arrive by now
    ids = sink.delivered_trace_ids()
    duplicates = len(ids) - len(set(ids))
    assert duplicates == 0, f"{duplicates} traces notified more than once"
    assert set(ids) == sent
    assert db.scalar("SELECT count(*) FROM notification_outbox") == 0
    assert db.scalar("SELECT count(*) FROM traces WHERE concluded_at IS NULL") == 0
    # Both replicas took part in delivering.
    for g in gateways:
        metrics = requests.get(g.metrics_url, timeout=5).text
        delivered = [line for line in metrics.splitlines() if line.startswith("tracegate_conclusion_notifications_delivered_total")]
        assert delivered and float(delivered[0].split()[-1]) > 0, metrics


def test_a_500_then_200_is_delivered_once(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    sink.statuses = [500]
    gw = gateway.start(conclusion_config(db.dsn, sink.url))
    trace_id, spans = trace_with_children(1)
    post(gw, spans)
    wait_until(lambda: sink.delivered(), 10, "the retried notification")
    time.sleep(1.0)
    assert [r.status for r in sink.received] == [500, 200]
    assert all(r.json["trace_id"] == trace_id and r.headers["idempotency-key"] == trace_id for r in sink.received)
    assert db.scalar("SELECT count(*) FROM notification_outbox") == 0
    assert db.scalar("SELECT count(*) FROM notification_dead_letters") == 0


def test_a_dead_endpoint_leads_to_a_dead_letter_that_retry_dead_delivers(
        db: Database, gateway: GatewayLauncher, tracegate_bin: str) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    endpoint = f"http://127.0.0.1:{port}/hook"
    gw = gateway.start(conclusion_config(db.dsn, endpoint))
    trace_id, spans = trace_with_children(1)
    post(gw, spans)

    wait_until(lambda: db.scalar("SELECT count(*) FROM notification_dead_letters") == 1, 15, "a dead letter")
    row = db.dicts("SELECT encode(trace_id, 'hex') AS trace_id, attempts, last_error, payload FROM notification_dead_letters")[0]
    assert row["trace_id"] == trace_id and row["attempts"] == 3
    assert "curl error" in row["last_error"]
    assert row["payload"]["trace_id"] == trace_id
    assert db.scalar("SELECT count(*) FROM notification_outbox") == 0

    late = NotificationSink(port=port).start()
    try:
        result = run_tracegate(tracegate_bin, ["notifications", "retry-dead", "--config", str(gw.config_path)])
        assert result.returncode == 0, result.stderr
        assert "conclusion/hook: re-queued 1 dead letter" in result.stdout
        wait_until(lambda: late.delivered(), 10, "the re-queued notification")
        assert late.delivered_trace_ids() == [trace_id]
        assert db.scalar("SELECT count(*) FROM notification_dead_letters") == 0
        status = run_tracegate(tracegate_bin, ["notifications", "status", "--config", str(gw.config_path)])
        wait_until(lambda: db.scalar("SELECT count(*) FROM notification_outbox") == 0, 5, "an empty outbox")
        assert status.returncode == 0 and "conclusion/hook:" in status.stdout
    finally:
        late.stop()


def test_a_gateway_killed_mid_stream_and_restarted_notifies_every_stored_trace(
        db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    config = conclusion_config(db.dsn, sink.url)
    gw = gateway.start(config)
    started = time.monotonic()
    while time.monotonic() - started < 2.5:  # traces conclude while others still arrive
        spans: list = []
        for _ in range(50):
            spans.extend(make_spans(2))
        post(gw, spans)
        time.sleep(0.05)
    gw.stop(signal.SIGKILL)
    stored = {r[0] for r in db.query("SELECT encode(trace_id, 'hex') FROM traces")}
    assert stored
    gateway.start(config)

    wait_until(lambda: set(sink.delivered_trace_ids()) >= stored, 30, "every stored trace notified")
    time.sleep(1.5)
    ids = sink.delivered_trace_ids()
    assert set(ids) == stored
    # Only a POST in flight when the process died (one per worker) may be
    # sent again, with the same Idempotency-Key, so an endpoint that honours
    # the key sees every trace once.
    repeated = {t for t in ids if ids.count(t) > 1}
    assert len(repeated) <= 2, f"{len(repeated)} traces notified twice"
    keys = [r.headers["idempotency-key"] for r in sink.delivered()]
    assert keys == ids and len(set(keys)) == len(stored)
    assert db.scalar("SELECT count(*) FROM traces WHERE concluded_at IS NULL") == 0


def test_late_spans_renotify_with_updated_true(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    gw = gateway.start(conclusion_config(db.dsn, sink.url, late_spans="renotify"))
    trace_id = new_trace_id()
    root = new_span_id()
    post(gw, [make_span(trace_id=trace_id, span_id=root, name="root")])
    wait_until(lambda: sink.delivered(), 10, "the first notification")
    post(gw, [make_span(trace_id=trace_id, span_id=new_span_id(), parent_span_id=root, name="late")], service="billing")
    wait_until(lambda: len(sink.delivered()) == 2, 10, "the second notification")
    first, second = (r.json for r in sink.delivered())
    assert first["updated"] is False and first["span_count"] == 1
    assert second["updated"] is True and second["span_count"] == 2
    assert second["services"] == ["billing", "checkout"]
    # A new message, so a new key: an endpoint that deduplicates keeps both.
    assert [r.headers["idempotency-key"] for r in sink.delivered()] == [trace_id.hex(), f"{trace_id.hex()}-updated-2"]


def test_body_template_and_batches(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    gw = gateway.start(conclusion_config(db.dsn, sink.url, body_template='{"trace_id": {{trace_id}}}', batch_size=10))
    sent = []
    spans: list = []
    for _ in range(10):
        trace_id, s = trace_with_children(1)
        sent.append(trace_id)
        spans.extend(s)
    post(gw, spans)
    wait_until(lambda: len(sink.delivered_trace_ids()) == 10, 10, "10 notifications")
    assert sorted(sink.delivered_trace_ids()) == sorted(sent)
    for r in sink.delivered():
        assert isinstance(r.json, list) and all(item == {"trace_id": item["trace_id"]} for item in r.json)
        ids = ",".join(item["trace_id"] for item in r.json)
        expected = ids if len(r.json) == 1 else hashlib.sha256(ids.encode()).hexdigest()
        assert r.headers["idempotency-key"] == expected


def test_memory_store_over_max_traces_concludes_the_nearest_early(gateway: GatewayLauncher, sink: NotificationSink, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    gw = gateway.start(conclusion_config(None, sink.url, store="memory", max_traces=50, inactivity="5s", max_wait="5s",
                                         dead_letter_file=str(dead)))
    first = [make_spans(2) for _ in range(50)]
    post(gw, [s for t in first for s in t])
    time.sleep(0.3)
    second = [make_spans(2) for _ in range(150)]
    post(gw, [s for t in second for s in t])
    posted = time.monotonic()

    # 150 traces had to make room, the 50 older ones first (nearest deadline;
    # within the second batch all deadlines tie): they conclude at once, long
    # before their 2 s of inactivity.
    wait_until(lambda: len(sink.delivered_trace_ids()) >= 150, 10, "evicted traces notified")
    early = sink.delivered()[:150]
    assert early[-1].at - posted < 4.0, "evicted traces waited for their inactivity (5 s)"
    assert {t[0].trace_id.hex() for t in first} <= {r.json["trace_id"] for r in early}
    wait_until(lambda: len(sink.delivered_trace_ids()) == 200, 10, "all 200 notifications")
    ids = sink.delivered_trace_ids()
    assert len(set(ids)) == 200
    metrics = requests.get(gw.metrics_url, timeout=5).text
    evicted = [line for line in metrics.splitlines() if line.startswith("tracegate_conclusion_evicted_total")]
    assert evicted and float(evicted[0].split()[-1]) == 150
    assert not dead.exists()


def test_memory_store_dead_letter_file_and_retry_dead(gateway: GatewayLauncher, tmp_path: Path, tracegate_bin: str) -> None:
    dead = tmp_path / "dead.jsonl"
    port = free_port()
    gw = gateway.start(conclusion_config(None, f"http://127.0.0.1:{port}/hook", store="memory", dead_letter_file=str(dead)))
    trace_id, spans = trace_with_children(1)
    post(gw, spans)
    wait_until(lambda: dead.exists() and dead.read_text().strip(), 15, "a dead letter line")
    letter = json.loads(dead.read_text().splitlines()[0])
    assert letter["trace_id"] == trace_id and letter["attempts"] == 3 and "curl error" in letter["last_error"]
    assert letter["payload"]["span_count"] == 2

    late = NotificationSink(port=port).start()
    try:
        result = run_tracegate(tracegate_bin, ["notifications", "retry-dead", "--config", str(gw.config_path)])
        assert result.returncode == 0, result.stderr
        assert "delivered 1, failed again 0" in result.stdout
        assert late.delivered_trace_ids() == [trace_id]
        assert dead.read_text().strip() == ""
    finally:
        late.stop()


def test_traces_whose_spans_wait_out_a_postgres_outage_are_notified_once_with_every_span(
        db: Database, gateway: GatewayLauncher, sink: NotificationSink, pg_cluster: Any) -> None:
    """Root + one child stored, then PostgreSQL stops; the other two children
    are acknowledged (queued) while it is down for longer than inactivity.
    The backlog holds the conclusions: each trace is notified once, with all 4 spans."""
    config = conclusion_config(db.dsn, sink.url, inactivity="3s", max_wait="10s")
    config["exporters"]["postgres"]["retry_on_failure"] = {"initial_interval": "200ms", "max_interval": "1s", "randomization_factor": 0}
    gw = gateway.start(config)
    traces: list[tuple[bytes, bytes]] = []
    first: list = []
    for _ in range(50):
        trace_id, root = new_trace_id(), new_span_id()
        traces.append((trace_id, root))
        first.append(make_span(trace_id=trace_id, span_id=root, name="GET /cart"))
        first.append(make_span(trace_id=trace_id, span_id=new_span_id(), parent_span_id=root, name="child-0"))
    post(gw, first)
    db.wait_for_spans(100, timeout=10)

    with pg_cluster.stopped():
        rest: list = []
        for trace_id, root in traces:
            for i in (1, 2):
                rest.append(make_span(trace_id=trace_id, span_id=new_span_id(), parent_span_id=root, name=f"child-{i}"))
        post(gw, rest)
        time.sleep(8.0)  # longer than inactivity
        assert sink.delivered() == [], "a trace concluded while its acknowledged spans waited for PostgreSQL"

    wait_until(lambda: len(sink.delivered_trace_ids()) >= 50, 20, "50 notifications")
    time.sleep(1.5)  # a duplicate would arrive by now
    bodies = [item for r in sink.delivered() for item in (r.json if isinstance(r.json, list) else [r.json])]
    assert len(bodies) == 50
    assert sorted(b["trace_id"] for b in bodies) == sorted(t.hex() for t, _ in traces)
    assert all(b["span_count"] == 4 for b in bodies), sorted(b["span_count"] for b in bodies)
    assert all(b["complete"] is True and b["updated"] is False for b in bodies)


def when_traces() -> dict[str, tuple[str, list]]:
    """Four traces: one with an error, one slow, one with a tenant attribute, one plain."""
    traces = {}
    for kind in ("error", "slow", "acme", "plain"):
        trace_id = new_trace_id()
        root = new_span_id()
        end = T0 + (3_000_000_000 if kind == "slow" else 1_000_000)
        attributes = {"tenant": "acme"} if kind == "acme" else None
        child = make_span(trace_id=trace_id, span_id=new_span_id(), parent_span_id=root, name="child", attributes=attributes)
        if kind == "error":
            child.status.code = child.status.STATUS_CODE_ERROR
        traces[kind] = (trace_id.hex(), [make_span(trace_id=trace_id, span_id=root, name="GET /x", end_ns=end), child])
    return traces


WHEN = {"any": [{"errors": True}, {"duration_over": "2s"}, {"attribute": {"key": "tenant", "value": "acme"}}]}


def test_when_notifies_only_the_traces_that_match_postgres_store(db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    gw = gateway.start(conclusion_config(db.dsn, sink.url, when=WHEN))
    traces = when_traces()
    for _, spans in traces.values():
        post(gw, spans)
    wait_until(lambda: len(sink.delivered()) >= 3, 15, "three notifications")
    time.sleep(1.5)
    assert sorted(sink.delivered_trace_ids()) == sorted(traces[k][0] for k in ("error", "slow", "acme"))
    # Concluded all the same, and counted.
    wait_until(lambda: db.scalar("SELECT count(*) FROM traces WHERE concluded_at IS NOT NULL") == 4, 10, "four concluded traces")
    assert db.scalar("SELECT count(*) FROM notification_outbox") == 0
    metrics = requests.get(gw.metrics_url, timeout=5).text
    assert 'tracegate_conclusion_notifications_filtered_total{exporter="conclusion/hook"} 1' in metrics


def test_when_notifies_only_the_traces_that_match_memory_store(gateway: GatewayLauncher, sink: NotificationSink) -> None:
    gw = gateway.start(conclusion_config(None, sink.url, store="memory", when={"not": {"all": [{"errors": False}, {"span_count_over": 1},
                                                                                                  {"not": WHEN}]}}))
    traces = when_traces()
    for _, spans in traces.values():
        post(gw, spans)
    wait_until(lambda: len(sink.delivered()) >= 3, 15, "three notifications")
    time.sleep(1.5)
    assert sorted(sink.delivered_trace_ids()) == sorted(traces[k][0] for k in ("error", "slow", "acme"))
    metrics = requests.get(gw.metrics_url, timeout=5).text
    assert 'tracegate_conclusion_notifications_filtered_total{exporter="conclusion/hook"} 1' in metrics


def root_last_trace() -> tuple[str, list, list]:
    """A trace whose children arrive before its root, as SDKs export a root that ends last."""
    trace_id = new_trace_id()
    root = new_span_id()
    children = [make_span(trace_id=trace_id, span_id=new_span_id(), parent_span_id=root, name=f"child-{i}") for i in range(2)]
    return trace_id.hex(), children, [make_span(trace_id=trace_id, span_id=root, name="GET /slow", end_ns=T0 + 5_000_000)]


@pytest.mark.parametrize("store", ["postgres", "memory"])
def test_conclude_after_root_notifies_a_complete_trace_soon_after_its_root(
        store: str, db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    config = conclusion_config(db.dsn if store == "postgres" else None, sink.url, inactivity="20s", max_wait="30s",
                               conclude_after_root="1s", **({"store": "memory"} if store == "memory" else {}))
    gw = gateway.start(config)
    complete_id, children, root = root_last_trace()
    rootless_id, rootless_children, _ = root_last_trace()
    post(gw, children)
    post(gw, rootless_children)
    time.sleep(0.5)
    sent = time.monotonic()
    post(gw, root)
    wait_until(lambda: sink.delivered(), 10, "the notification of the complete trace")
    r = sink.delivered()[0]
    assert r.json["trace_id"] == complete_id and r.json["span_count"] == 3 and r.json["complete"] is True
    assert 0.9 <= r.at - sent <= 3.0, f"notified {r.at - sent:.2f}s after the root (conclude_after_root 1s, inactivity 20s)"
    time.sleep(1.0)
    # The trace without its root waits the whole window.
    assert sink.delivered_trace_ids() == [complete_id]


def test_include_spans_carries_every_span_and_truncates_past_max_body_size(
        db: Database, gateway: GatewayLauncher, sink: NotificationSink) -> None:
    gw = gateway.start(conclusion_config(db.dsn, sink.url, include=["spans"], max_body_size="4KiB"))
    small_id, small = trace_with_children(3)
    post(gw, small)
    big_id, big = trace_with_children(40, name="GET /big")
    post(gw, big)
    wait_until(lambda: len(sink.delivered()) >= 2, 15, "both notifications")
    bodies = {r.json["trace_id"]: r.json for r in sink.delivered()}

    small_body = bodies[small_id]
    assert small_body["spans_truncated"] is False and small_body["span_count"] == 4
    resource_spans = small_body["spans"]["resourceSpans"]
    assert [a["value"] for a in resource_spans[0]["resource"]["attributes"] if a["key"] == "service.name"] == [
        {"stringValue": "checkout"}]
    spans = [s for rs in resource_spans for ss in rs["scopeSpans"] for s in ss["spans"]]
    sent = {(s.span_id.hex(), s.name) for s in small}
    assert {(s["spanId"], s["name"]) for s in spans} == sent
    assert all(s["traceId"] == small_id for s in spans)
    child = next(s for s in spans if s["name"] == "child-0")
    assert child["parentSpanId"] == small[0].span_id.hex()
    assert child["startTimeUnixNano"] == str(small[1].start_time_unix_nano)

    # 41 spans do not fit in 4 KiB: the first ones (by start) are kept, and the flag says so.
    big_body = bodies[big_id]
    assert big_body["span_count"] == 41 and big_body["spans_truncated"] is True
    kept = [s for rs in big_body["spans"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert 0 < len(kept) < 41
    # The budget counts the spans' own JSON; resource and scope wrappers add a little.
    assert len(json.dumps(big_body["spans"], separators=(",", ":"))) <= 4096 + 300


def test_include_spans_needs_the_postgres_store(tracegate_bin: str, tmp_path: Path) -> None:
    config = conclusion_config(None, "http://127.0.0.1:9/hook", store="memory", include=["spans", "logs"])
    path = tmp_path / "gw.yaml"
    path.write_text(to_yaml(config))
    r = subprocess.run([tracegate_bin, "validate", "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "include[1]: unknown item 'logs'; known: spans" in r.stderr
    assert "include: spans needs store: postgres (the memory store keeps summaries, not spans)" in r.stderr
