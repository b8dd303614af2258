"""The pure cores import no I/O library (STYLE practice 1), and the three checks that say so
read one list of them: ``[tool.abgate] pure_modules`` in pyproject.toml.

import-linter and mypy read only their own sections, so the test below holds those sections to
the one list; this module's own check reads it directly."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
PURE: list[str] = PYPROJECT["tool"]["abgate"]["pure_modules"]
PURE_CONTRACT = "Pure cores import no I/O library"


def _contract() -> dict[str, Any]:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == PURE_CONTRACT)


FORBIDDEN = set(_contract()["forbidden_modules"])


def _path(module: str) -> Path:
    """A dotted module's file, or its package's directory."""
    base = ROOT.joinpath(*module.split("."))
    return base if base.is_dir() else base.with_suffix(".py")


def _mypy_pattern(module: str) -> str:
    """How mypy's override names a module: a package with every module in it as ``name.*``."""
    return f"{module}.*" if _path(module).is_dir() else module


def _strict_modules() -> list[str]:
    overrides = PYPROJECT["tool"]["mypy"]["overrides"]
    strict = [o for o in overrides if o.get("strict")]
    assert len(strict) == 1, "one strict mypy override, the pure modules'"
    modules: list[str] = strict[0]["module"]
    return modules


def _difference(name: str, got: list[str], expected: list[str]) -> str:
    extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
    return f"{name} differs from [tool.abgate] pure_modules: extra {extra}, missing {missing}"


def test_the_one_list_names_real_modules_once() -> None:
    assert sorted(set(PURE)) == PURE, "pure_modules: keep it sorted, each module once"
    for module in PURE:
        assert _path(module).exists(), f"pure_modules: {module!r} is no module or package"


def test_import_linter_contract_reads_the_one_list() -> None:
    got = _contract()["source_modules"]
    assert sorted(got) == PURE, _difference(f"import-linter's {PURE_CONTRACT!r}", got, PURE)


def test_mypy_strict_list_is_the_one_list() -> None:
    expected = [_mypy_pattern(m) for m in PURE]
    got = _strict_modules()
    assert sorted(got) == sorted(expected), _difference("mypy's strict override", got, expected)


def _files(module: str) -> list[Path]:
    path = _path(module)
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize(
    "module", [f for m in PURE for f in _files(m)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_pure_core_imports_no_io(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"{module} imports {imported & FORBIDDEN}"


def test_serving_path_never_imports_torch() -> None:
    for module in (ROOT / "gateway").rglob("*.py"):
        assert "import torch" not in module.read_text(), module
