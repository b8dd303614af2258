"""The pure cores import no I/O library (STYLE practice 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"aiohttp", "redis", "onnxruntime", "torch", "socket", "urllib"}
PURE = [
    ROOT / "gateway" / "router",
    ROOT / "gateway" / "bandit",
    ROOT / "stats",
    ROOT / "gateway" / "inference" / "batch.py",
    ROOT / "gateway" / "config",
    ROOT / "gateway" / "control" / "changes.py",
    ROOT / "gateway" / "worker" / "retry_schedule.py",
    ROOT / "gateway" / "records.py",
    ROOT / "gateway" / "models" / "ranking_metrics.py",
    ROOT / "gateway" / "ops" / "histogram.py",
    ROOT / "gateway" / "ops" / "guardrails.py",
]


def _modules(path: Path) -> list[Path]:
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize(
    "module", [m for p in PURE for m in _modules(p)], ids=lambda p: str(p.relative_to(ROOT))
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
