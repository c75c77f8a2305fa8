"""Migration 3, the SQL surface for psql (docs/sql.md): trace_waterfall,
trace_spans_health, diagnose_trace, identify_root_cause, find_similar_traces.

Each test migrates a fresh database with the real binary, writes hand-made
traces of known shape straight into trace_spans and traces (exact
timestamps), and checks the exact rows the views and functions return.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Sequence

import psycopg

from e2e_helpers import Database, run_tracegate

UTC = dt.timezone.utc
NOW_IN_THE_PAST = dt.datetime(2024, 3, 12, 12, 0, tzinfo=UTC)  # first_seen_at of hand-made traces


def migrate(tracegate_bin: str, db: Database, *args: str) -> list[str]:
    result = run_tracegate(tracegate_bin, ["migrate", *args, "--dsn", db.dsn])
    assert result.returncode == 0, f"migrate {args}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.splitlines()


def ensure_partitions(db: Database, *days: str) -> None:
    for day in days:
        db.execute("SELECT tracegate_ensure_partition(%s::date)", (day,))


def D(text: str) -> Decimal:
    return Decimal(text)


@dataclass
class S:
    """One span of a hand-made trace; times in milliseconds after the trace's t0."""

    span: str  # 16 hex digits
    parent: str | None
    name: str
    service: str
    kind: int
    start_ms: float
    end_ms: float
    status: int = 0
    message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


def at(t0: dt.datetime, ms: float) -> dt.datetime:
    return t0 + dt.timedelta(microseconds=round(ms * 1000))


def unix_nanos(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def exception_event(t: dt.datetime, extra_ns: int, type_: str, message: str, stacktrace: str) -> dict[str, Any]:
    return {"name": "exception", "time_unix_nano": unix_nanos(t) + extra_ns,
            "attributes": {"exception.type": type_, "exception.message": message,
                           "exception.stacktrace": stacktrace, "exception.escaped": False}}


def insert_trace(db: Database, trace: str, t0: dt.datetime, spans: Sequence[S], *, traces_row: bool = True) -> None:
    """INSERTs the spans, and the traces row the exporter would keep for them."""
    with db.connect() as conn:
        for s in spans:
            start, end = at(t0, s.start_ms), at(t0, s.end_ms)
            duration_ns = (end - start) // dt.timedelta(microseconds=1) * 1000
            conn.execute(
                "INSERT INTO trace_spans (trace_id, span_id, parent_span_id, name, kind, service_name,"
                " start_time, end_time, duration_ns, status_code, status_message, events)"
                " VALUES (decode(%s, 'hex'), decode(%s, 'hex'), decode(%s, 'hex'), %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (trace, s.span, s.parent, s.name, s.kind, s.service, start, end, duration_ns, s.status, s.message,
                 psycopg.types.json.Jsonb(s.events)))
        if not traces_row:
            return
        ids = {s.span for s in spans}
        roots = [s for s in spans if s.parent is None]
        root = min(roots, key=lambda s: s.start_ms) if roots else None
        conn.execute(
            "INSERT INTO traces (trace_id, first_seen_at, last_activity_at, start_time, end_time, root_span_id,"
            " root_name, root_service, services, span_count, error_count, complete, missing_parent_count)"
            " VALUES (decode(%s, 'hex'), %s, %s, %s, %s, decode(%s, 'hex'), %s, %s, %s, %s, %s, %s, %s)",
            (trace, NOW_IN_THE_PAST, NOW_IN_THE_PAST,
             at(t0, min(s.start_ms for s in spans)), at(t0, max(s.end_ms for s in spans)),
             root.span if root else None, root.name if root else None, root.service if root else None,
             sorted({s.service for s in spans}), len(spans), sum(1 for s in spans if s.status == 2),
             root is not None and all(s.parent is None or s.parent in ids for s in spans),
             sum(1 for s in spans if s.parent is not None and s.parent not in ids)))


# ---------------------------------------------------------------------------
# Trace A: a checkout that fails, starting 50 ms before midnight UTC so that
# its spans lie in two daily partitions.
#
#   R  GET /checkout  frontend  [0, 100]        error
#   |- C1 auth        frontend  [5, 15]
#   |  `- G0 token    frontend  [4, 14]         starts 1 ms before its parent
#   |- C2 POST /cart  checkout  [20, 60]        error
#   |  |- G1 SELECT cart   [25, 35]
#   |  `- G2 SELECT items  [30.5, 40.125]       error, exception; slow
#   `- C3 render      frontend  [95, 110]       ends 10 ms after its parent
#   O  cache warmup   checkout  [70, 80]        parent deadbeefdeadbeef absent
# ---------------------------------------------------------------------------

TRACE_A = "a0000000000000000000000000000001"
T0_A = dt.datetime(2024, 3, 10, 23, 59, 59, 950_000, tzinfo=UTC)
R, C1, G0, C2, G1, G2, C3, O = (f"{n:016x}" for n in range(1, 9))
MISSING = "deadbeefdeadbeef"
G2_EXCEPTION = exception_event(
    at(T0_A, 40), 0, "TimeoutError", "query timed out after 9 ms",
    "Traceback (most recent call last):\n  File \"cart.py\", line 12, in items\nTimeoutError")
SPANS_A = [
    S(R, None, "GET /checkout", "frontend", 2, 0, 100, 2, "checkout failed"),
    S(C1, R, "auth", "frontend", 1, 5, 15),
    S(G0, C1, "token", "frontend", 3, 4, 14),
    S(C2, R, "POST /cart", "checkout", 2, 20, 60, 2, "cart unavailable"),
    S(G1, C2, "SELECT cart", "checkout", 3, 25, 35),
    S(G2, C2, "SELECT items", "checkout", 3, 30.5, 40.125, 2, "",
      [{"name": "retry", "time_unix_nano": unix_nanos(at(T0_A, 35)), "attributes": {}}, G2_EXCEPTION]),
    S(C3, R, "render", "frontend", 1, 95, 110),
    S(O, MISSING, "cache warmup", "checkout", 1, 70, 80),
]

WATERFALL_COLUMNS = ["trace_id", "position", "depth", "path", "span_id", "parent_span_id", "name", "service_name",
                     "kind", "start_time", "offset_ms", "duration_ms", "self_ms", "status", "status_message", "orphan"]

# position, depth, path, span, parent, name, service, kind, offset, duration, self, status, message, orphan
WATERFALL_A = [
    (1, 0, [1], R, None, "GET /checkout", "frontend", "server", "0.000", "100.000", "45.000",
     "error", "checkout failed", False),
    (2, 1, [1, 1], C1, R, "auth", "frontend", "internal", "5.000", "10.000", "1.000", "unset", "", False),
    (3, 2, [1, 1, 1], G0, C1, "token", "frontend", "client", "4.000", "10.000", "10.000", "unset", "", False),
    (4, 1, [1, 2], C2, R, "POST /cart", "checkout", "server", "20.000", "40.000", "24.875",
     "error", "cart unavailable", False),
    (5, 2, [1, 2, 1], G1, C2, "SELECT cart", "checkout", "client", "25.000", "10.000", "10.000", "unset", "", False),
    (6, 2, [1, 2, 2], G2, C2, "SELECT items", "checkout", "client", "30.500", "9.625", "9.625", "error", "", False),
    (7, 1, [1, 3], C3, R, "render", "frontend", "internal", "95.000", "15.000", "15.000", "unset", "", False),
    (8, 0, [2], O, MISSING, "cache warmup", "checkout", "internal", "70.000", "10.000", "10.000", "unset", "", True),
]


def expected_waterfall(trace: str, t0: dt.datetime, rows: list[tuple]) -> list[tuple]:
    """The rows above as trace_waterfall returns them (the trace starts at t0)."""
    return [(trace, *r[:8], at(t0, float(r[8])), *(D(x) for x in r[8:11]), *r[11:]) for r in rows]


def load_trace_a(db: Database) -> None:
    ensure_partitions(db, "2024-03-10", "2024-03-11")
    insert_trace(db, TRACE_A, T0_A, SPANS_A)


def load_baselines(db: Database) -> None:
    """Spans of other traces that set the p95 of (checkout, SELECT items) and
    (checkout, SELECT cart) in the 24 hours before trace A ended (T0_A + 110 ms)."""
    trace = "b0000000000000000000000000000001"
    end_a = at(T0_A, 110)
    spans = []
    n = 0

    def add(name: str, start: dt.datetime, ms: float) -> None:
        nonlocal n
        n += 1
        spans.append((f"{0xb000 + n:016x}", name, start, ms))

    # SELECT items: 28 spans of 1 ms an hour before, one of 1 ms starting right
    # at the end of the window, and 25 of 500 ms outside it (one exactly at its
    # open start). With G2 that is 30 spans, p95 1 ms: G2 (9.625 ms) is slow.
    for i in range(28):
        add("SELECT items", T0_A - dt.timedelta(hours=1) + dt.timedelta(milliseconds=i), 1)
    add("SELECT items", end_a, 1)
    add("SELECT items", end_a - dt.timedelta(hours=24), 500)
    for i in range(24):
        add("SELECT items", T0_A - dt.timedelta(hours=25) + dt.timedelta(milliseconds=i), 500)
    # SELECT cart: 18 spans of 0.1 ms. With G1 (10 ms) there are 19, fewer than
    # the 20 a baseline needs: no verdict, although G1 is far above their p95.
    for i in range(18):
        add("SELECT cart", T0_A - dt.timedelta(hours=2) + dt.timedelta(milliseconds=i), 0.1)
    with db.connect() as conn:
        for span, name, start, ms in spans:
            conn.execute(
                "INSERT INTO trace_spans (trace_id, span_id, name, kind, service_name, start_time, end_time,"
                " duration_ns) VALUES (decode(%s, 'hex'), decode(%s, 'hex'), %s, 3, 'checkout', %s, %s, %s)",
                (trace, span, name, start, start + dt.timedelta(microseconds=round(ms * 1000)), round(ms * 1_000_000)))


# Trace B: the root is fine, two of its children fail; one failure goes deeper.
#
#   R2 GET /pay         api       [0, 50]   ok
#   |- X1 call payments api       [5, 45]   error
#   |  |- Y1 POST /charge payments [10, 40] error, two exception events
#   |  |  `- Z1 SELECT card payments [12, 20]
#   |  `- Y2 POST /log  payments  [41, 44]
#   `- X2 call audit    api       [46, 49]  error
TRACE_B = "b0000000000000000000000000000002"
T0_B = dt.datetime(2024, 3, 11, 8, 0, tzinfo=UTC)
R2, X1, Y1, Z1, Y2, X2 = (f"{n:016x}" for n in range(0x11, 0x17))
Y1_EXCEPTIONS = [
    exception_event(at(T0_B, 12), 123, "CardError", "card 4242 declined", "at charge (charge.js:10)"),
    exception_event(at(T0_B, 38), 999, "RuntimeError", "charge failed", "at handler (server.js:88)"),
]
SPANS_B = [
    S(R2, None, "GET /pay", "api", 2, 0, 50, 1),
    S(X1, R2, "call payments", "api", 3, 5, 45, 2, "payments returned 500"),
    # The second exception comes first in the array: rows follow event time.
    S(Y1, X1, "POST /charge", "payments", 2, 10, 40, 2, "card declined",
      [{"name": "log", "time_unix_nano": unix_nanos(at(T0_B, 11)), "attributes": {"message": "retrying"}},
       Y1_EXCEPTIONS[1], Y1_EXCEPTIONS[0]]),
    S(Z1, Y1, "SELECT card", "payments", 3, 12, 20),
    S(Y2, X1, "POST /log", "payments", 2, 41, 44),
    S(X2, R2, "call audit", "api", 3, 46, 49, 2, "audit down"),
]

# Trace C: nothing wrong with it.
TRACE_C = "c0000000000000000000000000000003"
T0_C = dt.datetime(2024, 3, 11, 9, 0, tzinfo=UTC)
SPANS_C = [
    S("0000000000000021", None, "GET /health", "api", 2, 0, 10),
    S("0000000000000022", "0000000000000021", "ping db", "api", 3, 0, 10),
]

# Trace D: a root, and two spans that name each other as parent.
TRACE_D = "d0000000000000000000000000000004"
T0_D = dt.datetime(2024, 3, 11, 10, 0, tzinfo=UTC)
SPANS_D = [
    S("0000000000000031", None, "root", "loop", 1, 0, 10),
    S("0000000000000032", "0000000000000033", "left", "loop", 1, 1, 5),
    S("0000000000000033", "0000000000000032", "right", "loop", 1, 1, 5),
]


# ------------------------------------------------------------------- waterfall


def test_waterfall_lists_a_trace_in_tree_order_with_offsets_and_self_time(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    load_trace_a(db)
    insert_trace(db, TRACE_C, T0_C, SPANS_C)
    # The trace is split over two partitions.
    assert db.query("SELECT tableoid::regclass::text, count(*) FROM trace_spans WHERE trace_id = decode(%s, 'hex')"
                    " GROUP BY 1 ORDER BY 1", (TRACE_A,)) == [("trace_spans_20240310", 6), ("trace_spans_20240311", 2)]

    expected = expected_waterfall(TRACE_A, T0_A, WATERFALL_A)
    by_text = db.query("SELECT * FROM trace_waterfall(%s)", (TRACE_A,))
    assert by_text == expected
    # The bytea form, and the hex with a \x or 0x prefix in upper case.
    assert db.query("SELECT * FROM trace_waterfall(decode(%s, 'hex'))", (TRACE_A,)) == expected
    assert db.query("SELECT * FROM trace_waterfall(%s)", ("\\x" + TRACE_A.upper(),)) == expected
    assert db.query("SELECT * FROM trace_waterfall(%s)", ("0x" + TRACE_A,)) == expected
    # The view, filtered on the hex id.
    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM trace_waterfall WHERE trace_id = %s ORDER BY position", (TRACE_A,))
        assert [c.name for c in cur.description] == WATERFALL_COLUMNS
        assert cur.fetchall() == expected
    # Every trace of the view: A then C.
    assert db.query("SELECT trace_id, position, name, self_ms FROM trace_waterfall ORDER BY trace_id, position") == [
        *((TRACE_A, r[0], r[5], D(r[10])) for r in WATERFALL_A),
        (TRACE_C, 1, "GET /health", D("0.000")),
        (TRACE_C, 2, "ping db", D("10.000")),
    ]
    assert db.query("SELECT * FROM trace_waterfall(%s)", ("e" * 32,)) == []


def test_waterfall_view_walks_only_the_trace_asked_for(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    load_trace_a(db)
    insert_trace(db, TRACE_C, T0_C, SPANS_C)
    with db.connect() as conn:
        # Tiny tables favour sequential scans; what matters is that the filter
        # reaches traces, where its index can serve it.
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
            " SELECT * FROM trace_waterfall WHERE trace_id = %s", (TRACE_A,)).fetchall())
    assert "traces_trace_id_hex" in plan and "Seq Scan on traces" not in plan, plan
    # One trace was walked: each partition's primary key was probed once.
    probes = [line for line in plan.splitlines() if "_pkey" in line]
    assert {p for p in ("trace_spans_20240310", "trace_spans_20240311", "trace_spans_default")
            if any(f"{p}_pkey" in line for line in probes)} == {
        "trace_spans_20240310", "trace_spans_20240311", "trace_spans_default"}, plan
    assert all(line.endswith(" loops=1)") for line in probes), plan
    assert plan.splitlines()[0].endswith("(actual rows=8 loops=1)"), plan
    # Since migration 7 the index is a hash index (cheaper to insert into for
    # every stored trace); an IN list reaches it too, through a bitmap.
    assert db.scalar("SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam"
                     " WHERE c.relname = 'traces_trace_id_hex'") == "hash"
    with db.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
            " SELECT * FROM trace_waterfall WHERE trace_id IN (%s, %s)", (TRACE_A, TRACE_C)).fetchall())
    assert "Bitmap Index Scan on traces_trace_id_hex" in plan and "Seq Scan on traces" not in plan, plan


def test_waterfall_shows_spans_whose_parents_loop_last_without_depth(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    insert_trace(db, TRACE_D, T0_D, SPANS_D)
    assert db.query("SELECT position, depth, path, span_id, parent_span_id, offset_ms, self_ms"
                    " FROM trace_waterfall(%s)", (TRACE_D,)) == [
        (1, 0, [1], "0000000000000031", None, D("0.000"), D("10.000")),
        (2, None, None, "0000000000000032", "0000000000000033", D("1.000"), D("0.000")),
        (3, None, None, "0000000000000033", "0000000000000032", D("1.000"), D("0.000")),
    ]


def test_waterfall_orders_siblings_that_start_together_longer_first_then_by_name(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    trace = "9d000000000000000000000000000001"
    t0 = dt.datetime(2024, 3, 11, 14, 0, tzinfo=UTC)
    insert_trace(db, trace, t0, [
        S("0000000000000001", None, "root", "w", 2, 0, 10),
        S("0000000000000002", "0000000000000001", "b", "w", 1, 1, 3),
        S("0000000000000003", "0000000000000001", "a", "w", 1, 1, 3),
        S("0000000000000004", "0000000000000001", "c", "w", 1, 1, 5),
        S("0000000000000005", "0000000000000003", "a1", "w", 1, 2, 3),
        # Another root at the same time as the first, shorter: after its tree.
        S("0000000000000006", None, "late root", "w", 2, 0, 1),
    ])
    assert db.query("SELECT position, depth, path, name, self_ms FROM trace_waterfall(%s)", (trace,)) == [
        (1, 0, [1], "root", D("6.000")),
        (2, 1, [1, 1], "c", D("4.000")),
        (3, 1, [1, 2], "a", D("1.000")),
        (4, 2, [1, 2, 1], "a1", D("1.000")),
        (5, 1, [1, 3], "b", D("2.000")),
        (6, 0, [2], "late root", D("1.000")),
    ]


# ------------------------------------------------------------------- health


def test_spans_health_summarises_the_last_hour_per_service_and_name(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    now = db.scalar("SELECT now()")
    trace = "f0000000000000000000000000000001"
    rows = [("GET /a", now - dt.timedelta(minutes=10), ms, 2 if ms in (3, 7) else 0) for ms in range(1, 11)]
    rows += [("GET /b", now - dt.timedelta(minutes=30), 2.5, 0),
             ("GET /b", now - dt.timedelta(minutes=20), 7.5, 2),
             # Older than an hour: not counted.
             ("GET /a", now - dt.timedelta(hours=2), 1000, 2)]
    with db.connect() as conn:
        for i, (name, start, ms, status) in enumerate(rows):
            conn.execute(
                "INSERT INTO trace_spans (trace_id, span_id, name, kind, service_name, start_time, end_time,"
                " duration_ns, status_code)"
                " VALUES (decode(%s, 'hex'), decode(%s, 'hex'), %s, 2, 'web', %s, %s, %s, %s)",
                (trace, f"{i + 1:016x}", name, start, start + dt.timedelta(microseconds=ms * 1000),
                 round(ms * 1e6), status))
    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM trace_spans_health ORDER BY service_name, name")
        assert [c.name for c in cur.description] == [
            "service_name", "name", "span_count", "error_count", "error_rate", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
        assert cur.fetchall() == [
            ("web", "GET /a", 10, 2, D("0.2000"), D("5.500"), D("9.550"), D("9.910"), D("10.000")),
            ("web", "GET /b", 2, 1, D("0.5000"), D("5.000"), D("7.250"), D("7.450"), D("7.500")),
        ]


# ------------------------------------------------------------------- diagnose

DIAGNOSIS_A = [
    ("error", R, "GET /checkout", "frontend", "checkout failed"),
    ("gap", R, "GET /checkout", "frontend",
     "no child covers 35.000 ms (35.0% of the span), from +60.000 ms to +95.000 ms into the span"),
    ("clock_skew", G0, "token", "frontend", f"starts 1.000 ms before its parent {C1}"),
    ("error", C2, "POST /cart", "checkout", "cart unavailable"),
    ("gap", C2, "POST /cart", "checkout",
     "no child covers 19.875 ms (49.7% of the span), from +20.125 ms to +40.000 ms into the span"),
    ("error", G2, "SELECT items", "checkout", "exception TimeoutError: query timed out after 9 ms"),
    ("slow", G2, "SELECT items", "checkout",
     "took 9.625 ms, 9.6x the p95 of 1.000 ms over 30 spans of this service and name"
     " in the 24 h before the trace ended"),
    ("clock_skew", C3, "render", "frontend", f"ends 10.000 ms after its parent {R}"),
    ("orphan", O, "cache warmup", "checkout", f"parent span {MISSING} is not in the trace"),
]


def test_diagnose_reports_each_kind_of_anomaly(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    load_trace_a(db)
    load_baselines(db)
    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM diagnose_trace(%s)", (TRACE_A,))
        assert [c.name for c in cur.description] == ["anomaly", "span_id", "name", "service_name", "detail"]
        assert cur.fetchall() == DIAGNOSIS_A
    assert db.query("SELECT * FROM diagnose_trace(decode(%s, 'hex'))", (TRACE_A,)) == DIAGNOSIS_A


def test_diagnose_without_baselines_and_on_clean_or_looping_traces(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    load_trace_a(db)
    insert_trace(db, TRACE_C, T0_C, SPANS_C)
    insert_trace(db, TRACE_D, T0_D, SPANS_D)
    # No other spans of G2's name: no baseline, no verdict on slowness.
    assert db.query("SELECT * FROM diagnose_trace(%s)", (TRACE_A,)) == [r for r in DIAGNOSIS_A if r[0] != "slow"]
    assert db.query("SELECT * FROM diagnose_trace(%s)", (TRACE_C,)) == []
    assert db.query("SELECT * FROM diagnose_trace(%s)", (TRACE_D,)) == [
        ("parent_cycle", "0000000000000032", "left", "loop",
         "not reachable from a root: following parent 0000000000000033 loops"),
        ("parent_cycle", "0000000000000033", "right", "loop",
         "not reachable from a root: following parent 0000000000000032 loops"),
    ]
    assert db.query("SELECT * FROM diagnose_trace(%s)", ("e" * 32,)) == []


def test_diagnose_slow_baseline_is_the_latest_1000_spans(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    trace = "9c000000000000000000000000000001"
    t0 = dt.datetime(2024, 3, 11, 13, 0, tzinfo=UTC)
    insert_trace(db, trace, t0, [S("0000000000000001", None, "step", "batch", 1, 0, 10)])
    # 999 spans of 1 ms in the hour before, 100 of 100 ms two hours before:
    # over the whole day the p95 would be 100 ms; over the latest 1000 (the
    # span itself included) it is 1 ms.
    db.execute(
        "INSERT INTO trace_spans (trace_id, span_id, name, kind, service_name, start_time, end_time, duration_ns)"
        " SELECT decode('9c000000000000000000000000000002', 'hex'), decode(lpad(to_hex(i), 16, '0'), 'hex'),"
        "        'step', 1, 'batch', t, t + d, extract(epoch FROM d) * 1e9"
        " FROM generate_series(1, 1099) i,"
        "      LATERAL (SELECT CASE WHEN i <= 999 THEN %(t0)s - interval '1 hour' + i * interval '1 second'"
        "                           ELSE %(t0)s - interval '2 hours' + i * interval '1 second' END AS t,"
        "                      CASE WHEN i <= 999 THEN interval '1 ms' ELSE interval '100 ms' END AS d) x",
        {"t0": t0})
    assert db.query("SELECT * FROM diagnose_trace(%s)", (trace,)) == [
        ("slow", "0000000000000001", "step", "batch",
         "took 10.000 ms, 10.0x the p95 of 1.000 ms over 1000 spans of this service and name"
         " in the 24 h before the trace ended")]


def test_diagnose_gap_thresholds(db, tracegate_bin):
    """A gap is reported when it is longer than 1 ms and than 10% of the span."""
    migrate(tracegate_bin, db, "up")
    trace = "9a000000000000000000000000000001"
    t0 = dt.datetime(2024, 3, 11, 11, 0, tzinfo=UTC)
    insert_trace(db, trace, t0, [
        # 100 ms with 10 ms uncovered: exactly 10%, not reported.
        S("0000000000000001", None, "ten percent", "g", 1, 0, 100),
        S("0000000000000002", "0000000000000001", "a", "g", 1, 0, 45),
        S("0000000000000003", "0000000000000001", "b", "g", 1, 55, 100),
        # 5 ms with 1.5 ms uncovered at the end: 30% and over 1 ms, reported.
        S("0000000000000004", None, "short", "g", 1, 150, 155),
        S("0000000000000005", "0000000000000004", "c", "g", 1, 150, 153.5),
        # 8 ms with 1 ms uncovered: 12.5%, but not over 1 ms.
        S("0000000000000006", None, "one ms", "g", 1, 200, 208),
        S("0000000000000007", "0000000000000006", "d", "g", 1, 201, 208),
        # Its only child lies outside it: the whole span is uncovered.
        S("0000000000000008", None, "outside", "g", 1, 300, 310),
        S("0000000000000009", "0000000000000008", "e", "g", 1, 311, 312),
    ])
    assert db.query("SELECT * FROM diagnose_trace(%s)", (trace,)) == [
        ("gap", "0000000000000004", "short", "g",
         "no child covers 1.500 ms (30.0% of the span), from +3.500 ms to +5.000 ms into the span"),
        ("gap", "0000000000000008", "outside", "g",
         "no child covers 10.000 ms (100.0% of the span), from +0.000 ms to +10.000 ms into the span"),
        ("clock_skew", "0000000000000009", "e", "g", "ends 2.000 ms after its parent 0000000000000008"),
    ]


# ------------------------------------------------------------------- root cause

ROOT_CAUSE_COLUMNS = ["span_id", "name", "service_name", "depth", "error_path", "status_message",
                      "exception_time", "exception_type", "exception_message", "exception_stacktrace"]


def test_root_cause_is_the_deepest_error_span_on_the_error_path(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    load_trace_a(db)
    insert_trace(db, TRACE_B, T0_B, SPANS_B)
    insert_trace(db, TRACE_C, T0_C, SPANS_C)

    # B: the root is fine; of the two failing children, X1 leads to a deeper
    # error span, Y1. Its exception events come in time order, truncated to
    # the microsecond; the "log" event is not an exception.
    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM identify_root_cause(%s)", (TRACE_B,))
        assert [c.name for c in cur.description] == ROOT_CAUSE_COLUMNS
        assert cur.fetchall() == [
            (Y1, "POST /charge", "payments", 2, "api: call payments > payments: POST /charge", "card declined",
             at(T0_B, 12), "CardError", "card 4242 declined", "at charge (charge.js:10)"),
            (Y1, "POST /charge", "payments", 2, "api: call payments > payments: POST /charge", "card declined",
             at(T0_B, 38), "RuntimeError", "charge failed", "at handler (server.js:88)"),
        ]
    # A: the root failed, so the path starts there.
    expected_a = [(G2, "SELECT items", "checkout", 2,
                   "frontend: GET /checkout > checkout: POST /cart > checkout: SELECT items", "",
                   at(T0_A, 40), "TimeoutError", "query timed out after 9 ms",
                   G2_EXCEPTION["attributes"]["exception.stacktrace"])]
    assert db.query("SELECT * FROM identify_root_cause(%s)", (TRACE_A,)) == expected_a
    assert db.query("SELECT * FROM identify_root_cause(decode(%s, 'hex'))", (TRACE_A,)) == expected_a
    # No error, no row.
    assert db.query("SELECT * FROM identify_root_cause(%s)", (TRACE_C,)) == []


def test_root_cause_without_exception_events_is_one_row(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    trace = "9b000000000000000000000000000001"
    t0 = dt.datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
    insert_trace(db, trace, t0, [
        S("0000000000000001", None, "GET /", "web", 2, 0, 30, 2, "bad gateway"),
        S("0000000000000002", "0000000000000001", "call a", "web", 3, 1, 10, 2, "a failed"),
        # Deeper, but under an ok span: not on the error path.
        S("0000000000000003", "0000000000000001", "call b", "web", 3, 11, 20),
        S("0000000000000004", "0000000000000003", "b inner", "web", 1, 12, 19, 2, "b inner failed"),
        S("0000000000000005", "0000000000000004", "b leaf", "web", 1, 13, 18, 2, "b leaf failed"),
        # As deep as "call a" but later: the tie goes to the earlier span.
        S("0000000000000006", "0000000000000001", "call c", "web", 3, 21, 29, 2, "c failed"),
    ])
    assert db.query("SELECT * FROM identify_root_cause(%s)", (trace,)) == [
        ("0000000000000002", "call a", "web", 1, "web: GET / > web: call a", "a failed", None, None, None, None)]


# ------------------------------------------------------------------- similar traces

T0_S = dt.datetime(2024, 3, 12, 10, 0, tzinfo=UTC)


def search_trace(n: int, offset: dt.timedelta, names: Sequence[str], *, root: str = "GET /search",
                 service: str = "web", errors: int = 0, duration_ms: float = 20) -> tuple[str, dt.datetime, list[S]]:
    root_id = f"{n:02x}00000000000001"
    spans = [S(root_id, None, root, service, 2, 0, duration_ms)]
    for i, name in enumerate(names):
        spans.append(S(f"{n:02x}{i + 2:014x}", root_id, name, "search", 1, 1 + i, 2 + i, 2 if i < errors else 0))
    return f"5{n:031x}", T0_S + offset, spans


SIMILAR = {
    "S0": search_trace(0x10, dt.timedelta(0), ["query", "render"]),
    "S1": search_trace(0x11, -dt.timedelta(hours=3), ["render", "query"], duration_ms=30),
    "S2": search_trace(0x12, -dt.timedelta(hours=1), ["query", "render"]),
    "S3": search_trace(0x13, -dt.timedelta(hours=2), ["query"], errors=1),
    "S4": search_trace(0x14, -dt.timedelta(hours=4), ["query", "render", "cache", "auth"]),
    "S5": search_trace(0x15, -dt.timedelta(minutes=90), ["a", "b", "c"]),
    "S6": search_trace(0x16, -dt.timedelta(hours=1), ["query", "render"], service="web2"),
    "S7": search_trace(0x17, -dt.timedelta(hours=1), ["query", "render"], root="GET /home"),
    "S8": search_trace(0x18, dt.timedelta(hours=1), ["query", "query", "render", "extra"], duration_ms=12.5),
    "S9": search_trace(0x19, -dt.timedelta(hours=5), ["query", "render", "x"]),
}


def similar_row(key: str, similarity: str) -> tuple:
    trace, t0, spans = SIMILAR[key]
    errors = sum(1 for s in spans if s.status == 2)
    return (trace, D(similarity), t0, D(f"{max(s.end_ms for s in spans):.3f}"), len(spans), errors,
            "error" if errors else "ok", sorted({s.service for s in spans}))


def test_similar_traces_share_the_root_and_most_span_names(db, tracegate_bin):
    migrate(tracegate_bin, db, "up")
    ensure_partitions(db, "2024-03-12")
    for trace, t0, spans in SIMILAR.values():
        insert_trace(db, trace, t0, spans)
    target = SIMILAR["S0"][0]

    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM find_similar_traces(%s)", (target,))
        assert [c.name for c in cur.description] == [
            "trace_id", "similarity", "start_time", "duration_ms", "span_count", "error_count", "status", "services"]
        # By similarity, then the newest first. S5 (1/6) is below 0.5; S6 has
        # another root service, S7 another root name.
        assert cur.fetchall() == [
            similar_row("S2", "1.000"), similar_row("S1", "1.000"), similar_row("S8", "0.750"),
            similar_row("S9", "0.750"), similar_row("S3", "0.667"), similar_row("S4", "0.600"),
        ]
    assert db.query("SELECT trace_id FROM find_similar_traces(decode(%s, 'hex'), 3)", (target,)) == [
        (SIMILAR[k][0],) for k in ("S2", "S1", "S8")]
    assert db.query("SELECT trace_id FROM find_similar_traces(%s, min_similarity => 0.1)", (target,)) == [
        (SIMILAR[k][0],) for k in ("S2", "S1", "S8", "S9", "S3", "S4", "S5")]
    # Only the 4 newest traces of the same root are compared: S8, S2, S5, S3.
    assert db.query("SELECT trace_id FROM find_similar_traces(%s, candidates => 4)", (target,)) == [
        (SIMILAR[k][0],) for k in ("S2", "S8", "S3")]
    # Symmetric: S0 is as similar to S2 as S2 is to S0.
    assert (SIMILAR["S0"][0], D("1.000")) in db.query("SELECT trace_id, similarity FROM find_similar_traces(%s)",
                                                      (SIMILAR["S2"][0],))
    assert db.query("SELECT * FROM find_similar_traces(%s)", ("e" * 32,)) == []
    # A trace without a traces row: its root comes from its root span.
    lone, _, spans = search_trace(0x20, dt.timedelta(minutes=30), ["render", "query"])
    insert_trace(db, lone, T0_S + dt.timedelta(minutes=30), spans, traces_row=False)
    assert db.query("SELECT trace_id, similarity FROM find_similar_traces(%s, 3)", (lone,)) == [
        (SIMILAR["S0"][0], D("1.000")), (SIMILAR["S2"][0], D("1.000")), (SIMILAR["S1"][0], D("1.000"))]


# ------------------------------------------------------------------- migration

CATALOG = """
    SELECT c.relkind::text, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public'
    ORDER BY 1, 2
"""
SURFACE = [("function", "diagnose_trace(bytea)"), ("function", "diagnose_trace(text)"),
           ("function", "find_similar_traces(bytea,integer,numeric,integer)"),
           ("function", "find_similar_traces(text,integer,numeric,integer)"),
           ("function", "identify_root_cause(bytea)"), ("function", "identify_root_cause(text)"),
           ("function", "trace_waterfall(bytea)"), ("function", "trace_waterfall(text)"),
           ("v", "trace_spans_health"), ("v", "trace_waterfall")]


def test_migrate_up_down_up_with_the_surface_in_place(db, tracegate_bin):
    assert migrate(tracegate_bin, db, "up", "--to", "2")[-1] == "applied 2 partitioned_trace_spans_and_traces"
    load_trace_a(db)
    before = db.query(CATALOG)

    assert migrate(tracegate_bin, db, "up", "--to", "3") == ["applied 3 sql_surface"]
    after = db.query(CATALOG)
    assert set(SURFACE) <= set(after)
    # The new index of trace_spans is on each partition: default, 20240310, 20240311.
    assert ("I", "trace_spans_service_name_start") in after and ("i", "traces_trace_id_hex") in after
    assert db.scalar("SELECT count(*) FROM pg_inherits"
                     " WHERE inhparent = 'trace_spans_service_name_start'::regclass") == 3
    assert db.query("SELECT count(*) FROM trace_waterfall(%s)", (TRACE_A,)) == [(8,)]

    assert migrate(tracegate_bin, db, "down") == ["reverted 3 sql_surface"]
    assert db.query(CATALOG) == before
    assert migrate(tracegate_bin, db, "status")[-5:] == ["pending 3 sql_surface", "pending 4 notification_outbox",
                                                         "pending 5 service_graph", "pending 6 query_api",
                                                         "pending 7 traces_trace_id_hash"]

    assert migrate(tracegate_bin, db, "up", "--to", "3") == ["applied 3 sql_surface"]
    assert db.query(CATALOG) == after
    assert db.query("SELECT * FROM trace_waterfall(%s)", (TRACE_A,)) == expected_waterfall(TRACE_A, T0_A, WATERFALL_A)

    # All the way down and up again.
    for _ in range(3):
        migrate(tracegate_bin, db, "down")
    assert not db.exists("trace_spans")
    assert migrate(tracegate_bin, db, "up", "--to", "3")[-1] == "applied 3 sql_surface"
    assert set(SURFACE) <= set(db.query(CATALOG))


def test_service_graph_pairs_stored_spans_and_goes_with_its_migration(db, tracegate_bin):
    assert migrate(tracegate_bin, db, "up", "--to", "5")[-1] == "applied 5 service_graph"
    t0 = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(4):
        trace_id = bytes([0xAB, i]) + bytes(14)
        client, server, query = bytes([1, i]) + bytes(6), bytes([2, i]) + bytes(6), bytes([3, i]) + bytes(6)
        # web -> cart (a client span and the server span it parents), cart -> a database.
        rows.append((trace_id, client, None, 3, "web", t0, 30_000_000, 2 if i == 0 else 0, "{}"))
        rows.append((trace_id, server, client, 2, "cart", t0 + dt.timedelta(milliseconds=2), 20_000_000, 0, "{}"))
        rows.append((trace_id, query, server, 3, "cart", t0 + dt.timedelta(milliseconds=3), 5_000_000, 0,
                     '{"db.system": "postgresql"}'))
    with db.connect() as conn:
        for r in rows:
            conn.execute(
                "INSERT INTO trace_spans (trace_id, span_id, parent_span_id, kind, service_name, start_time, end_time,"
                " duration_ns, status_code, attributes, name, scope_name)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s + make_interval(secs => %s / 1e9), %s, %s, %s::jsonb, 'op', 's')",
                (r[0], r[1], r[2], r[3], r[4], r[5], r[5], r[6], r[6], r[7], r[8]))
    got = db.query("SELECT client, server, connection_type, requests, failed, server_p50_ms, client_p95_ms"
                   " FROM service_graph(%s, %s)", (t0 - dt.timedelta(minutes=1), t0 + dt.timedelta(minutes=1)))
    assert got == [("cart", "postgresql", "database", 4, 0, 5.0, 5.0), ("web", "cart", "", 4, 1, 20.0, 30.0)], got
    # Outside the range: nothing.
    assert db.query("SELECT * FROM service_graph(%s, %s)", (t0 + dt.timedelta(hours=1), t0 + dt.timedelta(hours=2))) == []
    assert migrate(tracegate_bin, db, "down") == ["reverted 5 service_graph"]
    assert not db.query("SELECT 1 FROM pg_proc WHERE proname = 'service_graph'")
