"""The OTLP/gRPC receiver of the real binary (h2c): the OpenTelemetry Python
SDK's gRPC exporter with gzip, and raw grpcio calls carrying bytes for every
status the receiver answers, the RetryInfo of a full pipeline included."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Iterator

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from e2e_helpers import (
    decode_export_response,
    fixture_bytes,
    gateway_config,
    request_of_exact_size,
    request_with_spans,
    run_tracegate,
    to_yaml,
)
from test_sdk_export import EVERY_TYPE, OTLP_KIND, OTLP_STATUS, RecordingExporter, as_json_attributes, like, produce_traces

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@contextmanager
def grpc_channel(gw) -> Iterator[grpc.Channel]:
    # No client-side retries: every answer of the gateway is seen as it is.
    channel = grpc.insecure_channel(gw.grpc_target, options=[("grpc.enable_retries", 0)])
    try:
        yield channel
    finally:
        channel.close()


def export(channel: grpc.Channel, body: bytes, *, method: str = EXPORT, compression: grpc.Compression | None = None,
           timeout: float = 10.0) -> tuple[bytes, grpc.Call]:
    """A unary call with raw bytes (no serializer): the response bytes and the call."""
    return channel.unary_unary(method).with_call(body, timeout=timeout, compression=compression)


def export_error(channel: grpc.Channel, body: bytes, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        export(channel, body, **kwargs)
    return info.value


@pytest.fixture
def nop_grpc_gateway(gateway):
    return gateway.start(gateway_config(None, grpc={}))


# ------------------------------------------------------------------------- the SDK


def produce_many(tracer, traces: int, spans_per_trace: int) -> None:
    """Traces of a root with children: every attribute type, events, links to
    the previous trace, error statuses, unicode names."""
    previous = None
    for t in range(traces):
        links = [Link(previous, attributes={"link.trace": t - 1})] if previous else []
        with tracer.start_as_current_span(f"запрос {t} ✓", kind=SpanKind.SERVER, attributes=EVERY_TYPE,
                                          links=links) as root:
            for i in range(spans_per_trace - 1):
                with tracer.start_as_current_span(f"шаг {i} 漢字 🚀", kind=SpanKind.CLIENT,
                                                  attributes={"i": i, "ratio": i / 7, "ok": i % 2 == 0,
                                                              "tags": ["a", "β", str(i)]}) as child:
                    if i % 5 == 0:
                        child.add_event("retry ✗", attributes={"attempt": i, "bytes": [1, 2, 3]})
                    if i % 9 == 0:
                        child.set_status(Status(StatusCode.ERROR, f"failed ✗ {i}"))
            previous = root.get_span_context()


def test_sdk_grpc_exporter_spans_land_exactly_once(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, batch_timeout="50ms", grpc={}))

    resource = Resource.create({"service.name": "e2e-grpc ✓", "deployment.environment": "e2e"})
    provider = TracerProvider(resource=resource)
    memory = InMemorySpanExporter()
    otlp = RecordingExporter(OTLPSpanExporter(endpoint=gw.grpc_target, insecure=True,
                                              compression=grpc.Compression.Gzip, timeout=20))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(otlp, max_queue_size=20_000, max_export_batch_size=512,
                                                   schedule_delay_millis=50))
    tracer = provider.get_tracer("e2e.grpc.tracer", "1.2.3")

    produce_traces(tracer)  # the 21 spans test_sdk_export checks field by field
    produce_many(tracer, traces=100, spans_per_trace=30)
    assert provider.force_flush(timeout_millis=60_000), "force_flush timed out"
    provider.shutdown()

    finished = memory.get_finished_spans()
    assert len(finished) == 21 + 3000
    assert otlp.results and all(r == SpanExportResult.SUCCESS for r in otlp.results), otlp.results
    assert len(otlp.results) >= 6, "max_export_batch_size=512 means several export calls"

    db.wait_for_spans(len(finished), timeout=60)
    expected_keys = sorted((f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in finished)
    assert len(set(expected_keys)) == len(finished)
    assert sorted(db.stored_keys()) == expected_keys, "every span exactly once, and nothing else"

    rows = {
        (r["trace_hex"], r["span_hex"]): r
        for r in db.dicts("SELECT *, encode(trace_id, 'hex') AS trace_hex, encode(span_id, 'hex') AS span_hex, "
                          "encode(parent_span_id, 'hex') AS parent_hex FROM trace_spans")
    }
    for span in finished:
        key = (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")
        row, where = rows[key], f"span {span.name!r} {key}"
        assert row["name"] == span.name, where
        assert row["parent_hex"] == (f"{span.parent.span_id:016x}" if span.parent else None), where
        assert row["kind"] == OTLP_KIND[span.kind], where
        assert row["service_name"] == "e2e-grpc ✓", where
        assert (row["scope_name"], row["scope_version"]) == ("e2e.grpc.tracer", "1.2.3"), where
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
        assert [(l["trace_id"], l["span_id"], l["attributes"]) for l in row["links"]] == [
            (f"{l.context.trace_id:032x}", f"{l.context.span_id:016x}", as_json_attributes(l.attributes))
            for l in span.links
        ], where


# ------------------------------------------------------------------------- OK


def test_raw_exports_are_acknowledged_and_stored_next_to_http(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, grpc={}))
    plain, plain_keys = request_with_spans(3)
    gzipped, gzipped_keys = request_with_spans(4)
    over_http, http_keys = request_with_spans(2)
    with grpc_channel(gw) as channel:
        response, call = export(channel, plain)
        assert call.code() == grpc.StatusCode.OK
        assert response == b"", "an ExportTraceServiceResponse without partial success encodes to no bytes"
        response, call = export(channel, gzipped, compression=grpc.Compression.Gzip)
        assert call.code() == grpc.StatusCode.OK
        assert not decode_export_response(response).HasField("partial_success")
        response, _ = export(channel, b"")
        assert response == b"", "an empty request is fine"
    # Both protocols serve at once.
    assert gw.post(over_http).status_code == 200
    db.wait_for_spans(9)
    assert sorted(db.stored_keys()) == sorted(plain_keys | gzipped_keys | http_keys)


def test_invalid_spans_are_a_partial_success(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, grpc={}))
    with grpc_channel(gw) as channel:
        response, call = export(channel, fixture_bytes("invalid_spans.binpb"))
    assert call.code() == grpc.StatusCode.OK
    partial = decode_export_response(response).partial_success
    assert partial.rejected_spans == 4
    assert "trace_id is all zeros" in partial.error_message
    assert "resource_spans[0].scope_spans[0].spans[2]" in partial.error_message
    db.wait_for_spans(2)
    assert [r[0] for r in db.query("SELECT name FROM trace_spans ORDER BY name")] == ["valid-1", "valid-2"]


def test_many_concurrent_calls_share_one_connection(db, gateway):
    # Fewer streams allowed than calls in flight: the client queues the rest.
    gw = gateway.start(gateway_config(db.dsn, grpc={"max_concurrent_streams": 4}))
    bodies = [request_with_spans(5) for _ in range(200)]
    with grpc_channel(gw) as channel:
        call = channel.unary_unary(EXPORT)
        futures = [call.future(body, timeout=30) for body, _ in bodies]
        codes = [f.code() for f in futures]
    assert codes == [grpc.StatusCode.OK] * len(bodies)
    db.wait_for_spans(1000, timeout=30)
    assert sorted(db.stored_keys()) == sorted(k for _, keys in bodies for k in keys)


# ------------------------------------------------------------------------- errors


def test_undecodable_message_is_invalid_argument(nop_grpc_gateway):
    with grpc_channel(nop_grpc_gateway) as channel:
        error = export_error(channel, fixture_bytes("garbage.bin"))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "ExportTraceServiceRequest" in error.details()
        # The connection is still good.
        assert export(channel, request_with_spans(1)[0])[1].code() == grpc.StatusCode.OK


def test_unknown_method_is_unimplemented(nop_grpc_gateway):
    with grpc_channel(nop_grpc_gateway) as channel:
        for method in ["/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                       "/opentelemetry.proto.collector.trace.v1.TraceService/Exports", "/x/y"]:
            error = export_error(channel, request_with_spans(1)[0], method=method)
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED, method
            assert method in error.details()


def test_message_over_max_recv_msg_size_is_resource_exhausted(gateway):
    gw = gateway.start(gateway_config(None, grpc={"max_recv_msg_size_mib": 1}))
    limit = 1 << 20
    with grpc_channel(gw) as channel:
        assert export(channel, request_of_exact_size(limit))[1].code() == grpc.StatusCode.OK
        over = request_of_exact_size(limit + 1)
        error = export_error(channel, over)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_recv_msg_size_mib" in error.details()
        # Small on the wire, over the limit once inflated.
        error = export_error(channel, over, compression=grpc.Compression.Gzip)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "decompressed" in error.details()
        error = export_error(channel, b"\0" * (8 << 20))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert export(channel, request_with_spans(2)[0])[1].code() == grpc.StatusCode.OK


def test_full_queue_is_unavailable_with_retry_info(db, gateway, pg_cluster):
    gw = gateway.start(gateway_config(db.dsn, grpc={}, queue_size=10, shutdown_timeout="5s",
                                      retry={"initial_interval": "100ms", "max_interval": "500ms"}))
    accepted = [request_with_spans(5) for _ in range(2)]
    refused, refused_keys = request_with_spans(1)
    with grpc_channel(gw) as channel:
        with pg_cluster.stopped():
            # Nothing leaves the queue of 10 spans while PostgreSQL is down.
            for body, _ in accepted:
                assert export(channel, body)[1].code() == grpc.StatusCode.OK
            error = export_error(channel, refused)
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert "capacity" in error.details()
            trailers = dict(error.trailing_metadata())
            status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
            assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
            assert status.message == error.details()
            [detail] = status.details
            assert detail.type_url == "type.googleapis.com/google.rpc.RetryInfo"
            retry_info = error_details_pb2.RetryInfo()
            assert detail.Unpack(retry_info)
            assert retry_info.retry_delay.seconds >= 1
            # The same delay where the Python SDK's exporter looks for it.
            bare = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
            assert bare == retry_info
        # PostgreSQL is back: the queue drains and the client's retry lands.
        db.wait_for_spans(10, timeout=30)
        assert export(channel, refused)[1].code() == grpc.StatusCode.OK
    db.wait_for_spans(11, timeout=30)
    assert sorted(db.stored_keys()) == sorted(refused_keys | accepted[0][1] | accepted[1][1])


def test_http1_client_on_the_grpc_port_does_not_disturb_it(nop_grpc_gateway):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://{nop_grpc_gateway.grpc_target}{EXPORT}", data=b"",
                      headers={"Content-Type": "application/grpc"}, timeout=5)
    with socket.create_connection(("127.0.0.1", nop_grpc_gateway.grpc_port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64)  # a preface, then garbage frames
    with grpc_channel(nop_grpc_gateway) as channel:
        assert export(channel, request_with_spans(1)[0])[1].code() == grpc.StatusCode.OK


# ------------------------------------------------------------------------- shutdown


def test_sigterm_closes_open_grpc_connections_and_exits_promptly(gateway):
    gw = gateway.start(gateway_config(None, grpc={}))
    with grpc_channel(gw) as channel:
        assert export(channel, request_with_spans(2)[0])[1].code() == grpc.StatusCode.OK
        # The connection stays open; shutdown sends GOAWAY and closes it.
        assert gw.stop(timeout=15) == 0, gw.log_tail()
        assert gw.stop_seconds < 5, f"stopping took {gw.stop_seconds:.1f}s with an idle gRPC connection"
        assert "OTLP/gRPC receiver stopped" in gw.log_text()
        error = export_error(channel, request_with_spans(1)[0], timeout=5)
        assert error.code() == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------------------- configuration


def test_grpc_configuration_keys(tracegate_bin, tmp_path):
    def write(config) -> None:
        path.write_text(to_yaml(config).replace("{port}", "4318"), encoding="utf-8")

    path = tmp_path / "tracegate.yaml"
    good = gateway_config(None, grpc={"max_recv_msg_size_mib": 16, "max_concurrent_streams": 250})
    good["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:4317"
    write(good)
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 0, result.stderr

    grpc_only = gateway_config(None, grpc={})
    del grpc_only["receivers"]["otlp"]["protocols"]["http"]
    write(grpc_only)
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 0, result.stderr

    bad = gateway_config(None, grpc={"max_recv_msg_size_mib": 0, "max_concurrent_streams": "many",
                                     "transport": "tcp", "endpoint": "nowhere"})
    write(bad)
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 1, result.stderr
    for key, fragment in [("max_recv_msg_size_mib", "between 1 and"), ("max_concurrent_streams", "integer"),
                          ("transport", "unknown key"), ("endpoint", "host:port")]:
        assert any(f"receivers.otlp.protocols.grpc.{key}: " in line and fragment in line
                   for line in result.stderr.splitlines()), f"{key}: {fragment!r} not in:\n{result.stderr}"
    assert "not available" not in result.stderr
