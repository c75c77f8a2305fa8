"""The PostgreSQL side: idempotent storage, PostgreSQL outages (queueing,
retries, 503 back-pressure), flushing on SIGTERM, the schema migrations and
the refusal to run against a newer schema.

Tests that stop the shared cluster always start it again in a finally block
(`pg_cluster.stopped()`)."""

from __future__ import annotations

import time

from e2e_helpers import (
    RPC_UNAVAILABLE,
    UNREACHABLE_DSN,
    assert_status_response,
    fixture_bytes,
    gateway_config,
    make_request,
    make_spans,
    request_with_spans,
    run_tracegate,
    span_keys,
)

FAST_RETRY = {"initial_interval": "200ms", "max_interval": "1s", "randomization_factor": 0}


def test_redelivered_request_is_stored_once(db, gateway):
    # One consumer: batches are written in order, so when the last request's
    # spans are there, every earlier batch has been handled.
    gw = gateway.start(gateway_config(db.dsn, num_consumers=1))
    first = make_request(make_spans(10))
    body = first.SerializeToString()
    assert gw.post(body).status_code == 200
    db.wait_for_spans(10)

    # The same request again, later (a client retry after a lost answer) ...
    assert gw.post(body).status_code == 200
    # ... twice in one batch, and mixed with new spans in one request.
    new_spans = make_spans(5)
    mixed = make_request(list(first.resource_spans[0].scope_spans[0].spans)[:3] + new_spans)
    assert gw.post(body).status_code == 200
    assert gw.post(mixed.SerializeToString()).status_code == 200
    assert gw.post(mixed.SerializeToString()).status_code == 200
    sentinel, sentinel_keys = request_with_spans(1)
    assert gw.post(sentinel).status_code == 200

    db.wait_for_spans(10 + 5 + 1)
    stored = db.stored_keys()
    assert sorted(stored) == sorted(span_keys(first) | span_keys(mixed) | sentinel_keys)
    assert "dropping spans" not in gw.log_text(), gw.log_tail()


def test_all_types_fixture_is_stored_faithfully(db, gateway):
    gw = gateway.start(gateway_config(db.dsn))
    r = gw.post(fixture_bytes("all_types.binpb"))
    assert r.status_code == 200 and r.content == b"", r.content
    db.wait_for_spans(6)

    root = db.dicts("SELECT * FROM trace_spans_hex WHERE span_id = 'a1a2a3a4a5a6a7a8'")[0]
    assert root["trace_id"] == "0102030405060708090a0b0c0d0e0f10"
    assert root["parent_span_id"] is None
    assert root["name"] == "résumé ✓"
    assert root["kind"] == "server"
    assert root["service_name"] == "fixture-svc"
    assert (root["scope_name"], root["scope_version"]) == ("fixture.scope", "1.2.3")
    assert root["trace_state"] == "vendor=value"
    assert root["flags"] == 257
    assert (root["status"], root["status_message"]) == ("error", "boom")
    assert root["duration_ms"] == 1000
    assert root["attributes"] == {
        "str": "hello", "str.empty": "", "str.unicode": "résumé ✓", "bool.true": True, "bool.false": False,
        "int.neg": -42, "int.max": 9223372036854775807, "double": 3.25, "bytes": "AAH+/w==",
        "array": ["x", -1, 2.5, True, "AA=="], "kvlist": {"k1": "v1", "nested": {"n.int": 5}}, "empty.value": None,
    }
    assert root["resource_attributes"] == {
        "service.name": "fixture-svc", "res.bool": True, "res.int": 42, "res.double": 0.5, "res.bytes": "3q2+7w==",
        "res.array": ["a", 1, False, 1.5], "res.kvlist": {"inner.str": "x", "inner.kv": {"deep.int": 7}},
    }
    assert root["events"] == [
        {"name": "cache.miss", "time_unix_nano": 1700000000010000000,
         "attributes": {"cache.key": "user:1", "cache.hit": False}, "dropped_attributes_count": 2},
        {"name": "exception", "time_unix_nano": 1700000000020000000,
         "attributes": {"exception.type": "ValueError", "exception.message": "bad"}},
    ]
    assert root["links"] == [
        {"trace_id": "2122232425262728292a2b2c2d2e2f30", "span_id": "e1e2e3e4e5e6e7e8", "trace_state": "link=state",
         "flags": 769, "attributes": {"link.kind": "follows", "link.index": 1}, "dropped_attributes_count": 4},
    ]
    counts = db.query("SELECT dropped_attributes_count, dropped_events_count, dropped_links_count, "
                      "start_time = '2023-11-14 22:13:20+00', end_time = '2023-11-14 22:13:21+00' "
                      "FROM trace_spans WHERE span_id = '\\xa1a2a3a4a5a6a7a8'")
    assert counts == [(3, 5, 7, True, True)]

    rows = db.query("SELECT span_id, parent_span_id, kind, status, service_name, duration_ms "
                    "FROM trace_spans_hex ORDER BY start_time")
    assert rows == [
        ("a1a2a3a4a5a6a7a8", None, "server", "error", "fixture-svc", 1000),
        ("b1b2b3b4b5b6b7b8", "a1a2a3a4a5a6a7a8", "internal", "ok", "fixture-svc", 500),
        ("c1c2c3c4c5c6c7c8", "b1b2b3b4b5b6b7b8", "client", "unset", "fixture-svc", 100),
        ("d1d2d3d4d5d6d7d8", None, "unspecified", "unset", "other-svc", 500),
        ("d9dadbdcdddedfd0", "d1d2d3d4d5d6d7d8", "producer", "unset", "other-svc", 100),
        ("c0ffee0000000001", "d9dadbdcdddedfd0", "consumer", "unset", "other-svc", 100),
    ]


def test_spans_acknowledged_while_postgres_is_down_land_after_it_returns(db, gateway, pg_cluster):
    gw = gateway.start(gateway_config(db.dsn, retry=FAST_RETRY))
    warmup, warmup_keys = request_with_spans(1)
    assert gw.post(warmup).status_code == 200
    db.wait_for_spans(1)

    acknowledged = set(warmup_keys)
    with pg_cluster.stopped():
        for _ in range(5):
            body, keys = request_with_spans(20)
            r = gw.post(body)
            assert r.status_code == 200, f"the queue has room: expected 200, got {r.status_code}"
            acknowledged |= keys
        # The exporter has tried and failed at least once before PostgreSQL returns.
        gw.wait_for_log("export failed, will retry", timeout=10)
    db.wait_for_spans(len(acknowledged), timeout=20)
    assert set(db.stored_keys()) == acknowledged
    assert "dropping spans" not in gw.log_text(), gw.log_tail()


def test_full_queue_answers_503_while_postgres_is_down_and_only_acknowledged_spans_land(db, gateway, pg_cluster):
    gw = gateway.start(gateway_config(db.dsn, queue_size=50, retry=FAST_RETRY))
    acknowledged: set[tuple[str, str]] = set()
    refused: set[tuple[str, str]] = set()
    with pg_cluster.stopped():
        statuses = []
        for _ in range(8):
            body, keys = request_with_spans(10)
            r = gw.post(body)
            statuses.append(r.status_code)
            if r.status_code == 200:
                acknowledged |= keys
            else:
                assert_status_response(r, 503, RPC_UNAVAILABLE)
                retry_after = r.headers.get("Retry-After")
                assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, retry_after
                refused |= keys
        # queue_size counts spans: five requests of ten fill it.
        assert statuses == [200] * 5 + [503] * 3
    db.wait_for_spans(50, timeout=20)
    assert set(db.stored_keys()) == acknowledged
    assert not refused & set(db.stored_keys())

    # With the queue drained, the gateway accepts again.
    body, keys = request_with_spans(10)
    assert gw.post(body).status_code == 200
    db.wait_for_spans(60)


def test_sigterm_flushes_spans_waiting_in_the_batch_processor(db, gateway):
    gw = gateway.start(gateway_config(db.dsn, batch_timeout="10s", send_batch_size=100_000, shutdown_timeout="10s"))
    sent: set[tuple[str, str]] = set()
    for _ in range(3):
        body, keys = request_with_spans(10)
        assert gw.post(body).status_code == 200
        sent |= keys
    time.sleep(0.3)  # not a wait for a condition: a moment in which nothing may be written
    assert db.count_spans() == 0, "the spans should still sit in the batch processor (timeout 10s)"

    started = time.monotonic()
    assert gw.stop() == 0, gw.log_tail()
    took = time.monotonic() - started
    assert set(db.stored_keys()) == sent, gw.log_tail()
    # A flush on shutdown does not wait for the batch timer.
    assert took < 5, f"shutdown took {took:.1f}s: the batch was not flushed at once\n{gw.log_tail()}"


def test_shutdown_gives_up_after_shutdown_timeout_when_postgres_is_unreachable(gateway):
    gw = gateway.start(gateway_config(UNREACHABLE_DSN, shutdown_timeout="1s", retry=FAST_RETRY))
    body, _ = request_with_spans(7)
    assert gw.post(body).status_code == 200
    gw.wait_for_log("export failed, will retry", timeout=10)
    started = time.monotonic()
    assert gw.stop(timeout=20) == 0, gw.log_tail()
    took = time.monotonic() - started
    assert took < 6, f"shutdown_timeout is 1s, shutdown took {took:.1f}s"
    log = gw.log_text()
    assert "shutdown deadline passed" in log and "spans=7" in log, gw.log_tail()


def test_migrate_commands_on_a_fresh_database(db, tracegate_bin):
    def migrate(action: str) -> str:
        result = run_tracegate(tracegate_bin, ["migrate", action, "--dsn", db.dsn])
        assert result.returncode == 0, f"migrate {action}: exit {result.returncode}\n{result.stdout}{result.stderr}"
        return result.stdout

    pending = migrate("status").splitlines()
    assert pending[0] == "pending 1 trace_spans", pending
    assert all(line.startswith("pending ") for line in pending), pending
    versions = [line.removeprefix("pending ") for line in pending]  # "N name", oldest first
    assert not db.exists("trace_spans")

    assert migrate("up").splitlines() == [f"applied {v}" for v in versions]
    assert db.exists("trace_spans") and db.exists("trace_spans_hex") and db.exists("traces")
    assert [f"{v} {n}" for v, n in db.query("SELECT version, name FROM tracegate_schema_migrations ORDER BY version")] == versions
    assert migrate("status").splitlines() == [f"applied {v}" for v in versions]
    assert "up to date" in migrate("up")

    # down reverts one migration at a time, newest first.
    for v in reversed(versions):
        assert migrate("down").splitlines() == [f"reverted {v}"]
    assert not db.exists("trace_spans")
    assert not db.exists("trace_spans_hex")
    assert not db.exists("traces")
    assert db.query("SELECT version FROM tracegate_schema_migrations") == []
    assert migrate("status").splitlines() == pending
    assert "nothing to revert" in migrate("down")

    # And up again after down.
    assert migrate("up").splitlines() == [f"applied {v}" for v in versions]
    assert db.exists("trace_spans")


def test_migrate_fails_clearly_when_postgres_is_unreachable(tracegate_bin):
    result = run_tracegate(tracegate_bin, ["migrate", "status", "--dsn", UNREACHABLE_DSN], timeout=20)
    assert result.returncode == 1, result
    assert "migrate status" in result.stderr and "connect" in result.stderr.lower(), result.stderr


def test_start_refuses_a_schema_newer_than_the_binary(db, gateway, tracegate_bin):
    up = run_tracegate(tracegate_bin, ["migrate", "up", "--dsn", db.dsn])
    assert up.returncode == 0, up.stderr
    db.execute("INSERT INTO tracegate_schema_migrations (version, name) VALUES (999, 'from the future')")

    status = run_tracegate(tracegate_bin, ["migrate", "status", "--dsn", db.dsn])
    assert status.returncode == 0, status.stderr
    assert "unknown 999" in status.stdout, status.stdout

    gw = gateway.start(gateway_config(db.dsn), wait=False)
    rc = gw.wait_exit(timeout=20)
    log = gw.log_text()
    assert rc != 0, f"tracegate started against schema version 999\n{gw.log_tail()}"
    assert "schema" in log and "999" in log, gw.log_tail()
    assert "tracegate started" not in log, gw.log_tail()

    # The migrate commands refuse it too, and change nothing.
    for action in ("up", "down"):
        result = run_tracegate(tracegate_bin, ["migrate", action, "--dsn", db.dsn])
        assert result.returncode == 1, f"migrate {action} on a newer schema: {result}"
        assert "999" in result.stderr, result.stderr
    assert db.exists("trace_spans")
    versions = [v for (v,) in db.query("SELECT version FROM tracegate_schema_migrations ORDER BY 1")]
    assert versions[-1] == 999 and versions[:-1] == list(range(1, len(versions)))


def test_gateway_migrates_an_empty_database_at_start(db, gateway):
    assert not db.exists("trace_spans")
    gw = gateway.start(gateway_config(db.dsn))
    # The schema is checked (and here created) before the port opens.
    assert db.exists("trace_spans"), f"ready, but no trace_spans table\n{gw.log_tail()}"
    versions = [v for (v,) in db.query("SELECT version FROM tracegate_schema_migrations ORDER BY 1")]
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 2, versions
    assert db.exists("traces")


def test_a_server_restart_during_steady_ingest_loses_and_duplicates_nothing(db, gateway, pg_cluster):
    """PostgreSQL restarts while batches are being written: a COPY cut off
    mid-stream is rolled back by the server and retried by the gateway, so
    every acknowledged span is stored exactly once and every trace summary
    counts each of its spans once."""
    import threading

    gw = gateway.start(gateway_config(db.dsn, retry=FAST_RETRY, batch_timeout="20ms"))
    acknowledged: set[tuple[str, str]] = set()
    sent = threading.Event()

    def send() -> None:
        for i in range(120):
            body, keys = request_with_spans(40)
            r = gw.post(body)
            if r.status_code == 200:
                acknowledged.update(keys)
            if i == 20:
                sent.set()
        sent.set()

    sender = threading.Thread(target=send)
    sender.start()
    assert sent.wait(30)
    pg_cluster.stop()
    pg_cluster.start()
    sender.join(60)
    assert not sender.is_alive()
    db.wait_for_spans(len(acknowledged), timeout=30)
    stored = db.stored_keys()
    assert len(stored) == len(set(stored)), "a span was stored twice"
    assert set(stored) == acknowledged
    assert db.scalar("SELECT sum(span_count) FROM traces") == len(acknowledged)
    assert "dropping spans" not in gw.log_text(), gw.log_tail()
