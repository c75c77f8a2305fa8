"""Spans PostgreSQL rejects for their data (a trigger raising SQLSTATE 22023
for spans named 'poison'): the exporter isolates them, stores every other
span of their batches, logs each rejected span and counts it."""

from __future__ import annotations

import re
import time

import psycopg

import requests

from e2e_helpers import gateway_config, make_request, make_spans, span_keys, wait_until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def rejected_total(gw) -> float:
    r = requests.get(gw.metrics_url, timeout=5)
    assert r.status_code == 200, r.text
    total = 0.0
    for line in r.text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == "tracegate_exporter_spans_rejected_total":
            labels = m.group(2) or ""
            assert 'reason="22"' in labels and 'exporter="postgres"' in labels, line
            total += float(m.group(3))
    return total


POISON_TRIGGER = """
CREATE FUNCTION e2e_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'poison' THEN
        RAISE EXCEPTION 'poisoned span' USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER e2e_poison BEFORE INSERT ON trace_spans FOR EACH ROW EXECUTE FUNCTION e2e_poison();
"""


def test_rejected_spans_are_isolated_and_the_rest_stored(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, send_batch_size=2000, batch_timeout="500ms"))
    wait_until(lambda: db.exists("trace_spans"), 10, "the migration")
    # The gateway's start-up maintenance (partitions ahead) may hold locks
    # the trigger's creation needs: a deadlock there is retried.
    for attempt in range(20):
        try:
            db.execute(POISON_TRIGGER)
            break
        except psycopg.errors.DeadlockDetected:
            time.sleep(0.2)
    else:
        raise AssertionError("could not create the trigger")

    requests_ = [make_request(make_spans(100)) for _ in range(20)]
    poison = [(0, 0), (10, 50), (19, 99)]
    poison_keys = set()
    for r, i in poison:
        span = requests_[r].resource_spans[0].scope_spans[0].spans[i]
        span.name = "poison"
        poison_keys.add((span.trace_id.hex(), span.span_id.hex()))
    all_keys = set().union(*(span_keys(r) for r in requests_))
    for request in requests_:
        assert gw.post(request.SerializeToString()).status_code == 200

    db.wait_for_spans(2000 - 3, timeout=30)
    stored = db.stored_keys()
    assert len(stored) == len(set(stored)) == 1997
    assert set(stored) == all_keys - poison_keys
    assert db.scalar("SELECT sum(span_count) FROM traces") == 1997

    wait_until(lambda: rejected_total(gw) == 3, 10, "tracegate_exporter_spans_rejected_total = 3")
    log = gw.log_text()
    rejected_lines = [line for line in log.splitlines() if "rejected a span" in line]
    assert len(rejected_lines) == 3, gw.log_tail()
    for trace_id, span_id in poison_keys:
        assert any(trace_id in line and span_id in line and "22023" in line and "poisoned span" in line
                   for line in rejected_lines), (span_id, rejected_lines)
    assert "dropping spans" not in log, gw.log_tail()
