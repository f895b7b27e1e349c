"""Peak memory of `ocwwatch check --deep` against the number of links (issue 15): the real
command on mirrors of about 20k, 50k and 100k links, a first run and a second one on the same
database, reports included. Prints the curve; ratios and sizes, not verdicts. Run:
`python tests/benchmarks/bench_memory.py [--sizes 20k,50k,100k]` (about 25 minutes on 2 cores).

The pace is not what is measured here: the mirror answers at once (latency 0, no server cap)
and ocwwatch asks 8 at a time per host, so that the 100k run takes minutes, not an hour.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_deep import check_key, compiled_as_installed, measure
from bench_scale import Served, observed, serve, write_config
from mirror import Size

# Course sites of 10 units x 10 sessions x 10 resource pages: about 2,630 links each.
SIZES = {
    "20k": Size(courses=8, units=10, sessions=10, resources=10),
    "50k": Size(courses=19, units=10, sessions=10, resources=10),
    "100k": Size(courses=38, units=10, sessions=10, resources=10),
}
CONCURRENCY = 8


@dataclass(frozen=True)
class Point:
    label: str
    run: str  # first | second
    links: int
    requests: int
    wall: float
    rss_mb: float  # peak RSS of the whole command: crawl, judging, reports
    database_mb: float  # on disk once the run is over (with its -wal)
    peak_database_mb: float  # on disk at its largest during the run
    key: str


def database_bytes(folder: Path) -> int:
    total = 0
    for path in folder.glob("ocwwatch.db*"):
        with contextlib.suppress(FileNotFoundError):  # the -wal goes when the run closes it
            total += path.stat().st_size
    return total


def ocwwatch_point(served: Served, label: str, run: str, config: Path) -> Point:
    binary = Path(sys.executable).with_name("ocwwatch")
    command = [str(binary), "check", "--deep", "--config", str(config)]
    status = 0

    def action() -> tuple[float, float, float]:
        nonlocal status
        done = measure(command)
        status = done.returncode
        return done.wall, done.rss_mb, done.cpu

    peak_database = 0
    done = threading.Event()

    def watch_database() -> None:  # the file at its largest, while the crawl's rows are in it
        nonlocal peak_database
        while not done.wait(0.25):
            peak_database = max(peak_database, database_bytes(config.parent))

    watcher = threading.Thread(target=watch_database, daemon=True)
    watcher.start()
    try:
        seen = observed(served, action)
    finally:
        done.set()
        watcher.join()
    if status not in {0, 1}:  # 1: --fail-on found dead links, as it should here
        raise SystemExit(f"bench_memory: ocwwatch exited {status}: {' '.join(command)}")
    report = json.loads((config.parent / "reports" / "latest.json").read_text("utf-8"))
    links = report["links"]
    result = {
        "states": {link["url"]: link["state"] for link in links},
        "finals": {
            link["url"]: link["final_url"] for link in links if link["state"] == "redirected"
        },
    }
    problems = check_key(result, served.key)
    return Point(
        label,
        run,
        len(links),
        seen.requests,
        seen.wall,
        seen.rss_mb,
        database_bytes(config.parent) / 2**20,
        peak_database / 2**20,
        f"{len(problems)} differences" if problems else "matched exactly",
    )


def size_points(label: str) -> list[Point]:
    with serve(SIZES[label], 0.0, 0) as served, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), served, CONCURRENCY, None)
        points = []
        for run in ("first", "second"):
            point = ocwwatch_point(served, label, run, config)
            print(
                f"{label:>5} {run:<6} {point.links:>8,} links {point.requests:>8,} requests"
                f" {point.wall:7.1f} s  peak RSS {point.rss_mb:6.1f} MB"
                f"  database {point.database_mb:6.1f} MB (at most {point.peak_database_mb:.0f})"
                f"  key {point.key}",
                flush=True,
            )
            points.append(point)
        return points


def curve(points: Sequence[Point]) -> None:
    """Peak RSS per link count, and what each further 1,000 links cost."""
    print("\npeak RSS against links (first runs; second runs in brackets):")
    firsts = [point for point in points if point.run == "first"]
    seconds = {point.label: point for point in points if point.run == "second"}
    for point in firsts:
        second = seconds[point.label]
        print(f"  {point.links:>8,} links: {point.rss_mb:6.1f} MB ({second.rss_mb:6.1f} MB)")
    if len(firsts) > 1:
        low, high = firsts[0], firsts[-1]
        slope = (high.rss_mb - low.rss_mb) / ((high.links - low.links) / 1000)
        print(f"  slope {slope:.2f} MB per 1,000 links from {low.label} to {high.label}")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"of {', '.join(SIZES)}")
    args = parser.parse_args(argv)
    labels = args.sizes.split(",")
    unknown = [label for label in labels if label not in SIZES]
    if unknown:
        parser.error(f"unknown size {', '.join(unknown)}; sizes are {', '.join(SIZES)}")
    print(compiled_as_installed())
    started = time.perf_counter()
    points = [point for label in labels for point in size_points(label)]
    curve(points)
    print(f"({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
