"""The README is a map: short, opening with the two commands, linking every docs/ page; every
link in it and in the pages leads somewhere; every metric and make target they name exists;
every setting the code reads is on the operations page; every line `make run` suggests is one
the cheat-sheet test runs."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

import gateway
from sim.demo import what_next
from tests.docs.readme import DOCS, README, anchors, cheat_sheet, cli_lines, links, shell_block

PAGES = sorted(DOCS.glob("*.md"))
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def test_the_readme_is_a_map_that_opens_with_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    first = shell_block(text)
    assert [line.split("#")[0].strip() for line in first] == ["make run", "make test"]
    assert text.index("```sh") < text.index("\n## ")  # before anything else


def test_the_readme_links_every_docs_page() -> None:
    linked = {(README.parent / target.split("#")[0]).resolve() for target in links(README)}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (
            fragment and file.suffix == ".md" and fragment not in anchors(file)
        ):
            broken.append(target)
    assert broken == []


def _registered_metrics() -> set[str]:
    """The metric names the gateway's processes and the worker expose."""
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        importlib.import_module(module.name)
    from gateway.worker.consumer import ConsumerStats
    from gateway.worker.health import WorkerCollector, WorkerState

    worker = CollectorRegistry()
    worker.register(WorkerCollector(ConsumerStats(), WorkerState()))
    families = [*REGISTRY.collect(), *worker.collect()]
    return {f.name + suffix for f in families for suffix in _SUFFIXES}


def test_every_metric_the_pages_name_exists() -> None:
    named = {
        name
        for page in [README, *PAGES]
        for name in re.findall(r"\babgate_[a-z_]+[a-z]", page.read_text())
    }
    assert named, "no metric named: the pattern is wrong"
    assert sorted(named - _registered_metrics()) == []


def test_what_make_run_suggests_next_is_in_the_cheat_sheet() -> None:
    suggested = what_next("http://127.0.0.1:8080", "dev-admin-token")
    commands = [line.strip() for line in suggested if line.strip().startswith("abgate ")]
    assert commands
    sheet = {line.text.split("#")[0].strip() for line in cli_lines(cheat_sheet())}
    assert [c for c in commands if c not in sheet] == []
    readme = README.read_text()
    assert all(line.strip() in readme for line in suggested if line.strip())


def test_every_make_target_the_pages_name_exists() -> None:
    makefile = (README.parent / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = {
        target
        for page in [README, *PAGES]
        for target in re.findall(r"`make ([a-z][a-z-]*)", page.read_text())
    }
    assert named and sorted(named - targets) == []


def test_every_setting_the_code_reads_is_in_the_operations_page() -> None:
    read = {
        name
        for module in (README.parent / "gateway").rglob("*.py")
        for name in re.findall(r'"(ABGATE_[A-Z0-9_]+)"', module.read_text())
    }
    documented = set(re.findall(r"ABGATE_[A-Z0-9_]+", (DOCS / "operations.md").read_text()))
    assert read and sorted(read - documented) == []
