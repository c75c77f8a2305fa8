"""The service graph on the real binary: two services traced by the real
OpenTelemetry SDK (the second continuing the first one's trace, as context
propagation over HTTP would), a database call, and the same edges on
/metrics (servicegraph processor) and from `service_graph()` in SQL."""

from __future__ import annotations

import re
import time

import requests
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from e2e_helpers import gateway_config


def tracer_for(service: str, url: str) -> tuple[TracerProvider, trace.Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=10)))
    return provider, provider.get_tracer("e2e.graph")


def edge(metrics: str, name: str, client: str, server: str, kind: str) -> float:
    m = re.search(rf'^{name}\{{client="{client}",server="{server}",connection_type="{kind}"\}} ([0-9.]+)$', metrics, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def test_edges_from_paired_spans_on_metrics_and_in_sql(gateway, db):
    config = gateway_config(db.dsn, batch_timeout="50ms")
    config["processors"]["servicegraph"] = {"store": {"ttl": "1s"}}
    config["service"]["pipelines"]["traces"]["processors"] = ["servicegraph", "batch"]
    gw = gateway.start(config)
    web_provider, web = tracer_for("web", gw.traces_url)
    cart_provider, cart = tracer_for("cart", gw.traces_url)
    for i in range(6):
        with web.start_as_current_span("GET /cart", kind=SpanKind.SERVER):
            with web.start_as_current_span("call cart", kind=SpanKind.CLIENT) as call:
                # The cart service continues the trace it was called with.
                context = trace.set_span_in_context(call)
                with cart.start_as_current_span("serve cart", kind=SpanKind.SERVER, context=context) as served:
                    if i == 0:
                        served.set_status(Status(StatusCode.ERROR))
                    with cart.start_as_current_span("SELECT carts", kind=SpanKind.CLIENT,
                                                    attributes={"db.system": "postgresql"}):
                        time.sleep(0.001)
    web_provider.shutdown()
    cart_provider.shutdown()

    def scraped() -> str:
        return requests.get(gw.metrics_url, timeout=5).text

    deadline = time.monotonic() + 10
    # The database calls have no server span: they become edges once store.ttl passed.
    while edge(scraped(), "traces_service_graph_request_total", "cart", "postgresql", "database") < 6:
        assert time.monotonic() < deadline, scraped()
        time.sleep(0.2)
    metrics = scraped()
    assert edge(metrics, "traces_service_graph_request_total", "web", "cart", "") == 6
    assert edge(metrics, "traces_service_graph_request_failed_total", "web", "cart", "") == 1
    assert edge(metrics, "traces_service_graph_request_server_seconds_count", "web", "cart", "") == 6

    db.wait_for_spans(24, timeout=20)
    rows = db.query("SELECT client, server, connection_type, requests, failed FROM service_graph(now() - interval '1 day', now() + interval '1 day')")
    assert sorted(rows) == [("cart", "postgresql", "database", 6, 0), ("web", "cart", "", 6, 1)], rows
