"""Hostile payloads against the real binary: messages nested far past the
protobuf limit (which crashed protobuf-c's recursive unpack), and strings with
NUL bytes and invalid UTF-8. Each case goes next to good spans of other
traces: every good span is stored once, the process lives, each odd request
is either stored (repaired) or refused with 400 / INVALID_ARGUMENT."""

from __future__ import annotations

import grpc
import requests

from e2e_helpers import (
    assert_status_response,
    gateway_config,
    make_request,
    make_span,
    make_spans,
    new_trace_id,
)
from test_grpc_receiver import export, export_error, grpc_channel
from test_observability import scrape, value

JSON = "application/json"

LIMIT_MESSAGE = "messages nested deeper than 100 levels (the protobuf limit) at "
WHERE = "resource_spans[0].scope_spans[0].spans[0].attributes[0].value"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_request(levels: int) -> bytes:
    """A request whose one span has an attribute value of kvlists nested
    `levels` deep, built by hand (the Python runtime refuses such messages)."""
    inner = _field(1, b"x")  # AnyValue{string_value}
    for _ in range(levels):
        kv = _field(1, b"k") + _field(2, inner)  # KeyValue
        inner = _field(6, _field(1, kv))  # AnyValue{kvlist_value{values}}
    span = _field(1, new_trace_id()) + _field(2, b"\x02" * 8) + _varint(5 << 3 | 2) + b"\x04deep" + _field(9, _field(1, b"d") + _field(2, inner))
    return _field(1, _field(2, _field(2, span)))


def deep_json(levels: int) -> bytes:
    inner = '{"stringValue":"x"}'
    for _ in range(levels):
        inner = '{"kvlistValue":{"values":[{"key":"k","value":' + inner + "}]}}"
    doc = ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + new_trace_id().hex() + '","spanId":"0202020202020202",'
           '"name":"deep","attributes":[{"key":"d","value":' + inner + "}]}]}]}]}")
    return doc.encode()


def test_nesting_past_the_limit_is_refused_on_both_protocols_and_good_spans_are_stored(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, grpc={}))
    good = make_spans(10, name="good-before")
    assert gw.post(make_request(good).SerializeToString()).status_code == 200

    # 20,000 levels in a 200 KB body: the request that used to kill the process.
    body = deep_request(20_000)
    assert len(body) > 100_000
    r = gw.post(body)
    assert_status_response(r, 400, 3, [LIMIT_MESSAGE + WHERE])
    r = requests.post(gw.traces_url, data=deep_json(20_000), headers={"Content-Type": JSON}, timeout=10)
    assert r.status_code == 400, r.text
    assert LIMIT_MESSAGE + WHERE in r.text
    with grpc_channel(gw) as channel:
        error = export_error(channel, body)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert LIMIT_MESSAGE + WHERE in error.details()
        # Within the limit is fine: the attribute's value is at level 5 and
        # each kvlist adds three (KeyValueList, KeyValue, AnyValue), so 31
        # kvlists reach level 98 (32 would reach 101).
        export(channel, deep_request(31))
    assert gw.running

    after = make_spans(10, name="good-after")
    assert gw.post(make_request(after).SerializeToString()).status_code == 200
    db.wait_for_spans(10 + 10 + 1)
    names = dict(db.query("SELECT regexp_replace(name, '-[0-9]+$', ''), count(*) FROM trace_spans GROUP BY 1"))
    assert names == {"good-before": 10, "good-after": 10, "deep": 1}
    samples = scrape(gw)
    assert value(samples, "tracegate_receiver_refused_requests_total", receiver="otlp", protocol="http",
                 encoding="protobuf", reason="decode") == 1
    assert value(samples, "tracegate_receiver_refused_requests_total", receiver="otlp", protocol="grpc",
                 encoding="protobuf", reason="decode") == 1


def test_nul_and_invalid_utf8_are_repaired_and_everything_after_them_kept(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, grpc={}))
    trace = new_trace_id()
    odd = make_span(trace_id=trace, span_id=b"\x05" * 8, name="odd-nul\x00name", attributes={"db.statement": "select 1\x00; drop",
                                                                       "marker": "MARKERMARKERMARKERMARKER"})
    body = bytearray(make_request([odd] + make_spans(20, name="neighbour")).SerializeToString())
    # Invalid UTF-8 cannot be put in a Python str: write it over the marker.
    at = body.index(b"MARKERMARKERMARKERMARKER")
    body[at:at + 2] = b"\xff\xfe"
    r = gw.post(bytes(body))
    assert r.status_code == 200, r.content
    # The same over gRPC and as JSON (\u0000 and raw invalid bytes).
    with grpc_channel(gw) as channel:
        export(channel, make_request([make_span(trace_id=new_trace_id(), span_id=b"\x06" * 8, name="grpc-nul\x00")]).SerializeToString())
    doc = ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + new_trace_id().hex() + '","spanId":"0303030303030303",'
           '"name":"json-nul\\u0000name","attributes":[{"key":"k","value":{"stringValue":"bad\xff"}}]}]}]}]}')
    r = requests.post(gw.traces_url, data=doc.encode("latin-1"), headers={"Content-Type": JSON}, timeout=10)
    assert r.status_code == 200, r.text

    db.wait_for_spans(1 + 20 + 1 + 1)
    row = db.dicts("SELECT name, attributes FROM trace_spans WHERE trace_id = %s", [trace])[0]
    assert row["name"] == "odd-nul\ufffdname"
    assert row["attributes"]["db.statement"] == "select 1\ufffd; drop"
    assert row["attributes"]["marker"] == "\ufffd\ufffdRKERMARKERMARKERMARKER"
    names = {n for (n,) in db.query("SELECT name FROM trace_spans")}
    assert {"grpc-nul\ufffd", "json-nul\ufffdname"} <= names
    assert db.scalar("SELECT count(*) FROM trace_spans WHERE name LIKE 'neighbour-%'") == 20
    bad = db.scalar("SELECT attributes->>'k' FROM trace_spans WHERE name = 'json-nul\ufffdname'")
    assert bad == "bad\ufffd"
    samples = scrape(gw)
    repaired = {(labels, v) for (name, labels), v in samples.items() if name == "tracegate_receiver_strings_repaired_total"}
    total = sum(v for _, v in repaired)
    # protobuf over HTTP: name, value, marker; gRPC: one name; JSON: name, value.
    assert total == 3 + 1 + 2, repaired
