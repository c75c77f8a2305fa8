"""The `file` exporter and `tracegate replay`: spans from the real
OpenTelemetry SDK written as OTLP/JSON lines (gzip), read by Python's own
gzip and json, then replayed into a second gateway that stores them in
PostgreSQL."""

from __future__ import annotations

import gzip
import http.server
import json
import threading

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from e2e_helpers import gateway_config, run_tracegate


def file_config(path: str, **file: object) -> dict:
    config = gateway_config(None, batch_timeout="50ms")
    config["exporters"] = {"file": {"path": path, **file}}
    config["service"]["pipelines"]["traces"]["exporters"] = ["file"]
    # No batch processor: each request the SDK sends is one line.
    del config["processors"]
    config["service"]["pipelines"]["traces"]["processors"] = []
    return config


def send_sdk_spans(url: str, n: int) -> set[tuple[str, str]]:
    provider = TracerProvider(resource=Resource.create({"service.name": "file-e2e"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=10), schedule_delay_millis=20,
                                                   max_export_batch_size=7))
    tracer = provider.get_tracer("e2e.file")
    keys = set()
    for i in range(n):
        with tracer.start_as_current_span(f"op {i}", attributes={"i": i}) as span:
            ctx = span.get_span_context()
            keys.add((f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
    assert provider.force_flush(timeout_millis=20_000)
    provider.shutdown()
    return keys


def keys_in_lines(lines: list[bytes]) -> set[tuple[str, str]]:
    keys = set()
    for line in lines:
        request = json.loads(line)
        for rs in request["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    keys.add((s["traceId"], s["spanId"]))
    return keys


def test_gzip_lines_hold_every_acknowledged_span_and_replay_stores_them(gateway, db, tracegate_bin, tmp_path):
    path = tmp_path / "spans.jsonl.gz"
    writer = gateway.start(file_config(str(path), compression="gzip"))
    sent = send_sdk_spans(writer.traces_url, 40)
    assert writer.stop() == 0

    # Python's gzip reads the concatenated members as one stream.
    lines = [l for l in gzip.decompress(path.read_bytes()).split(b"\n") if l]
    assert len(lines) >= 2, "several batches, several lines"
    assert keys_in_lines(lines) == sent

    store = gateway.start(gateway_config(db.dsn, batch_timeout="50ms"))
    result = run_tracegate(tracegate_bin, ["replay", str(path), "--to", store.traces_url])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"replayed {len(lines)} requests (40 spans) to {store.traces_url}", result.stdout
    db.wait_for_spans(40, timeout=20)
    assert set(db.stored_keys()) == sent


def test_rotation_keeps_max_backups_and_a_torn_line_is_reported_not_sent(gateway, tracegate_bin, tmp_path):
    path = tmp_path / "spans.jsonl"
    writer = gateway.start(file_config(str(path), rotation={"max_megabytes": 1, "max_backups": 1}))
    # ~40 KB of attributes per span: a few hundred spans pass 1 MiB more than once.
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=writer.traces_url, timeout=10),
                                                   schedule_delay_millis=20, max_export_batch_size=10))
    tracer = provider.get_tracer("e2e.file")
    for i in range(100):
        with tracer.start_as_current_span(f"big {i}", attributes={"blob": "x" * 40_000}):
            pass
    assert provider.force_flush(timeout_millis=20_000)
    provider.shutdown()
    assert writer.stop() == 0
    writer_log = writer.log_text()
    assert "file rotated" in writer_log

    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("spans"))
    assert len(files) == 2, files  # the file and one backup
    backup = next(f for f in files if f != "spans.jsonl")
    assert backup.startswith("spans-") and backup.endswith(".jsonl"), backup
    for name in files:
        assert (tmp_path / name).stat().st_size <= 1 << 20
        for line in (tmp_path / name).read_bytes().split(b"\n"):
            if line:
                json.loads(line)

    # A crash mid-write leaves half a line: replay names it and sends the rest.
    torn = tmp_path / "torn.jsonl"
    whole = (tmp_path / "spans.jsonl").read_bytes()
    torn.write_bytes(whole + whole[: len(whole) // 3 // 2])
    received: list[bytes] = []
    server = http.server.HTTPServer(("127.0.0.1", 0), recording_handler(received, refuse_first=2))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        result = run_tracegate(tracegate_bin, ["replay", str(torn), "--to", url, "--header", "Authorization=Bearer t0k"])
    finally:
        server.shutdown()
    good = [l for l in whole.split(b"\n") if l]
    assert result.returncode == 1
    assert f"line {len(good) + 1}: not an OTLP/JSON request, not sent" in result.stderr, result.stderr
    # Two 503s were retried; every whole line arrived once, in order, with the header.
    assert received == good


def recording_handler(received: list[bytes], refuse_first: int):
    state = {"refused": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"] == "application/json"
            if self.headers.get("Authorization") != "Bearer t0k":
                self.send_response(401)
                self.end_headers()
                return
            if state["refused"] < refuse_first:
                state["refused"] += 1
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            received.append(body)
            payload = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
