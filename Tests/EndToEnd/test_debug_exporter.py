"""The `debug` exporter: what flows through a pipeline, in the gateway's log,
sent by the real OpenTelemetry SDK over OTLP/HTTP."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from e2e_helpers import gateway_config, run_tracegate, to_yaml


def debug_config(**debug: object) -> dict:
    config = gateway_config(None)
    config["exporters"] = {"debug": dict(debug), "nop": {}}
    config["service"]["pipelines"]["traces"]["exporters"] = ["debug", "nop"]
    return config


def test_normal_verbosity_logs_each_span_of_the_sdk(gateway):
    gw = gateway.start(debug_config(verbosity="normal"))
    provider = TracerProvider(resource=Resource.create({"service.name": "debug-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=gw.traces_url, timeout=10)))
    tracer = provider.get_tracer("e2e.debug", "1.0")
    with tracer.start_as_current_span("checkout", attributes={"cart.items": 3}) as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
        span.set_status(Status(StatusCode.ERROR, "declined"))
    # A name that tries to start a log line of its own.
    with tracer.start_as_current_span("evil\nERROR forged line"):
        pass
    provider.shutdown()

    gw.wait_for_log(f"checkout {trace_id}", timeout=10)
    gw.wait_for_log("evil\\nERROR forged line", timeout=10)
    log = gw.log_text()
    line = next(l for l in log.splitlines() if l.startswith(f"checkout {trace_id}"))
    assert "kind=Internal status=Error" in line and "cart.items=3" in line, line
    assert "ResourceSpans #0" in log and "service.name=debug-e2e" in log
    assert "ScopeSpans #0 e2e.debug 1.0" in log
    assert not any(l.startswith("ERROR forged line") for l in log.splitlines()), "a span name forged a log line"


def test_basic_verbosity_logs_counts_and_a_bad_key_names_its_line(gateway, tracegate_bin, tmp_path):
    gw = gateway.start(debug_config())
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=gw.traces_url, timeout=10)))
    with provider.get_tracer("t").start_as_current_span("one"):
        pass
    provider.shutdown()
    gw.wait_for_log("spans=1", timeout=10)
    assert "Traces" in gw.log_text()

    bad = tmp_path / "bad.yaml"
    bad.write_text(to_yaml(debug_config(verbosity="loud", sampling_thereafter=0)), encoding="utf-8")
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(bad)])
    assert result.returncode != 0
    lines = [l for l in result.stderr.splitlines() + result.stdout.splitlines() if "exporters.debug." in l]
    assert any("exporters.debug.verbosity: expected basic, normal, detailed, got 'loud'" in l for l in lines), lines
    assert any("exporters.debug.sampling_thereafter" in l for l in lines), lines
    assert all(l.startswith(f"{bad}:") for l in lines), lines


def test_detailed_verbosity_logs_every_field_with_its_type(gateway):
    gw = gateway.start(debug_config(verbosity="detailed"))
    provider = TracerProvider(resource=Resource.create({"service.name": "debug-detailed"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=gw.traces_url, timeout=10)))
    tracer = provider.get_tracer("e2e.debug", "2.0")
    with tracer.start_as_current_span("parent"):
        with tracer.start_as_current_span("child", attributes={"retries": 2, "ok": True, "ratio": 0.5}) as span:
            span.add_event("cache miss", {"key": "user:7"})
    provider.shutdown()
    gw.wait_for_log("Name           : parent", timeout=10)
    log = gw.log_text()
    assert "     -> service.name: Str(debug-detailed)" in log
    assert "InstrumentationScope e2e.debug 2.0" in log
    assert "    Name           : child" in log and "    Kind           : Internal" in log
    assert "     -> retries: Int(2)" in log and "     -> ok: Bool(true)" in log and "     -> ratio: Double(0.5)" in log
    assert "SpanEvent #0" in log and "     -> Name: cache miss" in log and "          -> key: Str(user:7)" in log
    assert " +0000 UTC" in log  # times as the Collector prints them
