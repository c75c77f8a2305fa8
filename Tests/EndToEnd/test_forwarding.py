"""Forwarding between two real `tracegate` processes on loopback: a sidecar
(OTLP in → batch → persistent sending queue → otlphttp) and a central gateway
(OTLP in → PostgreSQL). Also the otlphttp exporter against a Python HTTP
server that answers what a test needs (400, 503 + Retry-After, partial success).
"""

from __future__ import annotations

import http.server
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from e2e_helpers import (
    PROTOBUF, READY_TIMEOUT, gateway_config, listening_port, post_new_spans, request_with_spans, wait_until,
)


def free_port() -> int:
    """A port nothing listens on now; the gateway that will take it is
    started (and restarted) on exactly this port so the sidecar can find it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sidecar_config(upstream: str, queue_dir: Path | None, *, batch_timeout: str = "200ms",
                   send_batch_size: int = 512, encoding: str = "proto", compression: str = "gzip",
                   retry: dict[str, Any] | None = None, max_size: str | None = None,
                   fsync: bool = False) -> dict[str, Any]:
    """otlp (http) → batch → otlphttp to `upstream`, persistent when `queue_dir` is given."""
    queue: dict[str, Any] = {"num_consumers": 2, "queue_size": 200000}
    if queue_dir is not None:
        queue.update({"persistent": True, "directory": str(queue_dir), "fsync": fsync})
        if max_size is not None:
            queue["max_size"] = max_size
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:{port}"}}}},
        "processors": {"batch": {"send_batch_size": send_batch_size, "timeout": batch_timeout}},
        "exporters": {"otlphttp": {
            "endpoint": upstream, "encoding": encoding, "compression": compression, "timeout": "5s",
            "headers": {"x-forwarded-by": "${env:SIDECAR_NAME:-sidecar}"},
            "sending_queue": queue,
            "retry_on_failure": retry or {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "0"},
        }},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlphttp"]}},
            "telemetry": {"logs": {"level": "info"}, "shutdown_timeout": "3s",
                          "metrics": {"address": "127.0.0.1:0"}, "health": {"address": "127.0.0.1:0"}},
        },
    }


def post_ok(url: str, body: bytes) -> bool:
    """True when the sidecar acknowledged the request (200)."""
    try:
        return requests.post(url, data=body, headers={"Content-Type": PROTOBUF}, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def metric_value(text: str, name: str, exporter: str = "otlphttp") -> float | None:
    """The value of one series of the Prometheus text `text`, by name and exporter label."""
    for line in text.splitlines():
        if line.startswith(name + "{") and f'exporter="{exporter}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def segment_files(queue_dir: Path) -> list[Path]:
    return sorted(p for p in queue_dir.rglob("*.wal"))


# ------------------------------------------------------------------ chained processes


def test_sdk_spans_pass_sidecar_and_gateway_and_arrive_exactly_once(db, gateway, tmp_path):
    central = gateway(gateway_config(db.dsn))
    sidecar = gateway(sidecar_config(central.url, tmp_path / "queue"))

    provider = TracerProvider(resource=Resource.create({"service.name": "chained-svc"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sidecar.traces_url), max_export_batch_size=64))
    tracer = provider.get_tracer("e2e.forwarding")
    sent: set[tuple[str, str]] = set()
    for t in range(30):
        with tracer.start_as_current_span(f"root-{t}") as root:
            for c in range(9):
                with tracer.start_as_current_span(f"child-{c}", attributes={"c": c}) as child:
                    ctx = child.get_span_context()
                    sent.add((f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
            ctx = root.get_span_context()
            sent.add((f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
    assert provider.force_flush(10_000)
    provider.shutdown()

    db.wait_for_spans(len(sent), timeout=20)
    stored = db.stored_keys()
    assert len(stored) == len(sent) == 300
    assert set(stored) == sent
    assert db.scalar("SELECT count(DISTINCT service_name) FROM trace_spans WHERE service_name = 'chained-svc'") == 1


def test_json_encoding_without_compression_arrives_intact(db, gateway):
    central = gateway(gateway_config(db.dsn))
    sidecar = gateway(sidecar_config(central.url, None, encoding="json", compression="none"))
    body, keys = request_with_spans(25, resource_attributes={"deployment.environment": "e2e"})
    assert sidecar.post(body).status_code == 200
    db.wait_for_spans(25, timeout=15)
    assert set(db.stored_keys()) == keys
    names = {r[0] for r in db.query("SELECT name FROM trace_spans")}
    assert names == {f"op-{i}" for i in range(25)}


def test_spans_sent_while_the_gateway_is_down_for_30s_all_arrive_after_it_returns(db, gateway, tmp_path):
    port = free_port()
    central = gateway(gateway_config(db.dsn), port=port)
    sidecar = gateway(sidecar_config(f"http://127.0.0.1:{port}", tmp_path / "queue"))
    expected: set[tuple[str, str]] = set()
    body, keys = request_with_spans(10)
    assert sidecar.post(body).status_code == 200
    expected |= keys
    db.wait_for_spans(10, timeout=15)

    assert central.stop() == 0
    down_since = time.monotonic()
    while time.monotonic() - down_since < 30:
        body, keys = request_with_spans(20)
        r = sidecar.post(body)
        assert r.status_code == 200, r.text  # the sidecar keeps accepting while its upstream is down
        expected |= keys
        time.sleep(1.0)
    assert db.count_spans() == 10
    sidecar.wait_for_log("export failed, will retry")

    gateway(gateway_config(db.dsn), port=port)
    db.wait_for_spans(len(expected), timeout=30)
    assert set(db.stored_keys()) == expected


def test_sigkilled_sidecar_loses_no_acknowledged_span_after_restart(db, gateway, tmp_path):
    """Load on the sidecar while its upstream is down, then SIGKILL mid-load.
    The batch processor waits 10 s: spans it held would be lost, but with a
    persistent queue it runs behind the log, so everything acknowledged is on
    disk. After the restart every acknowledged span reaches PostgreSQL."""
    port = free_port()
    queue_dir = tmp_path / "queue"
    config = sidecar_config(f"http://127.0.0.1:{port}", queue_dir, batch_timeout="10s", send_batch_size=100000)
    sidecar = gateway(config)
    acknowledged: set[tuple[str, str]] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            body, keys = request_with_spans(25)
            try:
                r = session.post(sidecar.traces_url, data=body, headers={"Content-Type": PROTOBUF}, timeout=5)
            except requests.RequestException:
                return  # the sidecar is gone
            if r.status_code == 200:
                with lock:
                    acknowledged.update(keys)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acknowledged) >= 2000, 20, "2000 acknowledged spans")
        assert sidecar.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert segment_files(queue_dir), "the persistent queue left no segment files"

    gateway(gateway_config(db.dsn), port=port)
    restarted = gateway(config)
    restarted.wait_for_log("persistent queue: replaying spans from before the restart")
    wait_until(lambda: acknowledged <= set(db.stored_keys()), 40, "every acknowledged span in PostgreSQL", interval=0.5)
    stored = db.stored_keys()
    assert len(stored) == len(set(stored)), "a span was stored twice"


def test_reused_queue_segments_replay_only_what_was_acknowledged_after_sigkill(db, gateway, tmp_path):
    """Exported segments are reused: the file keeps its earlier records behind
    the new ones. After a SIGKILL, the restart replays exactly the records
    written since, never the file's earlier ones."""
    port = free_port()
    queue_dir = tmp_path / "queue"
    # max_size 1 MiB: 128 KiB segments; requests of 100 spans are ~10 KB records.
    config = sidecar_config(f"http://127.0.0.1:{port}", queue_dir, max_size="1MiB", fsync=True)
    central = gateway(gateway_config(db.dsn), port=port)
    sidecar = gateway(config)
    exported = post_new_spans(sidecar, 40, 100)
    db.wait_for_spans(len(exported), timeout=30)
    spare = queue_dir / "otlphttp" / "spare"
    wait_until(spare.exists, 10, "an exported segment kept as the spare")
    spare_inode = spare.stat().st_ino

    central.stop()
    queued: set[tuple[str, str]] = set()

    def queue_request() -> None:
        queued.update(post_new_spans(sidecar, 1, 100))

    # Until a new segment takes the spare's file, then two records more: the
    # process dies while writing the reused segment, before it is sealed,
    # with the file's earlier records right behind the new ones.
    for _ in range(60):
        queue_request()
        if not spare.exists():
            break
    assert not spare.exists()
    queue_request()
    queue_request()
    reused = max(segment_files(queue_dir))
    assert reused.stat().st_ino == spare_inode
    assert sidecar.stop(signal.SIGKILL) == -signal.SIGKILL

    central = gateway(gateway_config(db.dsn), port=port)
    gateway(config).wait_for_log("persistent queue: replaying spans from before the restart")
    wait_until(lambda: queued <= set(db.stored_keys()), 40, "every queued span in PostgreSQL", interval=0.5)
    assert set(db.stored_keys()) == exported | queued

    def accepted() -> float:
        text = requests.get(central.metrics_url, timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("tracegate_receiver_accepted_spans_total{"))
    # The restarted upstream received the queued spans once each, and none of
    # the reused file's earlier (already exported) records.
    time.sleep(1.0)
    assert accepted() == len(queued)


def test_corrupt_queue_tail_is_logged_and_skipped_and_the_rest_kept(db, gateway, tmp_path):
    port = free_port()
    queue_dir = tmp_path / "queue"
    config = sidecar_config(f"http://127.0.0.1:{port}", queue_dir)
    sidecar = gateway(config)
    kept = post_new_spans(sidecar, 3, 10)
    last_body, last_keys = request_with_spans(10)
    assert sidecar.post(last_body).status_code == 200
    sidecar.stop(signal.SIGKILL)

    segment = max(segment_files(queue_dir), key=lambda p: p.stat().st_size)
    size = segment.stat().st_size
    with open(segment, "r+b") as f:
        f.truncate(size - 7)  # the last record loses its end, as a write torn by a crash

    restarted = gateway(config)
    restarted.wait_for_log("persistent queue: corrupt or truncated data skipped")
    log = restarted.log_text()
    assert "truncated record" in log
    assert "offset=" in log and segment.name in log

    gateway(gateway_config(db.dsn), port=port)
    db.wait_for_spans(30, timeout=30)
    assert set(db.stored_keys()) == kept
    assert restarted.running


# ---------------------------------------------------------------- a scripted upstream


class ScriptedUpstream:
    """An OTLP/HTTP server on loopback answering from a list of
    (status, headers, body), the last one repeated; it records each request."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]):
        self.answers = answers
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                upstream.requests.append((time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, answer = upstream.answers[min(len(upstream.requests), len(upstream.answers)) - 1]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[list[ScriptedUpstream]]:
    made: list[ScriptedUpstream] = []
    yield made
    for u in made:
        u.close()


def rpc_status(code: int, message: str) -> bytes:
    return status_pb2.Status(code=code, message=message).SerializeToString()


def test_downstream_400_is_dropped_logged_and_counted_not_retried(gateway, upstream):
    server = ScriptedUpstream([(400, {"Content-Type": PROTOBUF}, rpc_status(3, "span name too long"))])
    upstream.append(server)
    sidecar = gateway(sidecar_config(server.url, None))
    body, _ = request_with_spans(7)
    assert sidecar.post(body).status_code == 200
    sidecar.wait_for_log("downstream rejected spans")
    sidecar.wait_for_log("dropping spans")
    log = sidecar.log_text()
    assert "span name too long" in log
    assert "answered 400" in log
    time.sleep(1.5)  # several retry intervals (100 ms): a retry would show up here
    assert len(server.requests) == 1
    metrics = requests.get(sidecar.metrics_url, timeout=5).text
    assert metric_value(metrics, "tracegate_otlphttp_rejected_spans_total") == 7
    assert metric_value(metrics, "tracegate_exporter_dropped_spans_total") == 7
    _, headers, forwarded = server.requests[0]
    assert headers["content-type"] == PROTOBUF
    assert headers["content-encoding"] == "gzip"
    assert headers["x-forwarded-by"] == "sidecar"
    import gzip
    request = ExportTraceServiceRequest()
    request.ParseFromString(gzip.decompress(forwarded))
    assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == 7


def test_downstream_503_with_retry_after_is_retried_then_partial_success_logged(gateway, upstream):
    partial = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=2, error_message="2 spans too old")
    ).SerializeToString()
    server = ScriptedUpstream([
        (503, {"Retry-After": "1", "Content-Type": PROTOBUF}, rpc_status(14, "busy")),
        (200, {"Content-Type": PROTOBUF}, partial),
    ])
    upstream.append(server)
    sidecar = gateway(sidecar_config(server.url, None))
    body, _ = request_with_spans(5)
    assert sidecar.post(body).status_code == 200
    sidecar.wait_for_log("partial success")
    assert len(server.requests) == 2
    # Retry-After: 1 outweighs the 100 ms backoff.
    assert server.requests[1][0] - server.requests[0][0] >= 0.9
    assert "2 spans too old" in sidecar.log_text()


def test_full_persistent_queue_refuses_with_503_and_counts_it(gateway, tmp_path):
    """Upstream down, max_size 1MiB: the queue fills its disk budget, then
    clients get 503 + Retry-After (OTLP clients retry) and the refusal is counted."""
    queue_dir = tmp_path / "queue"
    sidecar = gateway(sidecar_config(f"http://127.0.0.1:{free_port()}", queue_dir, max_size="1MiB"))
    accepted = 0
    refused = None
    for _ in range(200):
        body, _ = request_with_spans(400)
        r = sidecar.post(body)
        if r.status_code != 200:
            refused = r
            break
        accepted += 1
    assert refused is not None, "the queue never filled"
    assert accepted >= 5
    assert refused.status_code == 503
    assert refused.headers.get("Retry-After")
    on_disk = sum(p.stat().st_size for p in segment_files(queue_dir))
    assert 1 << 20 <= on_disk < (1 << 20) + 200_000  # bounded: at most one request beyond max_size
    metrics = requests.get(sidecar.metrics_url, timeout=5).text
    assert (metric_value(metrics, "tracegate_persistent_queue_refused_total") or 0) >= 1
    assert (metric_value(metrics, "tracegate_persistent_queue_bytes") or 0) >= 1 << 20


# ---------------------------------------------------------------------------- TLS


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def make_pki(d: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by the CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fwd-ca",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    for name, ext in [("server", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")]:
        (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + ext, encoding="utf-8")
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return {n: d / n for n in ["ca.crt", "server.crt", "server.key", "client.crt", "client.key"]}


def test_forwarding_over_mutual_tls_and_refusing_an_unknown_ca(db, gateway, tmp_path):
    pki = make_pki(tmp_path)
    config = gateway_config(db.dsn)
    config["receivers"]["otlp"]["protocols"]["http"]["tls"] = {
        "cert_file": str(pki["server.crt"]), "key_file": str(pki["server.key"]), "client_ca_file": str(pki["ca.crt"])}
    central = gateway.start(config, wait=False)
    port = wait_until(lambda: listening_port(central.log_text()), READY_TIMEOUT, "the gateway's HTTPS port")

    trusted = sidecar_config(f"https://127.0.0.1:{port}", None)
    trusted["exporters"]["otlphttp"]["tls"] = {
        "ca_file": str(pki["ca.crt"]), "cert_file": str(pki["client.crt"]), "key_file": str(pki["client.key"])}
    sidecar = gateway(trusted)
    body, keys = request_with_spans(12)
    assert sidecar.post(body).status_code == 200
    db.wait_for_spans(12, timeout=20)
    assert set(db.stored_keys()) == keys

    # Without the CA the server certificate does not verify: retried, never sent.
    untrusting = sidecar_config(f"https://127.0.0.1:{port}", None)
    untrusting["exporters"]["otlphttp"]["tls"] = {"cert_file": str(pki["client.crt"]), "key_file": str(pki["client.key"])}
    other = gateway(untrusting)
    body, _ = request_with_spans(3)
    assert other.post(body).status_code == 200
    other.wait_for_log("export failed, will retry")
    assert "certificate" in other.log_text().lower() or "ssl" in other.log_text().lower()
    assert db.count_spans() == 12
