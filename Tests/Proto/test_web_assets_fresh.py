"""Sources/TracegateQuery/Web/WebAssets.swift must be exactly what
scripts/gen-web-assets writes from web/, and the Swift it writes must hold
every file's bytes unchanged (raw string literals: no escape, delimiter or
indentation may alter them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "gen-web-assets"
WEB = REPO_ROOT / "web"
COMMITTED = REPO_ROOT / "Sources" / "TracegateQuery" / "Web" / "WebAssets.swift"
HINT = "regenerate with: make gen-web (scripts/gen-web-assets) and commit the result"


def generate(output: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), str(output)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"gen-web-assets failed:\n{result.stdout}\n{result.stderr}"


def test_committed_file_is_fresh(tmp_path: Path) -> None:
    fresh = tmp_path / "WebAssets.swift"
    generate(fresh)
    old, new = COMMITTED.read_text(encoding="utf-8"), fresh.read_text(encoding="utf-8")
    if old != new:
        old_lines, new_lines = old.splitlines(), new.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b),
                     min(len(old_lines), len(new_lines)))
        pytest.fail(f"{COMMITTED.relative_to(REPO_ROOT)} is stale (first difference at line {first + 1}); {HINT}",
                    pytrace=False)


def test_every_web_file_is_embedded() -> None:
    text = COMMITTED.read_text(encoding="utf-8")
    for path in sorted(WEB.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            assert f'case "{path.name}":' in text, f"web/{path.name} is not served by WebAssets.asset(named:); {HINT}"


# A file that holds everything that could end or alter a raw literal early.
TRICKY = 'a """# b \\# c \\(x) """## \\##(y) """\n    indented\n\ttab\n"""#\nno final newline'


def test_swift_literals_hold_the_exact_bytes(tmp_path: Path) -> None:
    """Compiles the generated enum (from web/ plus a tricky file) with swiftc
    and compares what each asset's StaticString holds with the file."""
    swiftc = shutil.which("swiftc")
    assert swiftc, "swiftc is not on PATH (the Swift toolchain builds Tracegate; it must be installed)"
    web = tmp_path / "web"
    shutil.copytree(WEB, web)
    (web / "tricky.txt").write_text(TRICKY, encoding="utf-8")
    # The script reads web/ beside scripts/: run a copy of it in a tree of its own.
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "gen-web-assets")
    swift_file = tmp_path / "WebAssets.swift"
    result = subprocess.run([sys.executable, str(tmp_path / "scripts" / "gen-web-assets"), str(swift_file)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    main = tmp_path / "main.swift"
    main.write_text(
        "let names = CommandLine.arguments.dropFirst()\n"
        "for name in names {\n"
        "    guard let asset = WebAssets.asset(named: name) else { print(\"\\(name) MISSING\"); continue }\n"
        "    let bytes = asset.body.withUTF8Buffer { Array($0) }\n"
        "    let sum = bytes.reduce(into: UInt64(14695981039346656037)) { h, b in h = (h ^ UInt64(b)) &* 1099511628211 }\n"
        "    print(\"\\(name) \\(bytes.count) \\(sum) \\(asset.contentType)\")\n"
        "}\n"
        "let index = WebAssets.index.body.withUTF8Buffer { Array($0) }\n"
        "print(\"index \\(index.count)\")\n",
        encoding="utf-8")
    binary = tmp_path / "assets-roundtrip"
    build = subprocess.run([swiftc, "-Onone", str(main), str(swift_file), "-o", str(binary)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"swiftc failed on the generated file:\n{build.stderr[-4000:]}"
    names = sorted(p.name for p in web.iterdir() if p.is_file())
    run = subprocess.run([str(binary), *names], capture_output=True, text=True, timeout=60, check=True)
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())

    def fnv(data: bytes) -> int:
        h = 14695981039346656037
        for b in data:
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        return h

    for name in names:
        data = (web / name).read_bytes()
        assert name in lines, f"{name}: no output from the round-trip program"
        count, digest, _ctype = lines[name].split(" ", 2)
        assert (int(count), int(digest)) == (len(data), fnv(data)), \
            f"{name}: the Swift literal holds {count} bytes that differ from the file's {len(data)}"
    assert lines["index"] == str(len((web / "index.html").read_bytes()))
