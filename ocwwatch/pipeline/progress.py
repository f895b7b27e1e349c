"""Progress lines for long runs (issue 16): while a deep check crawls, one line at a steady
interval with how far it has got, read from the store on a thread and a connection of its own.

It only reads and reports; the crawl neither knows of it nor waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ocwwatch.clock import Monotonic
from ocwwatch.errors import StoreError
from ocwwatch.models import CrawlProgress
from ocwwatch.report.digest import human_duration
from ocwwatch.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# A rate read over the first seconds is mostly start-up (robots.txt, the seeds' pages): an
# estimate from it would swing wildly, so none is shown before this much of the crawl.
ESTIMATE_AFTER_SECONDS = 15.0


@contextmanager
def ticking(
    database: Path,
    progress: Progress,
    interval_seconds: float | None,
    *,
    clock: Monotonic = time.monotonic,
) -> Iterator[None]:
    """Print a progress line every `interval_seconds` while the body runs and a deep check is
    crawling (None: no lines). The lines stop before the body's own last words."""
    if interval_seconds is None:
        yield
        return
    stop = threading.Event()
    started = clock()

    def tick() -> None:
        with Store.open_read_only(database) as store:
            while not stop.wait(interval_seconds):
                line = progress_line(store.crawl_progress(), clock() - started)
                if line is not None and not stop.is_set():
                    progress(line)

    def guarded() -> None:
        try:
            tick()
        except StoreError as exc:  # progress is a courtesy: never the run's failure
            log.debug("progress lines stopped: %s", exc)

    thread = threading.Thread(target=guarded, name="ocwwatch-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def progress_line(counts: CrawlProgress, elapsed_seconds: float) -> str | None:
    """`deep: 1,200 of 3,400 links checked, 310 pages read, 12 dead so far, 18.5 links/s,
    1 min 05 s elapsed, ~2 min left`; None before the crawl has queued anything."""
    if counts.found == 0:
        return None
    rate = counts.checked / elapsed_seconds if elapsed_seconds > 0 else 0.0
    line = (
        f"deep: {counts.checked:,} of {counts.found:,} links checked, {counts.pages:,} pages "
        f"read, {counts.dead:,} dead so far, {rate:.1f} links/s, "
        f"{human_duration(elapsed_seconds)} elapsed"
    )
    left = seconds_left(counts, rate, elapsed_seconds)
    return line if left is None else f"{line}, {rough_duration(left)} left"


def seconds_left(counts: CrawlProgress, rate: float, elapsed_seconds: float) -> float | None:
    """The links queued now, at the rate so far; None while that says nothing (the first
    seconds, nothing checked, nothing queued). Pages read later queue more links, so this is
    the least that is left: it grows while the crawl keeps finding, and settles as it ends."""
    queued = counts.found - counts.checked
    if elapsed_seconds < ESTIMATE_AFTER_SECONDS or rate <= 0 or queued <= 0:
        return None
    return queued / rate


def rough_duration(seconds: float) -> str:
    """`~3 min`, `~1 h 20 min`, `under a minute`: an estimate read to the minute, since a
    second's precision would promise what a rate cannot keep."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"~{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"~{hours} h {minutes:02d} min"
