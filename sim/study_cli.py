"""The command line the simulation studies share: ``--quick``, ``--out``, ``--seed``,
``--workers``; the report printed, written to ``--out`` with its run time."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

Study = Callable[[ProcessPoolExecutor, bool, int], str]


def study_main(
    argv: list[str] | None,
    prog: str,
    doc: str | None,
    out: Path,
    seed: int,
    study: Study,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--quick", action="store_true", help="few runs (a smoke run)")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with ProcessPoolExecutor(args.workers, initializer=initializer, initargs=initargs) as pool:
        text = study(pool, args.quick, args.seed)
    text += (
        f"\nRun time: {time.monotonic() - started:.0f} s on {args.workers} worker process(es).\n"
    )
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0
