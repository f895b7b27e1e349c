"""Benchmark for item 6 of "Safe by default": what one hostile page costs. A 40 MB HTML page
with 1,000,000 distinct links goes through the extractors and through a whole `check --deep`
(an httpx.MockTransport answers; nothing leaves the process), each in a fresh process.

Prints, per step, the peak RSS (`ru_maxrss`), what the process held before the step (the
interpreter, ocwwatch and the page's bytes), the seconds taken and the links kept. Measurements,
not verdicts. Run: `python tests/benchmarks/bench_big_page.py [--links 1000000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the tests' helpers: MockSite, config, deep_run

STEPS = {
    "baseline": "nothing: the interpreter, ocwwatch and the page's bytes",
    "extract_links": "extract_links, the crawl's reader (max_links_per_page 10,000)",
    "extract_page": "extract_page, the resource check's reader (10,000 links kept)",
    "uncapped": "extract_links with no practical cap (what the cap saves)",
    "deep": "ocwwatch check --deep, the page as a course home (MockTransport)",
}


def big_page(links: int) -> bytes:
    """About 41 bytes a link: 1,000,000 distinct links make a 41 MB page. Built in one buffer,
    so that building it does not raise the peak the steps are measured against."""
    page = bytearray(b"<!doctype html><html><head><title>Big</title></head><body><ul>\n")
    for n in range(links):
        page += b'<li><a href="p/%07d/">link%07d</a>\n' % (n, n)
    page += b"</ul></body></html>\n"
    return bytes(page)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_step(step: str, links: int) -> dict[str, Any]:
    """One step, in this process (a child of `main`)."""
    from ocwwatch.extract import extract_links, extract_page

    body = big_page(links)
    before = peak_rss_mib()
    started = time.perf_counter()
    kept = 0
    url = "http://127.0.0.1:8000/courses/c1/"
    if step == "extract_links":
        kept = len(extract_links(body, url, "text/html").links)
    elif step == "extract_page":
        kept = len(extract_page(body, url, "text/html").links)
    elif step == "uncapped":
        kept = len(extract_links(body, url, "text/html", max_links=10**9).links)
    elif step == "deep":
        kept = asyncio.run(deep_check(body))
    return {
        "step": step,
        "page_mb": round(len(body) / 1e6, 1),
        "before_mib": round(before),
        "peak_mib": round(peak_rss_mib()),
        "seconds": round(time.perf_counter() - started, 1),
        "links": kept,
    }


async def deep_check(body: bytes) -> int:
    """A deep run with the big page as the course home; other paths answer 404."""
    from support.crawl import HOME, MockSite, config, deep_run, ok

    from ocwwatch.store import Store

    mock = MockSite({HOME: ok(body)})
    with tempfile.TemporaryDirectory() as folder, Store.open(Path(folder) / "db") as store:
        outcomes = await deep_run(
            config(mock, wayback=False, workers=16), store, transport=mock.transport()
        )
    return len(outcomes.report.links)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # a child's one step
    args = parser.parse_args()
    if args.step is not None:
        print(json.dumps(run_step(args.step, args.links)))
        return
    print(f"{'step':<14} {'page MB':>8} {'before MiB':>11} {'peak MiB':>9} {'s':>6} {'links':>8}")
    for step, what in STEPS.items():
        command = [sys.executable, __file__, f"--links={args.links}", f"--step={step}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{step}: failed\n{done.stderr}", file=sys.stderr)
            sys.exit(1)
        row = json.loads(done.stdout.splitlines()[-1])
        print(
            f"{step:<14} {row['page_mb']:>8} {row['before_mib']:>11} {row['peak_mib']:>9} "
            f"{row['seconds']:>6} {row['links']:>8}  {what}"
        )


if __name__ == "__main__":
    main()
