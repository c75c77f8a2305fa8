"""TLS on both OTLP receivers (`protocols.http.tls`, `protocols.grpc.tls`):
real certificates made with the `openssl` CLI, the real gateway, the
OpenTelemetry Python SDK exporters over HTTPS and gRPC with TLS, `requests`,
raw sockets for plain text sent to a TLS port, client certificates with
`client_ca_file`, and `tracegate validate` on broken TLS settings."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from e2e_helpers import (
    PROTOBUF,
    READY_TIMEOUT,
    gateway_config,
    listening_port,
    request_with_spans,
    run_tracegate,
    to_yaml,
    wait_until,
)

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass
class PKI:
    """A CA, a server certificate for 127.0.0.1/localhost, a client
    certificate from the same CA and one from a CA the gateway does not trust."""
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"openssl {' '.join(args)}:\n{result.stderr}"


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)


def _make_leaf(d: Path, name: str, ca: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions, encoding="utf-8")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
    own `verify` (the SDK's HTTP exporter sets its CA that way), so the
    machine's bundle would hide the CA the test passes."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    _make_ca(d, "ca")
    _make_ca(d, "rogue-ca")
    _make_leaf(d, "server", "ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                                  "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _make_leaf(d, "client", "ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    _make_leaf(d, "rogue", "rogue-ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    return PKI(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key",
               d / "rogue.crt", d / "rogue.key")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_config(dsn: str | None, pki: PKI, *, client_ca: bool = False, metrics_port: int | None = None) -> dict[str, Any]:
    tls: dict[str, Any] = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    if client_ca:
        tls["client_ca_file"] = str(pki.ca)
    config = gateway_config(dsn, batch_timeout="50ms", grpc={"tls": dict(tls)})
    config["receivers"]["otlp"]["protocols"]["http"]["tls"] = dict(tls)
    if metrics_port is not None:
        config["service"]["telemetry"]["metrics"] = {"address": f"127.0.0.1:{metrics_port}"}
        config["service"]["telemetry"]["health"] = {"enabled": False}
    return config


def handshake_failures(metrics_port: int) -> dict[str, float]:
    """tracegate_receiver_tls_handshake_failures_total by protocol, from /metrics."""
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("tracegate_receiver_tls_handshake_failures_total{"):
            labels, value = line.rsplit(" ", 1)
            protocol = re.search(r'protocol="([^"]+)"', labels)
            if protocol:
                out[protocol.group(1)] = float(value)
    return out


class TLSGateway:
    """Addresses of a gateway whose receivers both speak TLS."""

    def __init__(self, gw: Any, pki: PKI, client_cert: bool):
        self.gw = gw
        self.pki = pki
        self.cert = (str(pki.client_cert), str(pki.client_key)) if client_cert else None
        self.port: int = wait_until(lambda: listening_port(gw.log_text()), READY_TIMEOUT,
                                    "the OTLP/HTTP listening address in the gateway log")
        self.grpc_port: int = gw.grpc_port

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1/traces"

    def post(self, body: bytes, *, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("cert", self.cert)
        return requests.post(self.https_url, data=body, headers={"Content-Type": PROTOBUF, **(headers or {})},
                             verify=str(self.pki.ca), timeout=10, **kwargs)

    def wait_ready(self) -> None:
        def ready() -> bool:
            if not self.gw.running:
                pytest.fail(f"tracegate exited before it was ready\n{self.gw.log_tail()}", pytrace=False)
            try:
                return self.post(b"").status_code == 200
            except requests.ConnectionError:
                return False
        wait_until(ready, READY_TIMEOUT, "an HTTPS export answered 200")

    def grpc_credentials(self, *, client_cert: bool | None = None, rogue: bool = False) -> grpc.ChannelCredentials:
        with_cert = self.cert is not None if client_cert is None else client_cert
        key = chain = None
        if rogue:
            key, chain = self.pki.rogue_key.read_bytes(), self.pki.rogue_cert.read_bytes()
        elif with_cert:
            key, chain = self.pki.client_key.read_bytes(), self.pki.client_cert.read_bytes()
        return grpc.ssl_channel_credentials(root_certificates=self.pki.ca.read_bytes(),
                                            private_key=key, certificate_chain=chain)

    def grpc_export(self, body: bytes, **credentials: Any) -> grpc.StatusCode:
        channel = grpc.secure_channel(f"127.0.0.1:{self.grpc_port}", self.grpc_credentials(**credentials),
                                      options=[("grpc.enable_retries", 0)])
        try:
            _, call = channel.unary_unary(EXPORT).with_call(body, timeout=10)
            return call.code()
        except grpc.RpcError as e:
            return e.code()
        finally:
            channel.close()


def start_tls_gateway(gateway: Any, dsn: str | None, pki: PKI, *, client_ca: bool = False,
                      metrics_port: int | None = None) -> TLSGateway:
    gw = gateway.start(tls_config(dsn, pki, client_ca=client_ca, metrics_port=metrics_port), wait=False)
    tg = TLSGateway(gw, pki, client_cert=client_ca)
    tg.wait_ready()
    return tg


def plaintext_request_is_closed(port: int) -> bool:
    """Sends a plain-text HTTP request to a TLS port; true when the gateway
    closes the connection (after at most a TLS alert) within 5 s, without
    ever answering in HTTP."""
    body = b"\x00" * 16
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {PROTOBUF}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + body)
        received = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                return not received.startswith(b"HTTP/")
            except socket.timeout:
                return False
            if not chunk:
                return not received.startswith(b"HTTP/")
            received += chunk
        return False


def test_sdk_exporters_over_https_and_grpc_tls_land_spans_in_postgres(db, gateway, pki):
    tg = start_tls_gateway(gateway, db.dsn, pki)

    http_exporter = HTTPSpanExporter(endpoint=tg.https_url, certificate_file=str(pki.ca), timeout=10)
    grpc_exporter = GRPCSpanExporter(endpoint=f"127.0.0.1:{tg.grpc_port}", insecure=False,
                                     credentials=tg.grpc_credentials(), timeout=10)
    for name, exporter in (("via-https", http_exporter), ("via-grpc-tls", grpc_exporter)):
        provider = TracerProvider(resource=Resource.create({"service.name": "tls-e2e"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("e2e.tls")
        with tracer.start_as_current_span(name):
            with tracer.start_as_current_span(f"{name}-child"):
                pass
        provider.shutdown()

    db.wait_for_spans(4, timeout=20)
    names = db.query("SELECT name FROM trace_spans ORDER BY name")
    assert [n for (n,) in names] == ["via-grpc-tls", "via-grpc-tls-child", "via-https", "via-https-child"]


def test_plaintext_to_tls_ports_is_closed_and_tls_clients_keep_being_served(gateway, pki):
    metrics_port = free_port()
    tg = start_tls_gateway(gateway, None, pki, metrics_port=metrics_port)
    body, _ = request_with_spans(3)

    # A plain-text HTTP request to the HTTPS port: the connection is closed,
    # no HTTP answer; an HTTPS request right after succeeds.
    assert plaintext_request_is_closed(tg.port)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"http://127.0.0.1:{tg.port}/v1/traces", data=body,
                      headers={"Content-Type": PROTOBUF}, timeout=10)
    assert tg.post(body).status_code == 200

    # A client that connects and sends nothing does not block the others.
    with socket.create_connection(("127.0.0.1", tg.port), timeout=5):
        assert tg.post(body).status_code == 200

    # h2c (plain-text gRPC) to the gRPC TLS port fails; gRPC over TLS works.
    channel = grpc.insecure_channel(f"127.0.0.1:{tg.grpc_port}", options=[("grpc.enable_retries", 0)])
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(EXPORT).with_call(body, timeout=5)
    channel.close()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert plaintext_request_is_closed(tg.grpc_port)
    assert tg.grpc_export(body) == grpc.StatusCode.OK

    # requests without the CA does not trust the gateway's certificate.
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(tg.https_url, data=body, headers={"Content-Type": PROTOBUF}, timeout=10)
    assert tg.post(body).status_code == 200
    assert tg.gw.running

    # Each refused connection was counted, per protocol.
    failures = wait_until(lambda: (lambda f: f if f.get("http", 0) >= 3 and f.get("grpc", 0) >= 2 else None)(
        handshake_failures(metrics_port)), 10, "handshake failures counted in /metrics")
    assert failures["http"] >= 3 and failures["grpc"] >= 2, failures


def test_client_ca_file_requires_a_client_certificate_from_that_ca(gateway, pki):
    tg = start_tls_gateway(gateway, None, pki, client_ca=True)
    body, _ = request_with_spans(2)

    assert tg.post(body).status_code == 200
    for cert in (None, (str(pki.rogue_cert), str(pki.rogue_key))):
        with pytest.raises((requests.exceptions.SSLError, requests.ConnectionError)):
            tg.post(body, cert=cert)
    assert tg.post(body).status_code == 200

    assert tg.grpc_export(body) == grpc.StatusCode.OK
    assert tg.grpc_export(body, client_cert=False) == grpc.StatusCode.UNAVAILABLE
    assert tg.grpc_export(body, rogue=True) == grpc.StatusCode.UNAVAILABLE
    assert tg.grpc_export(body) == grpc.StatusCode.OK


# The README's client settings, as a Python service would use them: the
# exporters take everything from OTEL_EXPORTER_OTLP_* variables.
SDK_BY_ENV = textwrap.dedent("""\
    import os, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    if os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    with provider.get_tracer("by-env").start_as_current_span(sys.argv[1]):
        pass
    provider.shutdown()
""")


def test_python_sdk_configured_only_by_otel_environment_variables(db, gateway, pki, tmp_path):
    config = tls_config(db.dsn, pki, client_ca=True)
    config["receivers"]["otlp"]["auth"] = {"bearer_tokens": ["s3cret-token"]}
    gw = gateway.start(config, wait=False)
    tg = TLSGateway(gw, pki, client_cert=True)
    wait_until(lambda: tg.post(b"", headers={"Authorization": "Bearer s3cret-token"})
               .status_code == 200 if gw.running else pytest.fail(gw.log_tail()), READY_TIMEOUT, "gateway ready")

    script = tmp_path / "sdk_by_env.py"
    script.write_text(SDK_BY_ENV, encoding="utf-8")
    common = {
        "OTEL_SERVICE_NAME": "by-env",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3cret-token",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.ca),
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(pki.client_cert),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(pki.client_key),
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    runs = {
        "via-http": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{tg.port}",
                     "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
        "via-grpc": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{tg.grpc_port}",
                     "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    }
    for name, extra in runs.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(common)
        env.update(extra)
        result = subprocess.run([sys.executable, str(script), name], env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        assert "Failed to export" not in result.stderr and "Transient error" not in result.stderr, result.stderr

    db.wait_for_spans(2, timeout=20)
    rows = db.query("SELECT name, service_name FROM trace_spans ORDER BY name")
    assert rows == [("via-grpc", "by-env"), ("via-http", "by-env")]


def test_validate_names_the_tls_key_of_every_broken_file(tracegate_bin, tmp_path, pki):
    missing = tmp_path / "nowhere.crt"
    not_pem = tmp_path / "garbage.pem"
    not_pem.write_text("this is not a certificate\n", encoding="utf-8")
    config = gateway_config(None, grpc={"tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.client_key),
                                                "min_version": "1.1"}})
    config["receivers"]["otlp"]["protocols"]["http"]["tls"] = {
        "cert_file": str(missing), "key_file": str(pki.server_key), "client_ca_file": str(not_pem)}
    config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = "127.0.0.1:0"
    path = tmp_path / "tls.yaml"
    path.write_text(to_yaml(config), encoding="utf-8")

    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    http = "receivers.otlp.protocols.http.tls"
    grpc_tls = "receivers.otlp.protocols.grpc.tls"

    def line_with(key: str, *fragments: str) -> str:
        found = [l for l in lines if f": {key}: " in l and all(f in l for f in fragments)]
        assert found, f"no problem for {key} with {fragments} in:\n{result.stderr}"
        return found[0]

    line_with(f"{http}.cert_file", "no such file", str(missing))
    line_with(f"{http}.client_ca_file", str(not_pem), "no valid PEM certificate")
    line_with(f"{grpc_tls}.min_version", "1.2, 1.3", "'1.1'")
    assert len(lines) == 3, result.stderr

    # With the files readable, the pair is checked: a key that is not the
    # certificate's is named.
    config["receivers"]["otlp"]["protocols"]["http"]["tls"]["cert_file"] = str(pki.server_cert)
    del config["receivers"]["otlp"]["protocols"]["grpc"]["tls"]["min_version"]
    path.write_text(to_yaml(config), encoding="utf-8")
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    line_with(f"{http}.client_ca_file", str(not_pem), "no valid PEM certificate")
    line_with(f"{grpc_tls}.key_file", "cannot be used with cert_file")
    assert len(lines) == 2, result.stderr

    # A tls section without its files.
    config["receivers"]["otlp"]["protocols"]["grpc"]["tls"] = {"min_version": "1.3"}
    del config["receivers"]["otlp"]["protocols"]["http"]["tls"]
    path.write_text(to_yaml(config), encoding="utf-8")
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    line_with(grpc_tls, "cert_file is required")
    line_with(grpc_tls, "key_file is required")
    assert len(lines) == 2, result.stderr
