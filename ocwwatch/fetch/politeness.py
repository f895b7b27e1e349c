"""Politeness per host: how many requests at once, how far apart they start, and how a host
that answers 429 or 503 is slowed down for every request, not just the one refused.

Owns the pace and nothing else: no I/O, no httpx; the Fetcher asks a gate before each try.
"""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)

# How a host that answers 429 or 503 is slowed down for every request, not just the one refused.
# Constants, not settings: they protect the servers, whatever pace the user configured.
SLOWDOWN_STATUSES = frozenset({429, 503})
SLOW_INTERVAL_FLOOR_SECONDS = 0.25  # the first slowed interval when the configured one is shorter
SLOW_INTERVAL_CAP_SECONDS = 10.0  # doubling stops here (a robots.txt Crawl-delay may ask more)
SPEED_UP_AFTER_ANSWERS = 10  # answers in a row without 429/503 that halve a host's slow-down


class HostGate:
    """One host's politeness: a semaphore for concurrency, and when the next request may start.

    Starts are `interval_seconds` apart: the configured interval, or the host's robots.txt
    Crawl-delay if longer. A 429 or 503 doubles it (up to a cap) and holds every start back for
    the Retry-After time, so the whole host slows down, not only the request refused; each run
    of answers without them halves it again, back to where it was.
    """

    def __init__(self, host: str, concurrency: int, interval_seconds: float) -> None:
        self.host = host
        self.semaphore = asyncio.Semaphore(concurrency)
        self.base_seconds = interval_seconds
        self.interval_seconds = interval_seconds
        self._last_start = float("-inf")
        self._paused_until = float("-inf")
        self._calm_answers = 0

    @property
    def slowed(self) -> bool:
        return self.interval_seconds > self.base_seconds

    def claim(self, now: float) -> float:
        """Start now (0.0) if the host's turn has come, else the seconds to wait and ask again.

        Asking again rather than booking a slot: a pause that a 429 imposes while a request
        waits must hold that request back too.
        """
        ready = max(self._last_start + self.interval_seconds, self._paused_until)
        if ready > now:
            return ready - now
        self._last_start = now
        return 0.0

    def keep_apart(self, interval_seconds: float) -> None:
        """Never start requests less than `interval_seconds` apart from now on."""
        self.base_seconds = max(self.base_seconds, interval_seconds)
        self.interval_seconds = max(self.interval_seconds, self.base_seconds)

    def slow_down(self, now: float, retry_after_seconds: float) -> float:
        """After a 429 or 503: double the interval; start nothing before the Retry-After time
        or one new interval from now, whichever is later. Returns that wait."""
        doubled = max(SLOW_INTERVAL_FLOOR_SECONDS, 2 * self.interval_seconds)
        self.interval_seconds = max(self.base_seconds, min(SLOW_INTERVAL_CAP_SECONDS, doubled))
        wait = max(retry_after_seconds, self.interval_seconds)
        self._paused_until = max(self._paused_until, now + wait)
        self._calm_answers = 0
        return wait

    def speed_up(self) -> None:
        """One more answer without 429/503: each run of them halves the slow-down."""
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
