"""``python -m sim.study [--quick] [--out docs/stats-validation.md]``: the stats validation study."""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sim.study.report import REPORT_PATH, run_study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.study", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few replications (a smoke run)")
    parser.add_argument("--out", type=Path, default=REPORT_PATH)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        text = run_study(pool, quick=args.quick, seed=args.seed)
    elapsed = time.monotonic() - started
    text += f"\nRun time: {elapsed:.0f} s on {args.workers} worker process(es).\n"
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
