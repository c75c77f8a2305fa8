"""Helpers for the end-to-end suite: the `tracegate` process, YAML configs,
OTLP request building, HTTP (requests and raw sockets) and PostgreSQL access.

Fixtures live in conftest.py; tests import what they need from here
(`from e2e_helpers import ...`). Everything talks to 127.0.0.1 only and every
wait is bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import psycopg
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"

PROTOBUF = "application/x-protobuf"
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns, as in Tests/Fixtures
UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# gRPC status codes the gateway puts in google.rpc.Status bodies.
RPC_INVALID_ARGUMENT = 3
RPC_UNIMPLEMENTED = 12
RPC_UNAVAILABLE = 14
RPC_UNAUTHENTICATED = 16

# A PostgreSQL that is never there: nothing listens on port 1, connecting is refused at once.
UNREACHABLE_DSN = "host=127.0.0.1 port=1 user=postgres dbname=nowhere"

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def listening_port(log: str) -> int | None:
    """The OTLP/HTTP port the gateway logged ("OTLP/HTTP receiver listening …
    127.0.0.1:PORT"; the gRPC receiver logs its own line)."""
    for line in log.splitlines():
        if "OTLP/HTTP receiver listening" in line:
            ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", line) if int(p) != 0]
            if ports:
                return ports[-1]
    return None


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Polls `predicate` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(interval)


# --------------------------------------------------------------------------- YAML


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def to_yaml(config: Mapping[str, Any]) -> str:
    """Block-style YAML for a dict of dicts/lists/scalars (no PyYAML needed)."""
    lines: list[str] = []

    def emit(mapping: Mapping[str, Any], indent: int) -> None:
        for key, value in mapping.items():
            if isinstance(value, dict) and value:
                lines.append(f"{' ' * indent}{key}:")
                emit(value, indent + 2)
            else:
                lines.append(f"{' ' * indent}{key}: {_yaml_scalar(value)}".rstrip())

    emit(config, 0)
    return "\n".join(lines) + "\n"


def gateway_config(
    dsn: str | None,
    *,
    batch_timeout: str = "100ms",
    send_batch_size: int | None = None,
    num_consumers: int | None = None,
    queue_size: int | None = None,
    retry: Mapping[str, Any] | None = None,
    max_request_body_size: str | int | None = None,
    shutdown_timeout: str = "5s",
    log_level: str = "info",
    grpc: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A one-pipeline config: otlp (http) -> batch -> postgres (or nop when dsn is None).

    The endpoint is filled in by the gateway fixture. With `grpc` (a dict of
    `protocols.grpc` keys, `{}` for the defaults) the receiver serves OTLP/gRPC
    too, on a port the kernel picks (`Gateway.grpc_port`). `/metrics`,
    `/health` and `/ready` listen on a kernel-picked port too
    (`Gateway.metrics_url`, `Gateway.health_url`).
    """
    http: dict[str, Any] = {"endpoint": "127.0.0.1:{port}"}
    if max_request_body_size is not None:
        http["max_request_body_size"] = max_request_body_size
    protocols: dict[str, Any] = {"http": http}
    if grpc is not None:
        protocols["grpc"] = {"endpoint": "127.0.0.1:0", **grpc}
    batch: dict[str, Any] = {"timeout": batch_timeout}
    if send_batch_size is not None:
        batch["send_batch_size"] = send_batch_size
    if dsn is None:
        exporters: dict[str, Any] = {"nop": {}}
    else:
        postgres: dict[str, Any] = {"dsn": dsn, "auto_migrate": True, "connect_timeout": "2s"}
        queue: dict[str, Any] = {}
        if num_consumers is not None:
            queue["num_consumers"] = num_consumers
        if queue_size is not None:
            queue["queue_size"] = queue_size
        if queue:
            postgres["sending_queue"] = queue
        if retry is not None:
            postgres["retry_on_failure"] = dict(retry)
        exporters = {"postgres": postgres}
    return {
        "receivers": {"otlp": {"protocols": protocols}},
        "processors": {"batch": batch},
        "exporters": exporters,
        "service": {
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": list(exporters)}
            },
            # Telemetry on ports the kernel picks, so that several gateways
            # (and other test runs) never compete for 8888/13133.
            "telemetry": {"logs": {"level": log_level}, "shutdown_timeout": shutdown_timeout,
                          "metrics": {"address": "127.0.0.1:0"}, "health": {"address": "127.0.0.1:0"}},
        },
    }


# ---------------------------------------------------------------------- processes


def run_tracegate(binary: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
                  inherit_env: bool = True, cwd: Path | str | None = None,
                  timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Runs a short-lived tracegate command (validate, migrate, version, a failing run).

    `env` is added to this process's environment, or is the whole environment
    when `inherit_env` is false."""
    full_env = dict(os.environ) if inherit_env else {}
    if env:
        full_env.update(env)
    try:
        return subprocess.run(
            [binary, *args], cwd=cwd or REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`tracegate {' '.join(args)}` did not finish within {timeout:.0f}s\n"
                    f"stdout:\n{e.stdout}\nstderr:\n{e.stderr}", pytrace=False)


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


class Gateway:
    """One `tracegate run` process with its config file and log file."""

    def __init__(self, binary: str, config_path: Path, log_path: Path, port: int | None, env: Mapping[str, str],
                 extra_args: Sequence[str] = ()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.config_path = config_path
        self.log_path = log_path
        # None until wait_ready() reads the port the kernel gave (endpoint port 0).
        self.port = port
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.stop_seconds: float | None = None

    # -- addresses
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        return f"{self.url}/v1/traces"

    @property
    def grpc_port(self) -> int:
        """The OTLP/gRPC port, from the receiver's "OTLP/gRPC receiver listening" log line."""
        def find() -> int | None:
            for line in self.log_text().splitlines():
                if "OTLP/gRPC receiver listening" in line:
                    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", line) if int(p) != 0]
                    if ports:
                        return ports[-1]
            return None
        return wait_until(find, READY_TIMEOUT, "the OTLP/gRPC listening address in the gateway log")

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def telemetry_port(self, endpoint: str) -> int:
        """The port of the `metrics` or `health` endpoint, from the "tracegate started" log line."""
        def find() -> int | None:
            for line in self.log_text().splitlines():
                if "tracegate started" in line:
                    m = re.search(rf"{endpoint}[\"=:]+[^,}}]*?127\.0\.0\.1:(\d+)", line)
                    if m:
                        return int(m.group(1))
            return None
        return wait_until(find, READY_TIMEOUT, f"the {endpoint} address in the gateway log")

    @property
    def query_url(self) -> str:
        """Base URL of the query extension (Jaeger API and web UI), from its "query API and web UI listening" log line."""
        def find() -> int | None:
            for line in self.log_text().splitlines():
                if "query API and web UI listening" in line:
                    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", line) if int(p) != 0]
                    if ports:
                        return ports[-1]
            return None
        return f"http://127.0.0.1:{wait_until(find, READY_TIMEOUT, 'the query extension address in the gateway log')}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.telemetry_port('metrics')}/metrics"

    @property
    def health_url(self) -> str:
        """Base URL of /health and /ready."""
        return f"http://127.0.0.1:{self.telemetry_port('health')}"

    # -- lifecycle
    def start(self) -> None:
        full_env = dict(os.environ)
        full_env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "run", "--config", str(self.config_path), *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.config_path.parent, env=full_env,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until an empty export answers 200 (or 401 when auth is on); fails with the log tail if the process dies or times out.

        With endpoint port 0 the port is read from the gateway's own log first,
        so the probe cannot reach another process that happens to listen on a
        port we guessed was free."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                pytest.fail(f"tracegate exited with {self.proc.returncode} before it was ready; log:\n"
                            f"{self.log_tail()}", pytrace=False)
            if self.port is None:
                self.port = listening_port(self.log_text())
            if self.port is not None:
                try:
                    r = requests.post(self.traces_url, data=b"", headers={"Content-Type": PROTOBUF}, timeout=2)
                    # 401: the receiver requires a bearer token (receivers.otlp.auth) and is up.
                    if r.status_code in (200, 401):
                        return
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        where = f"on port {self.port}" if self.port else "(no listening address in its log)"
        pytest.fail(f"tracegate not ready {where} within {timeout:.0f}s; log:\n{self.log_tail()}", pytrace=False)

    def wait_exit(self, timeout: float) -> int:
        """Waits for the process to end by itself; fails (after killing it) if it does not."""
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.returncode = self.proc.returncode
            pytest.fail(f"tracegate did not exit within {timeout:.0f}s (killed); log:\n{self.log_tail()}",
                        pytrace=False)
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Sends `sig` and waits for the exit; returns the exit code (negative: killed by a signal)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            started = time.monotonic()
            self.proc.send_signal(sig)
            self.wait_exit(timeout)
            self.stop_seconds = time.monotonic() - started
        self.returncode = self.proc.returncode
        return self.returncode

    # -- logs
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return f"--- {self.log_path} (last {lines} lines) ---\n{tail(self.log_text(), lines)}"

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> None:
        wait_until(lambda: needle in self.log_text(), timeout, f"{needle!r} in the gateway log")

    # -- requests
    def post(self, body: bytes, **kwargs: Any) -> requests.Response:
        return post_traces(self.traces_url, body, **kwargs)


class GatewayLauncher:
    """Writes configs, starts gateways, and stops every one of them at the end."""

    def __init__(self, binary: str, directory: Path):
        self.binary = binary
        self.directory = directory
        self.gateways: list[Gateway] = []

    def start(
        self,
        config: Mapping[str, Any] | str,
        *,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> Gateway:
        """Starts `tracegate run` on `config` (a dict or YAML text).

        `{port}` in the config text and in env values becomes `port`, by default
        0: the kernel picks a free port and `wait_ready` reads it from the log.
        With `wait`, returns once the gateway answers an empty export with 200.
        """
        chosen = 0 if port is None else port
        n = len(self.gateways) + 1
        text = config if isinstance(config, str) else to_yaml(config)
        config_path = self.directory / f"gateway-{n}.yaml"
        config_path.write_text(text.replace("{port}", str(chosen)), encoding="utf-8")
        log_path = self.directory / f"gateway-{n}.log"
        gw_env = {k: v.replace("{port}", str(chosen)) for k, v in (env or {}).items()}
        gw = Gateway(self.binary, config_path, log_path, chosen or None, gw_env, extra_args)
        self.gateways.append(gw)
        gw.start()
        if wait:
            gw.wait_ready()
        return gw

    __call__ = start

    def stop_all(self) -> list[str]:
        """SIGTERMs every gateway still running and expects exit code 0.

        A gateway that ended on its own without the test waiting for it
        (`wait_exit`/`stop`) crashed unnoticed: that is a failure too.
        Returns failure descriptions.
        """
        failures = []
        for gw in self.gateways:
            if gw.proc is None:
                continue
            if gw.proc.poll() is not None:
                if gw.returncode is None:
                    failures.append(f"tracegate on port {gw.port} exited by itself with {gw.proc.returncode} "
                                    f"during the test\n{gw.log_tail()}")
                continue
            try:
                rc = gw.stop()
            except pytest.fail.Exception as e:
                failures.append(str(e))
                continue
            if rc != 0:
                failures.append(f"tracegate on port {gw.port} exited with {rc} after SIGTERM (expected 0)\n"
                                f"{gw.log_tail()}")
        return failures


# ---------------------------------------------------------------------------- OTLP


def new_trace_id() -> bytes:
    while True:
        b = os.urandom(16)
        if any(b):
            return b


def new_span_id() -> bytes:
    while True:
        b = os.urandom(8)
        if any(b):
            return b


def any_value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(x) for x in v]))
    if isinstance(v, dict):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(v)))
    raise TypeError(f"no AnyValue for {type(v).__name__}")


def key_values(attributes: Mapping[str, Any] | None) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in (attributes or {}).items()]


def make_span(
    *,
    trace_id: bytes,
    span_id: bytes,
    name: str,
    parent_span_id: bytes = b"",
    start_ns: int = T0,
    end_ns: int | None = None,
    kind: int = Span.SPAN_KIND_INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Span:
    return Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id, name=name, kind=kind,
        start_time_unix_nano=start_ns, end_time_unix_nano=end_ns if end_ns is not None else start_ns + 1_000_000,
        attributes=key_values(attributes),
    )


def make_request(spans: Iterable[Span], *, service_name: str = "e2e-svc", scope_name: str = "e2e.scope",
                 resource_attributes: Mapping[str, Any] | None = None) -> ExportTraceServiceRequest:
    attrs = {"service.name": service_name, **(resource_attributes or {})}
    return ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(
            resource=Resource(attributes=key_values(attrs)),
            scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope_name), spans=list(spans))],
        )
    ])


def make_spans(n: int, *, trace_id: bytes | None = None, name: str = "op", start_ns: int = T0) -> list[Span]:
    """`n` valid spans of one trace: the first is the root, the others its children."""
    trace_id = trace_id or new_trace_id()
    root = new_span_id()
    spans = []
    for i in range(n):
        span_id = root if i == 0 else new_span_id()
        spans.append(make_span(
            trace_id=trace_id, span_id=span_id, parent_span_id=b"" if i == 0 else root, name=f"{name}-{i}",
            start_ns=start_ns + i * 1000, end_ns=start_ns + i * 1000 + 5_000_000, attributes={"i": i},
        ))
    return spans


def request_with_spans(n: int, **kwargs: Any) -> tuple[bytes, set[tuple[str, str]]]:
    """A serialized request with `n` new spans, and its (trace_id, span_id) hex keys."""
    request = make_request(make_spans(n), **kwargs)
    return request.SerializeToString(), span_keys(request)


def post_new_spans(gw: Any, count: int, spans_each: int) -> set[tuple[str, str]]:
    """Posts `count` requests of `spans_each` new spans to `gw`, asserting
    each is acknowledged (200); returns their (trace_id, span_id) hex keys."""
    keys: set[tuple[str, str]] = set()
    for _ in range(count):
        body, request_keys = request_with_spans(spans_each)
        r = gw.post(body)
        assert r.status_code == 200, r.text
        keys |= request_keys
    return keys


def span_keys(request: ExportTraceServiceRequest) -> set[tuple[str, str]]:
    return {
        (s.trace_id.hex(), s.span_id.hex())
        for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
    }


def request_of_exact_size(size: int) -> bytes:
    """A valid one-span request whose serialization is exactly `size` bytes."""
    trace_id, span_id = new_trace_id(), new_span_id()
    for extra in ("", "x"):  # a second attribute shifts sizes that a varint boundary skips
        attributes = {"extra": extra} if extra else {}
        base = make_request([make_span(trace_id=trace_id, span_id=span_id, name="exact",
                                       attributes={**attributes, "pad": ""})]).ByteSize()
        for pad in range(max(0, size - base - 64), size - base + 8):
            request = make_request([make_span(trace_id=trace_id, span_id=span_id, name="exact",
                                              attributes={**attributes, "pad": "p" * pad})])
            if request.ByteSize() == size:
                return request.SerializeToString()
    raise AssertionError(f"could not build a request of exactly {size} bytes")


# ---------------------------------------------------------------------------- HTTP


def post_traces(
    url: str,
    body: bytes,
    *,
    content_type: str | None = PROTOBUF,
    content_encoding: str | None = None,
    headers: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    method: str = "POST",
    timeout: float = 10.0,
) -> requests.Response:
    h: dict[str, str] = {}
    if content_type is not None:
        h["Content-Type"] = content_type
    if content_encoding is not None:
        h["Content-Encoding"] = content_encoding
    h.update(headers or {})
    return (session or requests).request(method, url, data=body, headers=h, timeout=timeout)


def decode_status(body: bytes) -> status_pb2.Status:
    status = status_pb2.Status()
    status.ParseFromString(body)
    return status


def decode_export_response(body: bytes) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    response.ParseFromString(body)
    return response


def assert_status_response(r: requests.Response | RawResponse, http_status: int, rpc_code: int,
                           message_contains: Sequence[str] = ()) -> status_pb2.Status:
    """Checks an error answer: HTTP status, protobuf Content-Type, and its google.rpc.Status body."""
    code = r.status_code if isinstance(r, requests.Response) else r.status
    body = r.content if isinstance(r, requests.Response) else r.body
    content_type = r.headers.get("Content-Type") if isinstance(r, requests.Response) else r.header("content-type")
    assert code == http_status, f"expected HTTP {http_status}, got {code}; body {body!r}"
    assert content_type == PROTOBUF, f"error answers are protobuf; got Content-Type {content_type!r}"
    status = decode_status(body)
    assert status.code == rpc_code, f"google.rpc.Status code {status.code} (message {status.message!r}), expected {rpc_code}"
    for fragment in message_contains:
        assert fragment in status.message, f"{fragment!r} not in Status.message {status.message!r}"
    return status


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def read_response(f: Any) -> RawResponse:
    """Reads one HTTP/1.1 response (Content-Length framed) from a socket file."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    version, code, *reason = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    assert version.startswith("HTTP/1."), f"not an HTTP response: {status_line!r}"
    response = RawResponse(int(code), reason[0] if reason else "")
    while True:
        line = f.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        response.headers.append((name.strip(), value.strip()))
    length = int(response.header("content-length") or 0)
    response.body = f.read(length) if length else b""
    return response


@contextmanager
def raw_connection(port: int, timeout: float = 10.0) -> Iterator[tuple[socket.socket, Any]]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        yield sock, sock.makefile("rb")
    finally:
        sock.close()


def request_head(method: str, path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def connection_closed_by_peer(sock: socket.socket, f: Any, timeout: float = 5.0) -> bool:
    """True when the server closes the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        return f.read(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# ----------------------------------------------------------------------- PostgreSQL


class Database:
    """A throwaway database; every call opens a short autocommit connection, so
    the object keeps working across a PostgreSQL restart."""

    def __init__(self, dsn: str, name: str):
        self.dsn = dsn
        self.name = name

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        with self.connect() as conn:
            conn.execute(sql, params)

    def dicts(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        rows = self.query(sql, params)
        assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value from {sql!r}, got {rows!r}"
        return rows[0][0]

    def exists(self, relation: str) -> bool:
        return self.scalar("SELECT to_regclass(%s) IS NOT NULL", (relation,))

    def count_spans(self) -> int:
        if not self.exists("trace_spans"):
            return 0
        return self.scalar("SELECT count(*) FROM trace_spans")

    def stored_keys(self) -> list[tuple[str, str]]:
        """(trace_id, span_id) hex of every stored span, duplicates kept."""
        return [tuple(r) for r in self.query(
            "SELECT encode(trace_id, 'hex'), encode(span_id, 'hex') FROM trace_spans")]

    def wait_for_rows(self, sql: str, expected: int, timeout: float = 10.0,
                      params: Sequence[Any] | Mapping[str, Any] | None = None) -> int:
        """Polls until `sql` returns exactly `expected` rows.

        Rows only ever get added, so more than `expected` fails at once. While
        the database is unreachable (or the table is not created yet) polling goes on.
        """
        counted = f"SELECT count(*) FROM ({sql}) AS q"
        deadline = time.monotonic() + timeout
        last: Any = "no answer"
        while True:
            try:
                last = self.scalar(counted, params)
                if last == expected:
                    return last
                if last > expected:
                    pytest.fail(f"{sql!r} returned {last} rows, more than the {expected} expected", pytrace=False)
            except (psycopg.OperationalError, psycopg.errors.UndefinedTable) as e:
                last = f"error: {e}".strip()
            if time.monotonic() >= deadline:
                pytest.fail(f"{sql!r} did not reach {expected} rows within {timeout:.0f}s (last: {last})",
                            pytrace=False)
            time.sleep(0.05)

    def wait_for_spans(self, expected: int, timeout: float = 10.0) -> int:
        return self.wait_for_rows("SELECT 1 FROM trace_spans", expected, timeout)


@contextmanager
def fresh_database(pg_dsn: str) -> Iterator[Database]:
    """A new, empty database on the test cluster, dropped afterwards (even if a
    test left sessions in it). The cluster may have been stopped by the test;
    tests restart it in a finally block, so it is up again at the drop."""
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = unique_database_name()
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(pg_dsn)
    params["dbname"] = name
    try:
        yield Database(make_conninfo(**params), name)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique_database_name() -> str:
    return f"tg_e2e_{uuid.uuid4().hex[:16]}"


def epoch_micros(t: dt.datetime) -> int:
    """Exact microseconds since the Unix epoch of an aware datetime."""
    return (t - UNIX_EPOCH) // dt.timedelta(microseconds=1)


class PgCluster:
    """The throwaway cluster of scripts/test, stopped and started with scripts/pg."""

    def __init__(self, directory: str, port: str):
        self.directory = directory
        self.port = port

    def _pg(self, *args: str) -> None:
        result = subprocess.run(["scripts/pg", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, f"scripts/pg {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"

    def stop(self) -> None:
        self._pg("stop", self.directory)

    def start(self) -> None:
        self._pg("start", self.directory, self.port)

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Stops PostgreSQL for the block and always starts it again."""
        self.stop()
        try:
            yield
        finally:
            self.start()

