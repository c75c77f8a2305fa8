"""The `otlp` (OTLP/gRPC) exporter between real processes: into Tracegate's
own gRPC receiver (and PostgreSQL), and into Python `grpcio` servers that
answer what a test needs (UNAVAILABLE with a RetryInfo, INVALID_ARGUMENT,
slow answers), some behind a relay that reads the HTTP/2 frames the exporter
really sends (compression, headers, connections). Also `loadbalancing` with
`protocol.otlp` over two gRPC servers.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
import requests
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from e2e_helpers import gateway_config, make_request, make_spans, new_trace_id, request_with_spans, wait_until
from test_forwarding import make_pki

# ------------------------------------------------------------------ the servers


@dataclass
class Call:
    at: float
    metadata: dict[str, str]
    peer: str
    spans: list[tuple[str, str]]
    answered: str


class ScriptedTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """A TraceService that answers each call as `script(call_number)` says:
    None for OK, else (code, message, retry_delay_seconds or None)."""

    def __init__(self, script: Callable[[int], tuple[grpc.StatusCode, str, float | None] | None], delay: float = 0.0,
                 partial: tuple[int, str] | None = None):
        self.script = script
        self.delay = delay
        self.partial = partial
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def Export(self, request, context):  # noqa: N802 (the generated name)
        with self.lock:
            n = len(self.calls)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            spans = [(s.trace_id.hex(), s.span_id.hex())
                     for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
            answer = self.script(n)
            call = Call(time.monotonic(), {m.key: m.value for m in context.invocation_metadata()}, context.peer(), spans,
                        "OK" if answer is None else answer[0].name)
            with self.lock:
                self.calls.append(call)
            if answer is None:
                if self.partial is None:
                    return trace_service_pb2.ExportTraceServiceResponse()
                return trace_service_pb2.ExportTraceServiceResponse(partial_success=trace_service_pb2.ExportTracePartialSuccess(
                    rejected_spans=self.partial[0], error_message=self.partial[1]))
            code, message, delay = answer
            if delay is not None:
                detail = any_pb2.Any()
                seconds = int(delay)
                detail.Pack(error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=seconds, nanos=int((delay - seconds) * 1e9))))
                status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
                context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(code, message)
        finally:
            with self.lock:
                self.in_flight -= 1

    def ok_spans(self) -> list[tuple[str, str]]:
        with self.lock:
            return [s for c in self.calls if c.answered == "OK" for s in c.spans]


@pytest.fixture
def grpc_server() -> Iterator[Callable[..., tuple[ScriptedTraceService, int]]]:
    """Starts grpcio servers on loopback: `grpc_server(script, delay=0)` → (service, port)."""
    servers: list[grpc.Server] = []

    def start(script=lambda n: None, delay: float = 0.0, port: int = 0, partial: tuple[int, str] | None = None,
              compression: grpc.Compression | None = None) -> tuple[ScriptedTraceService, int]:
        service = ScriptedTraceService(script, delay, partial)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), compression=compression)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
        port = server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        service.server = server
        servers.append(server)
        return service, port

    yield start
    for server in servers:
        server.stop(0)


class H2Relay:
    """A TCP relay in front of a server that also parses, without answering,
    the HTTP/2 the client sends (with the `h2` library), so a test sees the
    frames on the wire: request headers, each message's compressed flag, and
    how many TCP connections were made."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[dict[str, str]] = []
        self.compressed_flags: list[int] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, sniff: bool) -> None:
        parser = None
        if sniff:
            parser = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, validate_inbound_headers=False))
            parser.initiate_connection()
            parser.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        first_data: set[int] = set()
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if parser is None:
                    continue
                try:
                    events = parser.receive_data(data)
                except Exception:  # noqa: BLE001 (a sniffer must never break the relay)
                    parser = None
                    continue
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                                   for k, v in event.headers}
                        with self.lock:
                            self.requests.append(headers)
                    elif isinstance(event, h2.events.DataReceived):
                        parser.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        if event.stream_id not in first_data and event.data:
                            first_data.add(event.stream_id)
                            with self.lock:
                                self.compressed_flags.append(event.data[0])
                parser.data_to_send()  # answers are the real server's, not the parser's
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()


# ------------------------------------------------------------------ the forwarding gateway


def forwarder_config(exporter: dict[str, Any], *, exporter_type: str = "otlp",
                     batch: dict[str, Any] | None = None) -> dict[str, Any]:
    """otlp (http) in → [batch] → the given exporter, metrics on a kernel-picked port."""
    pipeline: dict[str, Any] = {"receivers": ["otlp"], "processors": [], "exporters": [exporter_type]}
    config: dict[str, Any] = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:{port}"}}}},
        "exporters": {exporter_type: exporter},
        "service": {
            "pipelines": {"traces": pipeline},
            "telemetry": {"logs": {"level": "info"}, "shutdown_timeout": "3s",
                          "metrics": {"address": "127.0.0.1:0"}, "health": {"address": "127.0.0.1:0"}},
        },
    }
    if batch is not None:
        config["processors"] = {"batch": batch}
        pipeline["processors"] = ["batch"]
    return config


def otlp_exporter(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": endpoint, "timeout": "5s",
        "retry_on_failure": {"initial_interval": "10ms", "max_interval": "50ms", "max_elapsed_time": "20s"},
        **extra,
    }


def metric(metrics_url: str, name: str, **labels: str) -> float:
    """Sum of the series of `name` whose labels include `labels`."""
    total = 0.0
    for line in requests.get(metrics_url, timeout=5).text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ------------------------------------------------------------------ tests


def test_spans_pass_the_otlp_exporter_into_tracegates_grpc_receiver_once(db, gateway):
    central = gateway(gateway_config(db.dsn, grpc={}))
    forwarder = gateway(forwarder_config(
        otlp_exporter(f"http://{central.grpc_target}", sending_queue={"num_consumers": 4}),
        batch={"send_batch_size": 50, "timeout": "50ms"}))
    expected: set[tuple[str, str]] = set()
    for _ in range(6):
        body, keys = request_with_spans(40)
        assert forwarder.post(body).status_code == 200
        expected |= keys
    db.wait_for_spans(240, timeout=15)
    stored = db.stored_keys()
    assert len(stored) == 240 and set(stored) == expected
    assert metric(forwarder.metrics_url, "tracegate_otlpgrpc_connections_total", exporter="otlp") == 1
    assert metric(forwarder.metrics_url, "tracegate_exporter_dropped_spans_total", exporter="otlp") == 0


def test_unavailable_with_retry_info_is_retried_after_the_servers_delay(gateway, grpc_server):
    # The first three calls are refused with a RetryInfo of 300 ms, then every call is OK.
    service, port = grpc_server(lambda n: (grpc.StatusCode.UNAVAILABLE, "warming up", 0.3) if n < 3 else None)
    forwarder = gateway(forwarder_config(
        otlp_exporter(f"127.0.0.1:{port}", tls={"insecure": True}, sending_queue={"num_consumers": 1})))
    body, keys = request_with_spans(20)
    assert forwarder.post(body).status_code == 200
    wait_until(lambda: len(service.ok_spans()) >= 20, 15, "the spans to arrive after the retries")
    calls = service.calls
    assert [c.answered for c in calls[:4]] == ["UNAVAILABLE"] * 3 + ["OK"]
    # The backoff alone is 10 ms: the gaps are the server's 300 ms.
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:4])]
    assert all(g >= 0.28 for g in gaps), gaps
    assert all(g < 2.0 for g in gaps), gaps
    ok = service.ok_spans()
    assert len(ok) == 20 and set(ok) == keys
    assert "warming up" in forwarder.log_text()
    assert metric(forwarder.metrics_url, "tracegate_otlpgrpc_retryable_failures_total", exporter="otlp") == 3


def test_invalid_argument_is_dropped_logged_and_counted_not_retried(gateway, grpc_server):
    service, port = grpc_server(lambda n: (grpc.StatusCode.INVALID_ARGUMENT, "span 7: 100% wrong, no trace_id", None))
    forwarder = gateway(forwarder_config(otlp_exporter(f"http://127.0.0.1:{port}")))
    body, _ = request_with_spans(9)
    assert forwarder.post(body).status_code == 200
    # grpcio percent-encodes the message ("100%25"); the log has it decoded.
    forwarder.wait_for_log("span 7: 100% wrong, no trace_id")
    wait_until(lambda: metric(forwarder.metrics_url, "tracegate_exporter_dropped_spans_total", exporter="otlp") == 9,
               10, "the dropped spans to be counted")
    assert "INVALID_ARGUMENT" in forwarder.log_text()
    assert metric(forwarder.metrics_url, "tracegate_otlpgrpc_rejected_spans_total", exporter="otlp") == 9
    time.sleep(0.3)  # no retry follows
    assert len(service.calls) == 1


def test_partial_success_in_a_gzip_answer_is_logged_and_counted(gateway, grpc_server):
    # The server compresses its answers (grpcio only does when that makes one
    # smaller, hence the long message): the exporter inflates them to read partial_success.
    service, port = grpc_server(partial=(2, "2 spans are too old. " * 40), compression=grpc.Compression.Gzip)
    forwarder = gateway(forwarder_config(otlp_exporter(f"http://127.0.0.1:{port}")))
    body, keys = request_with_spans(6)
    assert forwarder.post(body).status_code == 200
    forwarder.wait_for_log("partial success")
    assert "2 spans are too old" in forwarder.log_text()
    wait_until(lambda: metric(forwarder.metrics_url, "tracegate_otlpgrpc_partial_success_rejected_spans_total",
                              exporter="otlp") == 2, 10, "the rejected spans to be counted")
    assert set(service.ok_spans()) == keys and len(service.calls) == 1


def test_gzip_and_headers_are_on_the_wire(gateway, grpc_server):
    service, port = grpc_server()
    relay = H2Relay(port)
    try:
        forwarder = gateway(forwarder_config(otlp_exporter(
            f"http://127.0.0.1:{relay.port}", headers={"X-Tenant": "${env:TENANT}"})), env={"TENANT": "acme"})
        plain = gateway(forwarder_config(otlp_exporter(f"http://127.0.0.1:{relay.port}", compression="none")))
        body, keys = request_with_spans(30)
        assert forwarder.post(body).status_code == 200
        wait_until(lambda: len(service.ok_spans()) == 30, 10, "the gzip request")
        with relay.lock:
            gzip_request, gzip_flag = relay.requests[0], relay.compressed_flags[0]
        assert gzip_request["grpc-encoding"] == "gzip" and gzip_flag == 1
        assert gzip_request[":path"] == "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        assert gzip_request["content-type"] == "application/grpc" and gzip_request["te"] == "trailers"
        assert gzip_request["grpc-timeout"] == "5000m"
        # grpcio inflated it and decoded the spans; the header reached the server.
        assert set(service.ok_spans()) == keys
        assert service.calls[0].metadata["x-tenant"] == "acme"

        body, _ = request_with_spans(5)
        assert plain.post(body).status_code == 200
        wait_until(lambda: len(service.ok_spans()) == 35, 10, "the uncompressed request")
        with relay.lock:
            assert "grpc-encoding" not in relay.requests[1] and relay.compressed_flags[1] == 0
    finally:
        relay.close()


def test_concurrent_exports_share_one_connection(gateway, grpc_server):
    # Each answer takes 0.4 s, so the four consumers' calls overlap.
    service, port = grpc_server(delay=0.4)
    relay = H2Relay(port)
    try:
        forwarder = gateway(forwarder_config(otlp_exporter(
            f"http://127.0.0.1:{relay.port}", sending_queue={"num_consumers": 4})))
        expected: set[tuple[str, str]] = set()
        for _ in range(8):
            body, keys = request_with_spans(10)
            assert forwarder.post(body).status_code == 200
            expected |= keys
        wait_until(lambda: len(service.ok_spans()) == 80, 15, "every span")
        assert set(service.ok_spans()) == expected
        assert service.max_in_flight >= 3, service.max_in_flight
        # One TCP connection, several streams on it.
        assert relay.connections == 1
        assert len({c.peer for c in service.calls}) == 1
        assert len(relay.requests) == 8
    finally:
        relay.close()


def test_loadbalancing_over_two_grpc_servers_keeps_each_trace_on_one(gateway, grpc_server):
    a, port_a = grpc_server()
    b, port_b = grpc_server()
    forwarder = gateway(forwarder_config({
        "resolver": {"static": {"hostnames": [f"127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"]}},
        "protocol": {"otlp": {"tls": {"insecure": True}, "timeout": "5s",
                              "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"}}},
    }, exporter_type="loadbalancing"))
    expected: set[tuple[str, str]] = set()
    for _ in range(4):
        spans = [s for _ in range(10) for s in make_spans(3, trace_id=new_trace_id())]
        request = make_request(spans)
        expected |= {(s.trace_id.hex(), s.span_id.hex()) for s in spans}
        assert forwarder.post(request.SerializeToString()).status_code == 200
    wait_until(lambda: len(a.ok_spans()) + len(b.ok_spans()) == 120, 15, "every span at one of the servers")
    got_a, got_b = a.ok_spans(), b.ok_spans()
    assert got_a and got_b, "both endpoints get traces"
    assert sorted(got_a + got_b) == sorted(expected)
    assert not {t for t, _ in got_a} & {t for t, _ in got_b}, "a trace was split over two endpoints"


def test_a_lost_connection_is_made_again(gateway, grpc_server):
    first, port = grpc_server()
    forwarder = gateway(forwarder_config(otlp_exporter(f"http://127.0.0.1:{port}")))
    body, keys = request_with_spans(5)
    assert forwarder.post(body).status_code == 200
    wait_until(lambda: len(first.ok_spans()) == 5, 10, "the first spans")
    first.server.stop(0).wait()
    # Refused while nothing listens, retried; then sent on a new connection.
    body, more = request_with_spans(7)
    assert forwarder.post(body).status_code == 200
    time.sleep(0.3)
    second, _ = grpc_server(port=port)
    wait_until(lambda: len(second.ok_spans()) == 7, 10, "the spans sent after the server came back")
    assert set(first.ok_spans()) == keys and set(second.ok_spans()) == more
    assert metric(forwarder.metrics_url, "tracegate_otlpgrpc_connections_total", exporter="otlp") == 2


def test_tls_is_the_default_for_host_port_and_the_server_is_verified(db, gateway, tmp_path):
    pki = make_pki(tmp_path)
    central = gateway(gateway_config(db.dsn, grpc={"tls": {"cert_file": str(pki["server.crt"]), "key_file": str(pki["server.key"])}}))
    # A plain host:port, no scheme, no tls.insecure: TLS with ALPN h2, verified against ca_file.
    trusting = gateway(forwarder_config(otlp_exporter(central.grpc_target, tls={"ca_file": str(pki["ca.crt"])})))
    body, keys = request_with_spans(12)
    assert trusting.post(body).status_code == 200
    db.wait_for_spans(12, timeout=15)
    assert set(db.stored_keys()) == keys

    # The system's CAs do not know this one: retried, never sent.
    untrusting = gateway(forwarder_config(otlp_exporter(central.grpc_target)))
    body, _ = request_with_spans(3)
    assert untrusting.post(body).status_code == 200
    untrusting.wait_for_log("export failed, will retry")
    # The stream only saw its connection go; the message says why.
    assert "CERTIFICATE_VERIFY_FAILED" in untrusting.log_text()
    assert db.count_spans() == 12
