"""The real OpenTelemetry Python SDK exports to the real gateway (OTLP/HTTP
protobuf, gzip, BatchSpanProcessor), and every span lands in PostgreSQL
exactly as the SDK reports it."""

from __future__ import annotations

from typing import Any, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from e2e_helpers import epoch_micros, gateway_config

OTLP_KIND = {SpanKind.INTERNAL: 1, SpanKind.SERVER: 2, SpanKind.CLIENT: 3, SpanKind.PRODUCER: 4, SpanKind.CONSUMER: 5}
OTLP_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
KIND_NAME = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_NAME = {0: "unset", 1: "ok", 2: "error"}

EVERY_TYPE = {
    "str": "hello",
    "str.unicode": "résumé ✓ 漢字 🚀",
    "str.empty": "",
    "str.quotes": 'say "hi"\\ \n\t',
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.negative": -7,
    "int.max": 2**63 - 1,
    "int.min": -(2**63),
    "float": 3.14159,
    "float.integral": 2.0,
    "float.tiny": 1e-7,
    "float.huge": 1.5e300,
    "float.negative": -0.5,
    "list.str": ["a", "β", ""],
    "list.bool": [True, False],
    "list.int": [1, -2, 3],
    "list.float": [0.5, 1.25],
}


class RecordingExporter(SpanExporter):
    """Passes batches to the OTLP exporter and remembers each export result."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def as_json(value: Any) -> Any:
    """An SDK attribute value as the gateway stores it in jsonb (sequences become arrays)."""
    if isinstance(value, (tuple, list)):
        return [as_json(v) for v in value]
    return value


def as_json_attributes(attributes: Any) -> dict[str, Any]:
    return {k: as_json(v) for k, v in (attributes or {}).items()}


def like(actual: Any, expected: Any) -> Any:
    """`actual` (parsed from jsonb) with numbers turned into floats where `expected`
    holds a float: jsonb keeps numbers as decimals, so 1.5e300 comes back as an
    integer-looking 15000…0 that Python would compare as an int."""
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return float(actual)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: like(v, expected.get(k)) for k, v in actual.items()}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [like(a, e) for a, e in zip(actual, expected)]
    return actual


def produce_traces(tracer) -> None:
    """A few traces with nested spans, every attribute type, events, links,
    an exception, statuses and unicode names."""
    # Trace 1: a server request with nested work.
    with tracer.start_as_current_span("GET /résumé/✓", kind=SpanKind.SERVER, attributes=EVERY_TYPE) as root:
        root.add_event("request.received", attributes={"bytes": 123, "ratio": 0.25, "tags": ["x", "y"]})
        with tracer.start_as_current_span("запрос к базе 漢字", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "postgresql", "db.rows": 3}) as child:
            child.add_event("retry 🚀", attributes={"attempt": 2, "ok": False})
            with tracer.start_as_current_span("decode", attributes={"size": 1.5}) as grandchild:
                grandchild.set_status(Status(StatusCode.OK))
        try:
            with tracer.start_as_current_span("failing ✗", kind=SpanKind.INTERNAL):
                raise ValueError("bad input ✗ \"quoted\"")
        except ValueError:
            pass
        root.set_status(Status(StatusCode.ERROR, "downstream failed ✗"))
        first_trace_context = root.get_span_context()

    # Trace 2: messaging, linked to trace 1 and to a remote span.
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=TraceState([("vendor", "value"), ("other", "x")]),
    )
    links = [
        Link(first_trace_context, attributes={"link.reason": "caused-by", "link.n": 1}),
        Link(remote, attributes={"remote": True}),
    ]
    with tracer.start_as_current_span("publish orders", kind=SpanKind.PRODUCER, links=links):
        with tracer.start_as_current_span("consume orders", kind=SpanKind.CONSUMER) as consumer:
            consumer.record_exception(RuntimeError("handled 💥"), attributes={"handled": True})
            consumer.set_attribute("messaging.batch.size", 10)

    # A server span continuing the remote trace: it inherits its trace state.
    with tracer.start_as_current_span("continued from remote", kind=SpanKind.SERVER,
                                      context=set_span_in_context(NonRecordingSpan(remote))):
        pass

    # Trace 3: explicit nanosecond times (to check the microsecond storage),
    # and enough spans that the processor sends several requests.
    start = 1_700_000_000_123_456_789
    span = tracer.start_span("explicit times", start_time=start)
    span.end(end_time=start + 987_654_321)
    with tracer.start_as_current_span("fan-out") as parent:
        for i in range(12):
            with tracer.start_as_current_span(f"worker {i}", attributes={"worker.index": i}):
                pass
        parent.set_attribute("workers", 12)


def test_sdk_spans_are_stored_exactly_as_the_sdk_reports_them(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, batch_timeout="50ms"))

    resource = Resource.create({"service.name": "e2e-sdk ✓", "deployment.environment": "e2e"})
    provider = TracerProvider(resource=resource)
    memory = InMemorySpanExporter()
    otlp = RecordingExporter(OTLPSpanExporter(endpoint=gw.traces_url, compression=Compression.Gzip, timeout=10))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(otlp, schedule_delay_millis=50, max_export_batch_size=7))
    tracer = provider.get_tracer("e2e.sdk.tracer", "9.8.7")

    produce_traces(tracer)
    assert provider.force_flush(timeout_millis=20_000), "force_flush timed out"
    provider.shutdown()

    finished = memory.get_finished_spans()
    assert len(finished) == 21
    assert otlp.results and all(r == SpanExportResult.SUCCESS for r in otlp.results), otlp.results
    assert len(otlp.results) >= 3, "max_export_batch_size=7 means several export requests"

    # What the SDK put on the wire, per span, for the fields it derives (flags).
    wire = {
        (s.trace_id.hex(), s.span_id.hex()): s
        for rs in encode_spans(finished).resource_spans for ss in rs.scope_spans for s in ss.spans
    }

    db.wait_for_spans(len(finished), timeout=20)
    # Exactly once each, and nothing else.
    stored = db.stored_keys()
    expected_keys = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in finished}
    assert len(expected_keys) == len(finished)
    assert sorted(stored) == sorted(expected_keys)

    for span in finished:
        trace_hex = f"{span.context.trace_id:032x}"
        span_hex = f"{span.context.span_id:016x}"
        assert len(trace_hex) == 32 and trace_hex == trace_hex.lower()
        rows = db.dicts(
            "SELECT *, encode(parent_span_id, 'hex') AS parent_hex FROM trace_spans "
            "WHERE trace_id = ('\\x' || %s)::bytea AND span_id = ('\\x' || %s)::bytea",
            (trace_hex, span_hex),
        )
        assert len(rows) == 1, f"span {span.name!r} stored {len(rows)} times"
        row = rows[0]
        where = f"span {span.name!r} ({trace_hex}/{span_hex})"

        assert row["name"] == span.name, where
        assert row["parent_hex"] == (f"{span.parent.span_id:016x}" if span.parent else None), where
        assert row["kind"] == OTLP_KIND[span.kind], where
        assert row["service_name"] == "e2e-sdk ✓", where
        assert row["resource_attributes"] == as_json_attributes(resource.attributes), where
        assert (row["scope_name"], row["scope_version"]) == ("e2e.sdk.tracer", "9.8.7"), where
        assert row["trace_state"] == wire[(trace_hex, span_hex)].trace_state, where
        assert row["flags"] == wire[(trace_hex, span_hex)].flags, where

        # Times: microseconds of the SDK's nanoseconds; the duration exact in ns.
        for column, ns in (("start_time", span.start_time), ("end_time", span.end_time)):
            stored_us = epoch_micros(row[column])
            assert stored_us in (ns // 1000, (ns + 500) // 1000), f"{where}: {column} {row[column]} vs {ns} ns"
        assert row["duration_ns"] == span.end_time - span.start_time, where

        expected_attributes = as_json_attributes(span.attributes)
        assert like(row["attributes"], expected_attributes) == expected_attributes, where
        assert row["status_code"] == OTLP_STATUS[span.status.status_code], where
        assert row["status_message"] == (span.status.description or ""), where

        expected_events = [
            {"name": e.name, "time_unix_nano": e.timestamp, "attributes": as_json_attributes(e.attributes)}
            for e in span.events
        ]
        assert like(row["events"], expected_events) == expected_events, where
        expected_links = [
            {
                "trace_id": f"{link.context.trace_id:032x}",
                "span_id": f"{link.context.span_id:016x}",
                # The Python SDK does not send a link's trace state: take the wire's.
                "trace_state": wire_link.trace_state,
                "flags": wire_link.flags,
                "attributes": as_json_attributes(link.attributes),
            }
            for link, wire_link in zip(span.links, wire[(trace_hex, span_hex)].links)
        ]
        assert like(row["links"], expected_links) == expected_links, where
        assert (row["dropped_attributes_count"], row["dropped_events_count"], row["dropped_links_count"]) == (0, 0, 0)

    by_name = {s.name: s for s in finished}

    # The exception is an event with the SDK's exception attributes, and its status.
    failing = by_name["failing ✗"]
    row = db.dicts("SELECT status_code, status_message, events FROM trace_spans WHERE span_id = ('\\x' || %s)::bytea",
                   (f"{failing.context.span_id:016x}",))[0]
    assert row["status_code"] == 2
    assert row["status_message"] == 'ValueError: bad input ✗ "quoted"'
    [event] = row["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == 'bad input ✗ "quoted"'
    assert "Traceback" in event["attributes"]["exception.stacktrace"]

    # The explicit times: 1700000000.123456789 s for 987654321 ns.
    row = db.dicts("SELECT start_time, end_time, duration_ns FROM trace_spans WHERE name = 'explicit times'")[0]
    assert epoch_micros(row["start_time"]) in (1_700_000_000_123_456, 1_700_000_000_123_457)
    assert row["duration_ns"] == 987_654_321

    # The remote link, and the span continuing the remote trace with its trace state.
    links = db.scalar("SELECT links FROM trace_spans WHERE name = 'publish orders'")
    assert [(l["trace_id"], l["span_id"]) for l in links] == [
        (f"{by_name['GET /résumé/✓'].context.trace_id:032x}", f"{by_name['GET /résumé/✓'].context.span_id:016x}"),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
    ]
    assert db.query(
        "SELECT encode(trace_id, 'hex'), encode(parent_span_id, 'hex'), trace_state FROM trace_spans "
        "WHERE name = 'continued from remote'") == [
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "vendor=value,other=x")]

    # The same spans through the hex view, trace by trace.
    traces = {s.context.trace_id for s in finished}
    assert len(traces) == 5
    for trace_id in traces:
        trace_hex = f"{trace_id:032x}"
        expected = sorted(
            (f"{s.context.span_id:016x}", f"{s.parent.span_id:016x}" if s.parent else None,
             KIND_NAME[OTLP_KIND[s.kind]], STATUS_NAME[OTLP_STATUS[s.status.status_code]], s.name)
            for s in finished if s.context.trace_id == trace_id
        )
        rows = db.query(
            "SELECT span_id, parent_span_id, kind, status, name FROM trace_spans_hex WHERE trace_id = %s", (trace_hex,))
        assert sorted(rows, key=lambda r: (r[0], r[1] or "")) == sorted(expected, key=lambda r: (r[0], r[1] or ""))
