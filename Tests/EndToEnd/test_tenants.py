"""Tenants from bearer tokens and request metadata in resource attributes,
on both protocols, with the real OpenTelemetry SDK: the tenant a token names
reaches the stored rows and the routing, and one a client sends itself does
not."""

from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from e2e_helpers import gateway_config

ACME = "acme-token-0123456789"
GLOBEX = ["globex-token-one", "globex-token-two"]


def tenant_config(base: dict) -> dict:
    otlp = base["receivers"]["otlp"]
    otlp["protocols"]["grpc"] = {"endpoint": "127.0.0.1:0"}
    otlp["auth"] = {"bearer_tokens": {"acme": ACME, "globex": GLOBEX}}
    otlp["include_metadata"] = True
    otlp["metadata_keys"] = ["x-team"]
    return base


def send(exporter, service: str, span_names: list[str], forged_tenant: str | None = None) -> None:
    attributes = {"service.name": service}
    if forged_tenant:
        attributes["tenant"] = forged_tenant
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e.tenants")
    for name in span_names:
        with tracer.start_as_current_span(name):
            pass
    provider.shutdown()


def test_the_token_names_the_tenant_of_stored_rows_and_a_forged_one_is_overwritten(gateway, db):
    gw = gateway.start(tenant_config(gateway_config(db.dsn, batch_timeout="50ms")))
    send(HTTPSpanExporter(endpoint=gw.traces_url, headers={"Authorization": f"Bearer {ACME}", "X-Team": "payments"}),
         "acme-api", ["a1", "a2"], forged_tenant="globex")
    send(GRPCSpanExporter(endpoint=gw.grpc_target, insecure=True,
                          headers=(("authorization", f"Bearer {GLOBEX[1]}"), ("x-team", "search"))),
         "globex-api", ["g1"])
    db.wait_for_spans(3, timeout=20)
    rows = db.query("SELECT name, resource_attributes FROM trace_spans ORDER BY name")
    seen = {name: (attrs if isinstance(attrs, dict) else json.loads(attrs)) for name, attrs in rows}
    assert set(seen) == {"a1", "a2", "g1"}
    for name in ["a1", "a2"]:
        assert seen[name]["tenant"] == "acme", seen[name]
        assert seen[name]["x-team"] == "payments"
        assert seen[name]["client.address"] == "127.0.0.1"
        assert seen[name]["service.name"] == "acme-api"
    assert seen["g1"]["tenant"] == "globex" and seen["g1"]["x-team"] == "search", seen["g1"]
    assert seen["g1"]["client.address"] == "127.0.0.1"


def test_routing_and_batching_by_the_tenant_of_the_token(gateway, tmp_path):
    config = tenant_config(gateway_config(None, batch_timeout="50ms"))
    config["processors"] = {
        "batch": {"timeout": "50ms", "metadata_keys": ["tenant"]},
        "routing": {"from_attribute": "tenant",
                    "table": [{"value": "acme", "exporters": ["file/acme"]},
                              {"value": "globex", "exporters": ["file/globex"]}]},
    }
    config["exporters"] = {"file/acme": {"path": str(tmp_path / "acme.jsonl")},
                           "file/globex": {"path": str(tmp_path / "globex.jsonl")}}
    config["service"]["pipelines"]["traces"].update(processors=["batch", "routing"], exporters=["file/acme", "file/globex"])
    gw = gateway.start(config)
    # The acme client claims to be globex in its resource: it still lands in acme's file.
    send(HTTPSpanExporter(endpoint=gw.traces_url, headers={"Authorization": f"Bearer {ACME}"}), "a", ["a1"],
         forged_tenant="globex")
    send(HTTPSpanExporter(endpoint=gw.traces_url, headers={"Authorization": f"Bearer {GLOBEX[0]}"}), "g", ["g1", "g2"])
    assert gw.stop() == 0

    def names(path):
        out = []
        for line in path.read_text().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                tenant = next(a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "tenant")
                out += [(tenant, s["name"]) for ss in rs["scopeSpans"] for s in ss["spans"]]
        return sorted(out)

    assert names(tmp_path / "acme.jsonl") == [("acme", "a1")]
    assert names(tmp_path / "globex.jsonl") == [("globex", "g1"), ("globex", "g2")]
