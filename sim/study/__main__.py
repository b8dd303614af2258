"""``python -m sim.study [--quick] [--out docs/stats-validation.md]``: the stats validation study."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from sim.study.report import REPORT_PATH, run_study
from sim.study_cli import study_main


def _run(pool: ProcessPoolExecutor, quick: bool, seed: int) -> str:
    return run_study(pool, quick=quick, seed=seed)


def main(argv: list[str] | None = None) -> int:
    return study_main(argv, "python -m sim.study", __doc__, REPORT_PATH, 20261123, _run)


if __name__ == "__main__":
    raise SystemExit(main())
