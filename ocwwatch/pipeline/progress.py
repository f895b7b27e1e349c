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
    """`deep: 1,200 of 3,400 links checked, 310 pages read, 12 dead so far, 41.0 links/s,
    1 min 05 s elapsed`; None before the crawl has queued anything."""
    if counts.found == 0:
        return None
    rate = counts.checked / elapsed_seconds if elapsed_seconds > 0 else 0.0
    return (
        f"deep: {counts.checked:,} of {counts.found:,} links checked, {counts.pages:,} pages "
        f"read, {counts.dead:,} dead so far, {rate:.1f} links/s, "
        f"{human_duration(elapsed_seconds)} elapsed"
    )
