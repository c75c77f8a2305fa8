"""Overload and graceful shutdown of the real binary against PostgreSQL, driven
by `tracegate-bench load` (the load generator built beside the gateway) and a
Python client that looks at every answer.

- Overload: the sink's capacity is measured first, then load is offered at
  twice that for 30 s. Clients see 429/503 with Retry-After, the gateway's RSS
  stays bounded by the memory_limiter, and every acknowledged span reaches
  PostgreSQL.
- Graceful shutdown: SIGTERM while the queue holds tens of thousands of spans
  and clients are still sending: exit 0, and every acknowledged span is in
  PostgreSQL.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import requests

from e2e_helpers import gateway_config, request_with_spans, wait_until

LIMIT_MIB = 64
# RSS may exceed the idle RSS by the heap the limiter allows (limit_mib) plus
# this much: allocator fragmentation and per-thread caches, which the limiter
# does not see (it measures heap in use).
RSS_OVERHEAD_MIB = 24
SPANS_PER_REQUEST = 200
SHAPE = ["--spans-per-request", str(SPANS_PER_REQUEST), "--attributes", "8", "--attribute-size", "64"]


def bench_binary(tracegate_bin: str) -> str:
    path = Path(tracegate_bin).parent / "tracegate-bench"
    assert path.is_file(), f"{path} is missing; `swift build` builds it beside tracegate"
    return str(path)


def start_load(tracegate_bin: str, gw, *, seconds: float, connections: int, rate: float = 0) -> subprocess.Popen[str]:
    args = [bench_binary(tracegate_bin), "load", "--endpoint", gw.traces_url, "--connections", str(connections),
            "--duration", str(seconds), "--rate", str(rate), *SHAPE]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_report(proc: subprocess.Popen[str], timeout: float) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"tracegate-bench failed:\n{err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def pg_config(dsn: str, **kwargs) -> dict:
    config = gateway_config(dsn, batch_timeout="100ms", send_batch_size=2000, num_consumers=1, **kwargs)
    config["processors"] = {"memory_limiter": {"limit_mib": LIMIT_MIB, "check_interval": "100ms"},
                            **config["processors"]}
    config["service"]["pipelines"]["traces"]["processors"] = ["memory_limiter", "batch"]
    return config


class CheckingClient(threading.Thread):
    """Sends small requests in a loop and checks every refusal: 429 or 503,
    with a Retry-After of at least one second. Keeps the keys it got a 200 for."""

    def __init__(self, gw):
        super().__init__(daemon=True)
        self.gw = gw
        self.stop = threading.Event()
        self.acked: set[tuple[str, str]] = set()
        self.refusals: dict[int, int] = {}
        self.problems: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            body, keys = request_with_spans(10)
            try:
                r = self.gw.post(body, session=session, timeout=10)
            except requests.RequestException as e:
                self.problems.append(f"request failed: {e}")
                continue
            if r.status_code == 200:
                self.acked |= keys
            elif r.status_code in (429, 503):
                self.refusals[r.status_code] = self.refusals.get(r.status_code, 0) + 1
                retry_after = r.headers.get("Retry-After", "")
                if not (retry_after.isdigit() and int(retry_after) >= 1):
                    self.problems.append(f"{r.status_code} without a usable Retry-After: {retry_after!r}")
            else:
                self.problems.append(f"unexpected status {r.status_code}: {r.content[:200]!r}")
            time.sleep(0.02)


def test_overload_at_twice_the_sink_capacity_refuses_with_retry_hints_bounds_memory_and_loses_nothing(
        db, gateway, tracegate_bin):
    gw = gateway.start(pg_config(db.dsn, queue_size=200_000, shutdown_timeout="60s"))
    idle_rss = rss_kib(gw.proc.pid)

    # The sink's capacity: rows written per second while clients keep it saturated.
    saturate = start_load(tracegate_bin, gw, seconds=6, connections=4)
    time.sleep(2)
    rows_before, t_before = db.count_spans(), time.monotonic()
    time.sleep(3.5)
    rows_after, t_after = db.count_spans(), time.monotonic()
    capacity = (rows_after - rows_before) / (t_after - t_before)
    first = load_report(saturate, timeout=60)
    assert capacity > 0, "nothing was written while saturating the sink"

    # Twice that, for 30 s, while RSS is sampled and a checking client sends too.
    peak_rss = idle_rss
    checker = CheckingClient(gw)
    checker.start()
    overload = start_load(tracegate_bin, gw, seconds=30, connections=8, rate=2 * capacity)
    while overload.poll() is None:
        peak_rss = max(peak_rss, rss_kib(gw.proc.pid))
        time.sleep(0.05)
    checker.stop.set()
    checker.join(timeout=15)
    second = load_report(overload, timeout=10)

    statuses = second["statuses"]
    offered = second["requests"] * SPANS_PER_REQUEST / second["duration_s"]
    refused = statuses.get("429", 0) + statuses.get("503", 0)
    assert refused > 0, f"no refusals at {offered:.0f} spans/s offered, capacity {capacity:.0f}: {statuses}"
    assert set(statuses) <= {"200", "429", "503"}, statuses
    assert not checker.problems, checker.problems[:5]
    assert checker.refusals, "the checking client never saw a refusal"
    # The memory limiter is what refused: the queue (200000 spans) never filled.
    assert statuses.get("429", 0) > 0, statuses

    limit_kib = (LIMIT_MIB + RSS_OVERHEAD_MIB) * 1024
    assert peak_rss - idle_rss <= limit_kib, (
        f"RSS grew from {idle_rss // 1024} MiB to {peak_rss // 1024} MiB, more than limit_mib {LIMIT_MIB} "
        f"+ {RSS_OVERHEAD_MIB} MiB")

    acknowledged = first["acked_spans"] + second["acked_spans"] + len(checker.acked)
    db.wait_for_spans(acknowledged, timeout=90)
    stored = set(db.stored_keys())
    assert checker.acked <= stored
    print(f"capacity {capacity:.0f} spans/s, offered {offered:.0f} spans/s, statuses {statuses}, "
          f"checker refusals {checker.refusals}, RSS idle {idle_rss // 1024} MiB peak {peak_rss // 1024} MiB, "
          f"acknowledged {acknowledged}")


def test_sigterm_with_spans_in_queue_and_clients_sending_exits_0_and_loses_nothing_acknowledged(
        db, gateway, tracegate_bin):
    gw = gateway.start(pg_config(db.dsn, queue_size=40_000, shutdown_timeout="60s"))
    load = start_load(tracegate_bin, gw, seconds=4, connections=4)

    def queued() -> float:
        text = requests.get(gw.metrics_url, timeout=5).text
        for line in text.splitlines():
            if line.startswith('tracegate_exporter_queue_size{exporter="postgres"}'):
                return float(line.split()[-1])
        return 0.0

    held = wait_until(lambda: queued() >= 10_000 and queued(), 20, "the queue to hold at least 10000 spans")
    assert load.poll() is None, "the load ended before the shutdown"
    assert gw.stop(timeout=90) == 0, gw.log_tail()
    report = load_report(load, timeout=30)
    assert report["acked_spans"] > held
    db.wait_for_spans(report["acked_spans"], timeout=10)
    log = gw.log_text()
    assert "shutdown deadline passed" not in log, gw.log_tail()
    assert "tracegate stopped" in log
