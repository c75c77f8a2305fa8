"""OTLP/HTTP with JSON bodies (`Content-Type: application/json`) on the real
binary: answers in JSON, the same rows in PostgreSQL as protobuf gives,
partial success, errors as JSON `google.rpc.Status`, gzip."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any, Iterator

import pytest
import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from e2e_helpers import (
    PROTOBUF,
    RPC_INVALID_ARGUMENT,
    RPC_UNIMPLEMENTED,
    T0,
    Database,
    fresh_database,
    decode_export_response,
    fixture_bytes,
    gateway_config,
    make_request,
    make_span,
    make_spans,
    new_span_id,
    new_trace_id,
    span_keys,
)

JSON = "application/json"
ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(request: ExportTraceServiceRequest, *, indent: int | None = None) -> bytes:
    """OTLP/JSON of a request: protobuf's proto3 JSON with enums as numbers and
    trace/span ids as hex (the OTLP specification's two exceptions)."""
    doc = json.loads(json_format.MessageToJson(request, use_integers_for_enums=True))

    def hex_ids(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ID_FIELDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hex_ids(value)
        elif isinstance(node, list):
            for value in node:
                hex_ids(value)

    hex_ids(doc)
    return json.dumps(doc, indent=indent, ensure_ascii=False).encode("utf-8")


def post_json(gw, body: bytes, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("content_type", JSON)
    return gw.post(body, **kwargs)


def json_body(r: requests.Response) -> dict[str, Any]:
    assert r.headers.get("Content-Type") == JSON, f"a JSON request gets a JSON answer; got {r.headers.get('Content-Type')!r}"
    return json.loads(r.content)


def assert_json_status(r: requests.Response, http_status: int, rpc_code: int,
                       message_contains: tuple[str, ...] = ()) -> str:
    """An error answer to a JSON request: HTTP status, JSON google.rpc.Status body; returns its message."""
    assert r.status_code == http_status, f"expected HTTP {http_status}, got {r.status_code}; body {r.content!r}"
    body = json_body(r)
    # It is proto3 JSON of google.rpc.Status: protobuf's own parser reads it.
    status = json_format.Parse(r.content, status_pb2.Status())
    assert status.code == rpc_code == body["code"], body
    for fragment in message_contains:
        assert fragment in status.message, f"{fragment!r} not in Status.message {status.message!r}"
    return status.message


def export_response(r: requests.Response) -> ExportTraceServiceResponse:
    json_body(r)
    return json_format.Parse(r.content, ExportTraceServiceResponse())


def rich_request() -> ExportTraceServiceRequest:
    """Spans with every kind of attribute value, parents, events, links and status."""
    trace_id = new_trace_id()
    root_id, child_id = new_span_id(), new_span_id()
    root = make_span(
        trace_id=trace_id, span_id=root_id, name="root ✓", kind=Span.SPAN_KIND_SERVER, start_ns=T0 + 7,
        end_ns=T0 + 1_000_000_123,
        attributes={"s": "text \"quoted\" \\ é", "b": True, "i": -(2**63), "imax": 2**63 - 1, "d": 0.1,
                    "bytes": b"\x00\xff", "arr": ["a", 1, 2.5, False], "kv": {"k": {"n": 7}}},
    )
    root.trace_state = "vendor=x"
    root.flags = 0x301
    root.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
    root.events.add(time_unix_nano=T0 + 500, name="evt").attributes.extend(make_span(
        trace_id=trace_id, span_id=root_id, name="x", attributes={"e": 1}).attributes)
    link = root.links.add(trace_id=new_trace_id(), span_id=new_span_id(), trace_state="l=1", flags=1)
    link.attributes.extend(make_span(trace_id=trace_id, span_id=root_id, name="x", attributes={"l": "v"}).attributes)
    root.dropped_attributes_count, root.dropped_events_count, root.dropped_links_count = 1, 2, 3
    child = make_span(trace_id=trace_id, span_id=child_id, parent_span_id=root_id, name="child",
                      kind=Span.SPAN_KIND_CLIENT, start_ns=T0 + 1000, end_ns=T0 + 2000)
    child.status.code = Status.STATUS_CODE_OK
    return make_request([root, child] + make_spans(3), service_name="json-svc",
                        resource_attributes={"host.name": "h1", "res.int": 42})


def rows(db: Database) -> list[dict[str, Any]]:
    """Every stored span, every column but ingested_at (the gateway's clock)."""
    found = db.dicts("SELECT * FROM trace_spans ORDER BY trace_id, span_id")
    for row in found:
        del row["ingested_at"]
    return found


@pytest.fixture
def other_db(pg_dsn: str) -> Iterator[Database]:
    """A second empty database, as conftest's `db`: the same spans go to both."""
    with fresh_database(pg_dsn) as database:
        yield database


@pytest.fixture
def nop_gateway(gateway):
    return gateway.start(gateway_config(None))


@pytest.fixture
def pg_gateway(db, gateway):
    return gateway.start(gateway_config(db.dsn))


# ------------------------------------------------------------------------- 200


def test_json_request_gets_a_json_response_and_is_stored(db, pg_gateway):
    request = make_request(make_spans(3))
    r = post_json(pg_gateway, otlp_json(request))
    assert r.status_code == 200, r.content
    assert json_body(r) == {}, "full success is an ExportTraceServiceResponse without partialSuccess"
    db.wait_for_spans(3)
    assert sorted(db.stored_keys()) == sorted(span_keys(request))


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"])
def test_json_content_type_parameters_and_case_are_ignored(nop_gateway, content_type):
    r = post_json(nop_gateway, otlp_json(make_request(make_spans(1))), content_type=content_type)
    assert r.status_code == 200, r.content
    assert json_body(r) == {}


def test_protobuf_requests_still_get_protobuf_answers(nop_gateway):
    r = nop_gateway.post(make_request(make_spans(1)).SerializeToString())
    assert r.status_code == 200, r.content
    assert r.headers["Content-Type"] == PROTOBUF
    assert r.content == b""


@pytest.mark.parametrize("source", ["all_types_fixture", "generated"])
def test_json_and_protobuf_of_the_same_spans_give_identical_rows(db, other_db, gateway, source):
    if source == "all_types_fixture":
        protobuf_body, json_request_body = fixture_bytes("all_types.binpb"), fixture_bytes("all_types.json")
        expected = 6
    else:
        request = rich_request()
        protobuf_body, json_request_body = request.SerializeToString(), otlp_json(request, indent=2)
        expected = 5
    via_protobuf = gateway.start(gateway_config(db.dsn))
    via_json = gateway.start(gateway_config(other_db.dsn))
    r = via_protobuf.post(protobuf_body)
    assert r.status_code == 200 and not decode_export_response(r.content).HasField("partial_success"), r.content
    r = post_json(via_json, json_request_body)
    assert r.status_code == 200, r.content
    assert json_body(r) == {}
    db.wait_for_spans(expected)
    other_db.wait_for_spans(expected)
    from_protobuf, from_json = rows(db), rows(other_db)
    assert len(from_json) == expected
    for a, b in zip(from_protobuf, from_json):
        assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b.get(k)}
    assert from_protobuf == from_json


def test_partial_success_in_json_matches_protobuf(db, pg_gateway):
    invalid = ExportTraceServiceRequest.FromString(fixture_bytes("invalid_spans.binpb"))
    r = post_json(pg_gateway, otlp_json(invalid))
    assert r.status_code == 200, r.content
    body = json_body(r)
    assert body["partialSuccess"]["rejectedSpans"] == "4", "int64 is a string in proto3 JSON"
    response = export_response(r)
    assert response.partial_success.rejected_spans == 4
    message = response.partial_success.error_message
    assert "resource_spans[0].scope_spans[0].spans[2]: trace_id is all zeros" in message, message
    assert "spans[3]: trace_id must be 16 bytes, got 15" in message, message
    # The same words as for the protobuf request.
    r = pg_gateway.post(fixture_bytes("invalid_spans.binpb"))
    assert r.status_code == 200
    assert decode_export_response(r.content).partial_success.error_message == message
    db.wait_for_spans(2)
    names = [row[0] for row in db.query("SELECT name FROM trace_spans ORDER BY name")]
    assert names == ["valid-1", "valid-2"]


# ------------------------------------------------------------------------- 400


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        pytest.param(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01', ("unexpected end of input",), id="truncated"),
        pytest.param(b"", ("empty",), id="empty"),
        pytest.param(b"\x0a\x10\x0a\x02\x08", ("invalid JSON",), id="protobuf-bytes"),
        pytest.param(b'{"resourceSpans":{}}', ("resourceSpans", "expected an array"), id="wrong-type"),
        pytest.param(
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not hex at all, no"}]}]}]}',
            ("resourceSpans[0].scopeSpans[0].spans[0].traceId", "expected 32 hex digits"),
            id="bad-hex",
        ),
        pytest.param(
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"yesterday"}]}]}]}',
            ("spans[0].startTimeUnixNano", "unsigned 64-bit integer"),
            id="bad-integer",
        ),
    ],
)
def test_malformed_json_is_400_with_a_json_status(db, pg_gateway, body, fragments):
    r = post_json(pg_gateway, body)
    assert_json_status(r, 400, RPC_INVALID_ARGUMENT, fragments)
    # Nothing of it is stored; a later request lands.
    ok = make_request(make_spans(1))
    assert post_json(pg_gateway, otlp_json(ok)).status_code == 200
    db.wait_for_spans(1)
    assert db.stored_keys() == list(span_keys(ok))


def test_corrupt_gzip_with_json_is_400_with_a_json_status(nop_gateway):
    r = post_json(nop_gateway, b"not gzip", content_encoding="gzip")
    assert_json_status(r, 400, RPC_INVALID_ARGUMENT, ("gzip",))


def test_other_answers_to_json_requests_are_json_too(gateway):
    gw = gateway.start(gateway_config(None, max_request_body_size="1KiB"))
    r = requests.get(gw.traces_url, headers={"Content-Type": JSON}, timeout=10)
    assert_json_status(r, 405, RPC_UNIMPLEMENTED, ("POST",))
    r = requests.post(gw.url + "/v1/logs", data=b"{}", headers={"Content-Type": JSON}, timeout=10)
    assert_json_status(r, 404, RPC_UNIMPLEMENTED, ("/v1/traces",))
    r = post_json(gw, b'{"resourceSpans":[' + b"{}," * 600 + b"{}]}")
    assert_json_status(r, 413, RPC_INVALID_ARGUMENT, ("max_request_body_size",))
    r = post_json(gw, b"{}", content_encoding="br")
    assert_json_status(r, 415, RPC_INVALID_ARGUMENT, ("Content-Encoding",))


def test_unsupported_content_type_names_both_supported_types(nop_gateway):
    r = nop_gateway.post(b"{}", content_type="text/plain")
    assert r.status_code == 415
    assert r.headers["Content-Type"] == PROTOBUF
    status = status_pb2.Status.FromString(r.content)
    assert "application/x-protobuf" in status.message and "application/json" in status.message, status.message


# ------------------------------------------------------------------------- gzip


def test_gzip_json_is_accepted_and_stored(db, pg_gateway):
    many = ExportTraceServiceRequest.FromString(fixture_bytes("many_spans.binpb"))
    r = post_json(pg_gateway, gzip.compress(otlp_json(many)), content_encoding="gzip")
    assert r.status_code == 200, r.content
    assert json_body(r) == {}
    db.wait_for_spans(1000)
    assert db.scalar("SELECT count(DISTINCT trace_id) FROM trace_spans") == 10
    assert db.query("SELECT service_name, count(*) FROM trace_spans GROUP BY 1 ORDER BY 1") == [
        ("checkout", 334), ("inventory", 333), ("payments", 333)]
