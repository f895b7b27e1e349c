"""Disk-full trials on a real full disk (issue 11): a small tmpfs (root is needed to mount it),
run 1 of `ocwwatch check --replay ocw-today` with room, then the disk filled up to `free` bytes,
run 2, then `ocwwatch report` on that full disk. One line per fill level: run 2's exit code, the
runs and their status, integrity_check of a copy, complete runs missing report files, whether a
traceback was printed, and run 2's message.

Run: `sudo python tests/benchmarks/trial_disk_full.py 0 20000 40000 …` (bytes left free).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TODAY = REPO / "ocwwatch" / "demo" / "scenarios" / "ocw-today"
OCWWATCH = [sys.executable, "-m", "ocwwatch"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def ocwwatch(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OCWWATCH, *map(str, argv)], capture_output=True, text=True, env=ENV, check=False
    )


def fill(mount: Path, free: int) -> None:
    """Write zeros until only `free` bytes are left on the mount (or none at all)."""
    stats = os.statvfs(mount)
    with (mount / "filler").open("wb") as filler, contextlib.suppress(OSError):
        filler.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - free))


def audit(data: Path) -> tuple[list[tuple[int, str]], str, list[int]]:
    """Runs, integrity_check and complete runs without their files, read from a copy."""
    with tempfile.TemporaryDirectory() as folder:
        for part in data.glob("ocwwatch.db*"):
            shutil.copy(part, Path(folder) / part.name)
        db = sqlite3.connect(Path(folder) / "ocwwatch.db")
        runs = db.execute("SELECT id, status FROM runs").fetchall()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        db.close()
    present = {path.name for path in (data / "reports").glob("run-*")}
    missing = [
        run_id
        for run_id, status in runs
        if status == "complete"
        and not {f"run-{run_id}.{suffix}" for suffix in ("md", "html", "json")} <= present
    ]
    return runs, integrity, missing


def trial(free: int) -> str:
    mount = Path(tempfile.mkdtemp(prefix="ocwwatch-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        shutil.copytree(REPO / "config", mount / "config")
        config = mount / "config" / "ocwwatch.toml"
        assert ocwwatch("-q", "check", "--config", config, "--replay", TODAY).returncode == 1
        fill(mount, free)
        done = ocwwatch("-q", "check", "--config", config, "--replay", TODAY)
        runs, integrity, missing = audit(mount / "data")
        shown = ocwwatch("report", "--config", config)
        message = done.stderr.strip().rsplit(": ", 2)[-2:]
        return (
            f"free {free:>7}: exit {done.returncode}, runs {runs}, integrity {integrity}, "
            f"complete without files {missing}, report exit {shown.returncode}, "
            f"traceback {'Traceback' in done.stderr}, says …{': '.join(message)[-90:]!r}"
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
        mount.rmdir()


def main() -> None:
    for free in map(int, sys.argv[1:]):
        print(trial(free), flush=True)


if __name__ == "__main__":
    main()
