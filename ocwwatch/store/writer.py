"""Writes to the store on a thread of their own with a connection of their own (the crawl's).

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
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

T = TypeVar("T")
S = TypeVar("S", bound="Closable")

MAX_UNSAVED_WRITES = 2  # queued steps before the crawl waits for the store to catch up


class Closable(Protocol):
    def close(self) -> None: ...


class StoreWriter(Generic[S]):
    """An async context manager running calls on a store of its own, in order, on one thread.

    `open_store` runs on that thread; `fn(store)` of each `call` and `write` too.
    """

    def __init__(self, open_store: Callable[[], S]) -> None:
        self._open_store = open_store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocwwatch-store")
        self._store: S | None = None
        self._writes: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> Self:
        self._store = await self._on_thread(self._open_store)
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

    async def call(self, fn: Callable[[S], T], /) -> T:
        """Run `fn(store)` after every write asked for before it."""
        return await self._on_thread(partial(fn, self._opened()))

    async def write(self, fn: Callable[[S], None], /) -> None:
        """Queue a write and return at once, unless too many are still unsaved.

        A failed write is raised by a later `write` or by `settle`, never lost.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, partial(fn, self._opened()))
        self._writes.append(future)
        while self._writes and (self._writes[0].done() or len(self._writes) > MAX_UNSAVED_WRITES):
            await self._writes.popleft()

    async def settle(self) -> None:
        """Wait until every queued write is committed; raise the first that failed."""
        while self._writes:
            await self._writes.popleft()

    def _opened(self) -> S:
        if self._store is None:
            raise RuntimeError("StoreWriter used outside `async with`")
        return self._store

    async def _on_thread(self, function: Callable[..., T], /, *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(function, *args))
