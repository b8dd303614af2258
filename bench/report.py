"""docs/benchmarks.md: each benchmark replaces its own section with the figures of its run."""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.settings import ROOT

REPORT = ROOT / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks (`make bench`)\n\n"
    "Each section is written by one benchmark of `bench/`; every figure is printed next to its "
    "baseline, measured in the same run on the same machine.\n"
)


def publish(title: str, lines: Sequence[str], write: bool) -> int:
    """Print a benchmark's lines and, unless told not to, write them as its section."""
    print("\n".join(lines))
    if write:
        write_section(title, lines)
    return 0


def write_section(title: str, lines: Sequence[str], report: Path = REPORT) -> None:
    """Replace (or add) the section ``## title`` of docs/benchmarks.md with ``lines``; the
    other sections stay, in a fixed order."""
    text = report.read_text(encoding="utf-8") if report.exists() else HEADER
    stamp = f"_{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}_"
    section = "\n".join([f"## {title}", "", stamp, "", *lines]).rstrip() + "\n"
    parts = text.split("\n## ")
    head, sections = parts[0].rstrip() + "\n", parts[1:]
    kept = [s for s in sections if not s.startswith(title + "\n")]
    body = [("## " + s).rstrip() + "\n" for s in kept]
    ordered = sorted([*body, section], key=lambda s: _ORDER.get(s.split("\n", 1)[0][3:], 99))
    report.write_text(head + "\n" + "\n".join(ordered), encoding="utf-8")


_ORDER = {
    "Throughput against bare aiohttp": 0,
    "Worker against the gateway": 1,
    "Config propagation": 2,
    "Named features against unnamed arrays": 3,
    "Soak": 4,
}
