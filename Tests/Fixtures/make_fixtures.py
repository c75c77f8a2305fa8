#!/usr/bin/env python3
"""Generate the OTLP fixtures in Tests/Fixtures/ (binary, and all_types.json).

    .venv/bin/python Tests/Fixtures/make_fixtures.py [OUTPUT_DIR]

OUTPUT_DIR defaults to the directory of this script. Output is fully
deterministic (fixed ids, fixed timestamps, a fixed-seed PRNG implemented
here so it does not depend on the Python version), so running this twice
gives byte-identical files; Tests/Proto/test_fixtures_fresh.py checks that
the committed files match. Every value is documented in README.md next to
this script; keep the two in sync.

    .venv/bin/python Tests/Fixtures/make_fixtures.py --dump
prints all_types.binpb in protobuf text format (the dump in README.md).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from google.protobuf import json_format, text_format
from google.protobuf.message import DecodeError

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

# ---------------------------------------------------------------------------
# helpers


def av(value: object) -> AnyValue:
    """Python value -> AnyValue. None gives an AnyValue with no member set."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):  # before int: bool is an int subclass
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[av(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=kvs(value)))
    raise TypeError(f"unsupported attribute value {value!r}")


def kvs(attrs: dict[str, object]) -> list[KeyValue]:
    """Ordered dict -> list of KeyValue (order preserved)."""
    return [KeyValue(key=k, value=av(v)) for k, v in attrs.items()]


def serialize(msg: ExportTraceServiceRequest) -> bytes:
    return msg.SerializeToString(deterministic=True)


# Fields that OTLP/JSON writes as hex where proto3 JSON would write base64.
OTLP_JSON_HEX_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(msg: ExportTraceServiceRequest) -> bytes:
    """The OTLP/JSON encoding of a request: protobuf's own proto3 JSON
    (MessageToJson: lowerCamelCase names, int64/fixed64 as strings, bytes as
    base64, default values left out) with the two exceptions of the OTLP
    specification: enums as numbers, and trace/span ids as lowercase hex."""
    doc = json.loads(json_format.MessageToJson(msg, use_integers_for_enums=True))

    def hex_ids(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in OTLP_JSON_HEX_FIELDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hex_ids(value)
        elif isinstance(node, list):
            for value in node:
                hex_ids(value)

    hex_ids(doc)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------
# all_types.binpb

BASE_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
MS = 1_000_000

TRACE_1 = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
ROOT_ID = bytes.fromhex("a1a2a3a4a5a6a7a8")
CHILD_ID = bytes.fromhex("b1b2b3b4b5b6b7b8")
GRANDCHILD_ID = bytes.fromhex("c1c2c3c4c5c6c7c8")
LINK_TRACE = bytes.fromhex("2122232425262728292a2b2c2d2e2f30")
LINK_SPAN = bytes.fromhex("e1e2e3e4e5e6e7e8")

TRACE_2 = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
OTHER_ID = bytes.fromhex("d1d2d3d4d5d6d7d8")
PUBLISH_ID = bytes.fromhex("d9dadbdcdddedfd0")
CONSUME_ID = bytes.fromhex("c0ffee0000000001")


def all_types() -> ExportTraceServiceRequest:
    resource = Resource(
        attributes=kvs(
            {
                "service.name": "fixture-svc",
                "res.bool": True,
                "res.int": 42,
                "res.double": 0.5,
                "res.bytes": bytes.fromhex("deadbeef"),
                "res.array": ["a", 1, False, 1.5],
                "res.kvlist": {"inner.str": "x", "inner.kv": {"deep.int": 7}},
            }
        ),
        dropped_attributes_count=1,
    )
    scope = InstrumentationScope(
        name="fixture.scope",
        version="1.2.3",
        attributes=kvs({"scope.attr": "scope-value"}),
    )

    root = Span(
        trace_id=TRACE_1,
        span_id=ROOT_ID,
        trace_state="vendor=value",
        flags=0x101,
        name="résumé ✓",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=BASE_NS,
        end_time_unix_nano=BASE_NS + 1000 * MS,
        attributes=kvs(
            {
                "str": "hello",
                "str.empty": "",
                "str.unicode": "résumé ✓",
                "bool.true": True,
                "bool.false": False,
                "int.neg": -42,
                "int.max": 9223372036854775807,
                "double": 3.25,
                "bytes": bytes.fromhex("0001feff"),
                "array": ["x", -1, 2.5, True, b"\x00"],
                "kvlist": {"k1": "v1", "nested": {"n.int": 5}},
                "empty.value": None,
            }
        ),
        dropped_attributes_count=3,
        events=[
            Span.Event(
                time_unix_nano=BASE_NS + 10 * MS,
                name="cache.miss",
                attributes=kvs({"cache.key": "user:1", "cache.hit": False}),
                dropped_attributes_count=2,
            ),
            Span.Event(
                time_unix_nano=BASE_NS + 20 * MS,
                name="exception",
                attributes=kvs({"exception.type": "ValueError", "exception.message": "bad"}),
            ),
        ],
        dropped_events_count=5,
        links=[
            Span.Link(
                trace_id=LINK_TRACE,
                span_id=LINK_SPAN,
                trace_state="link=state",
                attributes=kvs({"link.kind": "follows", "link.index": 1}),
                dropped_attributes_count=4,
                flags=0x301,
            )
        ],
        dropped_links_count=7,
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
    )
    child = Span(
        trace_id=TRACE_1,
        span_id=CHILD_ID,
        parent_span_id=ROOT_ID,
        flags=0x301,
        name="child-op",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=BASE_NS + 100 * MS,
        end_time_unix_nano=BASE_NS + 600 * MS,
        attributes=kvs({"child.int": 1}),
        links=[Span.Link(trace_id=TRACE_1, span_id=GRANDCHILD_ID)],
        status=Status(code=Status.STATUS_CODE_OK),
    )
    grandchild = Span(
        trace_id=TRACE_1,
        span_id=GRANDCHILD_ID,
        parent_span_id=CHILD_ID,
        name="grandchild-op",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=BASE_NS + 200 * MS,
        end_time_unix_nano=BASE_NS + 300 * MS,
        events=[Span.Event(time_unix_nano=BASE_NS + 250 * MS, name="retry")],
    )
    # Explicitly present but empty Status (code UNSET, no message).
    grandchild.status.SetInParent()

    first = ResourceSpans(
        resource=resource,
        scope_spans=[
            ScopeSpans(
                scope=scope,
                spans=[root, child, grandchild],
                schema_url="https://opentelemetry.io/schemas/1.24.0",
            )
        ],
        schema_url="https://opentelemetry.io/schemas/1.21.0",
    )

    other = Span(
        trace_id=TRACE_2,
        span_id=OTHER_ID,
        name="other-op",
        start_time_unix_nano=BASE_NS + 2000 * MS,
        end_time_unix_nano=BASE_NS + 2500 * MS,
    )
    publish = Span(
        trace_id=TRACE_2,
        span_id=PUBLISH_ID,
        parent_span_id=OTHER_ID,
        name="publish",
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=BASE_NS + 2100 * MS,
        end_time_unix_nano=BASE_NS + 2200 * MS,
    )
    consume = Span(
        trace_id=TRACE_2,
        span_id=CONSUME_ID,
        parent_span_id=PUBLISH_ID,
        name="consume",
        kind=Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=BASE_NS + 2300 * MS,
        end_time_unix_nano=BASE_NS + 2400 * MS,
    )
    second = ResourceSpans(
        resource=Resource(attributes=kvs({"service.name": "other-svc"})),
        scope_spans=[
            ScopeSpans(
                scope=InstrumentationScope(name="other.scope"),
                spans=[other, publish, consume],
            )
        ],
    )
    return ExportTraceServiceRequest(resource_spans=[first, second])


# ---------------------------------------------------------------------------
# invalid_spans.binpb

INVALID_TRACE = bytes.fromhex("11111111111111111111111111111111")


def invalid_spans() -> ExportTraceServiceRequest:
    def span(name: str, trace_id: bytes, span_id: bytes, start: int, end: int) -> Span:
        return Span(
            trace_id=trace_id,
            span_id=span_id,
            name=name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
        )

    t0 = BASE_NS
    spans = [
        span("valid-1", INVALID_TRACE, bytes.fromhex("2222222222222201"), t0, t0 + 10 * MS),
        span("valid-2", INVALID_TRACE, bytes.fromhex("2222222222222202"), t0, t0 + 20 * MS),
        span("zero-trace-id", bytes(16), bytes.fromhex("2222222222222203"), t0, t0 + 30 * MS),
        span(
            "short-trace-id",
            bytes.fromhex("111111111111111111111111111111"),  # 15 bytes
            bytes.fromhex("2222222222222204"),
            t0,
            t0 + 40 * MS,
        ),
        span("zero-span-id", INVALID_TRACE, bytes(8), t0, t0 + 50 * MS),
        span("end-before-start", INVALID_TRACE, bytes.fromhex("2222222222222206"), t0 + 60 * MS, t0),
    ]
    spans[1].parent_span_id = spans[0].span_id
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=kvs({"service.name": "invalid-svc"})),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="invalid.scope"), spans=spans)],
            )
        ]
    )


# ---------------------------------------------------------------------------
# many_spans.binpb


class XorShift64:
    """xorshift64* PRNG; fixed algorithm so output never depends on Python."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFFFFFFFFFF or 1

    def next(self) -> int:
        x = self.state
        x ^= (x >> 12)
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27)
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n: int) -> int:
        return self.next() % n

    def bytes(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += self.next().to_bytes(8, "big")
        return out[:n]


MANY_SEED = 20231114
MANY_TRACES = 10
MANY_SPANS_PER_TRACE = 100
MANY_SERVICES = ("checkout", "inventory", "payments")
METHODS = ("GET", "POST", "PUT", "DELETE")
ROUTES = ("/cart", "/cart/items", "/orders/{id}", "/stock/{sku}", "/pay")
STATUS_CODES = (200, 201, 204, 400, 404, 500, 503)


def many_spans() -> ExportTraceServiceRequest:
    rng = XorShift64(MANY_SEED)
    trace_ids = []
    for _ in range(MANY_TRACES):
        tid = rng.bytes(16)
        trace_ids.append(tid)
    by_service: list[list[Span]] = [[] for _ in MANY_SERVICES]
    for t, trace_id in enumerate(trace_ids):
        span_ids: list[bytes] = []
        for j in range(MANY_SPANS_PER_TRACE):
            span_id = rng.bytes(8)
            span_ids.append(span_id)
            start = BASE_NS + t * 1000 * MS + j * MS
            duration = (1 + rng.below(5000)) * 1000  # 1..5000 microseconds
            status_code = STATUS_CODES[rng.below(len(STATUS_CODES))]
            span = Span(
                trace_id=trace_id,
                span_id=span_id,
                # binary tree inside each trace: span j's parent is (j-1)//2
                parent_span_id=span_ids[(j - 1) // 2] if j > 0 else b"",
                flags=0x101,
                name=f"op-{j % 17}",
                kind=Span.SPAN_KIND_SERVER if j == 0 else Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start,
                end_time_unix_nano=start + duration,
                attributes=kvs(
                    {
                        "http.request.method": METHODS[rng.below(len(METHODS))],
                        "http.route": ROUTES[rng.below(len(ROUTES))],
                        "http.response.status_code": status_code,
                        "server.port": 8000 + rng.below(100),
                        "duration.ms": duration / 1_000_000,
                        "sample.ratio": rng.below(1000) / 1000,
                        "cache.hit": rng.below(2) == 1,
                        "user.id": f"user-{rng.below(10000):05d}",
                    }
                ),
                status=Status(
                    code=Status.STATUS_CODE_ERROR if status_code >= 500 else Status.STATUS_CODE_UNSET,
                    message="server error" if status_code >= 500 else "",
                ),
            )
            by_service[(t + j) % len(MANY_SERVICES)].append(span)
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=kvs({"service.name": name})),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="bench.scope", version="0.1.0"),
                        spans=spans,
                    )
                ],
            )
            for name, spans in zip(MANY_SERVICES, by_service)
        ]
    )


# ---------------------------------------------------------------------------
# garbage.bin
#
# 0x0a = field 1 (resource_spans), wire type 2 (length-delimited); 0x10 says
# 16 bytes follow, but only 3 do. Every protobuf parser must reject this as a
# truncated message.
GARBAGE = bytes([0x0A, 0x10, 0x0A, 0x02, 0x08])


def build_all() -> dict[str, bytes]:
    files = {
        "all_types.binpb": serialize(all_types()),
        "all_types.json": otlp_json(all_types()),
        "invalid_spans.binpb": serialize(invalid_spans()),
        "many_spans.binpb": serialize(many_spans()),
        "empty.binpb": serialize(ExportTraceServiceRequest()),
        "garbage.bin": GARBAGE,
    }
    # Sanity checks on what we are about to write.
    assert files["empty.binpb"] == b""
    try:
        ExportTraceServiceRequest.FromString(GARBAGE)
    except DecodeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("garbage.bin unexpectedly parses")
    # The JSON is the same request: protobuf's JSON parser (with the ids back
    # to base64, which is all it needs) gives the same message.
    parsed = json.loads(files["all_types.json"])

    def base64_ids(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in OTLP_JSON_HEX_FIELDS and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                else:
                    base64_ids(value)
        elif isinstance(node, list):
            for value in node:
                base64_ids(value)

    base64_ids(parsed)
    assert json_format.ParseDict(parsed, ExportTraceServiceRequest()) == all_types()
    many = ExportTraceServiceRequest.FromString(files["many_spans.binpb"])
    assert sum(len(ss.spans) for rs in many.resource_spans for ss in rs.scope_spans) == 1000
    return files


def dump_all_types() -> str:
    return text_format.MessageToString(all_types(), as_utf8=True)


def main(argv: list[str]) -> int:
    if argv[1:] == ["--dump"]:
        sys.stdout.write(dump_all_types())
        return 0
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = Path(argv[1]) if len(argv) == 2 else Path(__file__).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in build_all().items():
        (out_dir / name).write_bytes(data)
        print(f"wrote {out_dir / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
