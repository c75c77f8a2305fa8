"""`make bench` is not part of `make test` (benchmarks are never timed
assertions); this only checks that the benchmark tool runs every scenario end
to end on a tiny scale and writes a well-formed report."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_runs_every_scenario_and_writes_a_well_formed_report(tmp_path, tracegate_bin):
    out = tmp_path / "report.md"
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--bin-dir", os.path.dirname(tracegate_bin), "--out", str(out),
         "--pg-dir", os.path.join(ROOT, ".data/test-bench-pg")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text()
    assert report.startswith("# Tracegate benchmark results")
    for field in ("- date: ", "- commit: ", "- machine: ", "- conditions: "):
        assert field in report
    rows = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| scenario")]
    scenarios = [row.split("|")[1].strip() for row in rows]
    assert scenarios == ["decode", "ingest-null", "ingest-null-json", "ingest-null-grpc", "ingest-persistent",
                         "ingest-persistent-fsync", "ingest-null-spanmetrics", "ingest-postgres", "server CPU per span",
                         "ingest-postgres-indexed", "ingest ceiling", "ack latency", "overload", "forward", "query",
                         "footprint", "footprint (sidecar)"]
    for row in rows:
        assert row.count("|") == 6, row
    # Figures are numbers measured in this run, and nothing acknowledged was lost.
    assert re.search(r"\| decode \| [\d,]+ spans/s", report)
    assert re.search(r"in CPU time \d+\.\d%", report)
    assert re.search(r"\| ingest-postgres \| [\d,]+ spans/s landed", report)
    assert re.search(r"median of 1 alternating rounds \(ratios \d+%\)", report)
    assert re.search(r"\| ingest ceiling \| raw binary COPY while the load generator offers [\d,]+ spans/s", report)
    assert re.search(r"send lag p50 [\d.]+ ms, p99 [\d.]+ ms", report)
    # Every protocol of the load generator is acknowledged by the gateway.
    for scenario in ("ingest-null", "ingest-null-json", "ingest-null-grpc"):
        assert re.search(rf"\| {scenario} \| [1-9][\d,]* spans/s acknowledged", report), scenario
    assert re.search(r"\| forward \| [1-9][\d,]* spans/s landed", report)
    # The persistent queue's rows: acknowledged spans, their share of the
    # in-memory figure, and a p99, with or without fsync.
    for scenario in ("ingest-persistent", "ingest-persistent-fsync"):
        assert re.search(rf"\| {scenario} \| [1-9][\d,]* spans/s acknowledged = \d+% of ingest-null; "
                         r"p99 \d+\.\d\d ms \|", report), scenario
    assert "`fsync: false`" in report and "`fsync: true`" in report
    assert "'grpc 0': " in report
    assert "acknowledged but not landed: 0 " in report
    assert re.search(r"\| forward \|[^\n]*; lost 0 \|", report)
    assert re.search(r"\| ingest-null-spanmetrics \| [1-9][\d,]* spans/s acknowledged = \d+% of ingest-null", report)
    assert re.search(r"\| server CPU per span \| PostgreSQL CPU [\d.]+ µs per span [^|]* → [\d.]+× \|", report)
    assert re.search(r"\| ingest-postgres-indexed \| [1-9][\d,]* spans/s landed = \d+% of ingest-postgres; lost 0 ", report)
    # The query scenario ran over the generated spans and found traces; the
    # page was drawn in a real browser (make test installs one).
    m = re.search(r"\| query \| search p50 \d+ ms, p95 \d+ ms \(max \d+ ms; (\d+) searches, (\d+) traces\); "
                  r"`/api/traces/\{id\}` of a 10,000-span trace \d+ ms; trace page drawn in \d+ ms", report)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, report
