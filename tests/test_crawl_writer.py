"""The store's writer thread (a deep check's writes): in order, and never lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ocwwatch.errors import StoreError
from ocwwatch.models import CrawlStep, FrontierEntry, LinkKind
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 6, 17, tzinfo=UTC)


async def test_a_failed_write_is_raised_not_lost(store: Store) -> None:
    """A write that fails on the store's thread surfaces when the writer settles."""
    with pytest.raises(StoreError, match="run 999 does not exist"):
        async with store.writer() as writer:
            await writer.write(lambda frontier: frontier.save_found_checks(999, [], kept=1))


async def test_writes_and_calls_keep_their_order(store: Store) -> None:
    """A call asked after a write sees it: a claim reads the step queued just before it."""
    run_id = store.start_run(T0)
    url = "http://127.0.0.1:8000/courses/c1/pages/a/"
    entry = FrontierEntry(url=url, key=url, kind=LinkKind.PAGE, resource_id="c1")
    async with store.writer() as writer:
        await writer.write(
            lambda frontier: frontier.save_crawl_step(run_id, T0, CrawlStep(found=[entry]))
        )
        claimed = await writer.call(lambda frontier: frontier.claim_frontier(run_id, 10))
    assert [e.url for e in claimed] == [url]
