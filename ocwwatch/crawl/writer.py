"""The crawl's writes to the store, on a thread of their own with a connection of their own.

A crawl step's SQLite work (thousands of rows, a commit) takes milliseconds that would stall
every request in flight if it ran on the event loop. sqlite3 releases the GIL while SQLite
works, so on its own thread that work overlaps the fetching. One thread, so writes and claims
keep the order they were asked in; the crawl's other reads stay on the main connection, which
sees each write once it is committed (WAL).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from ocwwatch.store import Store

T = TypeVar("T")

MAX_UNSAVED_WRITES = 2  # queued steps before the crawl waits for the store to catch up


class StoreWriter:
    """An async context manager running Store calls, in order, on one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocwwatch-store")
        self._store: Store | None = None
        self._writes: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> Self:
        self._store = await self._on_thread(Store.open, self.path)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                await self.settle()
            else:  # the crawl failed: let queued writes end; the crawl's error is the one raised
                await asyncio.gather(*self._writes, return_exceptions=True)
        finally:
            if self._store is not None:
                await self._on_thread(self._store.close)
            self._executor.shutdown(wait=True)

    async def call(self, method: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run `method(store, *args, **kwargs)` after every write asked for before it."""
        return await self._on_thread(partial(method, self._opened(), *args, **kwargs))

    async def write(self, method: Callable[..., None], /, *args: object, **kwargs: object) -> None:
        """Queue a write and return at once, unless too many are still unsaved.

        A failed write is raised by a later `write` or by `settle`, never lost.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, partial(method, self._opened(), *args, **kwargs)
        )
        self._writes.append(future)
        while self._writes and (self._writes[0].done() or len(self._writes) > MAX_UNSAVED_WRITES):
            await self._writes.popleft()

    async def settle(self) -> None:
        """Wait until every queued write is committed; raise the first that failed."""
        while self._writes:
            await self._writes.popleft()

    def _opened(self) -> Store:
        if self._store is None:
            raise RuntimeError("StoreWriter used outside `async with`")
        return self._store

    async def _on_thread(self, function: Callable[..., T], /, *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(function, *args))
