"""Tail sampling scaled out with Tracegate alone: a first tier (OTLP in →
`loadbalancing` by trace id) in front of two tail-sampling tiers (OTLP in →
`tail_sampling` → batch → PostgreSQL, one shared database). Traces come from
the OpenTelemetry Python SDK in two exports each, so a trace whose halves
reached different tail samplers, or that was decided before its second half
arrived, would show up incomplete or missing.
"""

from __future__ import annotations

import requests
from opentelemetry import trace as api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from e2e_helpers import wait_until

TELEMETRY = {"logs": {"level": "info"}, "shutdown_timeout": "3s",
             "metrics": {"address": "127.0.0.1:0"}, "health": {"address": "127.0.0.1:0"}}


def tail_tier_config(dsn: str) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:{port}"}}}},
        "processors": {
            "tail_sampling": {
                "decision_wait": "1s",
                "num_traces": 10000,
                "policies": [
                    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                    {"name": "vip", "type": "string_attribute",
                     "string_attribute": {"key": "customer.tier", "values": ["vip"]}},
                ],
            },
            "batch": {"timeout": "100ms"},
        },
        "exporters": {"postgres": {"dsn": dsn, "auto_migrate": True, "connect_timeout": "2s"}},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["tail_sampling", "batch"],
                                     "exporters": ["postgres"]}},
            "telemetry": TELEMETRY,
        },
    }


def balancer_config(endpoints: list[str]) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:{port}"}}}},
        "exporters": {"loadbalancing": {
            "routing_key": "traceID",
            "resolver": {"static": {"hostnames": endpoints}},
            "protocol": {"otlphttp": {"compression": "gzip", "timeout": "5s",
                                  "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms"}}},
        }},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": [], "exporters": ["loadbalancing"]}},
            "telemetry": TELEMETRY,
        },
    }


def decisions(metrics_url: str) -> float:
    """tail_sampling decisions so far, summed over policies and outcomes."""
    text = requests.get(metrics_url, timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("tracegate_sampler_decisions_total"))


def test_two_tier_topology_keeps_every_kept_trace_whole_and_drops_the_rest(db, gateway):
    tier2 = [gateway(tail_tier_config(db.dsn)), gateway(tail_tier_config(db.dsn))]
    tier1 = gateway(balancer_config([g.url for g in tier2]))

    provider = TracerProvider(resource=Resource.create({"service.name": "sampling-svc"}))
    exporter = OTLPSpanExporter(endpoint=tier1.traces_url)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50, max_export_batch_size=512))
    tracer = provider.get_tracer("e2e.sampling")

    traces: dict[str, dict] = {}  # trace id hex -> {"spans": set, "keep": policy or None}
    for t in range(60):
        error = t % 3 == 0
        vip = t % 5 == 0 and not error
        root = tracer.start_span(f"GET /order/{t}", attributes={"customer.tier": "vip" if vip else "standard"})
        ctx = root.get_span_context()
        trace = traces.setdefault(f"{ctx.trace_id:032x}", {"spans": set(), "keep": "errors" if error else "vip" if vip else None})
        trace["spans"].add(f"{ctx.span_id:016x}")
        parent = api.set_span_in_context(root)
        for c in range(2):
            with tracer.start_as_current_span(f"first-{c}", context=parent) as child:
                trace["spans"].add(f"{child.get_span_context().span_id:016x}")
        trace["_root"] = root
        trace["_parent"] = parent
    # First halves go out now; the second halves (with the errors and the
    # roots) a little later, within decision_wait of the first.
    assert provider.force_flush(10_000)
    for trace in traces.values():
        with tracer.start_as_current_span("second", context=trace["_parent"]) as child:
            trace["spans"].add(f"{child.get_span_context().span_id:016x}")
            if trace["keep"] == "errors":
                child.set_status(Status(StatusCode.ERROR, "boom"))
        trace["_root"].end()
    assert provider.force_flush(10_000)
    provider.shutdown()

    kept = {h: t for h, t in traces.items() if t["keep"]}
    dropped = {h for h, t in traces.items() if not t["keep"]}
    assert len(kept) == 28 and len(dropped) == 32
    expected_spans = sum(len(t["spans"]) for t in kept.values())

    # Every trace gets decided (by one tier-2 instance each), and both instances take part.
    wait_until(lambda: sum(decisions(g.metrics_url) for g in tier2) >= len(traces), timeout=20,
               what="every trace decided by the tail-sampling tier")
    assert all(decisions(g.metrics_url) > 0 for g in tier2)
    db.wait_for_spans(expected_spans, timeout=20)

    rows = db.query("SELECT encode(trace_id, 'hex'), encode(span_id, 'hex'), attributes->>'sampling.policy' FROM trace_spans")
    stored: dict[str, set[str]] = {}
    for trace_id, span_id, policy in rows:
        stored.setdefault(trace_id, set()).add(span_id)
        assert policy == traces[trace_id]["keep"], (trace_id, policy)
    assert set(stored) == set(kept)
    for hex_id, trace in kept.items():
        assert stored[hex_id] == trace["spans"], f"trace {hex_id} arrived incomplete"


def metric(metrics_url: str, name: str) -> float:
    text = requests.get(metrics_url, timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_decision_wait_after_root_and_max_spans_per_trace(db, gateway):
    """With a 30 s decision_wait: a trace is stored ~1 s after its root (SDK
    order: children first, root last), a trace without a root still waits,
    and a 300-span trace is decided at 100 spans with the rest following."""
    import time

    config = tail_tier_config(db.dsn)
    config["processors"]["tail_sampling"].update(
        {"decision_wait": "30s", "decision_wait_after_root": "1s", "max_spans_per_trace": 100,
         "policies": [{"name": "all", "type": "always_sample"}]})
    gw = gateway.start(config)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    # Exports of at most 50 spans: the big trace reaches the sampler in pieces.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=gw.traces_url), schedule_delay_millis=50,
                                                   max_export_batch_size=50))
    tracer = provider.get_tracer("e2e")

    with tracer.start_as_current_span("GET /cart") as root:
        for i in range(3):
            with tracer.start_as_current_span(f"child-{i}"):
                pass
        rooted = format(root.get_span_context().trace_id, "032x")
    provider.force_flush()
    sent = time.monotonic()

    # A trace whose root never comes: parent ids name a span nobody sends.
    orphan_ctx = api.set_span_in_context(api.NonRecordingSpan(api.SpanContext(
        trace_id=0x0af7651916cd43dd8448eb211c80319c, span_id=0x00f067aa0ba902b7, is_remote=True,
        trace_flags=api.TraceFlags(1))))
    with tracer.start_as_current_span("orphan", context=orphan_ctx):
        pass
    # 300 spans of one trace under one root.
    with tracer.start_as_current_span("batch job") as big:
        for i in range(299):
            with tracer.start_as_current_span(f"item-{i}"):
                pass
        big_id = format(big.get_span_context().trace_id, "032x")
    provider.force_flush()

    def stored(trace_id: str) -> int:
        return db.scalar("SELECT count(*) FROM trace_spans WHERE trace_id = decode(%s, 'hex')", (trace_id,))

    wait_until(lambda: stored(rooted) == 4, 10, "the rooted trace to be decided and stored")
    assert time.monotonic() - sent < 8, "decided long after its root (decision_wait is 30 s)"
    wait_until(lambda: stored(big_id) == 300, 10, "every span of the 300-span trace")
    assert metric(gw.metrics_url, "tracegate_sampler_span_cap_decisions_total") == 1
    # Decided once the export that reached 100 spans was held (exports carry
    # up to 50); the rest followed the decision as late spans.
    assert 150 <= metric(gw.metrics_url, "tracegate_sampler_late_spans_total") <= 200
    # The rootless trace is still held (30 s of quiet not yet passed).
    assert stored("0af7651916cd43dd8448eb211c80319c") == 0
    provider.shutdown()
