"""Where the gateway's pages and their files live: ``gateway/static`` in the package."""

from __future__ import annotations

from pathlib import Path
from typing import Final

STATIC: Final = Path(__file__).resolve().parent.parent / "static"
