"""The repository stands alone (DESIGN invariant 8): nothing in it reads a path outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = {".py", ".toml", ".cfg", ".ini", ".sh", ".json", ".yml", ".yaml"}
SCANNED_NAMES = {"Makefile", "run"}
SKIPPED_DIRS = {".git", ".venv", "var", "build", "__pycache__", ".mypy_cache", ".ruff_cache"}
# A path that climbs out of the checkout: the sibling shared folder, a parent of the root, ...
OUTSIDE = re.compile(
    r"\.\./shared|\.\.[/\\]\.\.|ROOT\.parent\b|parents\[\s*[2-9]\s*\]\s*/\s*['\"]|"
    r"parent\s*/\s*['\"]shared['\"]"
)


def _project_files() -> list[Path]:
    """The files that make up the project: tracked by git, else every file outside tool caches."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        candidates = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        candidates = [
            p
            for p in ROOT.rglob("*")
            if not any(
                part in SKIPPED_DIRS or part.startswith(".")
                for part in p.relative_to(ROOT).parts[:-1]
            )
        ]
    return [
        p for p in candidates if p.is_file() and (p.suffix in SCANNED or p.name in SCANNED_NAMES)
    ]


def test_no_file_reaches_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _project_files()
        if path != this
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_the_pattern_catches_what_it_should() -> None:
    for line in (
        # Assembled, so that this file does not itself hold the lines it looks for.
        "CONFORMANCE = ROOT.parent / " + '"sha' + 'red" / "conformance"',
        "data = open('.." + "/shared/x.json')",
        'Path(__file__).parents[2] / "shared"',
    ):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search('Path(__file__).parent / "data" / "cases.json"')
