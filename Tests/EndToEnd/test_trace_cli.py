"""`tracegate trace` and `tracegate traces` against rows written straight
into `trace_spans` and `traces`: the waterfall as plain text (stdout is not a
terminal here), `--json`, the list filters, and the exit codes of unknown
and malformed trace ids."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any, Sequence

import pytest

from e2e_helpers import REPO_ROOT, gateway_config, to_yaml

T0 = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000

# span id, parent span id, name, kind, service, offset from T0 in µs, duration in ns, status code, message
CHECKOUT = [
    ("a000000000000001", None, "GET /checkout", 2, "frontend", 0, 250 * MS, 0, ""),
    ("a000000000000002", "a000000000000001", "cache.miss", 1, "frontend", 2_000, 0, 0, ""),
    ("a000000000000003", "a000000000000001", "POST /api/orders", 3, "api", 5_000, 180 * MS, 2, "upstream failed"),
    ("a000000000000004", "a000000000000003", "SELECT orders", 3, "api", 10_000, 42_500_000, 0, ""),
    ("a000000000000005", "a000000000000004", "pool.acquire", 1, "api", 10_000, 350_000, 0, ""),
    ("a000000000000006", "a000000000000003", "INSERT order_items", 3, "api", 60_000, 120 * MS, 2, "deadlock detected"),
    ("a000000000000007", "a000000000000001", "render", 1, "frontend", 190_000, 55 * MS, 1, ""),
    # Its parent never arrived: shown at the top level, marked.
    ("a000000000000008", "00f067aa0ba902b7", "send confirmation", 5, "mailer", 200_000, 48 * MS, 0, ""),
]

CHECKOUT_WATERFALL = """\
trace 4bf92f3577b34da6a3ce929d0e0e4736 · GET /checkout (frontend) · 8 spans · 2 errors · 1 orphan · 250ms · 2023-11-14T22:13:20.000000Z

SPAN                      SERVICE   0                                  250ms  DURATION  STATUS
GET /checkout             frontend  ████████████████████████████████████████     250ms
├─ cache.miss             frontend  ▏                                              0µs
├─ POST /api/orders       api       ██████████████████████████████               180ms  ✗ upstream failed
│  ├─ SELECT orders       api        ████████                                   42.5ms
│  │  └─ pool.acquire     api        █                                           350µs
│  └─ INSERT order_items  api                ████████████████████                120ms  ✗ deadlock detected
└─ render                 frontend                                ██████████      55ms  ok
send confirmation         mailer                                    ████████      48ms  orphan: parent 00f067aa0ba902b7 missing
"""


def tracegate(binary: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Runs a tracegate command with stdout a pipe (so: no colour), output decoded as UTF-8."""
    try:
        return subprocess.run([binary, *args], cwd=REPO_ROOT, capture_output=True, encoding="utf-8",
                              stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`tracegate {' '.join(args)}` did not finish within {timeout:.0f}s\n"
                    f"stdout:\n{e.stdout}\nstderr:\n{e.stderr}", pytrace=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


@pytest.fixture
def migrated(db, tracegate_bin):
    ok(tracegate(tracegate_bin, "migrate", "up", "--dsn", db.dsn))
    return db


def insert_spans(db, trace_id: str, t0: dt.datetime, spans: Sequence[tuple]) -> None:
    with db.connect() as conn:
        for span_id, parent, name, kind, service, offset_us, duration_ns, status, message in spans:
            start = t0 + dt.timedelta(microseconds=offset_us)
            conn.execute(
                """INSERT INTO trace_spans (trace_id, span_id, parent_span_id, name, kind, service_name, start_time,
                                            end_time, duration_ns, status_code, status_message, attributes, events)
                   VALUES (decode(%s, 'hex'), decode(%s, 'hex'), decode(%s, 'hex'), %s, %s, %s, %s, %s, %s, %s, %s,
                           '{"http.route": "/checkout"}', '[{"name": "retry", "time_unix_nano": 1}]')""",
                (trace_id, span_id, parent, name, kind, service, start, start + dt.timedelta(microseconds=duration_ns // 1000),
                 duration_ns, status, message),
            )


def insert_trace(db, trace_id: str, *, ago: str, duration: str, root_name: str | None, root_service: str | None,
                 services: list[str], spans: int, errors: int, concluded: bool = True, complete: bool = True,
                 missing: int = 0) -> None:
    """One `traces` row that started `ago` (an interval) before now()."""
    db.execute(
        """INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id, root_name,
                               root_service, services, span_count, error_count, concluded_at, complete, missing_parent_count)
           VALUES (decode(%(id)s, 'hex'), now(), now(), now() - %(ago)s::interval,
                   now() - %(ago)s::interval + %(duration)s::interval,
                   CASE WHEN %(root)s::text IS NULL THEN NULL ELSE '\\x0102030405060708'::bytea END,
                   %(root)s, %(root_service)s, %(services)s, %(spans)s, %(errors)s,
                   CASE WHEN %(concluded)s THEN now() END, %(complete)s, %(missing)s)""",
        {"id": trace_id, "ago": ago, "duration": duration, "root": root_name, "root_service": root_service,
         "services": services, "spans": spans, "errors": errors, "concluded": concluded, "complete": complete,
         "missing": missing},
    )


def insert_checkout(db) -> None:
    insert_spans(db, TRACE_ID, T0, CHECKOUT)
    db.execute(
        """INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id, root_name,
                               root_service, services, span_count, error_count, missing_parent_count)
           SELECT trace_id, now(), now(), min(start_time), max(end_time), decode('a000000000000001', 'hex'),
                  'GET /checkout', 'frontend', array_agg(DISTINCT service_name), count(*),
                  count(*) FILTER (WHERE status_code = 2), 1
           FROM trace_spans GROUP BY trace_id""")


# ------------------------------------------------------------------ tracegate trace


def test_trace_prints_the_waterfall(migrated, tracegate_bin):
    insert_checkout(migrated)
    # Another trace's spans must not show up.
    insert_spans(migrated, "0af7651916cd43dd8448eb211c80319c", T0, [CHECKOUT[0]])

    result = tracegate(tracegate_bin, "trace", TRACE_ID.upper(), "--dsn", migrated.dsn)
    assert ok(result) == CHECKOUT_WATERFALL, result.stdout
    assert result.stderr == ""
    # Not a terminal: no colour, unless asked for.
    assert "\x1b[" not in result.stdout
    colored = ok(tracegate(tracegate_bin, "trace", TRACE_ID, "--dsn", migrated.dsn, "--color", "always"))
    assert "\x1b[31m✗ deadlock detected\x1b[0m" in colored


def test_trace_json(migrated, tracegate_bin):
    insert_checkout(migrated)
    doc = json.loads(ok(tracegate(tracegate_bin, "trace", TRACE_ID, "--dsn", migrated.dsn, "--json")))
    assert {k: doc[k] for k in ("trace_id", "root_span_id", "root_name", "root_service", "start_time", "duration_ms",
                                "span_count", "error_count", "orphan_count", "services")} == {
        "trace_id": TRACE_ID, "root_span_id": "a000000000000001", "root_name": "GET /checkout",
        "root_service": "frontend", "start_time": "2023-11-14T22:13:20.000000Z", "duration_ms": 250,
        "span_count": 8, "error_count": 2, "orphan_count": 1, "services": ["api", "frontend", "mailer"],
    }
    spans = doc["spans"]
    assert [s["name"] for s in spans] == ["GET /checkout", "cache.miss", "POST /api/orders", "SELECT orders",
                                          "pool.acquire", "INSERT order_items", "render", "send confirmation"]
    assert [s["depth"] for s in spans] == [0, 1, 1, 2, 3, 2, 1, 0]
    assert [s["offset_ms"] for s in spans] == [0, 2, 5, 10, 10, 60, 190, 200]
    assert [s["duration_ms"] for s in spans] == [250, 0, 180, 42.5, 0.35, 120, 55, 48]
    assert [s["orphan"] for s in spans] == [False] * 7 + [True]
    select = spans[3]
    assert select == {
        "span_id": "a000000000000004", "parent_span_id": "a000000000000003", "name": "SELECT orders",
        "service": "api", "kind": "client", "depth": 2, "orphan": False, "start_time": "2023-11-14T22:13:20.010000Z",
        "offset_ms": 10, "duration_ms": 42.5, "duration_ns": 42_500_000, "status": "unset", "status_message": "",
        "attributes": {"http.route": "/checkout"}, "events": [{"name": "retry", "time_unix_nano": 1}],
    }
    assert (spans[5]["status"], spans[5]["status_message"]) == ("error", "deadlock detected")
    assert spans[0]["parent_span_id"] is None and spans[7]["parent_span_id"] == "00f067aa0ba902b7"


def test_trace_reads_the_dsn_from_a_config_file(migrated, tracegate_bin, tmp_path: Path):
    insert_checkout(migrated)
    config = tmp_path / "tracegate.yaml"
    config.write_text(to_yaml(gateway_config(migrated.dsn)).replace("{port}", "4318"))
    assert ok(tracegate(tracegate_bin, "trace", TRACE_ID, "--config", str(config))) == CHECKOUT_WATERFALL


def test_unknown_trace_exits_1(migrated, tracegate_bin):
    insert_checkout(migrated)
    result = tracegate(tracegate_bin, "trace", "0af7651916cd43dd8448eb211c80319c", "--dsn", migrated.dsn)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no trace 0af7651916cd43dd8448eb211c80319c" in result.stderr


@pytest.mark.parametrize("bad", ["4bf92f35", "4bf92f3577b34da6a3ce929d0e0e4736ff", "4bf92f3577b34da6a3ce929d0e0e473z",
                                 "x' OR '1'='1' -- 4bf92f3577b34da6"])
def test_malformed_trace_id_is_refused_before_connecting(tracegate_bin, bad):
    # No database at all: the id is checked first.
    result = tracegate(tracegate_bin, "trace", bad, "--dsn", "host=127.0.0.1 port=1 dbname=nowhere")
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "is not a trace id: expected 32 hexadecimal digits" in result.stderr


def test_trace_needs_a_dsn_and_a_schema(db, tracegate_bin):
    result = tracegate(tracegate_bin, "trace", TRACE_ID)
    assert result.returncode == 2 and "give --dsn or --config" in result.stderr
    result = tracegate(tracegate_bin, "trace", TRACE_ID, "--dsn", db.dsn)
    assert result.returncode == 1 and "tracegate migrate up" in result.stderr, result.stderr
    result = tracegate(tracegate_bin, "trace", TRACE_ID, "--dsn", "host=127.0.0.1 port=1 dbname=nowhere")
    assert result.returncode == 1 and "connecting to PostgreSQL" in result.stderr, result.stderr


# ----------------------------------------------------------------- tracegate traces

A, B, C, D, E = ("aa" * 16, "bb" * 16, "cc" * 16, "dd" * 16, "ee" * 16)


@pytest.fixture
def several(migrated):
    """Five traces; newest first within the last hour: C, A, B; then D (3 h ago), E (2 days ago)."""
    insert_trace(migrated, A, ago="2 minutes", duration="250 milliseconds", root_name="GET /checkout",
                 root_service="frontend", services=["api", "frontend"], spans=8, errors=2, complete=False, missing=1)
    insert_trace(migrated, B, ago="5 minutes", duration="2.4 seconds", root_name="GET /search",
                 root_service="frontend", services=["frontend", "search"], spans=31, errors=0, concluded=False)
    insert_trace(migrated, C, ago="20 seconds", duration="12 milliseconds", root_name=None, root_service=None,
                 services=["api"], spans=3, errors=0, concluded=False, complete=False, missing=1)
    insert_trace(migrated, D, ago="3 hours", duration="5 seconds", root_name="nightly job", root_service="api",
                 services=["api"], spans=2, errors=1)
    insert_trace(migrated, E, ago="2 days", duration="1 second", root_name="old", root_service="search",
                 services=["search"], spans=1, errors=0)
    return migrated


def listed(tracegate_bin, db, *args: str) -> list[str]:
    """The trace ids that `tracegate traces` prints, in order."""
    lines = ok(tracegate(tracegate_bin, "traces", "--dsn", db.dsn, *args)).splitlines()
    assert lines[0].split() == ["TRACE", "ID", "STARTED", "ROOT", "SERVICE", "SPANS", "ERRORS", "DURATION", "STATE"]
    return [line.split()[0] for line in lines[1:]]


def test_traces_lists_the_last_hour_newest_first(several, tracegate_bin):
    result = tracegate(tracegate_bin, "traces", "--dsn", several.dsn)
    lines = ok(result).splitlines()
    assert [line.split()[0] for line in lines[1:]] == [C, A, B]
    assert "\x1b[" not in result.stdout and result.stderr == ""
    # id, start, root, service, spans, errors, duration, state
    columns = [line.split("  ") for line in lines]
    fields = [[c.strip() for c in row if c.strip()] for row in columns]
    assert [f[:1] + f[2:] for f in fields[1:]] == [
        [C, "(no root)", "-", "3", "0", "12ms", "open"],
        [A, "GET /checkout", "frontend", "8", "2", "250ms", "concluded, incomplete"],
        [B, "GET /search", "frontend", "31", "0", "2.4s", "open"],
    ]
    started = dt.datetime.strptime(fields[2][1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert abs(started - (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2))) < dt.timedelta(minutes=1)


@pytest.mark.parametrize(("args", "expected"), [
    (["--service", "search"], [B]),
    (["--service", "api"], [C, A]),
    (["--service", "api", "--since", "4h"], [C, A, D]),
    (["--service", "search", "--since", "3d"], [B, E]),
    (["--service", "nope", "--since", "3d"], []),
    (["--errors"], [A]),
    (["--errors", "--since", "4h"], [A, D]),
    (["--min-duration", "2s"], [B]),
    (["--min-duration", "250ms"], [A, B]),
    (["--min-duration", "2s", "--since", "4h"], [B, D]),
    (["--errors", "--service", "frontend", "--min-duration", "100ms"], [A]),
    (["--since", "15m"], [C, A, B]),
    (["--since", "1m"], [C]),
    (["--since", "3d"], [C, A, B, D, E]),
    (["--limit", "2"], [C, A]),
    (["--limit", "1", "--since", "3d", "--errors"], [A]),
])
def test_traces_filters(several, tracegate_bin, args, expected):
    if expected:
        assert listed(tracegate_bin, several, *args) == expected
    else:
        out = ok(tracegate(tracegate_bin, "traces", "--dsn", several.dsn, *args))
        assert out == "no matching traces started in the last 3d\n"


def test_traces_json(several, tracegate_bin):
    doc = json.loads(ok(tracegate(tracegate_bin, "traces", "--dsn", several.dsn, "--since", "4h", "--json")))
    traces = doc["traces"]
    assert [t["trace_id"] for t in traces] == [C, A, B, D]
    a = traces[1]
    assert {k: a[k] for k in ("root_name", "root_service", "services", "span_count", "error_count", "status",
                              "duration_ms", "concluded", "complete", "missing_parent_count")} == {
        "root_name": "GET /checkout", "root_service": "frontend", "services": ["api", "frontend"], "span_count": 8,
        "error_count": 2, "status": "error", "duration_ms": 250, "concluded": True, "complete": False,
        "missing_parent_count": 1,
    }
    assert a["concluded_at"] is not None and a["start_time"].endswith("Z")
    assert traces[0]["root_name"] is None and traces[0]["concluded"] is False and traces[0]["concluded_at"] is None
    empty = json.loads(ok(tracegate(tracegate_bin, "traces", "--dsn", several.dsn, "--service", "nope", "--json")))
    assert empty == {"traces": []}


def test_traces_service_is_a_value_not_sql(several, tracegate_bin):
    for service in ["x' OR 'a'='a", "x\\' OR 1=1 --", "ünïcode"]:
        out = ok(tracegate(tracegate_bin, "traces", "--dsn", several.dsn, "--service", service))
        assert out == "no matching traces started in the last 1h\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "soon"], '--since "soon" is not a duration'),
    (["--since", "0"], "--since must be longer than 0"),
    (["--min-duration", "2 parsecs"], '--min-duration "2 parsecs" is not a duration'),
    (["--limit", "0"], "--limit must be at least 1"),
])
def test_traces_refuses_bad_options(tracegate_bin, args, message):
    result = tracegate(tracegate_bin, "traces", "--dsn", "host=127.0.0.1 port=1 dbname=nowhere", *args)
    assert result.returncode == 2, result
    assert message in result.stderr
