"""Bearer-token authentication (`receivers.otlp.auth`) on both protocols, and
the OTLP/HTTP connection limits `read_timeout` and `max_connections`, on the
real binary."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from e2e_helpers import (
    RPC_UNAUTHENTICATED,
    assert_status_response,
    connection_closed_by_peer,
    decode_export_response,
    gateway_config,
    raw_connection,
    read_response,
    request_head,
    request_with_spans,
    run_tracegate,
    to_yaml,
)

TOKEN_A = "s3cr3t-token-A_0123456789"
TOKEN_B = "literal-token-B"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def with_auth(config: dict[str, Any], auth: dict[str, Any]) -> dict[str, Any]:
    config["receivers"]["otlp"]["auth"] = auth
    return config


def with_http(config: dict[str, Any], **keys: Any) -> dict[str, Any]:
    config["receivers"]["otlp"]["protocols"]["http"].update(keys)
    return config


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------- HTTP auth


def assert_unauthenticated(r: requests.Response) -> None:
    assert_status_response(r, 401, RPC_UNAUTHENTICATED)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_http_requires_a_valid_bearer_token_and_stores_with_one(db, gateway):
    gw = gateway.start(with_auth(gateway_config(db.dsn), {"bearer_tokens": [TOKEN_A, TOKEN_B]}))
    body, keys = request_with_spans(3)

    assert_unauthenticated(gw.post(body))
    assert_unauthenticated(gw.post(body, headers=bearer("wrong-token")))
    assert_unauthenticated(gw.post(body, headers=bearer(TOKEN_A + "x")))
    assert_unauthenticated(gw.post(body, headers=bearer(TOKEN_A[:-1])))
    assert_unauthenticated(gw.post(body, headers={"Authorization": f"Basic {TOKEN_A}"}))
    time.sleep(0.5)  # a batch timeout of 100ms: anything accepted would be stored by now
    assert db.count_spans() == 0, "nothing is accepted without the token"

    r = gw.post(body, headers=bearer(TOKEN_A))
    assert r.status_code == 200, r.content
    assert not decode_export_response(r.content).HasField("partial_success")
    db.wait_for_spans(3)
    assert sorted(db.stored_keys()) == sorted(keys)

    body2, _ = request_with_spans(2)
    r = gw.post(body2, headers={"authorization": f"bearer {TOKEN_B}"})  # the scheme is case-insensitive
    assert r.status_code == 200, r.content
    db.wait_for_spans(5)

    assert TOKEN_A not in gw.log_text() and TOKEN_B not in gw.log_text()


def test_http_401_is_json_for_a_json_request(gateway):
    gw = gateway.start(with_auth(gateway_config(None), {"bearer_tokens": [TOKEN_A]}))
    r = gw.post(b"{}", content_type="application/json", headers=bearer("nope"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.headers["Content-Type"] == "application/json"
    assert json.loads(r.content)["code"] == RPC_UNAUTHENTICATED
    r = gw.post(b"{}", content_type="application/json", headers=bearer(TOKEN_A))
    assert r.status_code == 200, r.content


def test_http_auth_is_checked_at_the_head_before_the_body(gateway):
    gw = gateway.start(with_auth(gateway_config(None), {"bearer_tokens": [TOKEN_A]}))
    with raw_connection(gw.port) as (sock, f):
        # A head announcing a large body that never comes: the answer cannot wait for it.
        sock.sendall(request_head("POST", "/v1/traces", {"Content-Type": "application/x-protobuf",
                                                         "Content-Length": "100000"}))
        response = read_response(f)
        assert response.status == 401
        assert response.header("www-authenticate") == "Bearer"


def test_tokens_from_an_environment_variable_and_a_file(gateway, tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# team tokens\n\n  file-token-1  \nfile-token-2\n# old-token\n", encoding="utf-8")
    config = with_auth(gateway_config(None), {"bearer_tokens": ["${env:TG_TOKEN}"],
                                              "bearer_tokens_file": str(tokens_file)})
    gw = gateway.start(config, env={"TG_TOKEN": "from-env-token"})
    for token in ("from-env-token", "file-token-1", "file-token-2"):
        r = gw.post(b"", headers=bearer(token))
        assert r.status_code == 200, (token, r.content)
    for token in ("old-token", "# old-token", "${env:TG_TOKEN}", "TG_TOKEN"):
        assert_unauthenticated(gw.post(b"", headers=bearer(token)))


def test_auth_config_errors_are_reported_with_file_line_and_path(tracegate_bin, tmp_path):
    missing = tmp_path / "no-such-tokens"
    empty = tmp_path / "empty-tokens"
    empty.write_text("# nothing here\n\n", encoding="utf-8")
    cases = [
        ({"bearer_tokens": []}, "receivers.otlp.auth.bearer_tokens: must list at least one token"),
        ({"bearer_tokens": ["${env:TG_UNSET_TOKEN}"]}, "receivers.otlp.auth.bearer_tokens[0]: token is empty"),
        ({"bearer_tokens_file": str(missing)}, f"receivers.otlp.auth.bearer_tokens_file: cannot read {missing}"),
        ({"bearer_tokens_file": str(empty)}, f"receivers.otlp.auth.bearer_tokens_file: {empty} holds no tokens"),
        ({}, "receivers.otlp.auth: set bearer_tokens or bearer_tokens_file"),
        ({"bearer_token": ["x"]}, "receivers.otlp.auth.bearer_token: unknown key"),
    ]
    for i, (auth, expected) in enumerate(cases):
        path = tmp_path / f"bad-{i}.yaml"
        path.write_text(to_yaml(with_auth(gateway_config(None), auth)).replace("{port}", "0"), encoding="utf-8")
        result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)], env={"TG_UNSET_TOKEN": ""})
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert f"{path}:" in output and expected in output, f"{expected!r} not in:\n{output}"


# ---------------------------------------------------------------------- gRPC auth


def test_grpc_requires_the_token_in_authorization_metadata(db, gateway):
    gw = gateway.start(with_auth(gateway_config(db.dsn, grpc={}), {"bearer_tokens": [TOKEN_A]}))
    body, keys = request_with_spans(4)
    channel = grpc.insecure_channel(gw.grpc_target, options=[("grpc.enable_retries", 0)])
    try:
        call = channel.unary_unary(EXPORT)
        for metadata in (None, [("authorization", "Bearer wrong")], [("authorization", TOKEN_A)]):
            with pytest.raises(grpc.RpcError) as info:
                call.with_call(body, timeout=10, metadata=metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        time.sleep(0.5)
        assert db.count_spans() == 0
        response, c = call.with_call(body, timeout=10, metadata=[("authorization", f"Bearer {TOKEN_A}")])
        assert c.code() == grpc.StatusCode.OK
        assert not decode_export_response(response).HasField("partial_success")
        db.wait_for_spans(4)
        assert sorted(db.stored_keys()) == sorted(keys)
    finally:
        channel.close()


def test_grpc_sdk_exporter_with_headers(gateway):
    gw = gateway.start(with_auth(gateway_config(None, grpc={}), {"bearer_tokens": [TOKEN_A]}))

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "auth-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth").start_as_current_span("op"):
        pass
    spans = memory.get_finished_spans()
    assert len(spans) == 1

    def export_with(headers: dict[str, str] | None) -> SpanExportResult:
        exporter = OTLPSpanExporter(endpoint=gw.grpc_target, insecure=True, headers=headers, timeout=10)
        try:
            return exporter.export(spans)
        finally:
            exporter.shutdown()

    assert export_with({"authorization": f"Bearer {TOKEN_A}"}) == SpanExportResult.SUCCESS
    assert export_with({"authorization": "Bearer wrong"}) == SpanExportResult.FAILURE
    assert export_with(None) == SpanExportResult.FAILURE


# ------------------------------------------------------------------------- limits


def test_slow_head_is_disconnected_after_read_timeout(gateway):
    gw = gateway.start(with_http(gateway_config(None), read_timeout="1s"))
    with raw_connection(gw.port) as (sock, f):
        started = time.monotonic()
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        assert connection_closed_by_peer(sock, f, timeout=5.0), "a half head is not left open"
        elapsed = time.monotonic() - started
        assert 0.8 <= elapsed <= 4.0, elapsed
    # A slow body is cut off too.
    with raw_connection(gw.port) as (sock, f):
        sock.sendall(request_head("POST", "/v1/traces", {"Content-Type": "application/x-protobuf",
                                                         "Content-Length": "10"}) + b"abc")
        assert connection_closed_by_peer(sock, f, timeout=5.0)
    # Requests that arrive in time on a keep-alive connection idle for longer are fine.
    with requests.Session() as s:
        assert gw.post(b"", session=s).status_code == 200
        time.sleep(1.5)
        assert gw.post(b"", session=s).status_code == 200


def test_max_connections_closes_connections_above_it(gateway):
    gw = gateway.start(with_http(gateway_config(None), max_connections=2))
    time.sleep(0.3)  # the readiness probe's connection is closed
    first = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    second = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    try:
        ok = request_head("POST", "/v1/traces", {"Content-Type": "application/x-protobuf", "Content-Length": "0"})
        for s in (first, second):
            s.sendall(ok)
            assert read_response(s.makefile("rb")).status == 200
        with raw_connection(gw.port) as (third, f):
            assert connection_closed_by_peer(third, f, timeout=5.0), "a third connection is closed at once"
        # The two first still work.
        first.sendall(ok)
        assert read_response(first.makefile("rb")).status == 200
    finally:
        first.close()
        second.close()
    # Slots come back when connections close.
    def fresh_connection_served() -> bool:
        with raw_connection(gw.port) as (s, f):
            s.sendall(request_head("POST", "/v1/traces", {"Content-Type": "application/x-protobuf",
                                                          "Content-Length": "0", "Connection": "close"}))
            try:
                return read_response(f).status == 200
            except (ConnectionError, OSError):
                return False
    deadline = time.monotonic() + 5
    while not fresh_connection_served():
        assert time.monotonic() < deadline, "closed connections give their slots back"
        time.sleep(0.1)


def test_limit_config_errors(tracegate_bin, tmp_path):
    cases = [
        ({"read_timeout": "0s"}, "receivers.otlp.protocols.http.read_timeout: must be greater than zero"),
        ({"read_timeout": "soon"}, "receivers.otlp.protocols.http.read_timeout: expected a duration"),
        ({"max_connections": -1}, "receivers.otlp.protocols.http.max_connections: must be between 0 and"),
    ]
    for i, (keys, expected) in enumerate(cases):
        path = tmp_path / f"bad-{i}.yaml"
        path.write_text(to_yaml(with_http(gateway_config(None), **keys)).replace("{port}", "0"), encoding="utf-8")
        result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert expected in output, f"{expected!r} not in:\n{output}"


def test_sdk_exporters_with_the_documented_headers_variable(gateway, monkeypatch):
    """OTEL_EXPORTER_OTLP_HEADERS as the README gives it: percent-encoded value."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter

    gw = gateway.start(with_auth(gateway_config(None, grpc={}), {"bearer_tokens": [TOKEN_A]}))
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "auth-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth").start_as_current_span("op"):
        pass
    spans = memory.get_finished_spans()

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{TOKEN_A}")
    for exporter in (HTTPSpanExporter(endpoint=gw.traces_url, timeout=10),
                     OTLPSpanExporter(endpoint=gw.grpc_target, insecure=True, timeout=10)):
        try:
            assert exporter.export(spans) == SpanExportResult.SUCCESS, type(exporter).__module__
        finally:
            exporter.shutdown()
