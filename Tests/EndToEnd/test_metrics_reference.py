"""docs/metrics.md lists every metric the code registers, and nothing else:
the metric names are the `"tracegate_…"` string literals of the Swift sources
(swift-metrics labels, given directly or through a helper), the documented
ones come from the reference's tables."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# String literals of that shape that are not metric names.
NOT_METRICS = {"tracegate_schema_migrations"}


def code_metrics() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "Sources").rglob("*.swift"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'"(tracegate_[a-z0-9_]+)"', text))
    return names - NOT_METRICS


def documented_metrics() -> set[str]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(tracegate_[a-z0-9_]+)`", text, flags=re.MULTILINE))


def test_every_registered_metric_is_documented_and_every_documented_one_exists():
    code, docs = code_metrics(), documented_metrics()
    assert len(code) > 30
    assert sorted(code - docs) == [], "metrics registered in Sources/ but missing from docs/metrics.md"
    assert sorted(docs - code) == [], "metrics in docs/metrics.md that no source registers"
