"""Benchmark of host politeness against a URL's own faults (issue 11): a course of `--pages` pages
on one 127.0.0.1 host, checked by `ocwwatch check --deep` in a child process, with five of its
links answering 503 forever and without them. Prints both wall times and their ratio (target
<= 1.2): five broken URLs must not slow the whole host down.

Run: `python tests/benchmarks/bench_faulty_host.py [--pages 300] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from support.crawl import ok, page, status  # noqa: E402
from support.loopback import LoopbackServer  # noqa: E402

from ocwwatch.fetch import Recording  # noqa: E402

BROKEN = 5


def course(pages: int, broken: int) -> dict[str, Recording]:
    """Home links every page; page n links home, its neighbour, and (for the first `broken`
    pages) one URL that answers 503 forever."""
    routes = {"/course/": ok(page(*(f"/course/p{n}/" for n in range(pages)), title="Home"))}
    for n in range(pages):
        links = ["/course/", f"/course/p{(n + 1) % pages}/"]
        if n < broken:
            links.append(f"/course/down{n}")
            routes[f"/course/down{n}"] = status(503, b"down")
        routes[f"/course/p{n}/"] = ok(page(*links, title=f"Page {n}"))
    return routes


def write_config(folder: Path, home: str, interval: float) -> Path:
    lines = ['resources = "resources.toml"', 'database = "data/ocwwatch.db"']
    lines += ['reports_dir = "data/reports"', "", "[http]"]
    lines += [f"per_host_interval_seconds = {interval}"]
    lines += ["", "[deep]", "wayback = false"]
    (folder / "ocwwatch.toml").write_text("\n".join(lines) + "\n")
    (folder / "resources.toml").write_text(
        f'[[resources]]\nid = "course"\nurl = "{home}"\nkind = "ocw-course"\n'
    )
    return folder / "ocwwatch.toml"


def timed_run(pages: int, broken: int, args: argparse.Namespace) -> float:
    """One cold `check --deep` over the course; its wall time. Exits if the run is broken."""
    with (
        LoopbackServer(course(pages, broken), latency_seconds=args.latency) as server,
        tempfile.TemporaryDirectory() as folder,
    ):
        config = write_config(Path(folder), server.url("/course/"), args.interval)
        command = [sys.executable, "-m", "ocwwatch", "-q", "check", "--deep"]
        command += ["--config", str(config), "--format", "json"]
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - began
        report = json.loads(done.stdout)
        states = [link["state"] for link in report["links"]]
        if states.count("unknown") != broken or report["run"]["offline"]:
            sys.exit(f"broken run: {states.count('unknown')} unknown links, {done.stderr[-500:]}")
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.1, help="per_host_interval_seconds")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds before each answer")
    args = parser.parse_args()
    clean: list[float] = []
    faulty: list[float] = []
    for _ in range(args.repeat):  # side by side, so a busy machine slows both alike
        clean.append(timed_run(args.pages, 0, args))
        faulty.append(timed_run(args.pages, BROKEN, args))
    clean_s, faulty_s = statistics.median(clean), statistics.median(faulty)
    print(f"course of {args.pages} pages, interval {args.interval} s, latency {args.latency} s")
    print(f"  without broken URLs: {clean_s:6.2f} s (median of {args.repeat})")
    print(f"  with {BROKEN} always-503:   {faulty_s:6.2f} s")
    print(f"  ratio: {faulty_s / clean_s:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
