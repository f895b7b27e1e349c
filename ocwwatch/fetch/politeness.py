"""Politeness per host, told apart from a URL's own faults: how many requests at once, how far
apart they start, when a host as a whole is slowed down, and the run's budget for waiting.

Owns the pace and nothing else: no I/O, no httpx; the Fetcher asks a gate before each try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

# Constants, not settings: they protect the servers, whatever pace the user configured.
SLOW_INTERVAL_FLOOR_SECONDS = 0.25  # the first slowed interval when the configured one is shorter
SLOW_INTERVAL_CAP_SECONDS = 10.0  # doubling stops here (a robots.txt Crawl-delay may ask more)
SPEED_UP_AFTER_ANSWERS = 10  # answers in a row without a host-wide signal that halve a slow-down
# A 5xx, reset or timeout is one URL's fault unless this many distinct URLs of the host fail so
# within the window, and they are no fewer than the host's good answers in that window (issue 11:
# five always-503 URLs of a 300-page course must not slow the other 295). A URL counts towards
# one slow-down at most: its own retries failing again do not slow the host further.
HOST_FAULT_URLS = 4
HOST_FAULT_WINDOW_SECONDS = 10.0


class WaitBudget:
    """Seconds of waiting beyond the configured pace that a run may still spend (issue 11):
    retry backoffs, Retry-After pauses, a slowed host's longer intervals. Spent, it says no."""

    def __init__(self, seconds: float) -> None:
        self.left_seconds = seconds

    def spend(self, seconds: float) -> bool:
        """Take `seconds` from the budget if it holds them; False (and nothing taken) if not."""
        if seconds > self.left_seconds:
            return False
        self.left_seconds -= seconds
        return True


class HostGate:
    """One host's politeness: a semaphore for concurrency, and when the next request may start.

    Starts are `interval_seconds` apart: the configured interval, or the host's robots.txt
    Crawl-delay if longer. A host-wide signal (a 429, any Retry-After, or several distinct URLs
    failing together) doubles it (up to a cap) and holds every start back for the Retry-After
    time; each run of answers without one halves it again, back to where it was. One URL that
    keeps failing is that URL's problem: its own retries back off, the host's pace stays.
    """

    def __init__(self, host: str, concurrency: int, interval_seconds: float) -> None:
        self.host = host
        self.semaphore = asyncio.Semaphore(concurrency)
        self.waiting = 0  # requests waiting for one of the host's places (see `place`)
        self.base_seconds = interval_seconds
        self.interval_seconds = interval_seconds
        self._last_start = float("-inf")
        self._paused_until = float("-inf")
        self._calm_answers = 0
        self._faults: deque[tuple[float, str]] = deque()  # (when, URL) of recent URL faults
        self._goods: deque[float] = deque()  # when the host answered well, same window
        self._blamed: set[str] = set()  # URLs that already counted towards a slow-down

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """One of the host's `concurrency` places, held while a request is asked and answered.
        `waiting` counts the requests queued for one, so that the holder can tell, once it has
        let go, whether another request of this host was woken by it."""
        self.waiting += 1
        try:
            await self.semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.semaphore.release()

    @property
    def slowed(self) -> bool:
        return self.interval_seconds > self.base_seconds

    def claim(self, now: float) -> float:
        """Start now (0.0) if the host's turn has come, else the seconds to wait and ask again.

        Asking again rather than booking a slot: a pause that a 429 imposes while a request
        waits must hold that request back too.
        """
        ready = self._ready()
        if ready > now:
            return ready - now
        self._last_start = now
        return 0.0

    def held_back_seconds(self, now: float) -> float:
        """How much of the wait before the next start is the slow-down's, not the usual pace."""
        usual = max(now, self._last_start + self.base_seconds)
        return max(0.0, self._ready() - usual)

    def _ready(self) -> float:
        return max(self._last_start + self.interval_seconds, self._paused_until)

    def keep_apart(self, interval_seconds: float) -> None:
        """Never start requests less than `interval_seconds` apart from now on."""
        self.base_seconds = max(self.base_seconds, interval_seconds)
        self.interval_seconds = max(self.interval_seconds, self.base_seconds)

    def slow_down(self, now: float, retry_after_seconds: float, *, grow: bool = True) -> float:
        """After a host-wide signal: double the interval (unless `grow` is false: a URL's
        repeated refusal counts once) and start nothing before the Retry-After time or one
        interval from now, whichever is later. Returns that wait."""
        if grow:
            doubled = max(SLOW_INTERVAL_FLOOR_SECONDS, 2 * self.interval_seconds)
            self.interval_seconds = max(self.base_seconds, min(SLOW_INTERVAL_CAP_SECONDS, doubled))
        wait = max(retry_after_seconds, self.interval_seconds)
        self._paused_until = max(self._paused_until, now + wait)
        self._calm_answers = 0
        return wait

    def note_fault(self, now: float, url: str) -> bool:
        """One URL failed transiently (5xx, reset, timeout). True when that makes a host-wide
        signal: enough distinct URLs failed within the window, against as many good answers."""
        if url in self._blamed:
            return False
        self._forget(now)
        self._faults.append((now, url))
        failing = {seen for _, seen in self._faults}
        if len(failing) < HOST_FAULT_URLS or len(failing) < len(self._goods):
            return False
        self._blamed |= failing  # the next slow-down takes as many other failing URLs
        self._faults.clear()
        return True

    def note_answer(self, now: float) -> None:
        """A good answer (anything but a transient failure): it counts against URL faults, and
        each run of them halves a slow-down."""
        self._forget(now)
        self._goods.append(now)
        self.speed_up()

    def _forget(self, now: float) -> None:
        horizon = now - HOST_FAULT_WINDOW_SECONDS
        while self._faults and self._faults[0][0] < horizon:
            self._faults.popleft()
        while self._goods and self._goods[0] < horizon:
            self._goods.popleft()

    def speed_up(self) -> None:
        """One more answer without a host-wide signal: each run of them halves the slow-down."""
        if not self.slowed:
            return
        self._calm_answers += 1
        if self._calm_answers < SPEED_UP_AFTER_ANSWERS:
            return
        self._calm_answers = 0
        halved = self.interval_seconds / 2
        self.interval_seconds = max(
            self.base_seconds, halved if halved >= SLOW_INTERVAL_FLOOR_SECONDS else 0.0
        )
        if not self.slowed:
            logger.debug("back to the usual pace on %s", self.host)
