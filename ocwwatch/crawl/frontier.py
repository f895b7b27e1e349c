"""The crawl's narrow door to the store: exactly what a deep check reads and writes, as a
protocol the pipeline's Store satisfies. The crawl imports no store (issue 10).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from ocwwatch.models import (
    CrawledPage,
    CrawlStep,
    FoundCheck,
    FoundLink,
    FrontierEntry,
    KeptChecks,
    LinkCheck,
)

T = TypeVar("T")


class FrontierWriter(Protocol):
    """Calls on the frontier, in order, on a thread of their own (store/writer.py)."""

    async def call(self, fn: Callable[[Frontier], T], /) -> T: ...

    async def write(self, fn: Callable[[Frontier], None], /) -> None: ...

    async def settle(self) -> None: ...


class Frontier(Protocol):
    """The crawl's queue of links, where each was found, what each answered, and pages read."""

    def writer(self) -> AbstractAsyncContextManager[FrontierWriter]: ...

    def save_crawl_step(self, run_id: int, now: datetime, step: CrawlStep) -> None: ...

    def claim_frontier(self, run_id: int, limit: int) -> list[FrontierEntry]: ...

    def fresh_links(
        self, urls: Sequence[str], since: datetime, now: datetime
    ) -> dict[str, tuple[int | None, datetime]]: ...

    def doubted_heads(self, urls: Sequence[str]) -> set[str]: ...

    def load_found_links(self, run_id: int, after_seq: int, limit: int) -> list[FoundLink]: ...

    def link_checks_to_fix(self, run_id: int) -> list[LinkCheck]: ...

    def save_found_checks(
        self, run_id: int, checks: Sequence[FoundCheck], *, kept: int
    ) -> None: ...

    def kept_checks(self, run_id: int) -> KeptChecks: ...

    def load_crawled_page(self, url_key: str) -> CrawledPage | None: ...

    def link_states(self, urls: Iterable[str]) -> dict[str, LinkCheck]: ...
