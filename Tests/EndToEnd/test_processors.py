"""The attributes, filter and routing processors in the real binary: spans
from the OpenTelemetry Python SDK over OTLP/HTTP are scrubbed, filtered and
routed by `service.name` into two PostgreSQL databases, and the rows say so."""

from __future__ import annotations

import hashlib
from typing import Iterator

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from e2e_helpers import Database, fresh_database, gateway_config


@pytest.fixture
def other_db(pg_dsn: str) -> Iterator[Database]:
    """A second fresh database, for the routed-away spans."""
    with fresh_database(pg_dsn) as database:
        yield database


def processors_config(checkout_dsn: str, rest_dsn: str) -> dict:
    config = gateway_config(checkout_dsn, batch_timeout="50ms")
    postgres = config["exporters"].pop("postgres")
    config["exporters"] = {
        "postgres/checkout": postgres,
        "postgres/rest": {**postgres, "dsn": rest_dsn},
    }
    config["processors"].update({
        "attributes/scrub": {"actions": [
            {"key": "http.request.header.authorization", "action": "delete"},
            {"key": "user.email", "action": "hash"},
            {"pattern": "^card\\.", "action": "redact", "redacted_value": "xxxx"},
            {"key": "db.statement", "action": "truncate", "max_bytes": 8},
        ]},
        "filter/health": {"drop": {"any": [
            {"name": "GET /health"},
            {"all": [{"kind": "internal"}, {"attribute": {"key": "noise", "value": True}}]},
        ]}},
        "routing/service": {
            "from_attribute": "service.name",
            "table": [{"value": "checkout", "exporters": ["postgres/checkout"]}],
            "default_exporters": ["postgres/rest"],
        },
    })
    pipeline = config["service"]["pipelines"]["traces"]
    pipeline["processors"] = ["attributes/scrub", "filter/health", "batch", "routing/service"]
    pipeline["exporters"] = ["postgres/checkout", "postgres/rest"]
    return config


def send(url: str, service: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=10)))
    tracer = provider.get_tracer("e2e.processors")
    with tracer.start_as_current_span("GET /health", kind=SpanKind.SERVER):
        pass
    with tracer.start_as_current_span(f"{service} request", kind=SpanKind.SERVER, attributes={
        "http.request.header.authorization": "Bearer s3cret",
        "user.email": f"ann@{service}.example",
        "card.number": "4111111111111111",
        "card.cvv": 123,
        "db.statement": "SELECT é FROM orders",
        "http.route": "/buy",
    }):
        with tracer.start_as_current_span("noisy", attributes={"noise": True}):
            pass
        with tracer.start_as_current_span("work", attributes={"noise": False}):
            pass
    provider.shutdown()


def test_spans_are_scrubbed_filtered_and_routed_by_service(db, other_db, gateway):
    gw = gateway.start(processors_config(db.dsn, other_db.dsn))
    for service in ["checkout", "search", "mail"]:
        send(gw.traces_url, service)

    # 2 spans per service survive the filter (request and work).
    db.wait_for_spans(2, timeout=20)
    other_db.wait_for_spans(4, timeout=20)
    checkout = db.dicts("SELECT name, service_name, attributes FROM trace_spans ORDER BY name")
    rest = other_db.dicts("SELECT name, service_name, attributes FROM trace_spans ORDER BY service_name, name")
    assert [(r["service_name"], r["name"]) for r in checkout] == [("checkout", "checkout request"), ("checkout", "work")]
    assert [(r["service_name"], r["name"]) for r in rest] == [
        ("mail", "mail request"), ("mail", "work"), ("search", "search request"), ("search", "work")]

    for row in checkout + rest:
        if row["name"] == "work":
            assert row["attributes"] == {"noise": False}
            continue
        service = row["service_name"]
        attributes = row["attributes"]
        assert "http.request.header.authorization" not in attributes
        assert attributes["user.email"] == hashlib.sha256(f"ann@{service}.example".encode()).hexdigest()
        assert attributes["card.number"] == "xxxx" and attributes["card.cvv"] == "xxxx"
        full = "SELECT é FROM orders"
        assert attributes["db.statement"] == "SELECT "  # 8 bytes would end inside é (two bytes)
        assert attributes["db.statement.sha256"] == "sha256:" + hashlib.sha256(full.encode()).hexdigest()
        assert attributes["db.statement.original_length"] == len(full.encode())
        assert attributes["http.route"] == "/buy"

    # Per service: "GET /health" and "noisy" were dropped, and counted.
    metrics = requests.get(gw.metrics_url, timeout=5).text
    assert 'tracegate_processor_dropped_spans_total{processor="filter/health"} 6' in metrics, metrics

    # Nothing else arrives later: the filtered spans are gone, not delayed.
    assert gw.stop() == 0
    assert db.count_spans() == 2 and other_db.count_spans() == 4
