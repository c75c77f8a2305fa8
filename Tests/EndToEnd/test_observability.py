"""Self-observability of the real binary: Prometheus `/metrics` with the
receiver, queue, batch and COPY metrics, `/health` and `/ready` (PostgreSQL
reachable or not), JSON logs, and SIGHUP (reload is not supported: a warning,
and the gateway keeps running)."""
from __future__ import annotations

import json
import re
import signal

import grpc
import requests

from e2e_helpers import (
    RPC_INVALID_ARGUMENT,
    UNREACHABLE_DSN,
    assert_status_response,
    gateway_config,
    make_request,
    make_span,
    new_span_id,
    new_trace_id,
    request_with_spans,
    wait_until,
)

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(gw) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics, keyed by (name, labels)."""
    r = requests.get(gw.metrics_url, timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_accepted_rejected_and_refused_requests_per_protocol_and_reason(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, grpc={}, max_request_body_size=4096))
    body, keys = request_with_spans(3)
    assert gw.post(body).status_code == 200
    # Two valid spans and one with a zero trace id: a partial success.
    request = make_request([make_span(trace_id=new_trace_id(), span_id=new_span_id(), name="ok") for _ in range(2)]
                           + [make_span(trace_id=bytes(16), span_id=new_span_id(), name="bad")])
    assert gw.post(request.SerializeToString()).status_code == 200
    assert_status_response(gw.post(b"\xff\xff\xff"), 400, RPC_INVALID_ARGUMENT)
    assert gw.post(b"x" * 5000).status_code == 413
    assert gw.post(b"{}", content_type="text/plain").status_code == 415
    grpc_body, _ = request_with_spans(4)
    with grpc.insecure_channel(gw.grpc_target, options=[("grpc.enable_retries", 0)]) as channel:
        channel.unary_unary(EXPORT).with_call(grpc_body, timeout=10)
    db.wait_for_spans(3 + 2 + 4)

    http = {"receiver": "otlp", "protocol": "http", "encoding": "protobuf"}
    grpc_labels = {"receiver": "otlp", "protocol": "grpc", "encoding": "protobuf"}

    def settled():
        s = scrape(gw)
        return s if value(s, "tracegate_exporter_sent_spans_total", exporter="postgres") == 9 else None

    s = wait_until(settled, 10, "the exporter's sent spans to reach 9")
    # Three: the launcher's readiness probe is an empty export, accepted too.
    assert value(s, "tracegate_receiver_accepted_requests_total", **http) == 3
    assert value(s, "tracegate_receiver_accepted_spans_total", **http) == 5
    assert value(s, "tracegate_receiver_rejected_spans_total", **http) == 1
    assert value(s, "tracegate_receiver_refused_requests_total", **http, reason="decode") == 1
    assert value(s, "tracegate_receiver_refused_requests_total", **http, reason="too_large") == 1
    assert value(s, "tracegate_receiver_refused_requests_total", receiver="otlp", protocol="http",
                 encoding="protobuf", reason="unsupported") == 1
    assert value(s, "tracegate_receiver_accepted_requests_total", **grpc_labels) == 1
    assert value(s, "tracegate_receiver_accepted_spans_total", **grpc_labels) == 4
    # Queue, batch and COPY metrics.
    assert value(s, "tracegate_exporter_queue_capacity", exporter="postgres") == 200000
    assert value(s, "tracegate_exporter_queue_size", exporter="postgres") == 0
    assert value(s, "tracegate_exporter_dropped_spans_total", exporter="postgres") == 0
    assert value(s, "tracegate_processor_batch_send_size_sum") == 9
    assert value(s, "tracegate_postgres_copy_duration_seconds_count", exporter="postgres") >= 1


def test_health_is_up_and_ready_follows_postgres_reachability(db, gateway):
    reachable = gateway.start(gateway_config(db.dsn))
    assert requests.get(reachable.health_url + "/health", timeout=5).status_code == 200
    wait_until(lambda: requests.get(reachable.health_url + "/ready", timeout=5).status_code == 200, 10,
               "/ready to answer 200 with PostgreSQL reachable")

    unreachable = gateway.start(gateway_config(UNREACHABLE_DSN))
    assert requests.get(unreachable.health_url + "/health", timeout=5).status_code == 200
    r = requests.get(unreachable.health_url + "/ready", timeout=5)
    assert r.status_code == 503
    assert "exporter postgres" in r.text and "not" in r.text, r.text


def test_json_logs_are_one_object_per_line(gateway):
    config = gateway_config(None)
    config["service"]["telemetry"]["logs"]["format"] = "json"
    gw = gateway.start(config)
    body, _ = request_with_spans(2)
    assert gw.post(body).status_code == 200
    assert gw.stop() == 0
    lines = [line for line in gw.log_text().splitlines() if line.strip()]
    assert lines, "no log lines"
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"timestamp", "level", "message", "label"} <= record.keys(), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["timestamp"]), record
    started = next(r for r in records if r["message"] == "tracegate started")
    assert started["level"] == "info"
    assert "127.0.0.1:" in started["metadata"]["metrics"] and "127.0.0.1:" in started["metadata"]["health"]
    assert any(r["message"] == "tracegate stopped" for r in records)


def test_sighup_rereads_an_unchanged_file_and_keeps_running(db, gateway):
    gw = gateway.start(gateway_config(db.dsn))
    gw.proc.send_signal(signal.SIGHUP)
    # The kernel picked the port (endpoint port 0), the file says 0 again:
    # the receiver's settings are the same and it keeps its socket.
    gw.wait_for_log("configuration reloaded")
    assert "exporters_kept=1" in gw.log_text() and "receivers_kept=1" in gw.log_text()
    assert gw.running
    body, keys = request_with_spans(5)
    assert gw.post(body).status_code == 200
    db.wait_for_spans(5)
    assert gw.stop() == 0, gw.log_tail()


def test_program_pages_run_once_at_start_up_are_released_and_requests_still_work(gateway):
    # IdleRelease: half a second after the start the gateway unmaps the
    # never-written pages of its read-only file mappings (start-up's code
    # among them); they come back from the page cache when used again.
    gw = gateway.start(gateway_config(None, log_level="debug"))
    gw.wait_for_log("released unused program pages")
    assert "reason=start-up done" in gw.log_text(), gw.log_tail()
    released = int(re.search(r"kib=(\d+)", gw.log_text()).group(1))
    assert released > 1024, gw.log_tail()
    body, _ = request_with_spans(50)
    for _ in range(20):
        assert gw.post(body).status_code == 200
    assert gw.running
    assert gw.stop() == 0, gw.log_tail()
