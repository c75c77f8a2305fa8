"""The committed fixtures in Tests/Fixtures/ must be exactly what
Tests/Fixtures/make_fixtures.py generates, and README.md's text dump of
all_types.binpb must match too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"
SCRIPT = FIXTURES / "make_fixtures.py"
FIXTURE_PATTERNS = ("*.binpb", "*.bin")
HINT = "regenerate with: .venv/bin/python Tests/Fixtures/make_fixtures.py (and update Tests/Fixtures/README.md)"


def fixture_names(directory: Path) -> set[str]:
    return {p.name for pattern in FIXTURE_PATTERNS for p in directory.glob(pattern)}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"make_fixtures.py failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_same_set_of_files(regenerated: Path) -> None:
    ours, fresh = fixture_names(FIXTURES), fixture_names(regenerated)
    assert fresh, "make_fixtures.py wrote no fixtures"
    assert ours == fresh, (
        f"missing from Tests/Fixtures: {sorted(fresh - ours)}; "
        f"not produced by the script: {sorted(ours - fresh)}; {HINT}"
    )


@pytest.mark.parametrize(
    "name", ["all_types.binpb", "invalid_spans.binpb", "many_spans.binpb", "empty.binpb", "garbage.bin", "all_types.json"]
)
def test_fixture_is_byte_identical(name: str, regenerated: Path) -> None:
    committed = FIXTURES / name
    assert committed.is_file(), f"{committed} is missing; {HINT}"
    old, new = committed.read_bytes(), (regenerated / name).read_bytes()
    if old != new:
        first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        pytest.fail(
            f"{name} differs from a fresh generation "
            f"(committed {len(old)} bytes, generated {len(new)} bytes, first difference at offset {first}); {HINT}",
            pytrace=False,
        )


def test_generation_is_deterministic(regenerated: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], cwd=REPO_ROOT, check=True, capture_output=True)
    for name in fixture_names(regenerated):
        assert (tmp_path / name).read_bytes() == (regenerated / name).read_bytes(), f"{name} is not deterministic"


def test_readme_dump_matches() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- BEGIN all_types dump -->\n```text\n(.*?)```\n<!-- END all_types dump -->", readme, re.S
    )
    assert match, "README.md has no all_types dump block"
    dump = subprocess.run(
        [sys.executable, str(SCRIPT), "--dump"], cwd=REPO_ROOT, check=True, capture_output=True
    ).stdout.decode("utf-8")
    assert match.group(1) == dump, f"README.md's all_types dump is out of date; {HINT}"
