"""The README read as the tests read it: its links, and the lines of its CLI cheat-sheet."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from gateway.settings import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
CHEAT_SHEET = "## CLI cheat-sheet"
_EXIT = re.compile(r"#\s*exit (\d+)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class CliLine:
    """One ``abgate ...`` line of the cheat-sheet: its words (the comment left out) and the
    exit code it documents (``# exit N: ...``; 0 unless it says otherwise)."""

    text: str
    argv: tuple[str, ...]
    exit_code: int


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def shell_block(text: str) -> list[str]:
    """The lines of the first ```sh block of ``text``."""
    match = re.search(r"```sh\n(.*?)```", text, flags=re.S)
    assert match, "no ```sh block"
    return match.group(1).splitlines()


def cli_line(line: str) -> CliLine:
    code = _EXIT.search(line)
    argv = tuple(shlex.split(line, comments=True))
    return CliLine(line, argv, int(code.group(1)) if code else 0)


def cheat_sheet() -> list[str]:
    return shell_block(section(README.read_text(), CHEAT_SHEET))


def cli_lines(lines: list[str]) -> list[CliLine]:
    return [cli_line(line) for line in lines if line.startswith("abgate ")]


def links(page: Path) -> list[str]:
    """Every Markdown link target of ``page`` that is not a web address."""
    return [
        target
        for target in _LINK.findall(page.read_text())
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}
