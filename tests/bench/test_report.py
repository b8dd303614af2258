"""docs/benchmarks.md sections: a benchmark's run replaces its own section only."""

from __future__ import annotations

from pathlib import Path

from bench.report import write_section


def test_a_section_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    write_section("Later bench", ["b1"], report)
    write_section("Throughput against bare aiohttp", ["t1"], report)
    text = report.read_text()
    assert text.startswith("# Benchmarks")
    assert text.index("## Throughput against bare aiohttp") < text.index("## Later bench")
    write_section("Throughput against bare aiohttp", ["t2"], report)
    text = report.read_text()
    assert "t2" in text and "t1" not in text and "b1" in text
    assert text.count("## Throughput against bare aiohttp") == 1
