"""Soak of retention (issue 11): `--runs` checks of the recorded ocw-today scenario on one
database, with `[retention]` on (keep_runs = 10, keep_days = 0) and off, printing the database's
and the reports folder's size as the runs add up. Sizes, not verdicts.

Run: `python tests/benchmarks/soak_retention.py [--runs 200]` (about 2 minutes per setting).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TODAY = REPO / "ocwwatch" / "demo" / "scenarios" / "ocw-today"
RULES = {
    "on": "keep_runs = 10\nkeep_days = 0\n",
    "off": "keep_runs = 1000000\nprune_after_run = false\n",
}


def size_of(paths: list[Path]) -> int:
    return sum(path.stat().st_size for path in paths if path.is_file())


def soak(setting: str, runs: int) -> None:
    from ocwwatch.cli import main

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config"
        shutil.copytree(REPO / "config", config)
        with (config / "ocwwatch.toml").open("a") as settings:
            settings.write("\n[retention]\n" + RULES[setting])
        data = Path(folder) / "data"
        began = time.perf_counter()
        for number in range(1, runs + 1):
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(["-q", "check", "--config", str(config / "ocwwatch.toml"),
                             "--replay", str(TODAY)])  # fmt: skip
            if code != 1:
                sys.exit(f"run {number} exited {code}")
            if number in {1, 10, 50, 100, 150, 200} or number == runs:
                database = size_of(list(data.glob("ocwwatch.db*")))
                reports = size_of(list((data / "reports").iterdir()))
                print(
                    f"retention {setting:>3}, run {number:>3}: database {database / 1024:7.0f} kB,"
                    f" reports {reports / 1024:7.0f} kB"
                    f" ({len(list((data / 'reports').glob('run-*')))} files),"
                    f" {time.perf_counter() - began:5.1f} s",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    for setting in RULES:
        soak(setting, args.runs)


if __name__ == "__main__":
    main()
