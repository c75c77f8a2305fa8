"""The `spanmetrics` processor on the real binary: RED metrics on /metrics in
the Collector's names, exact without sampling, and still right (scaled by the
probability each kept span carries) behind a 25% head sampler."""

from __future__ import annotations

import re

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status as SDKStatus, StatusCode

from e2e_helpers import gateway_config, make_request, make_span, new_span_id, new_trace_id

SERIES = re.compile(r'^(traces_span_metrics_[a-z_]+)\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)


def series(metrics: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for metric, labels, value in SERIES.findall(metrics):
        if metric == name:
            out.append((dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', labels)), float(value)))
    return out


def spanmetrics_config(processors: list[str], extra: dict | None = None) -> dict:
    config = gateway_config(None, batch_timeout="50ms")
    config["processors"] = {"spanmetrics": {"dimensions": [{"name": "http.method", "default": "GET"}]}, **(extra or {})}
    config["service"]["pipelines"]["traces"]["processors"] = processors
    return config


def test_exact_red_metrics_from_the_sdk(gateway):
    gw = gateway.start(spanmetrics_config(["spanmetrics"]))
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=gw.traces_url, timeout=10)))
    tracer = provider.get_tracer("e2e.red")
    for i in range(12):
        with tracer.start_as_current_span("checkout", attributes={"http.method": "POST"}) as span:
            if i % 4 == 0:
                span.set_status(SDKStatus(StatusCode.ERROR))
    for _ in range(5):
        with tracer.start_as_current_span("browse"):
            pass
    provider.shutdown()

    metrics = requests.get(gw.metrics_url, timeout=5).text
    calls = {(l["span_name"], l["status_code"], l.get("http_method")): v
             for l, v in series(metrics, "traces_span_metrics_calls_total") if l.get("service_name") == "shop"}
    assert calls == {
        ("checkout", "STATUS_CODE_ERROR", "POST"): 3,
        ("checkout", "STATUS_CODE_UNSET", "POST"): 9,
        ("browse", "STATUS_CODE_UNSET", "GET"): 5,
    }, calls
    counts = [v for l, v in series(metrics, "traces_span_metrics_duration_milliseconds_count") if l.get("span_name") == "browse"]
    assert counts == [5]
    inf = [v for l, v in series(metrics, "traces_span_metrics_duration_milliseconds_bucket")
           if l.get("span_name") == "browse" and l.get("le") == "+Inf"]
    assert inf == [5]
    assert all(l["span_kind"] == "SPAN_KIND_INTERNAL" for l, _ in series(metrics, "traces_span_metrics_calls_total"))


def test_behind_a_sampler_counts_stand_for_every_span(gateway):
    gw = gateway.start(spanmetrics_config(["probabilistic_sampler", "spanmetrics"],
                                          {"probabilistic_sampler": {"sampling_percentage": 25}}))
    total, errors = 4000, 400
    spans = []
    for i in range(total):
        span = make_span(trace_id=new_trace_id(), span_id=new_span_id(), name="op", kind=Span.SPAN_KIND_SERVER)
        if i < errors:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR))
        spans.append(span)
    for start in range(0, total, 500):
        body = make_request(spans[start:start + 500], service_name="sampled").SerializeToString()
        assert gw.post(body).status_code == 200
    metrics = requests.get(gw.metrics_url, timeout=5).text
    calls = {l["status_code"]: v for l, v in series(metrics, "traces_span_metrics_calls_total") if l.get("service_name") == "sampled"}
    estimated = sum(calls.values())
    # About a quarter was kept, each counting four: the estimate is the total
    # within a few standard deviations (σ ≈ 110 spans here).
    assert 0.85 * total <= estimated <= 1.15 * total, calls
    assert estimated % 4 == 0, "each kept span counts 1 / 0.25"
    assert 0.4 * errors <= calls.get("STATUS_CODE_ERROR", 0) <= 1.6 * errors, calls
