"""Head sampling end to end: the real gateway with a `probabilistic_sampler`
keeps exactly the traces OpenTelemetry's consistent probability sampling
keeps (decided here in Python from the specification, independently of the
gateway's code), whole, with the threshold written into their tracestate;
and a per-service override keeps everything of its service."""

from __future__ import annotations

from e2e_helpers import make_request, make_spans, new_trace_id

SPANS_PER_TRACE = 3


def kept_at_50_percent(trace_id: bytes) -> bool:
    # Randomness R: the 56 least significant bits of the trace id. A 50%
    # sampler's rejection threshold T is 2^55; a span is kept when R >= T.
    r = int.from_bytes(trace_id[9:], "big")
    return r >= 1 << 55


def test_probabilistic_sampler_keeps_the_specified_traces_whole_with_their_threshold(db, gateway):
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:{port}"}}}},
        "processors": {
            "probabilistic_sampler": {"sampling_percentage": 50, "overrides": {"always-kept": 100}},
            "batch": {"timeout": "100ms"},
        },
        "exporters": {"postgres": {"dsn": db.dsn}},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["probabilistic_sampler", "batch"],
                                     "exporters": ["postgres"]}},
            "telemetry": {"metrics": {"address": "127.0.0.1:0"}, "health": {"address": "127.0.0.1:0"}},
        },
    }
    gw = gateway(config)

    sampled_ids = [new_trace_id() for _ in range(200)]
    override_ids = [new_trace_id() for _ in range(20)]
    for tid in sampled_ids:
        assert gw.post(make_request(make_spans(SPANS_PER_TRACE, trace_id=tid)).SerializeToString()).status_code == 200
    for tid in override_ids:
        request = make_request(make_spans(SPANS_PER_TRACE, trace_id=tid), service_name="always-kept")
        assert gw.post(request.SerializeToString()).status_code == 200

    expected = {tid.hex() for tid in sampled_ids if kept_at_50_percent(tid)} | {tid.hex() for tid in override_ids}
    assert 60 < len(expected) - len(override_ids) < 140  # about half of 200
    db.wait_for_spans(len(expected) * SPANS_PER_TRACE, timeout=15)

    rows = db.query("SELECT encode(trace_id, 'hex'), count(*), min(trace_state), max(trace_state)"
                    " FROM trace_spans GROUP BY 1")
    assert {r[0] for r in rows} == expected
    assert all(r[1] == SPANS_PER_TRACE for r in rows)  # whole traces only
    states = {r[0]: (r[2], r[3]) for r in rows}
    for tid in sampled_ids:
        if tid.hex() in expected:
            assert states[tid.hex()] == ("ot=th:8", "ot=th:8")
    for tid in override_ids:
        assert states[tid.hex()] == ("ot=th:0", "ot=th:0")
