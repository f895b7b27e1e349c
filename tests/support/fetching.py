"""Fetch test helpers: fake time and a Fetcher on mocked transports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ocwwatch.fetch import Fetcher, FetchPolicy

START = datetime(2026, 1, 1, tzinfo=UTC)

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


class FakeTime:
    """Injected clock: sleeping records the delay and moves time on at once."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.t

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


LISTED_ORIGINS = ("http://127.0.0.1", "http://127.0.0.2", "https://127.0.0.1")


def make_fetcher(
    fake: FakeTime,
    handler: Handler | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    **policy: Any,
) -> Fetcher:
    """A Fetcher on fake time; politeness interval off unless a test sets it."""
    policy.setdefault("per_host_interval_seconds", 0.0)
    # The mocked hosts stand for the list's own origins, which may be loopback.
    policy.setdefault("allowed_origins", LISTED_ORIGINS)
    if transport is None:
        assert handler is not None
        transport = httpx.MockTransport(handler)
    return Fetcher(
        FetchPolicy(**policy), transport=transport, sleep=fake.sleep, now=fake.now, clock=fake.clock
    )
